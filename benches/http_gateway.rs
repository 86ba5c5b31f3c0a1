//! What the README's stack costs inside a real HTTP service.
//!
//! One process, one 2-worker tokio runtime: an axum upstream, two axum
//! gateways forwarding to it with hyper's pooled client (one bare, one
//! through `ResilienceStack::http_from_yaml` with the README's config), and
//! a closed-loop load generator of our own (a fixed number of keep-alive
//! connections, each sending its next request when the previous answer is
//! read). The two gateways take turns, several rounds each, so they see the
//! same machine conditions. For each round: requests answered per second
//! and CPU time of the whole process (user + system, from
//! `/proc/self/stat`) per request. Client, upstream and gateway run in
//! every round, so the difference between the two gateways is the stack.
//!
//! `cargo bench --bench http_gateway` prints a table and writes it to
//! `target/bench-http-gateway.md`. Knobs: `HTTP_BENCH_SECS` (per round,
//! default 3), `HTTP_BENCH_ROUNDS` (per gateway, default 6),
//! `HTTP_BENCH_CONNS` (default 32).

#[path = "../tests/support/http_gateway.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience::layers::stack::ResilienceStack;
use support::{client, get, start_gateway, start_upstream};

/// The README's HTTP example config, as written there.
fn readme_stack_yaml() -> String {
    let readme = include_str!("../README.md");
    let key = "ResilienceStack::http_from_yaml(r#\"";
    let start = readme
        .find(key)
        .expect("the README has an HTTP stack example")
        + key.len();
    let end = start + readme[start..].find("\"#").expect("the raw string ends");
    readme[start..end].to_string()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux)");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = 100; // USER_HZ on Linux
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

struct Round {
    requests: u64,
    wall: Duration,
    cpu: Duration,
}

async fn round(gateway: std::net::SocketAddr, conns: u64, secs: u64) -> Round {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let c = client();
    // Warm the connections up outside the measured window.
    for _ in 0..conns {
        get(&c, gateway, "/api/warm")
            .await
            .expect("warm-up request");
    }
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (c, done, errors, stop) = (c.clone(), done.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match get(&c, gateway, "/api/items/42").await {
                    Ok(a) if a.status == 200 => done.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    let wall = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "every request answered 200"
    );
    Round {
        requests: done.load(Ordering::Relaxed),
        wall,
        cpu,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench`-less arguments; only
    // measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs = env_or("HTTP_BENCH_SECS", 3);
    let rounds = env_or("HTTP_BENCH_ROUNDS", 6);
    let conns = env_or("HTTP_BENCH_CONNS", 32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Instruction counts: `HTTP_BENCH_REQUESTS=N HTTP_BENCH_GATEWAY=bare|stack`
    // sends N sequential requests through one gateway and exits; run it
    // under callgrind for N and 2N (`scripts/callgrind-http.sh`), so the
    // difference is N requests' worth of instructions, setup excluded.
    if let Ok(n) = std::env::var("HTTP_BENCH_REQUESTS") {
        let n: u64 = n.parse().expect("HTTP_BENCH_REQUESTS is a number");
        let which = std::env::var("HTTP_BENCH_GATEWAY").unwrap_or_else(|_| "stack".into());
        // One thread: the same interleaving on every run, so instruction
        // counts repeat.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (up, _u) = start_upstream().await;
            let stack = ResilienceStack::http_from_yaml(
                &std::env::var("HTTP_BENCH_CONFIG").unwrap_or_else(|_| readme_stack_yaml()),
            )
            .expect("config");
            let gw = if which == "bare" {
                start_gateway(up.addr, client()).await.0
            } else {
                start_gateway(up.addr, tower::Layer::layer(&stack, client()))
                    .await
                    .0
            };
            let c = client();
            for _ in 0..n {
                let a = get(&c, gw, "/api/items/42").await.expect("an answer");
                assert_eq!(a.status, 200);
            }
        });
        return;
    }
    // Diagnosis: `HTTP_BENCH_ONLY="timeout: 2s"` measures that config
    // instead of the README's (one round pair per value of `|`-separated
    // configs, printed only).
    if let Ok(only) = std::env::var("HTTP_BENCH_ONLY") {
        rt.block_on(async {
            let (up, _u) = start_upstream().await;
            let (bare, _b) = start_gateway(up.addr, client()).await;
            for cfg in only.split('|') {
                let stack = ResilienceStack::http_from_yaml(cfg).expect("config");
                let (with, _w) =
                    start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
                let (mut b, mut w) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    let m = round(bare, conns, secs).await;
                    b.push(m.cpu.as_secs_f64() * 1e6 / m.requests as f64);
                    let m = round(with, conns, secs).await;
                    w.push(m.cpu.as_secs_f64() * 1e6 / m.requests as f64);
                }
                println!(
                    "{cfg:60} bare {:.1} µs, stack {:.1} µs, +{:.2}",
                    median(b.clone()),
                    median(w.clone()),
                    median(w) - median(b)
                );
            }
        });
        return;
    }
    let table = rt.block_on(async {
        let (up, _u) = start_upstream().await;
        let stack = ResilienceStack::http_from_yaml(&readme_stack_yaml()).expect("README config");
        let (bare, _b) = start_gateway(up.addr, client()).await;
        let (with, _w) = start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
        let mut rps = [Vec::new(), Vec::new()];
        let mut cpu_us = [Vec::new(), Vec::new()];
        for r in 0..rounds {
            // Alternate which goes first, so neither always runs warmer.
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let gw = if i == 0 { bare } else { with };
                let m = round(gw, conns, secs).await;
                rps[i].push(m.requests as f64 / m.wall.as_secs_f64());
                cpu_us[i].push(m.cpu.as_secs_f64() * 1e6 / m.requests as f64);
                eprintln!(
                    "round {r} {}: {:.0} req/s, {:.1} µs CPU/request",
                    ["bare", "stack"][i],
                    rps[i].last().unwrap(),
                    cpu_us[i].last().unwrap()
                );
            }
        }
        let ratios: Vec<f64> = rps[1].iter().zip(&rps[0]).map(|(s, b)| s / b).collect();
        let (b_rps, s_rps) = (median(rps[0].clone()), median(rps[1].clone()));
        let (b_cpu, s_cpu) = (median(cpu_us[0].clone()), median(cpu_us[1].clone()));
        let mut t = String::new();
        t.push_str(&format!(
            "The README's stack in a real axum gateway (hyper client, axum upstream, loopback, \
             {conns} keep-alive connections, closed loop, {rounds} alternating rounds of {secs} s \
             per gateway; medians; CPU is the whole process: load generator, gateway and \
             upstream).\n\n"
        ));
        t.push_str("| gateway | requests/s | CPU µs/request |\n|---|---:|---:|\n");
        t.push_str(&format!("| bare hyper client | {b_rps:.0} | {b_cpu:.1} |\n"));
        t.push_str(&format!("| through `ResilienceStack` (README config) | {s_rps:.0} | {s_cpu:.1} |\n"));
        t.push_str(&format!(
            "| **stack / bare** | **{:.3}×** (median of per-round ratios {:.3}×) | **+{:.2} µs** |\n",
            s_rps / b_rps,
            median(ratios),
            s_cpu - b_cpu
        ));
        t
    });
    println!("{table}");
    std::fs::create_dir_all("target").ok();
    std::fs::write("target/bench-http-gateway.md", &table)
        .expect("write target/bench-http-gateway.md");
}
