//! Circuit breakers per model, plus what "open", "half-open" and
//! `retry_after` mean in practice.
//!
//! An inference service keeps one breaker per model (the GPU inference platform's `per_model`
//! preset: 5 consecutive failures open it for 60 s; 3 trial calls decide
//! whether it closes). Here `sd3` starts failing at second 10 and is fixed
//! at second 40, while `sdxl` keeps working. Time is a `ManualClock`, so the
//! example runs instantly and prints the same thing every time.
//!
//! Run: `cargo run --example circuit_breaker`

use std::time::Duration;

use resilience::circuit_breaker::{
    CircuitBreakerEventKind, CircuitBreakerRegistry, KeyedRejection,
};
use resilience::clock::{Clock, ManualClock};
use resilience::presets;

/// The model servers: sd3 returns errors between 10 s and 40 s.
fn call_model(model: &str, at: Duration) -> Result<(), &'static str> {
    if model == "sd3" && (10..40).contains(&at.as_secs()) {
        Err("CUDA error: model weights failed to load")
    } else {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let start = clock.now();
    let config = presets::gpu_inference::per_model_breaker();
    println!(
        "per-model breaker (GPU inference preset): open after {} consecutive failures, for {:?}; {} trial calls, {} successes to close\n",
        config.consecutive_failures.unwrap_or_default(),
        config.open_duration,
        config.half_open_permits,
        config.success_threshold.unwrap_or(config.half_open_permits),
    );
    let registry = CircuitBreakerRegistry::<&'static str>::builder(config)
        .clock(clock.clone())
        .on_create(move |model, breaker| {
            let model = *model;
            breaker.on_event(move |e| {
                if let CircuitBreakerEventKind::StateTransition { from, to, reason } = &e.kind {
                    let t = e.at.duration_since(start).as_secs_f64();
                    println!("[{t:>5.1}s] {model}: {from} -> {to}   ({reason:?})");
                }
            });
        })
        .build()?;

    // One request per model every 2 seconds for 2 minutes.
    let mut rejected_shown = 0;
    let mut totals = std::collections::BTreeMap::<&str, [u32; 3]>::new();
    while clock.elapsed() < Duration::from_secs(120) {
        let at = clock.elapsed();
        for model in ["sdxl", "sd3"] {
            let t = totals.entry(model).or_default();
            match registry.try_acquire(&model) {
                Ok(permit) => match call_model(model, at) {
                    Ok(()) => {
                        t[0] += 1;
                        permit.record_success();
                    }
                    Err(e) => {
                        t[1] += 1;
                        if t[1] <= 5 {
                            println!("[{:>5.1}s] {model}: failed: {e}", at.as_secs_f64());
                        }
                        permit.record_failure();
                    }
                },
                Err(KeyedRejection::Open(open)) => {
                    t[2] += 1;
                    // Not called at all: no GPU time spent, the caller can go
                    // to a fallback at once and knows when to come back.
                    if rejected_shown < 3 {
                        rejected_shown += 1;
                        println!(
                            "[{:>5.1}s] {model}: rejected without calling, retry after {:.0}s -> serve from a fallback",
                            at.as_secs_f64(),
                            open.retry_after().as_secs_f64()
                        );
                    }
                }
                Err(KeyedRejection::Full(e)) => return Err(e.into()),
            }
        }
        clock.advance(Duration::from_secs(2));
    }

    println!("\nafter 2 minutes:");
    for (model, [ok, failed, rejected]) in &totals {
        println!("  {model:<5} {ok:>3} succeeded, {failed:>2} failed, {rejected:>2} rejected fast by its open breaker");
    }
    println!(
        "\nWhy: once sd3 failed 5 times in a row its breaker stopped the calls (each would have\n\
         cost a GPU slot and a timeout), while sdxl, with its own breaker, was never affected.\n\
         After 60 s the breaker let 3 trial calls through; sd3 had been fixed at 40 s, so they\n\
         succeeded and it closed. A breaker per key keeps one bad model from hiding the good ones."
    );
    Ok(())
}
