//! The RMSprop update, in place on a weight tensor.

use super::with_data;
use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Tensor};
use std::cell::RefCell;

/// One Keras-3 RMSprop step on `w` in place: `g' = g + 2*l2*w; v = rho*v + (1-rho)*g'^2;
/// w -= lr * g' / sqrt(v + eps)`. `v` is the running average of squared gradients, one per weight.
pub fn rmsprop_step(
    w: &Tensor,
    grad: &Tensor,
    v: &mut [f32],
    lr: f32,
    rho: f32,
    eps: f32,
    l2: f32,
) -> Result<()> {
    with_data(grad, |g| rmsprop_step_slice(w, g, v, lr, rho, eps, l2))
}

/// [`rmsprop_step`] with the gradient as a slice (as a fast layer leaves it in a
/// [`super::GradSlot`]).
pub fn rmsprop_step_slice(
    w: &Tensor,
    grad: &[f32],
    v: &mut [f32],
    lr: f32,
    rho: f32,
    eps: f32,
    l2: f32,
) -> Result<()> {
    if w.elem_count() != grad.len() || v.len() != w.elem_count() {
        candle_core::bail!("rmsprop: weights, gradient and state differ in size");
    }
    let op = Step {
        grad,
        v: RefCell::new(v),
        lr,
        rho,
        eps,
        l2,
    };
    w.inplace_op1(&op)
}

struct Step<'a> {
    grad: &'a [f32],
    v: RefCell<&'a mut [f32]>,
    lr: f32,
    rho: f32,
    eps: f32,
    l2: f32,
}

impl InplaceOp1 for Step<'_> {
    fn name(&self) -> &'static str {
        "tune-rmsprop"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout) -> Result<()> {
        let g = self.grad;
        let (start, end) = dst_l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("rmsprop: weights not contiguous".into()))?;
        let w = match dst {
            CpuStorage::F32(w) => &mut w[start..end],
            _ => candle_core::bail!("rmsprop: weights must be f32"),
        };
        let mut v = self.v.borrow_mut();
        update(w, &mut v, g, self.lr, self.rho, self.eps, self.l2);
        Ok(())
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn update(w: &mut [f32], v: &mut [f32], g: &[f32], lr: f32, rho: f32, eps: f32, l2: f32) {
    for ((w, v), g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
        let g = g + 2.0 * l2 * *w;
        *v = rho * *v + (1.0 - rho) * g * g;
        *w -= lr * g / (*v + eps).sqrt();
    }
}
