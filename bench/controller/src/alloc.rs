//! The benchmark allocates as `ship` does: mimalloc is `ship`'s global allocator
//! (crates/cli/src/main.rs), and glibc's arenas would put a different RSS on the same work.
//! Around it, a count of the bytes allocated and not yet freed, so the table can tell the
//! heap ship holds from what the allocator keeps beside it. Built with `--features dhat`,
//! dhat's profiler takes mimalloc's place and writes `dhat-heap.json` at the end.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(not(feature = "dhat"))]
type Inner = mimalloc::MiMalloc;
#[cfg(not(feature = "dhat"))]
const INNER: Inner = mimalloc::MiMalloc;
#[cfg(feature = "dhat")]
type Inner = dhat::Alloc;
#[cfg(feature = "dhat")]
const INNER: Inner = dhat::Alloc;

pub struct Counting {
    inner: Inner,
    live: AtomicUsize,
}

#[global_allocator]
static ALLOC: Counting = Counting {
    inner: INNER,
    live: AtomicUsize::new(0),
};

/// Bytes allocated and not yet freed, as the program asked for them (without the
/// allocator's own rounding, metadata or free pages).
pub fn live() -> usize {
    ALLOC.live.load(Ordering::Relaxed)
}

// SAFETY: every call is forwarded unchanged to the inner allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        if !p.is_null() {
            self.live.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc_zeroed(layout);
        if !p.is_null() {
            self.live.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.inner.dealloc(ptr, layout);
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.inner.realloc(ptr, layout, new_size);
        if !p.is_null() {
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
            self.live.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}
