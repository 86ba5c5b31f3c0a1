//! Nothing is lost: over random sequences of submissions, assignments,
//! completions, cancellations, filtered takes and worker failures, every
//! request a failed worker held ends
//! in exactly one of requeued, retried or failed, exactly as a reference
//! model of the inference platform's algorithm says, and every submitted request is always
//! accounted for (tracked, completed or failed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::ManualClock;
use resilience_dr::recovery::{
    Disposition, InFlightTracker, RecoveryConfig, RequestState, RoutingHint,
};
use resilience_dr::FailureKind;

#[derive(Debug, Clone)]
enum Op {
    Submit(i64),
    Assign(usize, u8),
    Start(usize),
    Complete(usize),
    FailWorker(u8, u8),
    Advance(u64),
    Cancel(usize),
    /// `take_next_matching(worker, id % 3 != skip)`.
    TakeNext(u8, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (-5i64..5).prop_map(Op::Submit),
        4 => (0usize..40, 0u8..4).prop_map(|(r, w)| Op::Assign(r, w)),
        3 => (0usize..40).prop_map(Op::Start),
        1 => (0usize..40).prop_map(Op::Complete),
        2 => (0u8..4, 0u8..5).prop_map(|(w, f)| Op::FailWorker(w, f)),
        2 => (0u64..20).prop_map(Op::Advance),
        1 => (0usize..40).prop_map(Op::Cancel),
        3 => (0u8..4, 0u32..4).prop_map(|(w, skip)| Op::TakeNext(w, skip)),
    ]
}

fn failure(n: u8) -> FailureKind {
    match n {
        0 => FailureKind::Timeout,
        1 => FailureKind::GpuError,
        2 => FailureKind::OutOfMemory,
        3 => FailureKind::Corruption,
        _ => FailureKind::Other("disk full".into()),
    }
}

#[derive(Debug, Clone)]
struct RefReq {
    state: RequestState,
    worker: Option<u8>,
    retries: u32,
    priority: i64,
    ready_at: u64,
    avoid: Option<u8>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_request_of_a_failed_worker_ends_exactly_once(ops in prop::collection::vec(op(), 1..150)) {
        let clock = ManualClock::new();
        let t: InFlightTracker<u32, u8> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
        let mut model: BTreeMap<u32, RefReq> = BTreeMap::new();
        let mut now = 0u64;
        let mut next_id = 0u32;
        let (mut completed, mut failed, mut cancelled) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());

