//! The one place that calls the gemm crate.

use std::cell::Cell;

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(1) };
}

/// Sets how many threads the kernels' matrix products use on this thread (1 = no threading).
/// With more than one, products run on the current rayon pool.
pub fn set_threads(n: usize) {
    THREADS.with(|t| t.set(n.max(1)));
}

/// Threads the kernels' matrix products use on this thread.
pub fn threads() -> usize {
    THREADS.with(|t| t.get())
}

/// A row-major or transposed view of a matrix in a slice: element (i, j) is `data[i*rs + j*cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        View::rows(data, cols).t()
    }
    /// The transpose of this view.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst[m x n] (row-major) = a[m x k] * b[k x n]`, added to `dst` when `accumulate`.
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
) {
    matmul_strided(m, n, k, dst, n, accumulate, a, b);
}

/// [`matmul`] into a destination whose rows are `dst_rs` elements apart.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
) {
    assert!(dst_rs >= n, "gemm destination rows overlap");
    assert!(
        m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len(),
        "gemm destination too small"
    );
    if m > 0 && n > 0 {
        let last = |v: View<'_>, r: usize, c: usize| (r - 1) * v.rs + (c - 1) * v.cs;
        assert!(
            k == 0 || last(a, m, k) < a.data.len(),
            "gemm lhs out of bounds"
        );
        assert!(
            k == 0 || last(b, k, n) < b.data.len(),
            "gemm rhs out of bounds"
        );
    }
    let parallelism = match threads() {
        1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    // SAFETY: the asserts above keep every index the product reads or writes inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Adds the column sums of `x[rows x cols]` to `out[cols]`.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn add_column_sums(x: &[f32], cols: usize, out: &mut [f32]) {
    for row in x.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Adds to `out[cols]` the column sums of `grad[rows x cols]` over the cells where `value > 0`.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn add_masked_column_sums(grad: &[f32], value: &[f32], cols: usize, out: &mut [f32]) {
    for (g, v) in grad.chunks_exact(cols).zip(value.chunks_exact(cols)) {
        for ((o, &g), &v) in out.iter_mut().zip(g).zip(v) {
            *o += if v > 0.0 { g } else { 0.0 };
        }
    }
}

/// `dz = grad` where `out > 0`, else 0 (ReLU's gradient, zero at zero as in TensorFlow).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn relu_mask(grad: &[f32], out: &[f32], dz: &mut [f32]) {
    for ((d, g), o) in dz.iter_mut().zip(grad).zip(out) {
        *d = if *o > 0.0 { *g } else { 0.0 };
    }
}

/// Adds `bias` to every row of `x[rows x bias.len()]`, then applies ReLU when asked.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn bias_relu(x: &mut [f32], bias: &[f32], relu: bool) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let s = *v + b;
            *v = if relu { s.max(0.0) } else { s };
        }
    }
}

/// Measured single-precision gemm throughput (GFLOP/s) of a `size`-cubed product on `threads`
/// threads: the best of three runs, the ceiling the kernels are compared with.
pub fn sgemm_gflops(size: usize, threads: usize) -> f64 {
    let a = vec![1.0f32; size * size];
    let b = vec![0.5f32; size * size];
    let mut c = vec![0.0f32; size * size];
    let mut run = || {
        set_threads(threads);
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            matmul(
                size,
                size,
                size,
                &mut c,
                false,
                View::rows(&a, size),
                View::rows(&b, size),
            );
            best = best.min(start.elapsed().as_secs_f64());
        }
        2.0 * (size as f64).powi(3) / best / 1e9
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}
