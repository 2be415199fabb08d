//! Valid, stride-1 2-D convolution + bias + ReLU on NHWC tensors, as one im2col gemm per batch.

use super::buffers::with_scratch;
use super::matmul::{View, add_column_sums, bias_relu, matmul, relu_mask};
use super::{input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// `relu(conv(x, w) + b)` for `x: [n, h, w, c]`, `w: [k, k, c, f]` (Keras's kernel layout) and
/// `b: [f]`, giving `[n, h-k+1, w-k+1, f]`. `input_grad` says whether `x` needs a gradient (not
/// when `x` is the image).
pub fn conv2d_relu(x: &Tensor, w: &Tensor, b: &Tensor, input_grad: bool) -> Result<Tensor> {
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
    let op = Conv {
        n,
        h,
        w: wd,
        c,
        k,
        f,
        input_grad,
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
                        row[ky * kc..(ky + 1) * kc].copy_from_slice(&x[src..src + kc]);
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

impl CustomOp3 for Conv {
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
        let (x, w, b) = (input(s1, l1)?, input(s2, l2)?, input(s3, l3)?);
        let (m, kk) = self.cols_dims();
        let mut out = vec![0f32; m * self.f];
        with_scratch(m * kk, |cols| {
            self.im2col(x, cols);
            matmul(
                m,
                self.f,
                kk,
                &mut out,
                false,
                View::rows(cols, kk),
                View::rows(w, self.f),
            );
        });
        bias_relu(&mut out, b, true);
        let (oh, ow) = self.out_hw();
        Ok((CpuStorage::F32(out), Shape::from((self.n, oh, ow, self.f))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (m, kk) = self.cols_dims();
        let f = self.f;
        let mut dw = vec![0f32; kk * f];
        let mut db = vec![0f32; f];
        let mut dx = self.input_grad.then(|| vec![0f32; x.elem_count()]);
        with_data(grad, |grad| {
            with_data(res, |out| {
                with_data(x, |x| {
                    with_data(w, |w| {
                        with_scratch(m * f, |dz| {
                            relu_mask(grad, out, dz);
                            add_column_sums(dz, f, &mut db);
                            with_scratch(m * kk, |cols| {
                                self.im2col(x, cols);
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
                                    self.col2im(cols, dx);
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
            Some(tensor(dw, &[self.k, self.k, self.c, f])?),
            Some(tensor(db, &[f])?),
        ))
    }
}
