//! The Safety-API scenario of the GPU inference platform: while the Safety
//! API is down, requests wait in a "pending safety" dead-letter queue, and
//! on-call is alerted if one waits more than 5 minutes. Time only moves
//! through `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::ManualClock;
use resilience_core::dead_letter::{
    ClaimOptions, DeadLetter, DeadLetterReason, DeadLetterStore, InMemoryDeadLetterQueue,
    NewLetter, OldestLetterEvent,
};
use resilience_core::presets::gpu_inference;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn the_pending_safety_queue_alerts_once_after_5_minutes_and_clears_when_replayed() {
    let clock = ManualClock::new();
    let queue = InMemoryDeadLetterQueue::<DeadLetter<String>>::with_clock(
        "pending_safety",
        1000,
        clock.clone(),
    )
    .unwrap();
    let alert = gpu_inference::safety_queue_age_alert("pending_safety");
    let pages = Arc::new(Mutex::new(Vec::new()));
    let sink = pages.clone();
    alert.on_event(move |e| sink.lock().unwrap().push(e.clone()));

    block_on(async {
        queue
            .enqueue(NewLetter::new(
                "gen-1".to_string(),
                DeadLetterReason::CircuitOpen,
            ))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(120));
        queue
            .enqueue(NewLetter::new(
                "gen-2".to_string(),
                DeadLetterReason::CircuitOpen,
            ))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(180));
        let stats = alert.check_store(&queue).await.unwrap();
        assert_eq!(
            stats.oldest_age,
            Some(Duration::from_secs(300)),
            "the oldest is 5 min old"
        );
        assert!(
            pages.lock().unwrap().is_empty(),
            "5 min exactly is not more than 5 min"
        );
        clock.advance(Duration::from_secs(1));
        alert.check_store(&queue).await.unwrap();
        clock.advance(Duration::from_secs(60));
        alert.check_store(&queue).await.unwrap();
    });
    assert_eq!(
        *pages.lock().unwrap(),
        [OldestLetterEvent::Raised {
            queue: "pending_safety".into(),
            oldest_age: Duration::from_secs(301),
            bound: Duration::from_secs(300),
        }],
        "one alert when a request has waited more than 5 min, not one per check"
    );
    assert!(alert.is_raised());

    // The Safety API recovers: the queue is replayed and the alert clears.
    block_on(async {
        let batch = queue
            .claim(ClaimOptions::new(10, Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(batch.len(), 2);
        for letter in &batch {
            queue.ack(letter.receipt()).await.unwrap();
        }
        alert.check_store(&queue).await.unwrap();
    });
    assert!(!alert.is_raised());
    assert!(matches!(
        pages.lock().unwrap().last(),
        Some(OldestLetterEvent::Cleared { .. })
    ));
    assert_eq!(pages.lock().unwrap().len(), 2);
}
