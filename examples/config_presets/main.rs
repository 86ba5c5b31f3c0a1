//! Configuration as data: the gateway's tables in one YAML file, loaded into a
//! ready resilience stack.
//!
//! `presets/gateway.yaml` holds the inference gateway's stack: breakers per
//! service (the synthetic-data platform's, the data platform's LLM provider
//! and the GPU inference platform's), retry per operation with a budget,
//! bulkheads per traffic class (the model registry's pools), the
//! degradation levels and feature matrix, in-flight recovery and heartbeats;
//! the GPU pool's scaling policy is the GPU inference platform's own file. This example loads it (or
//! the file you name), builds every object, and prints what it built. A bad
//! file is refused with the field at fault, never a panic.
//!
//! This is the exact stack `cargo run --example gateway` runs.
//!
//! Any other config file the suite ships, or one of yours, is recognised by
//! its top-level keys (a `ResilienceStack`, named breakers or retry
//! policies, bulkheads, degradation, an HPA manifest, a scaling policy),
//! built, and reported; a bad value names its entry and field. Use it as a
//! config lint in CI.
//!
//! Run: `cargo run --example config_presets [-- path/to/any-config.yaml]`

#[path = "../gateway/app/stack.rs"]
mod stack;

mod kinds;

use std::process::ExitCode;

use rand::SeedableRng;
use resilience_core::circuit_breaker::{CircuitBreakerConfig, WindowConfig};
use resilience_core::config::fmt_duration;
use resilience_core::retry::BudgetConfig;
use stack::{Stack, StackConfig};

fn trip_rule(c: &CircuitBreakerConfig) -> String {
    let window = match c.window {
        WindowConfig::Count(n) => format!("the last {n} calls"),
        WindowConfig::Time(t) => fmt_duration(t).to_string(),
    };
    let mut rules = Vec::new();
    if let Some(n) = c.consecutive_failures {
        rules.push(format!("{n} consecutive failures"));
    }
    if let Some(r) = c.failure_rate_threshold {
        rules.push(format!(
            "{:.0} % failures over {window} (min {} calls)",
            r * 100.0,
            c.minimum_calls
        ));
    }
    if let Some(n) = c.failure_count_threshold {
        rules.push(format!("{n} failures in {window}"));
    }
    rules.join(" or ")
}

