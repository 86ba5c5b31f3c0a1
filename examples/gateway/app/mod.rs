//! The gateway demo's core: the stack, the simulated fleet and providers,
//! the gateway itself and the chaos experiments. `main.rs` drives it from
//! the command line; `tests/gateway.rs` runs the same experiments and
//! asserts their table.

pub(crate) mod events;
pub(crate) mod experiments;
pub(crate) mod fleet;
pub(crate) mod gateway;
pub(crate) mod model;
pub(crate) mod stack;
pub(crate) mod store;
pub(crate) mod workers;
