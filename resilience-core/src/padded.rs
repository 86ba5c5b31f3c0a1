//! Cache-line padding for atomics that different threads write.

use std::ops::Deref;

/// Keeps `T` on its own cache line pair (128 bytes: adjacent-line prefetch
/// pulls lines in pairs on x86), so that writes to it do not invalidate
/// neighbouring read-mostly data in other cores' caches (false sharing).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
