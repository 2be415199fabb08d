//! Softmax cross-entropy on logits, averaged over the batch.

use super::{input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// Mean over the batch of `-log softmax(logits)[label]` for `logits: [n, classes]` and one-hot
/// `targets: [n, classes]`; a scalar tensor.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (n, classes) = logits.dims2()?;
    if targets.dims() != [n, classes] {
        candle_core::bail!(
            "softmax_cross_entropy: logits {:?}, targets {:?}",
            logits.dims(),
            targets.dims()
        );
    }
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, SoftmaxXent { n, classes })
}

#[derive(Clone, Copy)]
struct SoftmaxXent {
    n: usize,
    classes: usize,
}

/// Softmax of each row of `logits`, written to `out`.
fn softmax_rows(logits: &[f32], classes: usize, out: &mut [f32]) {
    for (row, o) in logits
        .chunks_exact(classes)
        .zip(out.chunks_exact_mut(classes))
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (p, &z) in o.iter_mut().zip(row) {
            *p = (z - max).exp();
            sum += *p;
        }
        o.iter_mut().for_each(|p| *p /= sum);
    }
}

impl CustomOp2 for SoftmaxXent {
    fn name(&self) -> &'static str {
        "tune-softmax-xent"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (logits, targets) = (input(s1, l1)?, input(s2, l2)?);
        let mut total = 0f64;
        for (row, t) in logits
            .chunks_exact(self.classes)
            .zip(targets.chunks_exact(self.classes))
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = row
                .iter()
                .map(|&z| ((z - max) as f64).exp())
                .sum::<f64>()
                .ln();
            for (&z, &y) in row.iter().zip(t) {
                if y != 0.0 {
                    total -= y as f64 * ((z - max) as f64 - log_sum);
                }
            }
        }
        let mean = (total / self.n as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let scale = grad.to_scalar::<f32>()? / self.n as f32;
        let mut d = vec![0f32; self.n * self.classes];
        with_data(logits, |z| {
            with_data(targets, |t| {
                softmax_rows(z, self.classes, &mut d);
                for (g, y) in d.iter_mut().zip(t) {
                    *g = (*g - y) * scale;
                }
                Ok(())
            })
        })?;
        Ok((Some(tensor(d, logits.dims())?), None))
    }
}
