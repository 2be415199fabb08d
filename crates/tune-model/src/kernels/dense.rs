//! Dense layer with fused input dropout, bias and optional ReLU.

use super::buffers::with_scratch;
use super::matmul::{View, add_column_sums, bias_relu, matmul, relu_mask};
use super::{Grad, GradSlot, Gradients, WeightSlots, hand_over, input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// `(x * mask) * w + b`, ReLU'd when `relu`, for `x: [n, ...]` (flattened to `[n, k]`), `w: [k, f]`,
/// `b: [f]`, giving `[n, f]`. `dropout` is an optional mask over `x` (0 for dropped values,
/// `1/(1-rate)` for kept ones). `grad` says which gradients the backward pass must give, `slots`
/// where the kernel and bias gradients go (else to candle's gradient store).
pub fn dense(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    relu: bool,
    grad: Grad,
    dropout: Option<Arc<Vec<f32>>>,
    slots: WeightSlots<'_>,
) -> Result<Tensor> {
    let n = x.dim(0)?;
    let k = x.elem_count() / n.max(1);
    let (wk, f) = w.dims2()?;
    if wk != k || b.dims1()? != f || dropout.as_ref().is_some_and(|m| m.len() != n * k) {
        candle_core::bail!(
            "dense: input {:?}, weights {:?}, bias {:?} do not fit",
            x.dims(),
            w.dims(),
            b.dims()
        );
    }
    let op = Dense {
        n,
        k,
        f,
        relu,
        input_grad: grad == Grad::All,
        dropout,
        slots: slots.map(|(k, b)| (k.clone(), b.clone())),
    };
    let (x, w, b) = (x.contiguous()?, w.contiguous()?, b.contiguous()?);
    match grad {
        Grad::None => x.apply_op3_no_bwd(&w, &b, &op),
        _ => x.apply_op3(&w, &b, op),
    }
}

struct Dense {
    n: usize,
    k: usize,
    f: usize,
    relu: bool,
    input_grad: bool,
    dropout: Option<Arc<Vec<f32>>>,
    /// Where the kernel and bias gradients go, if not to candle.
    slots: Option<(GradSlot, GradSlot)>,
}

impl Dense {
    /// Runs `f` with the layer's effective input: `x` itself, or `x * mask` in a scratch buffer.
    fn with_input<R>(&self, x: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
        match &self.dropout {
            None => f(x),
            Some(mask) => with_scratch(x.len(), |xm| {
                for ((d, v), m) in xm.iter_mut().zip(x).zip(mask.iter()) {
                    *d = v * m;
                }
                f(xm)
            }),
        }
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "tune-dense"
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
        let mut out = vec![0f32; self.n * self.f];
        self.with_input(x, |x| {
            matmul(
                self.n,
                self.f,
                self.k,
                &mut out,
                false,
                View::rows(x, self.k),
                View::rows(w, self.f),
            )
        });
        bias_relu(&mut out, b, self.relu);
        Ok((CpuStorage::F32(out), Shape::from((self.n, self.f))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<Gradients> {
        let (n, k, f) = (self.n, self.k, self.f);
        let mut dw = vec![0f32; k * f];
        let mut db = vec![0f32; f];
        let mut dx = self.input_grad.then(|| vec![0f32; n * k]);
        with_data(grad, |grad| {
            with_data(res, |out| {
                with_data(x, |x| {
                    with_data(w, |w| {
                        with_scratch(n * f, |dz| {
                            if self.relu {
                                relu_mask(grad, out, dz);
                            } else {
                                dz.copy_from_slice(grad);
                            }
                            add_column_sums(dz, f, &mut db);
                            self.with_input(x, |x| {
                                matmul(
                                    k,
                                    f,
                                    n,
                                    &mut dw,
                                    false,
                                    View::transposed(x, k),
                                    View::rows(dz, f),
                                )
                            });
                            if let Some(dx) = dx.as_mut() {
                                matmul(
                                    n,
                                    k,
                                    f,
                                    dx,
                                    false,
                                    View::rows(dz, f),
                                    View::transposed(w, f),
                                );
                                if let Some(mask) = &self.dropout {
                                    dx.iter_mut().zip(mask.iter()).for_each(|(d, m)| *d *= m);
                                }
                            }
                        });
                        Ok(())
                    })
                })
            })
        })?;
        let dx = dx.map(|d| tensor(d, x.dims())).transpose()?;
        hand_over(&self.slots, dx, (dw, &[k, f]), db)
    }
}
