//! One simulated week of the GPU inference platform's GPU pool traffic (diurnal curve, weekend
//! dip, noise and its 10x spike), scaled by two policies:
//!
//! * the platform's GPU pool policy: threshold rules with cooldowns and tier
//!   minimums plus its time-of-day pre-scaling schedule;
//! * a Kubernetes HPA manifest (the workflow runtime's engine HPA).
//!
//! Prints a summary of each run and writes an SVG chart comparing them.
//!
//! ```text
//! cargo run --release --example hpa_simulate --features scaling [-- out.svg]
//! ```

use std::time::{Duration, Instant};

use resilience::scaling::hpa::Hpa;
use resilience::scaling::rules::RuleEngine;
use resilience::scaling::schedule::Schedule;
use resilience::scaling::sim::{
    self, HpaPolicy, Report, RulePolicy, Scheduled, SimConfig, Simulator, Trace, TraceSpec,
};

const GPU_POLICY: &str = include_str!("../resilience-scaling/presets/gpu-pool-policy.yaml");
const GPU_SCHEDULE: &str = include_str!("../resilience-scaling/presets/gpu-pool-schedule.yaml");
const HPA_MANIFEST: &str = include_str!("../resilience-scaling/presets/runtime-engine-hpa.yaml");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "hpa_simulate.svg".to_string());

    let t = Instant::now();
    let trace = Trace::generate(&TraceSpec::gpu_pool_week_with_spike());
    println!(
        "trace: {} ticks of {:?} from {} (generated in {:?})",
        trace.demand.len(),
        trace.step,
        trace.start,
        t.elapsed()
    );

    // One GPU worker serves 0.6 requests/s (the platform's 30 QPS on 50 workers);
    // a new worker needs 3 minutes to load its models; an A10G costs $1/h.
    let sim = Simulator::new(SimConfig {
        capacity_per_replica: 0.6,
        initial_replicas: 20,
        provisioning_delay: Duration::from_secs(180),
        decision_interval: Duration::from_secs(15),
        cost_per_replica_hour: 1.0,
        ..SimConfig::default()
    });

    let mut rules = Scheduled::new(
        RulePolicy::new(RuleEngine::from_yaml(GPU_POLICY)?),
        Schedule::from_yaml(GPU_SCHEDULE)?,
    );
    let mut hpa = HpaPolicy::new(Hpa::from_manifest_yaml(HPA_MANIFEST)?);

    let mut reports: Vec<Report> = Vec::new();
    for policy in [&mut rules as &mut dyn sim::Policy, &mut hpa] {
        let t = Instant::now();
        let report = sim.run(&trace, policy);
        println!("\n{} (simulated in {:?})", report.summary(), t.elapsed());
        reports.push(report);
    }

    let refs: Vec<&Report> = reports.iter().collect();
    sim::chart::write_svg(
        &out,
        "One week of GPU pool demand: GPU pool rules + schedule vs the workflow runtime's HPA",
        &refs,
        (1600, 900),
    )?;
    println!("\nchart written to {out}");
    Ok(())
}