        for op in ops {
            match op {
                Op::Submit(p) => {
                    t.submit(next_id, p).unwrap();
                    model.insert(next_id, RefReq { state: RequestState::Queued, worker: None, retries: 0, priority: p, ready_at: 0, avoid: None });
                    next_id += 1;
                }
                Op::Assign(i, w) => {
                    let id = i as u32;
                    let got = t.assign(&id, w);
                    let ok = model.get(&id).is_some_and(|r| r.state == RequestState::Queued && r.ready_at <= now && r.avoid != Some(w));
                    prop_assert_eq!(got.is_ok(), ok, "assign {} to {}: {:?}", id, w, got);
                    if ok {
                        if let Some(r) = model.get_mut(&id) { r.state = RequestState::Assigned; r.worker = Some(w); }
                    }
                }
                Op::Start(i) => {
                    let id = i as u32;
                    let ok = model.get(&id).is_some_and(|r| r.state == RequestState::Assigned);
                    prop_assert_eq!(t.start(&id).is_ok(), ok);
                    if ok { if let Some(r) = model.get_mut(&id) { r.state = RequestState::InProgress; } }
                }
                Op::Complete(i) => {
                    let id = i as u32;
                    let ok = model.get(&id).is_some_and(|r| r.state != RequestState::Queued);
                    prop_assert_eq!(t.complete(&id).is_ok(), ok);
                    if ok { model.remove(&id); completed.insert(id); }
                }
                Op::Cancel(i) => {
                    let id = i as u32;
                    let got = t.cancel(&id);
                    match model.remove(&id) {
                        Some(r) => {
                            let info = got.unwrap();
                            prop_assert_eq!(info.state, r.state);
                            prop_assert_eq!(info.worker, r.worker);
                            cancelled.insert(id);
                        }
                        None => prop_assert!(got.is_err()),
                    }
                }
                Op::TakeNext(w, skip) => {
                    let accept = |id: &u32| id % 3 != skip;
                    let eligible = |id: &u32, r: &RefReq| {
                        r.state == RequestState::Queued && r.ready_at <= now && r.avoid != Some(w) && accept(id)
                    };
                    let best = model.iter().filter(|(id, r)| eligible(id, r)).map(|(_, r)| r.priority).max();
                    let got = t.take_next_matching(w, |id, _| accept(id));
                    match got {
                        None => prop_assert_eq!(best, None),
                        Some(id) => {
                            let r = model.get_mut(&id).unwrap();
                            prop_assert!(eligible(&id, r), "took {} for {}: {:?}", id, w, r);
                            prop_assert_eq!(Some(r.priority), best);
                            r.state = RequestState::Assigned;
                            r.worker = Some(w);
                        }
                    }
                }
                Op::Advance(s) => {
                    clock.advance(Duration::from_secs(s));
                    now += s;
                }
                Op::FailWorker(w, f) => {
                    let kind = failure(f);
                    let report = t.fail_worker(&w, kind.clone());
                    let held: BTreeSet<u32> = model.iter().filter(|(_, r)| r.worker == Some(w)).map(|(k, _)| *k).collect();
                    let got_ids: Vec<u32> = report.outcomes.iter().map(|o| o.id).collect();
                    let got_set: BTreeSet<u32> = got_ids.iter().copied().collect();
                    // exactly once: no duplicates, nobody missing, nobody extra
                    prop_assert_eq!(got_ids.len(), got_set.len());
                    prop_assert_eq!(&got_set, &held);
                    for o in &report.outcomes {
                        let r = model.get_mut(&o.id).unwrap();
                        prop_assert_eq!(o.was, r.state);
                        match (&o.disposition, r.state) {
                            (Disposition::Requeued { priority }, RequestState::Assigned) => {
                                r.priority += 50;
                                prop_assert_eq!(*priority, r.priority);
                                r.state = RequestState::Queued;
                                r.worker = None;
                            }
                            (Disposition::Retry { attempt, delay, priority, hint, batch_size }, RequestState::InProgress) => {
                                prop_assert!(r.retries < 3);
                                r.retries += 1;
                                r.priority += 50;
                                prop_assert_eq!(*attempt, r.retries);
                                prop_assert_eq!(*delay, Duration::from_secs(30.min(1 << r.retries)));
                                prop_assert_eq!(*priority, r.priority);
                                match kind {
                                    FailureKind::OutOfMemory => {
                                        prop_assert_eq!(hint, &RoutingHint::LargerVram);
                                        prop_assert_eq!(*batch_size, Some(1));
                                    }
                                    FailureKind::Corruption => prop_assert_eq!(hint, &RoutingHint::AvoidWorker(w)),
                                    _ => prop_assert_eq!(hint, &RoutingHint::Any),
                                }
                                r.avoid = match hint { RoutingHint::AvoidWorker(b) => Some(*b), _ => None };
                                r.ready_at = now + delay.as_secs();
                                r.state = RequestState::Queued;
                                r.worker = None;
                            }
                            (Disposition::Failed { message }, RequestState::InProgress) => {
                                prop_assert_eq!(r.retries, 3);
                                let expected = format!("failed after 3 retries: {kind}");
                                prop_assert!(message.starts_with(&expected), "{}", message);
                                model.remove(&o.id);
                                failed.insert(o.id);
                            }
                            (d, s) => prop_assert!(false, "disposition {:?} for a request that was {:?}", d, s),
                        }
                    }
                    prop_assert_eq!(report.count("requeued") + report.count("retried") + report.count("failed"), held.len());
                }
            }
            // Conservation: every submitted request is tracked, completed or failed, exactly once.
            prop_assert_eq!(t.len(), model.len());
            prop_assert_eq!(t.len() + completed.len() + failed.len() + cancelled.len(), next_id as usize);
            for (id, r) in &model {
                let info = t.get(id).unwrap();
                prop_assert_eq!(info.state, r.state);
                prop_assert_eq!(info.retries, r.retries);
                prop_assert_eq!(info.priority, r.priority);
                prop_assert_eq!(info.worker, r.worker);
            }
            // The next ready request is the highest-priority queued one whose backoff is over.
            let best = model.iter().filter(|(_, r)| r.state == RequestState::Queued && r.ready_at <= now).map(|(_, r)| r.priority).max();
            let next = t.next_ready();
            prop_assert_eq!(next.map(|id| model[&id].priority), best);
        }
    }
}
