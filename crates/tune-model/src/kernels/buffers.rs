//! Per-thread buffers reused across training steps, so that the large im2col matrices are not
//! allocated (and page-faulted) again on every call.

use std::cell::RefCell;

/// Buffers kept per thread at most; more are freed.
const KEEP: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of exactly `len` elements (contents unspecified) from this thread's pool.
pub(crate) fn take(len: usize) -> Vec<f32> {
    let mut buf = POOL
        .with(|p| {
            let mut pool = p.borrow_mut();
            // Prefer the smallest buffer that is large enough, so big ones stay for big uses.
            let fit = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity());
            fit.or((!pool.is_empty()).then(|| pool.len() - 1))
                .map(|i| pool.swap_remove(i))
        })
        .unwrap_or_default();
    buf.resize(len, 0.0);
    buf
}

/// Returns a buffer to this thread's pool.
pub(crate) fn give(buf: Vec<f32>) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < KEEP {
            pool.push(buf);
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
