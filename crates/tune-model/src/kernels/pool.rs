//! 2x2 max-pool, stride 2, on NHWC tensors, whose gradient goes to each window's one argmax.
//!
//! candle 0.11.1's `max_pool2d` backward gives a unique maximum a quarter of the gradient, every
//! tied maximum all of it, and on odd sizes sends gradient to cells outside every window; this op
//! replaces it. Odd sizes drop the last row and column, as Keras's valid pooling does; ties go to
//! the first maximum in row-major window order.

use super::{input, tensor, with_data};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// 2x2 max-pool of `x: [n, h, w, c]`, giving `[n, h/2, w/2, c]`.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    let (n, h, w, c) = x.dims4()?;
    if h < 2 || w < 2 {
        candle_core::bail!("max_pool2x2: a {h}x{w} map is smaller than the 2x2 window");
    }
    x.contiguous()?.apply_op1(Pool { n, h, w, c })
}

#[derive(Clone, Copy)]
struct Pool {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
}

impl Pool {
    /// Calls `visit(out_index, in_index_of_max)` for every output cell.
    fn for_each_argmax(&self, x: &[f32], mut visit: impl FnMut(usize, usize)) {
        let (oh, ow, c) = (self.h / 2, self.w / 2, self.c);
        let mut out = 0;
        for b in 0..self.n {
            for oy in 0..oh {
                let row0 = (b * self.h + 2 * oy) * self.w;
                let row1 = row0 + self.w;
                for ox in 0..ow {
                    let cells = [
                        (row0 + 2 * ox) * c,
                        (row0 + 2 * ox + 1) * c,
                        (row1 + 2 * ox) * c,
                        (row1 + 2 * ox + 1) * c,
                    ];
                    for ch in 0..c {
                        let mut best = cells[0] + ch;
                        for &cell in &cells[1..] {
                            if x[cell + ch] > x[best] {
                                best = cell + ch;
                            }
                        }
                        visit(out, best);
                        out += 1;
                    }
                }
            }
        }
    }
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "tune-max-pool2x2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = input(storage, layout)?;
        let (oh, ow) = (self.h / 2, self.w / 2);
        let mut out = vec![0f32; self.n * oh * ow * self.c];
        self.for_each_argmax(x, |o, i| out[o] = x[i]);
        Ok((CpuStorage::F32(out), Shape::from((self.n, oh, ow, self.c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let mut dx = vec![0f32; arg.elem_count()];
        with_data(arg, |x| {
            with_data(grad, |g| {
                self.for_each_argmax(x, |o, i| dx[i] += g[o]);
                Ok(())
            })
        })?;
        Ok(Some(tensor(dx, arg.dims())?))
    }
}
