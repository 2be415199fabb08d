//! The layer operations a network is built from, behind one interface with two implementations:
//! tune's fast kernels (the default) and candle's stock ops (the reference, `--stock`).
//!
//! Both take and give channels-last (NHWC) tensors. candle's stock `max_pool2d` has a wrong
//! backward pass (see [`crate::kernels::max_pool2x2`]), so both use tune's pool.

use crate::kernels::{self, Grad, WeightSlots};
use candle_core::{D, DType, Result, Tensor};
use std::sync::Arc;

/// Which implementation of the layer operations trains the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// tune's custom ops: Winograd or im2col gemm convolutions, fused bias + ReLU, argmax pooling.
    #[default]
    Fast,
    /// candle's stock ops (conv2d, matmul, relu, cross-entropy), kept as the reference.
    Stock,
}

impl Kernels {
    /// The choice `--stock` makes: [`Kernels::Stock`] when set, else [`Kernels::Fast`].
    pub fn from_stock(stock: bool) -> Kernels {
        if stock { Kernels::Stock } else { Kernels::Fast }
    }

    /// `fast` or `stock`, as in the throughput cache's keys and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Fast => "fast",
            Kernels::Stock => "stock",
        }
    }

    /// `relu(conv(x, w) + b)`, then 2x2 max-pooled when `pool`; `x: [n,h,w,c]`, `w: [k,k,c,f]`.
    /// The fast ops leave the kernel and bias gradients in `slots` when given; the stock ops
    /// always use candle's gradient store.
    pub fn conv2d_relu(
        self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        grad: Grad,
        pool: bool,
        slots: WeightSlots<'_>,
    ) -> Result<Tensor> {
        match self {
            Kernels::Fast => kernels::conv2d_relu(x, w, b, grad, pool, slots),
            Kernels::Stock => {
                let nchw = x.permute((0, 3, 1, 2))?.contiguous()?;
                let kernel = w.permute((3, 2, 0, 1))?.contiguous()?;
                let y = nchw.conv2d(&kernel, 0, 1, 1, 1)?;
                let y = y.broadcast_add(&b.reshape((1, (), 1, 1))?)?.relu()?;
                let y = y.permute((0, 2, 3, 1))?.contiguous()?;
                if pool {
                    kernels::max_pool2x2(&y)
                } else {
                    Ok(y)
                }
            }
        }
    }

    /// `(x * dropout) * w + b`, ReLU'd when `relu`; `x: [n, ...]` is flattened per image.
    /// Gradient `slots` as for [`Self::conv2d_relu`].
    #[allow(clippy::too_many_arguments)]
    pub fn dense(
        self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        relu: bool,
        grad: Grad,
        dropout: Option<Arc<Vec<f32>>>,
        slots: WeightSlots<'_>,
    ) -> Result<Tensor> {
        match self {
            Kernels::Fast => kernels::dense(x, w, b, relu, grad, dropout, slots),
            Kernels::Stock => {
                let mut x = x.reshape((x.dim(0)?, ()))?;
                if let Some(mask) = dropout {
                    let m = Tensor::from_vec(mask.as_ref().clone(), x.dims(), x.device())?;
                    x = x.mul(&m)?;
                }
                let y = x.matmul(w)?.broadcast_add(b)?;
                if relu { y.relu() } else { Ok(y) }
            }
        }
    }

    /// Mean softmax cross-entropy of `logits: [n, classes]` against one-hot `targets`.
    pub fn cross_entropy(self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Kernels::Fast => kernels::softmax_cross_entropy(logits, targets),
            Kernels::Stock => {
                let labels = targets.argmax(D::Minus1)?.to_dtype(DType::U32)?;
                candle_nn::loss::cross_entropy(logits, &labels)
            }
        }
    }
}
