//! Valid, stride-1 2-D convolution + bias + ReLU (+ an optional 2x2 max-pool) on NHWC tensors, as
//! one im2col gemm per batch.
//!
//! With the pool fused in, the full-size activation map never becomes a tensor: the forward pass
//! keeps each pooled cell's argmax, and the backward pass scatters the gradient straight back to
//! it. That saves candle a large allocation, a zero-fill and an addition per layer and step.

use super::buffers::with_scratch;
use super::matmul::{View, add_column_sums, bias_relu, matmul, relu_mask};
use super::{input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::Mutex;

/// `relu(conv(x, w) + b)` for `x: [n, h, w, c]`, `w: [k, k, c, f]` (Keras's kernel layout) and
/// `b: [f]`, giving `[n, h-k+1, w-k+1, f]`, then 2x2 max-pooled when `pool` (odd sizes drop the
/// last row and column; the gradient goes to each window's first maximum). `input_grad` says
/// whether `x` needs a gradient (not when `x` is the image).
pub fn conv2d_relu(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    input_grad: bool,
    pool: bool,
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
    let geometry = Conv {
        n,
        h,
        w: wd,
        c,
        k,
        f,
        input_grad,
    };
    let (oh, ow) = geometry.out_hw();
    if pool && (oh < 2 || ow < 2) {
        candle_core::bail!("conv2d_relu: a {oh}x{ow} map is too small to pool");
    }
    let op = ConvOp {
        geometry,
        pool,
        argmax: Mutex::new(Vec::new()),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
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
    /// Rows of the im2col matrix (one per output pixel) and its width (one patch).
    fn cols_dims(&self) -> (usize, usize) {
        let (oh, ow) = self.out_hw();
        (self.n * oh * ow, self.k * self.k * self.c)
    }

    /// Copies every output pixel's `k x k x c` input patch into one row of `cols`.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (oh, ow) = self.out_hw();
        let kc = self.k * self.c;
        let patch = self.k * kc;
        let mut rows = cols.chunks_exact_mut(patch);
        for b in 0..self.n {
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

    /// Adds each row of `dcols` back onto the input pixels of its patch (the adjoint of im2col).
    fn col2im(&self, dcols: &[f32], dx: &mut [f32]) {
        let (oh, ow) = self.out_hw();
        let kc = self.k * self.c;
        let patch = self.k * kc;
        let mut rows = dcols.chunks_exact(patch);
        for b in 0..self.n {
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

/// One call of the op: its geometry and, when pooling, the argmax of every pooled cell (an index
/// into the full-size activation map), kept from the forward pass for the backward pass.
struct ConvOp {
    geometry: Conv,
    pool: bool,
    argmax: Mutex<Vec<u32>>,
}

/// 2x2 max-pool of `z: [n, oh, ow, f]` into `out`, recording each cell's argmax (first maximum).
/// Works on whole channel rows so that the compiler can vectorise the comparisons.
fn pool_forward(
    z: &[f32],
    n: usize,
    oh: usize,
    ow: usize,
    f: usize,
    out: &mut [f32],
    argmax: &mut [u32],
) {
    let (ph, pw) = (oh / 2, ow / 2);
    let mut o = 0;
    for b in 0..n {
        for py in 0..ph {
            let row0 = (b * oh + 2 * py) * ow;
            let row1 = row0 + ow;
            for px in 0..pw {
                let cells = [
                    (row0 + 2 * px) * f,
                    (row0 + 2 * px + 1) * f,
                    (row1 + 2 * px) * f,
                    (row1 + 2 * px + 1) * f,
                ];
                let (out, idx) = (&mut out[o..o + f], &mut argmax[o..o + f]);
                out.copy_from_slice(&z[cells[0]..cells[0] + f]);
                for (i, v) in idx.iter_mut().enumerate() {
                    *v = (cells[0] + i) as u32;
                }
                for &cell in &cells[1..] {
                    let candidate = &z[cell..cell + f];
                    for (i, ((m, a), &c)) in out
                        .iter_mut()
                        .zip(idx.iter_mut())
                        .zip(candidate)
                        .enumerate()
                    {
                        let better = c > *m;
                        *m = if better { c } else { *m };
                        *a = if better { (cell + i) as u32 } else { *a };
                    }
                }
                o += f;
            }
        }
    }
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
        let (m, kk) = g.cols_dims();
        let (oh, ow) = g.out_hw();
        let conv = |z: &mut [f32]| {
            with_scratch(m * kk, |cols| {
                g.im2col(x, cols);
                matmul(
                    m,
                    g.f,
                    kk,
                    z,
                    false,
                    View::rows(cols, kk),
                    View::rows(w, g.f),
                );
            });
            bias_relu(z, b, true);
        };
        if !self.pool {
            let mut out = vec![0f32; m * g.f];
            conv(&mut out);
            return Ok((CpuStorage::F32(out), Shape::from((g.n, oh, ow, g.f))));
        }
        let pooled = g.n * (oh / 2) * (ow / 2) * g.f;
        let mut out = vec![0f32; pooled];
        let mut argmax = vec![0u32; pooled];
        with_scratch(m * g.f, |z| {
            conv(z);
            pool_forward(z, g.n, oh, ow, g.f, &mut out, &mut argmax);
        });
        *self.argmax.lock().expect("argmax lock") = argmax;
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
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
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
                        with_scratch(m * f, |dz| {
                            if self.pool {
                                // A pooled cell > 0 means its argmax passed the ReLU.
                                dz.fill(0.0);
                                for ((&i, &gr), &o) in argmax.iter().zip(grad).zip(out) {
                                    if o > 0.0 {
                                        dz[i as usize] = gr;
                                    }
                                }
                            } else {
                                relu_mask(grad, out, dz);
                            }
                            add_column_sums(dz, f, &mut db);
                            with_scratch(m * kk, |cols| {
                                g.im2col(x, cols);
                                matmul(
                                    kk,
                                    f,
                                    m,
                                    &mut dw,
                                    false,
                                    View::transposed(cols, kk),
                                    View::rows(dz, f),
                                );
                                if let Some(dx) = dx.as_mut() {
                                    // cols is free again: reuse it for the patch gradients.
                                    matmul(
                                        m,
                                        kk,
                                        f,
                                        cols,
                                        false,
                                        View::rows(dz, f),
                                        View::transposed(w, f),
                                    );
                                    g.col2im(cols, dx);
                                }
                            });
                        });
                        Ok(())
                    })
                })
            })
        })?;
        let dx = dx.map(|d| tensor(d, x.dims())).transpose()?;
        Ok((
            dx,
            Some(tensor(dw, &[g.k, g.k, g.c, f])?),
            Some(tensor(db, &[f])?),
        ))
    }
}
