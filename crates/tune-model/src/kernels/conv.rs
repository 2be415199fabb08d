//! Valid, stride-1 2-D convolution + bias + ReLU (+ an optional 2x2 max-pool) on NHWC tensors, as
//! one im2col gemm per batch.
//!
//! With the pool fused in, the full-size activation map never becomes a tensor: the forward pass
//! keeps each pooled cell's argmax, and the backward pass scatters the gradient straight back to
//! it. That saves candle a large allocation, a zero-fill and an addition per layer and step.

use super::buffers::{Buffer, give, take, with_scratch};
use super::matmul::{View, add_column_sums, add_masked_column_sums, bias_relu, matmul, relu_mask};
use super::winograd::Tiles;
use super::{Grad, GradSlot, Gradients, WeightSlots, hand_over, input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::cell::Cell;
use std::ops::Range;
use std::sync::Mutex;

/// How the convolutions on this thread compute their products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgo {
    /// Winograd F(2x2, 3x3) where it does clearly fewer multiplies (3x3 kernels, at least 32
    /// input channels, maps large enough), im2col elsewhere.
    #[default]
    Auto,
    /// One im2col gemm per batch, always.
    Im2col,
    /// Winograd F(2x2, 3x3) for every 3x3 kernel (im2col for other sizes).
    Winograd,
}

thread_local! {
    static ALGO: Cell<ConvAlgo> = Cell::new(ConvAlgo::from_env());
}

impl ConvAlgo {
    /// `TUNE_CONV_ALGO=auto|im2col|winograd`, for comparing the two on whole trainings; `Auto`
    /// when unset or unknown.
    fn from_env() -> ConvAlgo {
        match std::env::var("TUNE_CONV_ALGO").as_deref() {
            Ok("im2col") => ConvAlgo::Im2col,
            Ok("winograd") => ConvAlgo::Winograd,
            _ => ConvAlgo::Auto,
        }
    }
}

/// Sets how convolutions called on this thread compute (for comparisons and tests; the default
/// `Auto`, or `TUNE_CONV_ALGO`, is the fast choice).
pub fn set_conv_algo(algo: ConvAlgo) {
    ALGO.with(|a| a.set(algo));
}

/// `relu(conv(x, w) + b)` for `x: [n, h, w, c]`, `w: [k, k, c, f]` (Keras's kernel layout) and
/// `b: [f]`, giving `[n, h-k+1, w-k+1, f]`, then 2x2 max-pooled when `pool` (odd sizes drop the
/// last row and column; the gradient goes to each window's first maximum). `grad` says which
/// gradients the backward pass must give (never the image's; none in evaluation), and `slots`
/// where the kernel and bias gradients go (else to candle's gradient store).
pub fn conv2d_relu(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    grad: Grad,
    pool: bool,
    slots: WeightSlots<'_>,
) -> Result<Tensor> {
    let (n, h, wd, c) = x.dims4()?;
    let (k, k2, wc, f) = w.dims4()?;
    if k != k2 || wc != c || b.dims1()? != f || h < k || wd < k {
        candle_core::bail!(
            "conv2d_relu: input {:?}, kernel {:?}, bias {:?} do not fit",
            x.dims(),
            w.dims(),
            b.dims()
        );
    }
    let winograd = match ALGO.with(Cell::get) {
        ConvAlgo::Auto => Tiles::pays(h, wd, c, k),
        ConvAlgo::Im2col => false,
        ConvAlgo::Winograd => k == 3,
    };
    let geometry = Conv {
        n,
        h,
        w: wd,
        c,
        k,
        f,
        input_grad: grad == Grad::All,
        winograd,
    };
    let (oh, ow) = geometry.out_hw();
    if pool && (oh < 2 || ow < 2) {
        candle_core::bail!("conv2d_relu: a {oh}x{ow} map is too small to pool");
    }
    let op = ConvOp {
        geometry,
        pool,
        argmax: Mutex::new(Vec::new()),
        saved: Mutex::new(None),
        keep_saved: grad != Grad::None,
        slots: slots.map(|(k, b)| (k.clone(), b.clone())),
    };
    let (x, w, b) = (x.contiguous()?, w.contiguous()?, b.contiguous()?);
    match grad {
        Grad::None => x.apply_op3_no_bwd(&w, &b, &op),
        _ => x.apply_op3(&w, &b, op),
    }
}