fn main() -> ExitCode {
    let (source, parsed) = match std::env::args().nth(1) {
        None => ("presets/gateway.yaml".to_string(), StackConfig::shipped()),
        Some(path) => {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("cannot read {path}: {e}");
                    return ExitCode::from(2);
                }
            };
            // Any other kind of file: recognise it, build it, say what it is.
            match kinds::detect(&text) {
                Ok(Some(kinds::Kind::Gateway)) => (path, StackConfig::from_yaml(&text)),
                _ => {
                    return match kinds::check(&text) {
                        Ok((kind, built)) => {
                            println!("{path}: {} — built {built}", kind.describe());
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("{path}: {e}");
                            ExitCode::FAILURE
                        }
                    };
                }
            }
        }
    };
    let config = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Time only matters once the objects run; build them on the system clock.
    let stack = match Stack::build(&config, resilience_core::clock::SystemClock) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("loaded {source} into a ready stack\n");

    println!("circuit breakers per service");
    for (name, c) in &config.circuit_breakers {
        println!(
            "  {name:<17} opens on {}; open {}; {} trial call(s), {} success(es) to close",
            trip_rule(c),
            fmt_duration(c.open_duration),
            c.half_open_permits,
            c.success_threshold.unwrap_or(c.half_open_permits)
        );
    }
    println!(
        "  built: per-model and per-worker registries ({} and {} keys so far), global `{}`,\n         providers `{}` and `{}`, storage `{}`",
        stack.model_breakers.len(),
        stack.worker_breakers.len(),
        stack.global.name(),
        stack.provider_a.name(),
        stack.provider_b.name(),
        stack.storage.name()
    );

    println!("\nretry per operation");
    for name in config.retry.names() {
        let Some(c) = config.retry.get(name) else {
            continue;
        };
        let rng = rand::rngs::StdRng::seed_from_u64(0);
        let delays: Vec<String> = c.backoff.delays_with_rng(rng).map(fmt_duration).collect();
        println!(
            "  {name:<17} {} attempts, waits {} (jitter: {:?})\n  {:<17} budget: {}",
            c.backoff.max_attempts().unwrap_or(1),
            delays.join(", "),
            c.backoff.jitter(),
            "",
            match &c.budget {
                Some(BudgetConfig::TokenBucket(b)) => format!(
                    "token bucket of {} tokens; a retry costs {} ({} after a timeout); a first-try success earns {}",
                    b.capacity, b.retry_cost, b.timeout_retry_cost, b.success_refund
                ),
                Some(BudgetConfig::Ratio(b)) => format!(
                    "retries at most {:.0} % of calls over {} (plus {}/s)",
                    b.percent_can_retry * 100.0,
                    fmt_duration(b.ttl),
                    b.min_retries_per_sec
                ),
                None => "none".to_string(),
            }
        );
    }
    println!(
        "  built: policy `{}`, {} attempts",
        stack.worker_retry.name(),
        stack.worker_retry.max_attempts()
    );

    println!("\nbulkheads per traffic class");
    for (name, b) in stack.bulkheads.iter() {
        println!(
            "  {name:<17} {:>3} concurrent, waits up to {}, priority {}",
            b.max_concurrent(),
            fmt_duration(b.max_wait()),
            b.priority()
        );
    }

    let d = &stack.degradation;
    println!("\ndegradation `{}`", d.name());
    let levels = d.thresholds().levels();
    for l in levels {
        match d.thresholds().threshold(l.severity()) {
            Some(t) => println!("  {:<10} health above {t}", l.name()),
            None => println!("  {:<10} otherwise", l.name()),
        }
    }
    for (name, c) in &config.degradation.components {
        println!("  input {name:<11} weight {}", c.weight);
    }
    for r in &config.degradation.rules {
        println!(
            "  rule  {:<15} {} {:?} -> at least {}",
            r.name, r.component, r.when, r.level
        );
    }
    let mut header = format!("\n  {:<18}", "feature \\ level");
    for l in levels {
        header.push_str(&format!("{:<10}", l.name()));
    }
    println!("{}", header.trim_end());
    for f in d.matrix().features() {
        let mut row = format!("  {f:<18}");
        if let Some(id) = d.matrix().feature(f) {
            for l in levels {
                row.push_str(&format!(
                    "{:<10}",
                    d.matrix().mode_at(id, l.severity()).unwrap_or("-")
                ));
            }
        }
        println!("{}", row.trim_end());
    }

    let r = &config.recovery;
    println!(
        "\nin-flight recovery: {} retries, backoff min({}, {} x 2^n), priority +{}; tracking {} requests",
        r.max_retries,
        fmt_duration(r.backoff_cap),
        fmt_duration(r.backoff_base),
        r.priority_boost,
        stack.recovery.len()
    );
    let h = &config.heartbeat;
    println!(
        "heartbeats: every {}, unhealthy after {} or {} misses; monitoring {} members",
        fmt_duration(h.interval),
        fmt_duration(h.timeout),
        h.unhealthy_after,
        stack.heartbeats.len()
    );

    let s = stack.scaling.config();
    println!(
        "\nscaling `{}` (GPU inference platform): {}..{} workers (effective minimum {}), +{} / -{} per step",
        s.component,
        s.min_replicas,
        s.max_replicas,
        stack.scaling.effective_min(),
        s.scale_up_increment,
        s.scale_down_increment
    );
    for (dir, rules) in [("up", &s.scale_up), ("down", &s.scale_down)] {
        for rule in rules {
            let cond = match (
                rule.above,
                rule.below,
                rule.above_capacity_fraction,
                rule.below_capacity_fraction,
            ) {
                (Some(x), ..) => format!("> {x}"),
                (_, Some(x), ..) => format!("< {x}"),
                (_, _, Some(f), _) => format!("> {f} x capacity"),
                (_, _, _, Some(f)) => format!("< {f} x capacity"),
                _ => "?".to_string(),
            };
            println!(
                "  scale {dir:<4} when {} {cond} for {}",
                rule.metric,
                fmt_duration(rule.hold)
            );
        }
    }
    ExitCode::SUCCESS
}
