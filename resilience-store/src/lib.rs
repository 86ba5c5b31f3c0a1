//! # resilience-store
//!
//! Durable and shared engines for the resilience suite, for state that must
//! outlive a process or be shared by a fleet of them: dead-letter queues
//! that survive a deploy, an OOM kill or a node loss, and retry budgets and
//! breaker state shared by the replicas of a service. The in-process structures of `resilience-core` stay the
//! embedded default; these are the multi-node engines behind the same
//! traits.
//!
//! | feature | module | what |
//! |---|---|---|
//! | `postgres` | [`dead_letter::postgres`] | [`PostgresDeadLetterStore`](dead_letter::postgres::PostgresDeadLetterStore): a table, claims with `FOR UPDATE SKIP LOCKED`, leases by the database's clock, per-key order |
//! | `redis` | [`dead_letter::redis`] | [`RedisDeadLetterStore`](dead_letter::redis::RedisDeadLetterStore): a stream per queue, a consumer group per replayer set, `XAUTOCLAIM` of letters whose consumer died |
//! | — / `redis` | [`fleet`] | state shared by a fleet of replicas: a [`FleetBudget`](fleet::FleetBudget) (a retry budget whose token bucket lives in the store, spent locally from leased batches), a [`FleetRateLimiter`](fleet::FleetRateLimiter) (a rate bucket in the store, leased in batches) and a [`FleetBreaker`](fleet::FleetBreaker) (breakers that open when a quorum of replicas sees a dependency fail, with bounded fleet-wide probes); [`InMemoryFleetStore`](fleet::InMemoryFleetStore) and, with `redis`, [`RedisFleetStore`](fleet::redis::RedisFleetStore) |
//! | `etcd` | `fleet::etcd` | `EtcdFleetStore`: the fleet store on etcd transactions and leases, for teams that run etcd rather than Redis (etcd-client needs `protoc` to build) |
//! | `tower` | `fleet::stack` | `FleetStackConfig`: a whole `ResilienceStack` from one YAML with `scope: fleet` on its retry budget and breaker (adds `resilience-tower`; Redis only with `redis`) |
//!
//! The dead-letter stores implement `resilience_core::dead_letter::DeadLetterStore`, so the
//! tower `DeadLetterLayer` and `Replayer` of `resilience-tower` run over
//! them unchanged, and so does anything written against the trait. Their
//! shared pieces (connection settings, the queue's limits) are in
//! [`connection`] and [`dead_letter`].
//!
//! Every operation goes over the network and can fail: a failure is a typed
//! error (`StoreError::Unavailable`, or `DeadLetterError` holding the letter
//! for an enqueue), never a panic and never a silently dropped letter.
//! Connections are re-established on the next call after a server restart.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod connection;
pub mod dead_letter;
pub mod fleet;
