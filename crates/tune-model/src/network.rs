//! A network built from a [`ModelSpec`]: its weights (candle `Var`s) and its forward pass.

use crate::kernels::{Grad, GradSlot};
use crate::layers::Kernels;
use candle_core::{Device, Result, Tensor, Var};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tune_spec::{InputShape, ModelKind, ModelSpec};

/// One weight tensor with its name (as saved in safetensors files) and whether L2 applies to it.
pub struct Param {
    /// Name such as `conv1.kernel`, `dense1.bias`, `output.kernel`.
    pub name: String,
    /// The trainable tensor.
    pub var: Var,
    /// L2 factor applied to this tensor (the model's `l2` for hidden kernels, else 0).
    pub l2: f64,
    /// Its gradient, as the fast layers leave it for the optimiser.
    pub grad: GradSlot,
}

/// A CNN or ANN ready to train, built for one [`InputShape`].
pub struct Network {
    spec: ModelSpec,
    input: InputShape,
    kernels: Kernels,
    params: Vec<Param>,
    /// Number of values reaching the dropout layer per image.
    dropout_width: usize,
}

impl Network {
    /// Builds the network for `input` images and classes with Glorot-uniform kernels and zero
    /// biases drawn from `rng` (Keras's defaults): the first conv kernel is
    /// `[kernel, kernel, input.channels, filters[0]]`, an ANN's first dense kernel
    /// `[height * width * channels, dense[0]]`, the output kernel `[.., input.classes]`. Fails
    /// with the offending layer when the architecture cannot be built for `input` (e.g. too many
    /// conv layers for the image size: [`tune_spec::SpecError::Shrinks`]).
    pub fn new(
        spec: &ModelSpec,
        input: &InputShape,
        kernels: Kernels,
        rng: &mut ChaCha8Rng,
    ) -> crate::Result<Self> {
        let layers = spec.layers(input)?;
        let mut params = Vec::new();
        let mut channels = input.channels;
        for (i, &f) in spec.filters.iter().enumerate() {
            let k = spec.kernel;
            let (fan_in, fan_out) = (k * k * channels, k * k * f);
            params.push(glorot(
                &format!("conv{}.kernel", i + 1),
                &[k, k, channels, f],
                fan_in,
                fan_out,
                spec.l2,
                rng,
            )?);
            params.push(zeros(&format!("conv{}.bias", i + 1), f)?);
            channels = f;
        }
        // Width of the flattened input to the dense part.
        let mut width = match spec.kind {
            ModelKind::Cnn => {
                let last_conv = layers
                    .iter()
                    .rfind(|l| l.kind == tune_spec::LayerKind::Conv)
                    .expect("a CNN has conv layers");
                last_conv.out.0 * last_conv.out.1 * last_conv.out.2
            }
            ModelKind::Ann => input.values(),
        };
        let dropout_width = match spec.kind {
            ModelKind::Cnn => width,
            ModelKind::Ann => *spec.dense.last().unwrap_or(&width),
        };
        for (i, &d) in spec.dense.iter().enumerate() {
            params.push(glorot(
                &format!("dense{}.kernel", i + 1),
                &[width, d],
                width,
                d,
                spec.l2,
                rng,
            )?);
            params.push(zeros(&format!("dense{}.bias", i + 1), d)?);
            width = d;
        }
        let classes = input.classes;
        params.push(glorot(
            "output.kernel",
            &[width, classes],
            width,
            classes,
            0.0,
            rng,
        )?);
        params.push(zeros("output.bias", classes)?);
        Ok(Network {
            spec: spec.clone(),
            input: *input,
            kernels,
            params,
            dropout_width,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The images and classes the network is built for.
    pub fn input(&self) -> &InputShape {
        &self.input
    }

    /// The weights, in layer order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// Values per image that pass through the dropout layer (the size of one image's mask).
    pub fn dropout_width(&self) -> usize {
        self.dropout_width
    }

    /// `l2 * sum(w^2)` over the regularised kernels, as Keras adds it to the loss.
    pub fn l2_penalty(&self) -> Result<f64> {
        let mut total = 0.0;
        for p in self.params.iter().filter(|p| p.l2 > 0.0) {
            let sq = p.var.as_tensor().sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            total += p.l2 * sq;
        }
        Ok(total)
    }

    /// Logits `[n, classes]` for `images: [n, height, width, channels]` (NHWC, the network's
    /// [`InputShape`]). With `dropout_rng` this is a training pass (dropout active, everything
    /// recorded for the backward pass); without, an evaluation pass. Images of another shape are
    /// an error naming both shapes.
    pub fn forward(&self, images: &Tensor, dropout_rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let k = self.kernels;
        let n = images.dim(0)?;
        let shape = &self.input;
        if images.dims() != [n, shape.height, shape.width, shape.channels] {
            candle_core::bail!(
                "the network takes images [n, {}, {}, {}] (height, width, channels), got {:?}",
                shape.height,
                shape.width,
                shape.channels,
                images.dims()
            );
        }
        let training = dropout_rng.is_some();
        if training {
            // Gradients left by a step that did not reach the optimiser must not add up.
            self.params.iter().for_each(|p| drop(p.grad.take()));
        }
        let mut p = self.params.iter();
        let mut next = || {
            let (w, b) = (
                p.next().expect("parameters match the architecture"),
                p.next().expect("parameters match the architecture"),
            );
            let slots = training.then_some((&w.grad, &b.grad));
            (w.var.as_tensor(), b.var.as_tensor(), slots)
        };
        let mut x = images.clone();
        let convs = self.spec.filters.len();
        let grad = |input_grad: bool| {
            if training {
                Grad::train(input_grad)
            } else {
                Grad::None
            }
        };
        for i in 0..convs {
            let (w, b, slots) = next();
            x = k.conv2d_relu(&x, w, b, grad(i > 0), i + 1 < convs, slots)?;
        }
        // Dropout acts on the input of one dense layer: the first (CNN) or the output layer (ANN).
        let mut mask = match dropout_rng {
            Some(rng) if self.spec.dropout > 0.0 => Some(Arc::new(dropout_mask(
                n * self.dropout_width,
                self.spec.dropout,
                rng,
            ))),
            _ => None,
        };
        let dropout_at = match self.spec.kind {
            ModelKind::Cnn => 0,
            ModelKind::Ann => self.spec.dense.len(),
        };
        let layers = self.spec.dense.len() + 1;
        for i in 0..layers {
            let (w, b, slots) = next();
            let drop = if i == dropout_at { mask.take() } else { None };
            let grad = grad(i > 0 || convs > 0);
            x = k.dense(&x, w, b, i + 1 < layers, grad, drop, slots)?;
        }
        Ok(x)
    }
}

/// A mask keeping each unit with probability `1 - rate`, scaled by `1/(1-rate)`. Each 64-bit draw
/// gives four 16-bit uniforms, so the rate is resolved to 1/65536.
fn dropout_mask(len: usize, rate: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let keep = 1.0 - rate;
    let scale = (1.0 / keep) as f32;
    let threshold = (keep * 65536.0).round() as u32;
    // Random bytes in bulk, then a branch-free pass: two bytes make one 16-bit uniform.
    let mut bytes = vec![0u8; 2 * len];
    rng.fill_bytes(&mut bytes);
    let mut mask = vec![0f32; len];
    mask_from_bytes(&bytes, threshold, scale, &mut mask);
    mask
}

/// `mask[i] = scale` where the little-endian 16-bit uniform in `bytes[2i..2i+2]` is below
/// `threshold`, else 0; in blocks of 16, which the compiler turns into vector code.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn mask_from_bytes(bytes: &[u8], threshold: u32, scale: f32, mask: &mut [f32]) {
    let unit = |lo: u8, hi: u8| {
        let u = u32::from(lo) | (u32::from(hi) << 8);
        if u < threshold { scale } else { 0.0 }
    };
    let mut blocks = mask.chunks_exact_mut(16);
    let mut pairs = bytes.chunks_exact(32);
    for (m, b) in (&mut blocks).zip(&mut pairs) {
        let b: &[u8; 32] = b.try_into().expect("32 bytes");
        for i in 0..16 {
            m[i] = unit(b[2 * i], b[2 * i + 1]);
        }
    }
    let tail = blocks.into_remainder();
    let tail_bytes = &bytes[bytes.len() - 2 * tail.len()..];
    for (m, b) in tail.iter_mut().zip(tail_bytes.chunks_exact(2)) {
        *m = unit(b[0], b[1]);
    }
}

fn glorot(
    name: &str,
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    l2: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Param> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-limit..limit)).collect();
    let var = Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)?;
    Ok(Param {
        name: name.to_string(),
        var,
        l2,
        grad: GradSlot::default(),
    })
}

fn zeros(name: &str, len: usize) -> Result<Param> {
    let var = Var::zeros(len, candle_core::DType::F32, &Device::Cpu)?;
    Ok(Param {
        name: name.to_string(),
        var,
        l2: 0.0,
        grad: GradSlot::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The blocked mask equals the one-unit-at-a-time definition, tail included, and keeps about
    /// `1 - rate` of the units.
    #[test]
    fn dropout_mask_matches_its_definition() {
        let (len, rate) = (1000 * 16 + 7, 0.5);
        let mask = dropout_mask(len, rate, &mut ChaCha8Rng::seed_from_u64(5));
        let mut bytes = vec![0u8; 2 * len];
        ChaCha8Rng::seed_from_u64(5).fill_bytes(&mut bytes);
        let threshold = (0.5f64 * 65536.0).round() as u32;
        for (i, (m, b)) in mask.iter().zip(bytes.chunks_exact(2)).enumerate() {
            let u = u32::from(b[0]) | (u32::from(b[1]) << 8);
            let expected = if u < threshold { 2.0 } else { 0.0 };
            assert_eq!(*m, expected, "unit {i}");
        }
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / len as f64;
        assert!((kept - 0.5).abs() < 0.02, "kept {kept}");
    }
}
