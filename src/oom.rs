//! An allocator that ends the process with one clear line when memory runs out, instead of aborting.
//!
//! Rust's default reaction to a failed allocation is a three-line message and SIGABRT, which
//! looks like a crash and gives an exit status (134) that could be a payload's. Under a memory
//! limit the binaries must fail like any other bad condition: one line, a documented code.

use std::alloc::{GlobalAlloc, Layout};

/// The allocator underneath. musl's own malloc hands every freed page straight back to the
/// kernel, so a launch paid for ~100 mmap/munmap pairs and their page faults; dlmalloc keeps
/// its segments. glibc's malloc already does, and stays.
#[cfg(target_env = "musl")]
use dlmalloc::GlobalDlmalloc as Backing;
#[cfg(not(target_env = "musl"))]
use std::alloc::System as Backing;

/// [`System`], but a failed allocation writes `message` to stderr and exits with `code`.
pub struct ExitOnOom {
    pub message: &'static [u8],
    pub code: i32,
}

impl ExitOnOom {
    fn out_of_memory(&self) -> ! {
        // SAFETY: write(2) from a static buffer and _exit(2) need no allocation and are
        // async-signal-safe; nothing is unwound.
        unsafe {
            libc::write(2, self.message.as_ptr().cast(), self.message.len());
            libc::_exit(self.code)
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// GlobalAlloc contract holds exactly as it does for `System`; the only addition is ending the
// process where `System` would return null.
unsafe impl GlobalAlloc for ExitOnOom {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds alloc's contract.
        let ptr = unsafe { Backing.alloc(layout) };
        if ptr.is_null() {
            self.out_of_memory();
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { Backing.alloc_zeroed(layout) };
        if ptr.is_null() {
            self.out_of_memory();
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator, that is from `System`.
        unsafe { Backing.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { Backing.realloc(ptr, layout, new_size) };
        if new.is_null() {
            self.out_of_memory();
        }
        new
    }
}
