//! What every fuzz target shares: an allocator that makes any single allocation over a gigabyte a
//! crash the fuzzer keeps, whether or not a sanitizer is built in.
//!
//! libFuzzer's `-malloc_limit_mb` sees allocations only through a sanitizer's hooks
//! (`__sanitizer_install_malloc_and_free_hooks`); a target built without one (`cargo fuzz build
//! -s none`: two to ten times faster here, see docs/comparing.md, "Hostile files") would let a
//! 64 GB `Vec::with_capacity` pass unseen while the kernel overcommits it. This cap holds in every
//! build, at the gigabyte the campaigns pass to `-malloc_limit_mb`.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation a target may ask for: 1 GiB, `-malloc_limit_mb=1024`.
pub const LARGEST_ALLOCATION: usize = 1 << 30;

/// The system allocator, aborting (a crash to libFuzzer, input saved) on an allocation over
/// [`LARGEST_ALLOCATION`].
pub struct Capped;

fn refuse_over_cap(size: usize) {
    if size > LARGEST_ALLOCATION {
        // No allocation here: the message is written straight to stderr.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"==fuzz== an allocation over 1 GiB (-malloc_limit_mb=1024)\n",
        );
        std::process::abort();
    }
}

// SAFETY: every call is System's, with the caller's layout unchanged; the cap only aborts before it.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        refuse_over_cap(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        refuse_over_cap(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        refuse_over_cap(new_size);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
