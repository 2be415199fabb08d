//! Fast CPU kernels as candle custom ops, channels-last (NHWC).
//!
//! Each op does its whole batch at once: 3x3 convolutions with at least 32 input channels as
//! Winograd F(2x2, 3x3) (16 gemms over 4x4 tiles, in blocks that stay in cache), other
//! convolutions as im2col + one gemm (a chunk of images at a time when pooled), dense layers as one
//! gemm. Bias and ReLU are fused, and only the gradients that are needed are computed (never the
//! image's). Scratch buffers live in per-thread storage and are reused from step to step.

mod buffers;
mod conv;
mod denormals;
mod dense;
mod loss;
mod matmul;
mod pool;
mod rmsprop;
mod winograd;

pub use conv::{ConvAlgo, conv2d_relu, set_conv_algo};
pub use denormals::flush_denormals;
pub use dense::dense;
pub use loss::softmax_cross_entropy;
pub use matmul::{set_threads, sgemm_gflops, threads};
pub use pool::max_pool2x2;
pub use rmsprop::{rmsprop_step, rmsprop_step_slice};

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};
use std::sync::{Arc, Mutex};

/// A weight's gradient as a fast layer's backward pass leaves it, outside candle's gradient store
/// (which zero-fills a tensor per weight and adds the gradient into it: two extra passes over
/// every weight's size per step). Gradients put twice before a `take` add up.
#[derive(Clone, Default)]
pub struct GradSlot(Arc<Mutex<Option<Vec<f32>>>>);

impl GradSlot {
    fn put(&self, grad: Vec<f32>) {
        let mut slot = self.0.lock().expect("gradient slot lock");
        match slot.as_mut() {
            Some(sum) => sum.iter_mut().zip(&grad).for_each(|(s, g)| *s += g),
            None => *slot = Some(grad),
        }
    }

    /// The gradient left since the last `take`, if any.
    pub fn take(&self) -> Option<Vec<f32>> {
        self.0.lock().expect("gradient slot lock").take()
    }
}

/// Where a layer's kernel and bias gradients go: candle's gradient store (`None`, as the
/// reference ops do) or these slots.
pub type WeightSlots<'a> = Option<(&'a GradSlot, &'a GradSlot)>;

/// The gradients a backward pass hands candle: the input's, then the kernel's and the bias's
/// unless `slots` takes those.
type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// A backward pass's result: `dx` for candle, and the kernel gradient (with its shape) and bias
/// gradient into `slots` when the layer has them, else to candle as tensors.
fn hand_over(
    slots: &Option<(GradSlot, GradSlot)>,
    dx: Option<Tensor>,
    dw: (Vec<f32>, &[usize]),
    db: Vec<f32>,
) -> Result<Gradients> {
    match slots {
        Some((kernel, bias)) => {
            kernel.put(dw.0);
            bias.put(db);
            Ok((dx, None, None))
        }
        None => {
            let f = db.len();
            Ok((dx, Some(tensor(dw.0, dw.1)?), Some(tensor(db, &[f])?)))
        }
    }
}

/// Which gradients a layer call must be able to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grad {
    /// None: an evaluation pass; nothing is recorded for a backward pass.
    None,
    /// The layer's weights only (its input is the image).
    Weights,
    /// The weights and the input.
    All,
}

impl Grad {
    /// For a layer whose input does (`true`) or does not need a gradient, in training.
    pub fn train(input_grad: bool) -> Grad {
        if input_grad { Grad::All } else { Grad::Weights }
    }
}

/// The contiguous `f32` data of a custom op's input.
fn input<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("tune kernels need contiguous inputs".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// Runs `f` on the contiguous `f32` data of a tensor (used in backward passes).
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(input(cpu, layout)?),
        _ => candle_core::bail!("tune kernels run on the CPU only"),
    }
}

/// A fresh CPU tensor from a vector.
fn tensor(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}
