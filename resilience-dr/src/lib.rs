//! # resilience-dr
//!
//! Failover primitives.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`lease`] | lease backends (in-memory; etcd and PostgreSQL behind features) with fencing tokens, leader election, fenced resources |
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod lease;
