//! # The inference gateway demo
//!
//! An axum + tower "inference gateway" in front of 20 simulated GPU workers
//! and two external model providers, with the whole suite wired in:
//! per-model breakers plus a global breaker, retry with a budget, bulkheads
//! per traffic class, the fallback chain provider A → provider B → cached
//! (stale) answer, degradation levels driving a feature matrix, a
//! dead-letter queue with replay, in-flight request recovery when a worker
//! dies, and the GPU inference platform's pool autoscaling policy on queue
//! depth.
//!
//! By default it runs the platform's five chaos experiments against itself, one
//! after the other, in virtual time (a paused tokio clock: minutes of
//! traffic in a second of wall time, the same output for the same seed), and
//! prints a table of expected against observed outcomes.
//!
//! ```text
//! cargo run --example gateway                                 # all experiments
//! cargo run --example gateway -- --experiment traffic-spike   # one of them
//! cargo run --example gateway -- --seed 7 --duration 200s --verbose
//! cargo run --example gateway -- --serve 127.0.0.1:8080       # live, with /metrics, /status, /chaos
//! cargo run --example gateway --features store-redis -- --dead-letters redis://127.0.0.1:6379/
//! cargo run --example gateway --features store-postgres -- --dead-letters postgres://postgres@127.0.0.1/postgres
//! cargo run --example gateway -- --replicas 20 --fleet memory  # a fleet: local vs fleet-scope retry budget
//! cargo run --example gateway --features store-redis -- --replicas 20 --fleet redis://127.0.0.1:6379/
//! ```
//!
//! `--replicas N --fleet memory|redis://…` runs the worker-kill and
//! model-load-failure experiments on N whole gateways (each its own stack,
//! budget, breakers and 20 workers, each serving 3 requests/s from seed +
//! i; the fault hits all of them), once with the worker retries' budget in
//! local scope (a bucket per replica) and once in fleet scope (one bucket of
//! the same size for the fleet, leased in batches through the fleet store),
//! and prints the fleet's retry load side by side: retries sent (total, peak
//! per virtual second), refused, tokens spent and refunded, the deepest
//! draw on the budget (against one bucket + one batch per replica), attempts failing
//! at the workers, store round trips, time on local state. Every figure is
//! counted as it happens (see `app/fleet.rs`, which also explains how the
//! fleet budgets' Redis calls run without breaking virtual time). A store
//! that does not answer at the start stops the demo with exit code 2 (the
//! fleet scope would fall back to local state: nothing to compare); one that
//! fails mid-run shows as replica-seconds on local state.

mod app;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::experiments::{
    self, Experiment, Options, Progress, Report, DEFAULT_DURATION, MIN_DURATION,
};
use clap::{Arg, ArgAction, Command};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

