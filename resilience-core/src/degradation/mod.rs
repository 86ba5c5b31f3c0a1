//! Degradation (in progress).
