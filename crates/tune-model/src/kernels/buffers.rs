//! Per-thread buffers reused across training steps, so that the large im2col matrices and Winograd
//! tiles are not allocated (and page-faulted, and zero-filled) again on every call.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread at most; beyond that the smallest are freed.
const KEEP: usize = 12;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer of a fixed length from this thread's pool (contents unspecified). Its storage
/// may be longer; it goes back to the pool with [`give`].
pub(crate) struct Buffer {
    data: Vec<f32>,
    len: usize,
}

impl Deref for Buffer {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data[..self.len]
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[..self.len]
    }
}

/// A buffer of exactly `len` elements: the smallest pooled one that is large enough, or a new one.
/// Pooled buffers are never grown (that would copy and zero-fill them).
pub(crate) fn take(len: usize) -> Buffer {
    let data = POOL
        .with(|p| {
            let mut pool = p.borrow_mut();
            let fit = (0..pool.len())
                .filter(|&i| pool[i].len() >= len)
                .min_by_key(|&i| pool[i].len());
            fit.map(|i| pool.swap_remove(i))
        })
        .unwrap_or_else(|| vec![0.0; len]);
    Buffer { data, len }
}

/// Returns a buffer to this thread's pool.
pub(crate) fn give(buf: Buffer) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        pool.push(buf.data);
        if pool.len() > KEEP {
            let smallest = (0..pool.len())
                .min_by_key(|&i| pool[i].len())
                .expect("pool is not empty");
            pool.swap_remove(smallest);
        }
    });
}

/// Runs `f` with a scratch buffer of exactly `len` elements (contents unspecified).
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = take(len);
    let out = f(&mut buf);
    give(buf);
    out
}
