//! Inverted dropout with a mask drawn by the caller (from a seeded RNG).

use super::{input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// `x * mask`, where `mask` holds 0 for dropped units and `1/(1-rate)` for kept ones.
pub fn dropout(x: &Tensor, mask: Arc<Vec<f32>>) -> Result<Tensor> {
    if mask.len() != x.elem_count() {
        candle_core::bail!(
            "dropout: mask of {} values for a tensor of {}",
            mask.len(),
            x.elem_count()
        );
    }
    x.contiguous()?.apply_op1(Dropout { mask })
}

struct Dropout {
    mask: Arc<Vec<f32>>,
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "tune-dropout"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = input(storage, layout)?;
        let out = x.iter().zip(self.mask.iter()).map(|(v, m)| v * m).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_data(grad, |g| {
            Ok(g.iter().zip(self.mask.iter()).map(|(v, m)| v * m).collect())
        })?;
        Ok(Some(tensor(dx, arg.dims())?))
    }
}
