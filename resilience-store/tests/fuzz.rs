//! The fuzz suite: resilience-store's configurations (YAML of random field
//! values), the stored forms it reads back from a server (payload bytes
//! through the versioned JSON codec, stored reasons, letter ids) and the
//! in-memory store under random operations, all without a server. Each
//! target asserts no panic, config errors that name the field, and exact
//! round trips where the format promises one.
//!
//! `scripts/test.sh` runs this binary with its output shown: every target
//! prints how many cases it ran. `RESILIENCE_FUZZ_CASES` sets the cases per
//! target (default 256).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use resilience_core::config::{self, ConfigError};
use resilience_core::dead_letter::{
    CodecError, DeadLetterReason, JsonCodec, LetterCodec, LetterId,
};
use resilience_core::retry::GiveUpReason;
use resilience_store::connection::{PostgresConfig, RedisConfig};
use resilience_store::dead_letter::QueueConfig;
use serde::{Deserialize, Serialize};

fn cases() -> u32 {
    std::env::var("RESILIENCE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0u32);
    if let Err(e) = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    }) {
        panic!("fuzz resilience-store::{name}: {e}");
    }
    println!(
        "fuzz resilience-store::{name}: {} cases passed (of {n} planned), no panic",
        ran.get()
    );
}

fn names_a_field(e: &ConfigError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.field().is_some() || !e.to_string().is_empty(),
        "a config error says what is wrong: {e}"
    );
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_.-]{0,12}",
        ".{0,40}",
        Just(String::new()),
        Just("a; DROP TABLE x".to_string()),
        Just("x".repeat(300)),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0s".to_string()),
        Just("1ns".to_string()),
        Just("250ms".to_string()),
        Just("18446744073709551615s".to_string()),
        "[0-9]{1,6}(ms|s|m|h)",
        ".{0,8}",
    ]
}

#[test]
fn configs_never_panic_and_errors_name_the_field() {
    fuzz(
        "queue_config",
        (text(), prop::option::of(any::<u64>()), any::<usize>()),
        |(name, capacity, max)| {
            let yaml = format!(
                "name: {name:?}\ncapacity: {}\nmax_payload_bytes: {max}\n",
                capacity.map_or("null".to_string(), |c| c.to_string())
            );
            if let Ok(cfg) = config::from_yaml_str::<QueueConfig>(&yaml)
                && let Err(e) = cfg.validate()
            {
                names_a_field(&e)?;
            }
            Ok(())
        },
    );
    fuzz(
        "postgres_config",
        (text(), any::<usize>(), duration(), duration(), text()),
        |(url, connections, connect, statement, table)| {
            let yaml = format!(
                "url: {url:?}\nconnections: {connections}\nconnect_timeout: {connect:?}\nstatement_timeout: {statement:?}\ndead_letter_table: {table:?}\n"
            );
            if let Ok(cfg) = config::from_yaml_str::<PostgresConfig>(&yaml)
                && let Err(e) = cfg.validate()
            {
                names_a_field(&e)?;
            }
            Ok(())
        },
    );
    fuzz(
        "redis_config",
        (
            prop_oneof![text(), "redis://[a-z0-9.:@/]{0,30}"],
            text(),
            duration(),
            duration(),
        ),
        |(url, prefix, connect, response)| {
            let yaml = format!(
                "url: {url:?}\nkey_prefix: {prefix:?}\nconnect_timeout: {connect:?}\nresponse_timeout: {response:?}\n"
            );
            if let Ok(cfg) = config::from_yaml_str::<RedisConfig>(&yaml)
                && let Err(e) = cfg.validate()
            {
                names_a_field(&e)?;
            }
            Ok(())
        },
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    model: String,
    steps: u32,
    tags: Vec<String>,
}

#[test]
fn stored_forms_read_back_exactly_or_fail_cleanly() {
    fuzz(
        "codec_garbage",
        prop::collection::vec(any::<u8>(), 0..200),
        |bytes| {
            // Whatever a server hands back, decoding never panics.
            let r: Result<Job, CodecError> = JsonCodec::new().decode(&bytes);
            if let Err(e) = r {
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        },
    );
    fuzz(
        "codec_round_trip",
        (
            ".{0,30}",
            any::<u32>(),
            prop::collection::vec(".{0,10}", 0..4),
            1u32..5,
        ),
        |(model, steps, tags, version)| {
            let job = Job { model, steps, tags };
            let codec = JsonCodec::versioned(version);
            let bytes = codec
                .encode(&job)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                LetterCodec::<Job>::decode(&codec, &bytes).ok(),
                Some(job.clone())
            );
            // Another version refuses it by name (the store parks it).
            let other = JsonCodec::versioned(version + 1);
            let refused = LetterCodec::<Job>::decode(&other, &bytes);
            prop_assert!(
                matches!(refused, Err(CodecError::Version { .. })),
                "{:?}",
                refused
            );
            Ok(())
        },
    );
    fuzz(
        "reason_round_trip",
        (".{0,40}", any::<u32>(), any::<bool>()),
        |(text, attempts, exhausted)| {
            let reasons = [
                DeadLetterReason::CircuitOpen,
                DeadLetterReason::Other(text.clone()),
                DeadLetterReason::Retry {
                    attempts,
                    reason: if exhausted {
                        GiveUpReason::Exhausted
                    } else {
                        GiveUpReason::BudgetExhausted
                    },
                },
            ];
            for r in reasons {
                prop_assert_eq!(DeadLetterReason::from_stored(&r.to_stored()), r);
            }
            let _ = DeadLetterReason::from_stored(&text); // anything reads as some reason
            Ok(())
        },
    );
    fuzz(
        "letter_id",
        (any::<u64>(), any::<u64>(), ".{0,24}"),
        |(high, low, junk)| {
            let id = LetterId::new(high, low);
            prop_assert_eq!(id.to_string().parse::<LetterId>().ok(), Some(id));
            if let Err(e) = junk.parse::<LetterId>() {
                prop_assert!(e.to_string().contains("not a dead-letter id"));
            }
            Ok(())
        },
    );
}
