//! Degradation levels: turn component health into a service-wide level, and
//! the level into which features are on.
//!
//! The synthetic-data platform preset: five health inputs (GPU cluster,
//! quality service, database, storage, queue depth) averaged into one score;
//! the default thresholds (> 0.9 normal, > 0.7 level 1, > 0.5 level 2, > 0.3
//! level 3, > 0.1 level 4, else read-only); and its feature matrix (optional
//! quality checks go first, then diffusion and transformer models, then
//! streaming, then new training, then writes).
//!
//! A GPU outage unfolds and heals. Degrading is immediate; recovering goes
//! one level at a time, each after the better level has held for 60 s, so a
//! flapping input cannot flap the service. Time is a `ManualClock`.
//!
//! Run: `cargo run --example degradation`

use std::time::Duration;

use resilience::clock::ManualClock;
use resilience::degradation::{ComponentHealth, DegradationEvent, DegradationManager};

const INPUTS: [&str; 5] = [
    "gpu_cluster",
    "quality_service",
    "database",
    "storage",
    "queue_depth",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let manager = DegradationManager::with_clock(
        resilience_core::presets::synthetic_data::degradation()?,
        clock.clone(),
    )?;
    // The platform's alert on every change.
    let alerts = clock.clone();
    manager.listeners().add_fn(move |e: &DegradationEvent| {
        println!(
            "          ALERT at {:>3}s: degradation level changed: {} -> {} (health {:.2})",
            alerts.elapsed().as_secs(),
            e.previous.name(),
            e.current.name(),
            e.snapshot.overall
        );
    });

    let features: Vec<String> = manager.matrix().features().map(str::to_string).collect();
    println!("features: {}\n", features.join(", "));
    println!(" time  gpu   quality db    storage queue | health level      features off");

    // (seconds from start, health of each input in INPUTS order)
    let script: [(u64, [f64; 5]); 9] = [
        (0, [1.0, 1.0, 1.0, 1.0, 1.0]),
        (30, [0.6, 1.0, 1.0, 1.0, 0.9]),  // half the GPUs lost
        (60, [0.2, 0.7, 1.0, 1.0, 0.6]),  // most of them; queues grow
        (90, [0.0, 0.4, 0.9, 1.0, 0.2]),  // GPU outage, quality service swamped
        (120, [0.5, 0.9, 1.0, 1.0, 0.6]), // capacity coming back
        (150, [1.0, 1.0, 1.0, 1.0, 1.0]), // all healthy again
        (210, [1.0, 1.0, 1.0, 1.0, 1.0]),
        (270, [1.0, 1.0, 1.0, 1.0, 1.0]),
        (330, [1.0, 1.0, 1.0, 1.0, 1.0]),
    ];
    let ids: Vec<_> = INPUTS.iter().filter_map(|n| manager.component(n)).collect();
    let mut now = 0;
    for (at, scores) in script {
        clock.advance(Duration::from_secs(at - now));
        now = at;
        let sweep: Vec<_> = ids
            .iter()
            .zip(scores)
            .map(|(id, s)| (*id, ComponentHealth::Score(s)))
            .collect();
        let level = manager.report_all(&sweep)?;
        let off: Vec<&str> = features
            .iter()
            .filter(|f| manager.is_enabled_by_name(f) == Some(false))
            .map(String::as_str)
            .collect();
        println!(
            "{at:>4}s  {:<5.1} {:<7.1} {:<5.1} {:<7.1} {:<5.1} | {:>5.2}  {:<10} {}",
            scores[0],
            scores[1],
            scores[2],
            scores[3],
            scores[4],
            manager.snapshot().overall,
            level.name(),
            if off.is_empty() {
                "-".to_string()
            } else {
                off.join(", ")
            }
        );
    }
    println!(
        "\nWhy: the level is a single, cheap question every request can ask (\"is diffusion on?\"\n\
         is an atomic load and an array read), decided in one place from the health of all\n\
         inputs. Shedding optional work first keeps the core working for longer; recovering one\n\
         level per 60 s of good health avoids switching features on into a system still at the\n\
         edge."
    );
    Ok(())
}
