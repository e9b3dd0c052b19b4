//! What a `no_std` policy needs from its SDK: a bump allocator over a static arena and a
//! panic handler that traps (the host then denies). `export_policy!(Type, no_std)` installs
//! both.
//!
//! Why: a std guest for `wasm32-wasip2` imports WASI (stdout for panic messages, the
//! environment, `exit`), and the component carries the adapter's shim and fixup instances
//! that every fresh instance creates and tears down again; its allocator (dlmalloc) sets
//! itself up on every evaluation. A `no_std` policy is one core instance with no imports,
//! and its allocations are a pointer bump in memory that is already there.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

// Without std nothing links the C library, whose `memcmp` (self-contained, no imports)
// the compiler's string comparisons call on `wasm32-wasip2`.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "an extern block, empty: it only links the library"
)]
#[link(name = "c")]
unsafe extern "C" {}

/// Bytes of the static arena (zero-initialised, so no data segment): more than a request
/// and its answer take. Past it, the allocator grows linear memory.
const ARENA: usize = 32 << 10;
/// The WebAssembly page size.
const PAGE: usize = 64 << 10;

#[repr(C, align(16))]
struct Arena([u8; ARENA]);

struct State {
    arena: Arena,
    /// Address of the next free byte; 0 until the first allocation.
    next: usize,
    /// Address one past the current region.
    end: usize,
}

/// A bump allocator for guests that live for one evaluation: allocation moves a pointer,
/// freeing gives back only the most recent allocation, and everything else is returned
/// with the instance. A policy that allocates without bound runs into the sandbox's memory
/// limit, which denies.
pub struct BumpAllocator {
    state: UnsafeCell<State>,
}

// SAFETY: wasm32 guests of Kastell are single-threaded (no `threads` proposal, no shared
// memory), so the state is never touched from two threads. Only there: on a native target
// the type is not `Sync`, so it cannot become a global allocator that threads share.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "a global allocator is an unsafe trait")]
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    /// An allocator whose arena is still untouched.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: UnsafeCell::new(State {
                arena: Arena([0; ARENA]),
                next: 0,
                end: 0,
            }),
        }
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

/// `address` rounded up to `align` (a power of two), or `None` on overflow.
fn align_up(address: usize, align: usize) -> Option<usize> {
    Some(address.checked_add(align - 1)? & !(align - 1))
}

impl State {
    fn bump(&mut self, layout: Layout) -> Option<usize> {
        if self.next == 0 {
            self.next = self.arena.0.as_ptr().expose_provenance();
            self.end = self.next + ARENA;
        }
        let start = align_up(self.next, layout.align())?;
        let stop = start.checked_add(layout.size())?;
        if stop <= self.end {
            self.next = stop;
            return Some(start);
        }
        self.grow(layout)
    }

    /// Continues in fresh pages at the end of linear memory (what is left of the current
    /// region stays unused).
    #[cfg(target_arch = "wasm32")]
    fn grow(&mut self, layout: Layout) -> Option<usize> {
        let bytes = layout.size().checked_add(layout.align())?;
        let pages = bytes.div_ceil(PAGE);
        let first = core::arch::wasm32::memory_grow(0, pages);
        if first == usize::MAX {
            return None;
        }
        let region = first.checked_mul(PAGE)?;
        let start = align_up(region, layout.align())?;
        self.next = start.checked_add(layout.size())?;
        self.end = region.checked_add(pages.checked_mul(PAGE)?)?;
        Some(start)
    }

    /// Off wasm (unit tests), the arena is all there is.
    #[cfg(not(target_arch = "wasm32"))]
    fn grow(&mut self, _layout: Layout) -> Option<usize> {
        let _ = PAGE;
        None
    }
}

// SAFETY: every block handed out lies in the arena or in pages `memory.grow` added, is
// aligned as asked, and is never handed out twice: `next` only moves back over the block
// freed last, which is then no longer in use.
#[allow(unsafe_code, reason = "a global allocator is an unsafe trait")]
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync`), and no reference to the state outlives
        // this call.
        let state = unsafe { &mut *self.state.get() };
        state.bump(layout).map_or(
            core::ptr::null_mut(),
            core::ptr::with_exposed_provenance_mut,
        )
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        let state = unsafe { &mut *self.state.get() };
        let start = ptr.expose_provenance();
        if start.checked_add(layout.size()) == Some(state.next) {
            state.next = start;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        {
            // SAFETY: as in `alloc`; the borrow ends before `alloc` below takes another.
            let state = unsafe { &mut *self.state.get() };
            let start = ptr.expose_provenance();
            if start.checked_add(layout.size()) == Some(state.next)
                && let Some(stop) = start.checked_add(new_size)
                && stop <= state.end
            {
                // The block freed last grows (or shrinks) in place.
                state.next = stop;
                return ptr;
            }
        }
        // SAFETY: `layout` is the block's layout and `new_size` fits it, as the caller
        // guarantees; the old block is not freed (it is not the last one).
        unsafe {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return core::ptr::null_mut();
            };
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}

/// The component model's `cabi_realloc`, which the host calls to place a request's strings
/// and lists in guest memory (std guests get it from the C library). Exported by
/// `export_policy!(Type, no_std)`.
///
/// # Safety
/// As the canonical ABI's `realloc`: `old_ptr` and `old_len` describe a block this
/// allocator handed out with alignment `align` (or `old_len` is 0), and `align` is a power
/// of two.
#[doc(hidden)]
#[allow(unsafe_code, reason = "the canonical ABI's allocation entry point")]
pub unsafe fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc};

    if new_len == 0 {
        return core::ptr::without_provenance_mut(align);
    }
    // SAFETY: the caller's contract (a valid alignment, a block of this allocator).
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory: trap, as the canonical ABI expects (the host denies).
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
    }
    ptr
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[allow(unsafe_code, reason = "exercising the allocator")]
    #[test]
    fn bumps_aligns_reuses_the_last_block_and_refuses_past_the_arena() {
        let heap = BumpAllocator::new();
        let small = Layout::from_size_align(3, 1).unwrap();
        let wide = Layout::from_size_align(8, 8).unwrap();
        // SAFETY: the layouts are valid and each block is used as allocated.
        unsafe {
            let a = heap.alloc(small);
            let b = heap.alloc(wide);
            assert!(!a.is_null() && !b.is_null());
            assert_eq!(b.addr() % 8, 0, "aligned");
            assert!(b.addr() >= a.addr() + 3, "no overlap");
            heap.dealloc(b, wide);
            assert_eq!(heap.alloc(wide), b, "the last block is given back");
            let grown = heap.realloc(b, wide, 64);
            assert_eq!(grown, b, "the last block grows in place");
            let moved = heap.realloc(a, small, 16);
            assert_ne!(moved, a, "an earlier block moves");
            let too_big = Layout::from_size_align(ARENA, 1).unwrap();
            assert!(
                heap.alloc(too_big).is_null(),
                "off wasm the arena is all there is"
            );
        }
    }
}