#[derive(Clone, Copy)]
struct Conv {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    f: usize,
    input_grad: bool,
    /// Winograd F(2x2, 3x3) instead of im2col.
    winograd: bool,
}

/// `dst.copy_from_slice(src)`, without a `memcpy` call for the few values of a first layer's patch.
#[inline(always)]
fn copy_small(dst: &mut [f32], src: &[f32]) {
    if dst.len() <= 16 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

impl Conv {
    fn out_hw(&self) -> (usize, usize) {
        (self.h - self.k + 1, self.w - self.k + 1)
    }

    fn tiles(&self) -> Option<Tiles> {
        self.winograd.then_some(Tiles {
            n: self.n,
            h: self.h,
            w: self.w,
            c: self.c,
            f: self.f,
        })
    }

    /// `z = conv(x, w)` (before bias and ReLU). Returns the im2col patches, which the backward
    /// pass needs again (Winograd keeps nothing).
    fn forward(&self, x: &[f32], w: &[f32], z: &mut [f32]) -> Option<Buffer> {
        if let Some(t) = self.tiles() {
            t.forward(x, w, z);
            return None;
        }
        let (m, kk) = self.cols_dims();
        let mut cols = take(m * kk);
        self.im2col_product(x, 0..self.n, &mut cols, w, z);
        Some(cols)
    }

    /// `z = patches(x) w` for `images`, leaving their im2col patches in `rows`.
    fn im2col_product(
        &self,
        x: &[f32],
        images: Range<usize>,
        rows: &mut [f32],
        w: &[f32],
        z: &mut [f32],
    ) {
        let kk = self.k * self.k * self.c;
        let (oh, ow) = self.out_hw();
        let m = images.len() * oh * ow;
        self.im2col(x, images, rows);
        matmul(
            m,
            self.f,
            kk,
            z,
            false,
            View::rows(rows, kk),
            View::rows(w, self.f),
        );
    }

    /// `dw += patches^T dz` and, when `dx` is given, `dx += col2im(dz w^T)` for `images`, whose
    /// patches are in `rows` (overwritten by the patch gradients).
    fn add_im2col_gradients(
        &self,
        images: Range<usize>,
        rows: &mut [f32],
        w: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        let (kk, f) = (self.k * self.k * self.c, self.f);
        let (oh, ow) = self.out_hw();
        let m = images.len() * oh * ow;
        matmul(
            kk,
            f,
            m,
            dw,
            true,
            View::transposed(rows, kk),
            View::rows(dz, f),
        );
        if let Some(dx) = dx {
            matmul(
                m,
                kk,
                f,
                rows,
                false,
                View::rows(dz, f),
                View::transposed(w, f),
            );
            self.col2im(images, rows, dx);
        }
    }

    /// The kernel gradient `dw` and, when given, the input gradient `dx` (added to) from the
    /// gradient `dz` of the pre-activation map, with the patches the forward pass kept (gathered
    /// again when it kept none).
    fn gradients(
        &self,
        saved: Option<Buffer>,
        x: &[f32],
        w: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        if let Some(t) = self.tiles() {
            return t.backward(x, w, dz, dw, dx);
        }
        let mut cols = self.patches(saved, x);
        self.add_im2col_gradients(0..self.n, &mut cols, w, dz, dw, dx);
        give(cols);
    }

    /// The patches the forward pass kept, or the whole batch's gathered again.
    fn patches(&self, saved: Option<Buffer>, x: &[f32]) -> Buffer {
        saved.unwrap_or_else(|| {
            let (m, kk) = self.cols_dims();
            let mut cols = take(m * kk);
            self.im2col(x, 0..self.n, &mut cols);
            cols
        })
    }

    /// Images per chunk of a pooled im2col layer: a chunk's full-size map (about 256 KiB) stays in
    /// the core's cache from the product to the pool, and from the pool's gradient to the products.
    fn chunk_images(&self) -> usize {
        let (oh, ow) = self.out_hw();
        (64 * 1024 / (oh * ow * self.f).max(1)).clamp(1, self.n.max(1))
    }

    /// The image chunks of [`Self::chunk_images`].
    fn chunks(&self) -> impl Iterator<Item = Range<usize>> {
        let (n, chunk) = (self.n, self.chunk_images());
        (0..n).step_by(chunk).map(move |s| s..n.min(s + chunk))
    }

    /// im2col, product and 2x2 max-pool (into `out` and its argmax codes `which`), a chunk of
    /// images at a time. Returns the patches for the backward pass.
    fn forward_pooled_im2col(
        &self,
        x: &[f32],
        w: &[f32],
        out: &mut [f32],
        which: &mut [u32],
    ) -> Buffer {
        let (oh, ow) = self.out_hw();
        let (m, kk) = self.cols_dims();
        let (f, pixels, pooled) = (self.f, oh * ow, (oh / 2) * (ow / 2) * self.f);
        let mut cols = take(m * kk);
        with_scratch(self.chunk_images() * pixels * f, |z| {
            for images in self.chunks() {
                let (start, count) = (images.start, images.len());
                let rows = &mut cols[start * pixels * kk..(start + count) * pixels * kk];
                let z = &mut z[..count * pixels * f];
                self.im2col_product(x, images, rows, w, z);
                let p = start * pooled..(start + count) * pooled;
                pool_forward(z, count, oh, ow, f, &mut out[p.clone()], &mut which[p]);
            }
        });
        cols
    }

    /// The kernel gradient `dw` (added to) and, when given, the input gradient `dx` (added to) of
    /// a pooled im2col layer from the pooled gradient `grad`, a chunk of images at a time.
    #[allow(clippy::too_many_arguments)]
    fn gradients_pooled_im2col(
        &self,
        saved: Option<Buffer>,
        x: &[f32],
        w: &[f32],
        grad: &[f32],
        out: &[f32],
        which: &[u32],
        dw: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let (oh, ow) = self.out_hw();
        let kk = self.k * self.k * self.c;
        let (f, pixels, pooled) = (self.f, oh * ow, (oh / 2) * (ow / 2) * self.f);
        let mut cols = self.patches(saved, x);
        with_scratch(self.chunk_images() * pixels * f, |dz| {
            for images in self.chunks() {
                let (start, count) = (images.start, images.len());
                let p = start * pooled..(start + count) * pooled;
                let dz = &mut dz[..count * pixels * f];
                pool_backward(
                    &grad[p.clone()],
                    &out[p.clone()],
                    &which[p],
                    count,
                    oh,
                    ow,
                    f,
                    dz,
                );
                let rows = &mut cols[start * pixels * kk..(start + count) * pixels * kk];
                self.add_im2col_gradients(images, rows, w, dz, dw, dx.as_deref_mut());
            }
        });
        give(cols);
    }

    /// Rows of the im2col matrix (one per output pixel) and its width (one patch).
    fn cols_dims(&self) -> (usize, usize) {
        let (oh, ow) = self.out_hw();
        (self.n * oh * ow, self.k * self.k * self.c)
    }

    /// Copies every output pixel's `k x k x c` input patch of the given images into one row of
    /// `cols` (which holds those images' rows only).
    fn im2col(&self, x: &[f32], images: Range<usize>, cols: &mut [f32]) {
        let (oh, ow) = self.out_hw();
        let kc = self.k * self.c;
        let patch = self.k * kc;
        let mut rows = cols.chunks_exact_mut(patch);
        for b in images {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = rows.next().expect("cols sized for every output pixel");
                    for ky in 0..self.k {
                        let src = ((b * self.h + oy + ky) * self.w + ox) * self.c;
                        copy_small(&mut row[ky * kc..(ky + 1) * kc], &x[src..src + kc]);
                    }
                }
            }
        }
    }

    /// Adds each row of `dcols` (the given images' rows) back onto the input pixels of its patch
    /// (the adjoint of im2col).
    fn col2im(&self, images: Range<usize>, dcols: &[f32], dx: &mut [f32]) {
        let (oh, ow) = self.out_hw();
        let kc = self.k * self.c;
        let patch = self.k * kc;
        let mut rows = dcols.chunks_exact(patch);
        for b in images {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = rows.next().expect("dcols sized for every output pixel");
                    for ky in 0..self.k {
                        let dst = ((b * self.h + oy + ky) * self.w + ox) * self.c;
                        for (d, s) in dx[dst..dst + kc]
                            .iter_mut()
                            .zip(&row[ky * kc..(ky + 1) * kc])
                        {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

/// One call of the op: its geometry and, when pooling, which cell of its window each pooled value
/// came from, kept from the forward pass for the backward pass.
struct ConvOp {
    geometry: Conv,
    pool: bool,
    argmax: Mutex<Vec<u32>>,
    /// The im2col patches of the forward pass, until the backward pass uses them.
    saved: Mutex<Option<Buffer>>,
    /// Whether a backward pass will follow (else the patches go straight back to the pool).
    keep_saved: bool,
    /// Where the kernel and bias gradients go, if not to candle.
    slots: Option<(GradSlot, GradSlot)>,
}

impl ConvOp {
    fn save(&self, patches: Option<Buffer>) {
        match patches {
            Some(patches) if self.keep_saved => {
                *self.saved.lock().expect("saved-patches lock") = Some(patches)
            }
            Some(patches) => give(patches),
            None => {}
        }
    }
}

impl Drop for ConvOp {
    /// Hands unused patches (an evaluation pass has no backward) back to the thread's pool.
    fn drop(&mut self) {
        if let Some(saved) = self.saved.get_mut().ok().and_then(Option::take) {
            give(saved);
        }
    }
}

/// Offsets of a 2x2 window's four cells from its top-left cell, in row-major order.
fn window(ow: usize, f: usize) -> [usize; 4] {
    [0, f, ow * f, (ow + 1) * f]
}

/// Calls `visit(first_cell_of_window, pooled_offset)` for every pooled position of `[n, oh, ow, f]`
/// (the `f` channels of a position are contiguous in both).
fn for_each_window(n: usize, oh: usize, ow: usize, f: usize, mut visit: impl FnMut(usize, usize)) {
    let mut o = 0;
    for b in 0..n {
        for py in 0..oh / 2 {
            let row0 = (b * oh + 2 * py) * ow;
            for px in 0..ow / 2 {
                visit((row0 + 2 * px) * f, o);
                o += f;
            }
        }
    }
}

/// 2x2 max-pool of `z: [n, oh, ow, f]` into `out`, recording in `which` the window cell (0 to 3,
/// row-major) of each maximum (the first, on ties). Branch-free over whole channel rows, so that
/// the compiler vectorises it.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn pool_forward(
    z: &[f32],
    n: usize,
    oh: usize,
    ow: usize,
    f: usize,
    out: &mut [f32],
    which: &mut [u32],
) {
    let cells = window(ow, f);
    for_each_window(n, oh, ow, f, |first, o| {
        let (out, which) = (&mut out[o..o + f], &mut which[o..o + f]);
        out.copy_from_slice(&z[first..first + f]);
        which.fill(0);
        for (code, &cell) in cells.iter().enumerate().skip(1) {
            let candidate = &z[first + cell..first + cell + f];
            let code = code as u32;
            for ((m, w), &c) in out.iter_mut().zip(which.iter_mut()).zip(candidate) {
                let better = c > *m;
                *m = if better { c } else { *m };
                *w = if better { code } else { *w };
            }
        }
    });
}

/// Scatters the pooled gradient `grad` to the maxima recorded by [`pool_forward`], through the
/// ReLU (a pooled value of 0 means its maximum was cut by the ReLU), into `dz: [n, oh, ow, f]`.
/// Every cell of every window is written once (the gradient or 0), branch-free, so only the row
/// and column that odd sizes leave outside every window need zeroing first.
#[allow(clippy::too_many_arguments)]
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn pool_backward(
    grad: &[f32],
    out: &[f32],
    which: &[u32],
    n: usize,
    oh: usize,
    ow: usize,
    f: usize,
    dz: &mut [f32],
) {
    if oh % 2 == 1 || ow % 2 == 1 {
        dz.fill(0.0);
    }
    let cells = window(ow, f);
    for_each_window(n, oh, ow, f, |first, o| {
        let (grad, out, which) = (&grad[o..o + f], &out[o..o + f], &which[o..o + f]);
        for (code, &cell) in cells.iter().enumerate() {
            let code = code as u32;
            let dst = &mut dz[first + cell..first + cell + f];
            for (((d, &g), &v), &w) in dst.iter_mut().zip(grad).zip(out).zip(which) {
                *d = if w == code && v > 0.0 { g } else { 0.0 };
            }
        }
    });
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "tune-conv2d-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let (x, w, b) = (input(s1, l1)?, input(s2, l2)?, input(s3, l3)?);
        let (m, _) = g.cols_dims();
        let (oh, ow) = g.out_hw();
        // The im2col patches are kept for the backward pass (which needs them for the kernel
        // gradient) instead of being gathered twice.
        if !self.pool {
            let mut out = vec![0f32; m * g.f];
            let saved = g.forward(x, w, &mut out);
            bias_relu(&mut out, b, true);
            self.save(saved);
            return Ok((CpuStorage::F32(out), Shape::from((g.n, oh, ow, g.f))));
        }
        // relu(max(z) + b) = max(relu(z + b)) with the same argmax (a per-channel shift and the
        // ReLU are monotonic), so bias and ReLU are applied to the pooled quarter only.
        let pooled = g.n * (oh / 2) * (ow / 2) * g.f;
        let mut out = vec![0f32; pooled];
        let mut which = vec![0u32; pooled];
        let saved = if g.winograd {
            with_scratch(m * g.f, |z| {
                g.forward(x, w, z);
                pool_forward(z, g.n, oh, ow, g.f, &mut out, &mut which);
            });
            None
        } else {
            Some(g.forward_pooled_im2col(x, w, &mut out, &mut which))
        };
        bias_relu(&mut out, b, true);
        self.save(saved);
        *self.argmax.lock().expect("argmax lock") = which;
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.n, oh / 2, ow / 2, g.f)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<Gradients> {
        let g = &self.geometry;
        let (m, kk) = g.cols_dims();
        let f = g.f;
        let mut dw = vec![0f32; kk * f];
        let mut db = vec![0f32; f];
        let mut dx = g.input_grad.then(|| vec![0f32; x.elem_count()]);
        let argmax = self.argmax.lock().expect("argmax lock");
        with_data(grad, |grad| {
            with_data(res, |out| {
                with_data(x, |x| {
                    with_data(w, |w| {
                        let saved = self.saved.lock().expect("saved-patches lock").take();
                        if self.pool {
                            // The bias gradient from the pooled quarter: only the cells that
                            // passed the ReLU carry gradient.
                            add_masked_column_sums(grad, out, f, &mut db);
                        }
                        if self.pool && !g.winograd {
                            g.gradients_pooled_im2col(
                                saved,
                                x,
                                w,
                                grad,
                                out,
                                &argmax,
                                &mut dw,
                                dx.as_deref_mut(),
                            );
                            return Ok(());
                        }
                        with_scratch(m * f, |dz| {
                            if self.pool {
                                let (oh, ow) = g.out_hw();
                                pool_backward(grad, out, &argmax, g.n, oh, ow, f, dz);
                            } else {
                                relu_mask(grad, out, dz);
                                add_column_sums(dz, f, &mut db);
                            }
                            g.gradients(saved, x, w, dz, &mut dw, dx.as_deref_mut());
                        });
                        Ok(())
                    })
                })
            })
        })?;
        let dx = dx.map(|d| tensor(d, x.dims())).transpose()?;
        hand_over(&self.slots, dx, (dw, &[g.k, g.k, g.c, f]), db)
    }
}
