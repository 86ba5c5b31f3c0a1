//! Quickstart: a flaky dependency behind a circuit breaker.
//!
//! A simulated dependency is healthy, then goes down for 15 seconds, then
//! recovers. One call is made every 250 ms of simulated time (a
//! `ManualClock`, so the example runs instantly and prints the same thing
//! every time). Watch the breaker open when the failure rate reaches 50 %,
//! fail calls fast with a `retry_after` while open, probe the dependency when
//! half-open, back off longer after a failed probe, and close once it has
//! recovered.
//!
//! Run: `cargo run --example quickstart`

use std::time::Duration;

use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEventKind};
use resilience::clock::{Clock, ManualClock};

/// The dependency: down between 5 s and 20 s of simulated time.
fn dependency(at: Duration) -> Result<&'static str, &'static str> {
    if (5..20).contains(&at.as_secs()) {
        Err("503 service unavailable")
    } else {
        Ok("200 ok")
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let start = clock.now();
    let config: CircuitBreakerConfig = serde_json::from_str(
        r#"{
            "name": "inventory-api",
            "window": { "count": 10 },
            "minimum_calls": 5,
            "failure_rate_threshold": 0.5,
            "open_duration": "3s",
            "open_backoff": { "multiplier": 2.0, "max": "12s" },
            "half_open_permits": 2
        }"#,
    )?;
    let breaker = CircuitBreaker::with_clock(config, clock.clone())?;

    breaker.on_event(move |event| {
        if let CircuitBreakerEventKind::StateTransition { from, to, reason } = &event.kind {
            let t = event.at.duration_since(start);
            println!("[{:>6.2}s] {from} → {to}   ({reason:?})", t.as_secs_f64());
        }
    });

    println!("calling `inventory-api` every 250 ms; it is down from 5 s to 20 s\n");
    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    let mut last_wait_print = None;
    while clock.elapsed() < Duration::from_secs(30) {
        let now = clock.elapsed();
        match breaker.try_acquire() {
            Ok(permit) => match dependency(now) {
                Ok(_) => {
                    ok += 1;
                    permit.record_success();
                }
                Err(_) => {
                    failed += 1;
                    permit.record_failure();
                }
            },
            Err(open) => {
                rejected += 1;
                // Print the retry_after once per second of simulated time.
                let second = now.as_secs();
                if last_wait_print != Some(second) {
                    last_wait_print = Some(second);
                    println!(
                        "[{:>6.2}s]   rejected without calling: {} (retry after {:.2}s)",
                        now.as_secs_f64(),
                        open.state(),
                        open.retry_after().as_secs_f64()
                    );
                }
            }
        }
        clock.advance(Duration::from_millis(250));
    }

    let m = breaker.metrics();
    println!(
        "\n{ok} calls succeeded, {failed} failed, {rejected} were rejected fast while the dependency was down"
    );
    println!(
        "final state: {} (window: {} calls, {} failures)",
        m.state, m.window.calls, m.window.failures
    );
    Ok(())
}