fn cli() -> Command {
    Command::new("gateway")
        .about("An inference gateway surviving five chaos experiments")
        .arg(
            Arg::new("experiment")
                .long("experiment")
                .value_name("NAME")
                .help("Run one experiment: worker-kill, network-partition, model-load-failure, traffic-spike, storage-latency (or the runbook's names); default: all"),
        )
        .arg(
            Arg::new("duration")
                .long("duration")
                .value_name("DURATION")
                .help("Virtual time per experiment, e.g. 150s or 3m (at least 120s; default 150s)"),
        )
        .arg(
            Arg::new("seed")
                .long("seed")
                .value_name("N")
                .value_parser(clap::value_parser!(u64))
                .help("Seed of the traffic, the fault choices and the latencies (default 42)"),
        )
        .arg(
            Arg::new("serve")
                .long("serve")
                .value_name("ADDR")
                .help("Serve the gateway live on ADDR (e.g. 127.0.0.1:8080) with /v1/generate, /status, /metrics and /chaos, under light background traffic, until Ctrl-C"),
        )
        .arg(
            Arg::new("dead-letters")
                .long("dead-letters")
                .value_name("URL")
                .help("Keep dead-lettered internal jobs in PostgreSQL (postgres://…) or Redis Streams (redis://…) instead of process memory (build with --features store-postgres / store-redis); the experiments empty the queue first"),
        )
        .arg(
            Arg::new("replicas")
                .long("replicas")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help("Run the worker-kill and model-load-failure experiments on N gateways (1 to 50, default 1), with the worker retries' budget in local scope and in fleet scope, and print the fleet's retry load side by side (the fleet store is `--fleet`, in memory by default)"),
        )
        .arg(
            Arg::new("fleet")
                .long("fleet")
                .value_name("URL")
                .help("The fleet store of the fleet-scope budget: `memory` (in this process) or redis://… (build with --features store-redis); runs the side-by-side comparison of --replicas"),
        )
        .arg(
            Arg::new("verbose")
                .long("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .help("Print each experiment's timeline and every check"),
        )
}

fn main() -> ExitCode {
    let matches = cli().get_matches();
    let seed = matches.get_one::<u64>("seed").copied().unwrap_or(42);
    let duration = match matches.get_one::<String>("duration") {
        None => DEFAULT_DURATION,
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if d >= MIN_DURATION => d,
            Ok(d) => {
                eprintln!(
                    "--duration {s}: at least {}s is needed (heartbeat timeout 30 s, model breaker open 60 s, scaling rule 60 s); got {}s",
                    MIN_DURATION.as_secs(),
                    d.as_secs()
                );
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("--duration {s}: {e} (write e.g. 150s or 3m)");
                return ExitCode::from(2);
            }
        },
    };
    let dead_letters = matches.get_one::<String>("dead-letters");
    let replicas = matches.get_one::<usize>("replicas").copied();
    let fleet = matches.get_one::<String>("fleet");
    if replicas.is_some() || fleet.is_some() {
        if matches.contains_id("serve") || dead_letters.is_some() {
            eprintln!("--replicas/--fleet run the experiments on a fleet of in-process gateways: they cannot be combined with --serve or --dead-letters");
            return ExitCode::from(2);
        }
        let n = replicas.unwrap_or(1);
        if !(1..=app::fleet::MAX_REPLICAS).contains(&n) {
            eprintln!(
                "--replicas {n}: between 1 and {} replicas",
                app::fleet::MAX_REPLICAS
            );
            return ExitCode::from(2);
        }
        let target = match app::fleet::FleetTarget::parse(fleet.map_or("memory", String::as_str)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("--fleet {e}");
                return ExitCode::from(2);
            }
        };
        let experiment = matches.get_one::<String>("experiment");
        return run_fleet(n, &target, experiment.map(String::as_str), seed, duration);
    }
    if let Some(addr) = matches.get_one::<String>("serve") {
        return serve(addr, seed, dead_letters.map(String::as_str));
    }
    if let Some(url) = dead_letters {
        // The experiments start from an empty queue.
        match app::store::use_durable(url, true) {
            Ok(what) => println!("dead letters: {what}"),
            Err(e) => {
                eprintln!("--dead-letters: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let selected: Vec<Experiment> = match matches.get_one::<String>("experiment") {
        None => Experiment::ALL.to_vec(),
        Some(name) => match Experiment::from_name(name) {
            Some(e) => vec![e],
            None => {
                let names: Vec<&str> = Experiment::ALL.iter().map(|e| e.name()).collect();
                eprintln!(
                    "--experiment {name}: unknown; choose one of {}",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let verbose = matches.get_flag("verbose");
    let options = Options { seed, duration };

    println!(
        "inference gateway: 20 GPU workers (2 zones), providers A and B, stale cache; seed {seed}, {}s of virtual time per experiment",
        duration.as_secs()
    );
    println!();
    let wall = Instant::now();
    let live = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if live {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut reports = Vec::new();
    for experiment in selected {
        let bar = multi.add(ProgressBar::new(duration.as_secs()));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>19} [{bar:24}] {pos:>3}/{len}s {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(experiment.name());
        if !live {
            println!(
                "▶ {:<19} {} (seed: {})",
                experiment.name(),
                experiment.description(),
                experiment.seed_name()
            );
        }
        let mut on_progress = |p: &Progress| {
            if live {
                bar.set_position(p.elapsed.as_secs().min(p.duration.as_secs()));
                bar.set_message(progress_line(p));
            }
        };
        match experiments::run(experiment, options, &mut on_progress) {
            Ok(report) => {
                let verdict = if report.passed { "PASS" } else { "FAIL" };
                if live {
                    bar.finish_with_message(format!("{verdict}  {}", counts_line(&report)));
                } else {
                    println!(
                        "  {verdict} after {}s of virtual time: {}",
                        report.simulated.as_secs(),
                        counts_line(&report)
                    );
                }
                reports.push(report);
            }
            Err(e) => {
                bar.abandon_with_message(format!("error: {e}"));
                eprintln!("{}: could not run: {e}", experiment.name());
                return ExitCode::FAILURE;
            }
        }
    }
    drop(multi);
    println!();
    print_table(&reports);
    if verbose {
        for r in &reports {
            print_details(r);
        }
    } else {
        for r in reports.iter().filter(|r| !r.passed) {
            print_details(r);
        }
    }
    let passed = reports.iter().filter(|r| r.passed).count();
    let lost: u64 = reports.iter().map(|r| r.counts.lost).sum();
    println!();
    println!(
        "{passed}/{} experiments passed, {lost} requests lost",
        reports.len()
    );
    // Wall time varies from run to run: keep it off stdout.
    eprintln!(
        "(finished in {:.1} s of wall time)",
        wall.elapsed().as_secs_f64()
    );
    if passed == reports.len() && lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--replicas N --fleet …`: the two retrying experiments on a fleet, local
/// scope vs fleet scope.
fn run_fleet(
    n: usize,
    target: &app::fleet::FleetTarget,
    experiment: Option<&str>,
    seed: u64,
    duration: Duration,
) -> ExitCode {
    use app::fleet::{self, EXPERIMENTS};
    let selected: Vec<Experiment> = match experiment {
        None => EXPERIMENTS.to_vec(),
        Some(name) => match Experiment::from_name(name).filter(|e| EXPERIMENTS.contains(e)) {
            Some(e) => vec![e],
            None => {
                let names: Vec<&str> = EXPERIMENTS.iter().map(|e| e.name()).collect();
                eprintln!(
                    "--experiment {name}: with --replicas/--fleet, choose one of {} (the two the fleet comparison covers)",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    if let Err(e) = target.check() {
        eprintln!(
            "--fleet: {} does not answer ({e}). A fleet-scope budget falls back to local state when its store is unreachable (calls are never blocked), so the fleet scope would be measured on local state: nothing to compare. Start the server, or use `--fleet memory`.",
            target.describe()
        );
        return ExitCode::from(2);
    }
    let bucket = match fleet::shipped_bucket() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("presets/gateway.yaml: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "inference gateway fleet: {n} replicas, each with its own stack and 20 GPU workers, each serving 3 requests/s; seed {seed} (replica i: seed + i), {}s of virtual time per experiment",
        duration.as_secs()
    );
    println!(
        "worker retries' budget (presets/gateway.yaml): a token bucket of {} tokens, {} per retry ({} per timeout), +{} per success; local scope: one per replica; fleet scope: one for the fleet on {}, leased {} tokens at a time",
        bucket.capacity,
        bucket.retry_cost,
        bucket.timeout_retry_cost,
        bucket.success_refund,
        target.describe(),
        fleet::batch(&bucket)
    );
    let wall = Instant::now();
    let options = Options { seed, duration };
    let mut ok = true;
    for experiment in selected {
        println!();
        match fleet::run(experiment, options, n, target) {
            Ok(r) => ok &= print_fleet(&r),
            Err(e) => {
                eprintln!("{}: could not run: {e}", experiment.name());
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "(finished in {:.1} s of wall time)",
        wall.elapsed().as_secs_f64()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints one experiment's side-by-side table; `false` if a request was
/// lost or the fleet scope spent more than its bound.
fn print_fleet(r: &app::fleet::FleetReport) -> bool {
    let (l, f) = (&r.local, &r.fleet);
    let n = r.replicas as u64;
    let cap = u64::from(r.bucket.capacity);
    let batch = u64::from(r.batch);
    println!(
        "── {} ({}): {}, on every replica",
        r.experiment.name(),
        r.experiment.seed_name(),
        r.experiment.description()
    );
    let row = |what: &str, a: String, b: String| println!("   {what:<46} {a:>16} {b:>16}");
    row("", "local scope".into(), "fleet scope".into());
    row(
        "budget buckets",
        format!("{n} x {cap} tokens"),
        format!("1 x {cap} tokens"),
    );
    row(
        "retries sent by the fleet",
        l.retries.to_string(),
        f.retries.to_string(),
    );
    let peak =
        |s: &app::fleet::ScopeRun| format!("{} (at {}s)", s.peak_per_second.0, s.peak_per_second.1);
    row("  peak per second (virtual)", peak(l), peak(f));
    row(
        "retries refused by the budget",
        l.refused.to_string(),
        f.refused.to_string(),
    );
    row(
        "tokens spent on retries",
        l.tokens_spent.to_string(),
        f.tokens_spent.to_string(),
    );
    row(
        "tokens handed back by successes",
        l.tokens_refunded.to_string(),
        f.tokens_refunded.to_string(),
    );
    row(
        "deepest draw on the budget (tokens)",
        l.deepest_draw.to_string(),
        f.deepest_draw.to_string(),
    );
    row(
        "attempts failing at the workers",
        l.failed_attempts.to_string(),
        f.failed_attempts.to_string(),
    );
    row(
        "fleet store round trips",
        "-".into(),
        f.store_ops.to_string(),
    );
    row(
        "replica-seconds on local state",
        "-".into(),
        f.local_state_seconds.to_string(),
    );
    let passed = |s: &app::fleet::ScopeRun| {
        format!(
            "{}/{}",
            s.reports.iter().filter(|r| r.passed).count(),
            s.reports.len()
        )
    };
    row("replicas passing their checks", passed(l), passed(f));
    let lost = |s: &app::fleet::ScopeRun| s.reports.iter().map(|r| r.counts.lost).sum::<u64>();
    row("requests lost", lost(l).to_string(), lost(f).to_string());
    // Over any stretch of the run, a retry's tokens come from what the
    // buckets held at its start or from the successes' refunds: the draw
    // (spent minus handed back) is at most what they can hold. Fleet scope:
    // one bucket plus the batch each replica holds; local scope: N buckets.
    let fleet_bound = cap + n * batch;
    let within = f.deepest_draw <= fleet_bound;
    println!(
        "   fleet scope drew at most {} tokens, within one bucket + one batch per replica ({cap} + {n} x {batch} = {fleet_bound}): {}",
        f.deepest_draw,
        if within { "yes" } else { "NO" }
    );
    println!(
        "   local scope drew at most {} tokens; its {n} buckets allow up to {n} x {cap} = {}{}",
        l.deepest_draw,
        n * cap,
        if l.deepest_draw > fleet_bound {
            ", more than one shared bucket would have granted"
        } else {
            ""
        }
    );
    if l.retries == 0 && f.retries == 0 {
        println!("   no retries in either scope: the killed workers' in-flight requests were reassigned by in-flight recovery, not by the retry layer");
    } else if l.refused == 0 && f.refused == 0 {
        println!("   neither scope's budget ran dry (no retry refused): the successes' refunds kept the buckets up");
    }
    within && lost(l) == 0 && lost(f) == 0
}

fn progress_line(p: &Progress) -> String {
    let c = &p.counts;
    let mut s = format!(
        "sent {} ok {} fb {} dlq {} rej {} | {} | workers {}/{} | queue {}",
        c.sent, c.ok, c.fallback, c.deferred, c.rejected, p.level, p.routable, p.target, p.queued
    );
    if p.draining {
        s.push_str(" | draining");
    }
    if let Some((at, e)) = &p.last_event {
        s.push_str(&format!(" | {}s {e}", at.as_secs()));
    }
    s
}

fn counts_line(r: &Report) -> String {
    let c = &r.counts;
    format!(
        "sent {} | ok {} | fallback {} | deferred {} | rejected {} | lost {}",
        c.sent, c.ok, c.fallback, c.deferred, c.rejected, c.lost
    )
}

/// Wraps `text` to lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn print_table(reports: &[Report]) {
    const W: [usize; 10] = [20, 28, 46, 4, 5, 5, 5, 5, 5, 4];
    let header = [
        "experiment",
        "expected (runbook)",
        "observed",
        "pass",
        "sent",
        "ok",
        "fallb",
        "defer",
        "rejct",
        "lost",
    ];
    let rule = |c: char| {
        let parts: Vec<String> = W.iter().map(|w| c.to_string().repeat(*w)).collect();
        println!("{}", parts.join(&format!("{c}{c}{c}")));
    };
    let row = |cells: Vec<Vec<String>>| {
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for i in 0..height {
            let parts: Vec<String> = cells
                .iter()
                .zip(W)
                .enumerate()
                .map(|(k, (lines, w))| {
                    let s = lines.get(i).map(String::as_str).unwrap_or("");
                    if k >= 4 {
                        format!("{s:>w$}")
                    } else {
                        format!("{s:<w$}")
                    }
                })
                .collect();
            println!("{}", parts.join(" │ ").trim_end());
        }
    };
    rule('═');
    row(header.iter().map(|h| vec![h.to_string()]).collect());
    rule('═');
    for (i, r) in reports.iter().enumerate() {
        let c = &r.counts;
        let n = |v: u64| vec![v.to_string()];
        row(vec![
            wrap(
                &format!("{} ({})", r.experiment.name(), r.experiment.seed_name()),
                W[0],
            ),
            wrap(r.expected, W[1]),
            wrap(&r.observed, W[2]),
            vec![if r.passed {
                "PASS".into()
            } else {
                "FAIL".into()
            }],
            n(c.sent),
            n(c.ok),
            n(c.fallback),
            n(c.deferred),
            n(c.rejected),
            n(c.lost),
        ]);
        if i + 1 < reports.len() {
            rule('─');
        }
    }
    rule('═');
    println!(
        "ok = served by the gateway's workers; fallb = provider A/B or stale cache; defer = dead-lettered, replayed later;\nrejct = typed error (bulkhead full, shed, unavailable); lost = no definite answer, a dead letter never replayed or an image never stored"
    );
}

fn print_details(r: &Report) {
    println!();
    println!(
        "── {} ({}): {}",
        r.experiment.name(),
        r.experiment.seed_name(),
        r.experiment.description()
    );
    for c in &r.checks {
        println!("   [{}] {}", if c.passed { "ok" } else { "FAILED" }, c.what);
    }
    println!("   timeline:");
    for (at, line) in &r.timeline {
        println!("   {:>6.1}s  {line}", at.as_secs_f64());
    }
}

/// `--serve`: the gateway live, on the system clock, with background
/// traffic, until Ctrl-C.
fn serve(addr: &str, seed: u64, dead_letters: Option<&str>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), tower::BoxError> = runtime.block_on(async {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        if let Some(url) = dead_letters {
            // After the recorder, so the store's metrics reach /metrics.
            let url = url.to_string();
            let what = tokio::task::spawn_blocking(move || app::store::use_durable(&url, false))
                .await??;
            println!("dead letters: {what}");
        }
        let events = Arc::new(app::events::EventLog::new());
        let gw = app::gateway::Gateway::start(seed, events.clone())?;
        let router = gw.router(Some(handle), true);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        println!("inference gateway on http://{local} (Ctrl-C to stop)");
        println!("  curl -s http://{local}/status");
        println!("  curl -s http://{local}/metrics | grep resilience_");
        println!("  curl -s -XPOST http://{local}/v1/generate -H 'content-type: application/json' -d '{{\"model\":\"sdxl\",\"class\":\"api\",\"prompt\":\"a cat\"}}'");
        println!("  curl -s -XPOST http://{local}/chaos/network-partition/on   (also: worker-kill/on, model-load-failure, storage-latency, providers-down; /off to heal)");
        tokio::spawn(background_traffic(router.clone(), seed));
        tokio::spawn(print_events(events));
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn background_traffic(router: axum::Router, seed: u64) {
    use rand::{Rng, SeedableRng};
    use tower::ServiceExt;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let sent = Arc::new(AtomicU64::new(0));
    loop {
        let u: f64 = rng.random_range(0.0..1.0);
        tokio::time::sleep(Duration::from_secs_f64(-(1.0 - u).ln() / 3.0)).await;
        let models = ["sdxl", "sdxl", "sdxl", "sd3", "flux"];
        let classes = ["api", "api", "dashboard", "internal"];
        let body = serde_json::json!({
            "model": models[rng.random_range(0..models.len())],
            "class": classes[rng.random_range(0..classes.len())],
            "prompt": format!("background #{}", sent.fetch_add(1, Ordering::Relaxed)),
        });
        let Ok(request) = axum::http::Request::post("/v1/generate")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
        else {
            continue;
        };
        let router = router.clone();
        tokio::spawn(async move {
            let _ = router.oneshot(request).await;
        });
    }
}

async fn print_events(events: Arc<app::events::EventLog>) {
    let mut shown = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let entries = events.entries();
        for (at, line) in entries.iter().skip(shown) {
            println!("{:>8.1}s  {line}", at.as_secs_f64());
        }
        shown = entries.len();
    }
}
