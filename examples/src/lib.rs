//! The examples of `resilience-kit` live beside this file (`cargo run
//! --example NAME` from the repository root); this library is empty.
