//! RMSprop with Keras 3's defaults and update rule.

use crate::kernels::{rmsprop_step, rmsprop_step_slice};
use crate::network::Param;
use candle_core::{Result, backprop::GradStore};

/// RMSprop state: one squared-gradient average per weight, starting at zero.
pub struct RmsProp {
    lr: f32,
    rho: f32,
    eps: f32,
    /// Running averages, one vector per parameter, in parameter order.
    pub(crate) velocity: Vec<Vec<f32>>,
}

impl RmsProp {
    /// A fresh optimiser for `params`.
    pub fn new(params: &[Param], lr: f64, rho: f64, eps: f64) -> Self {
        RmsProp {
            lr: lr as f32,
            rho: rho as f32,
            eps: eps as f32,
            velocity: params
                .iter()
                .map(|p| vec![0.0; p.var.elem_count()])
                .collect(),
        }
    }

    /// Applies one step to every parameter that has a gradient (in its slot, where the fast
    /// layers leave them, or in candle's store); a parameter's L2 factor adds `2 * l2 * w` to its
    /// gradient (the derivative of the `l2 * sum(w^2)` loss term).
    pub fn step(&mut self, params: &[Param], grads: &GradStore) -> Result<()> {
        for (p, v) in params.iter().zip(self.velocity.iter_mut()) {
            if let Some(g) = p.grad.take() {
                rmsprop_step_slice(
                    p.var.as_tensor(),
                    &g,
                    v,
                    self.lr,
                    self.rho,
                    self.eps,
                    p.l2 as f32,
                )?;
            } else if let Some(g) = grads.get(p.var.as_tensor()) {
                rmsprop_step(
                    p.var.as_tensor(),
                    g,
                    v,
                    self.lr,
                    self.rho,
                    self.eps,
                    p.l2 as f32,
                )?;
            }
        }
        Ok(())
    }
}
