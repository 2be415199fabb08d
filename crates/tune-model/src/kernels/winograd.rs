//! Winograd F(2x2, 3x3) for valid, stride-1 3x3 convolutions on NHWC tensors: forward, input
//! gradient and kernel gradient, each as 16 gemms over the image's 4x4 tiles (stride 2).
//!
//! Every 2x2 block of outputs is `A^T [(G g G^T) ⊙ (B^T d B)] A` for its 4x4 input tile `d` and
//! the 3x3 kernel `g`; summed over channels, the element-wise product becomes one gemm per tile
//! cell `e` (16 of them): `M[e] = V[e] U[e]` with `V[e]: [tiles x c]`, `U[e]: [c x f]`. That is 16
//! multiplies per 2x2 outputs instead of 36. The backward passes are the exact adjoints of the
//! same linear maps, so they need the same 16 gemms: `dV[e] = dM[e] U[e]^T` and
//! `dU[e] = V[e]^T dM[e]` with `dM = A dY A^T`, then `dx += B dV B^T` and `dw = G^T dU G`.
//! Tiles that stick out past the input read zeros; outputs past the map are dropped (forward) or
//! carry no gradient (backward). The transform matrices hold only 0, ±1 and ±1/2.

use super::buffers::with_scratch;
use super::matmul::{View, matmul, matmul_strided};
use std::ops::Range;

/// The tiling of one convolution call: input `[n, h, w, c]`, kernel `[3, 3, c, f]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tiles {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub f: usize,
}

/// Cells of a 4x4 tile.
const CELLS: usize = 16;

/// Tiles transformed and multiplied at a time, so that a block's transformed input and output
/// stay in cache between the transforms and the products.
const BLOCK: usize = 256;

impl Tiles {
    fn out_hw(&self) -> (usize, usize) {
        (self.h - 2, self.w - 2)
    }
    /// Tiles per image, down and across (the last ones may stick out past the output).
    fn grid(&self) -> (usize, usize) {
        let (oh, ow) = self.out_hw();
        (oh.div_ceil(2), ow.div_ceil(2))
    }
    /// Tiles in the whole batch.
    fn count(&self) -> usize {
        let (th, tw) = self.grid();
        self.n * th * tw
    }
    /// Whether Winograd beats im2col on this shape: it needs enough input channels for the
    /// products to outweigh the transforms (measured: a wash at 16, a clear gain at 32), and maps
    /// large enough that tiles sticking out past them do not waste most of the saving.
    pub fn pays(h: usize, w: usize, c: usize, k: usize) -> bool {
        if k != 3 || h < 3 || w < 3 || c < 32 {
            return false;
        }
        let (oh, ow) = (h - 2, w - 2);
        let winograd = CELLS * oh.div_ceil(2) * ow.div_ceil(2);
        let direct = 9 * oh * ow;
        10 * winograd <= 7 * direct
    }

    /// The tiles in blocks of at most [`BLOCK`].
    fn blocks(&self) -> impl Iterator<Item = Range<usize>> {
        let count = self.count();
        (0..count)
            .step_by(BLOCK)
            .map(move |s| s..count.min(s + BLOCK))
    }

    /// The tiles of `range` as `(index in the block, image, ty, tx)`.
    fn each(&self, range: Range<usize>) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        let (th, tw) = self.grid();
        let start = range.start;
        range.map(move |t| {
            let (img, within) = (t / (th * tw), t % (th * tw));
            (t - start, img, within / tw, within % tw)
        })
    }

    /// `z = conv(x, w)` into `z: [n, oh, ow, f]`, block by block of tiles.
    pub fn forward(&self, x: &[f32], w: &[f32], z: &mut [f32]) {
        let (c, f) = (self.c, self.f);
        with_scratch(CELLS * c * f, |u| {
            transform_kernel(c * f, w, u);
            with_scratch(BLOCK * CELLS * c, |v| {
                with_scratch(BLOCK * CELLS * f, |m| {
                    for range in self.blocks() {
                        let tiles = range.len();
                        let (v, m) = (&mut v[..tiles * CELLS * c], &mut m[..tiles * CELLS * f]);
                        transform_input(self, range.clone(), x, v);
                        self.multiply(tiles, v, u, m);
                        transform_output(self, range, m, z);
                    }
                })
            })
        })
    }

    /// The kernel gradient `dw: [3, 3, c, f]` and, when asked, the input gradient `dx` (added to)
    /// from the output gradient `dz: [n, oh, ow, f]`, block by block of tiles. The input's tiles
    /// are transformed again rather than kept from the forward pass: that is cheaper than a trip
    /// through memory.
    pub fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let (c, f) = (self.c, self.f);
        let mut du = vec![0f32; CELLS * c * f];
        with_scratch(CELLS * c * f, |u| {
            if dx.is_some() {
                transform_kernel(c * f, w, u);
            }
            with_scratch(BLOCK * CELLS * c, |v| {
                with_scratch(BLOCK * CELLS * f, |dm| {
                    for range in self.blocks() {
                        let tiles = range.len();
                        let (v, dm) = (&mut v[..tiles * CELLS * c], &mut dm[..tiles * CELLS * f]);
                        transform_output_gradient(self, range.clone(), dz, dm);
                        transform_input(self, range.clone(), x, v);
                        self.multiply_kernel_gradient(tiles, v, dm, &mut du);
                        if let Some(dx) = dx.as_deref_mut() {
                            // The block's input tiles are used: reuse them for their gradients.
                            self.multiply_input_gradient(tiles, dm, u, v);
                            add_input_gradient(self, range, v, dx);
                        }
                    }
                })
            })
        });
        kernel_gradient(c * f, &du, dw);
    }

    /// `m[:, e] = v[:, e] u[e]` for a block of `tiles`: the forward products.
    fn multiply(&self, tiles: usize, v: &[f32], u: &[f32], m: &mut [f32]) {
        let (c, f) = (self.c, self.f);
        for e in 0..CELLS {
            matmul_strided(
                tiles,
                f,
                c,
                &mut m[e * f..],
                CELLS * f,
                false,
                cell_rows(v, e, c),
                View::rows(&u[e * c * f..(e + 1) * c * f], f),
            );
        }
    }

    /// `dv[:, e] = dm[:, e] u[e]^T` for a block of `tiles`: the input side's gradient products.
    fn multiply_input_gradient(&self, tiles: usize, dm: &[f32], u: &[f32], dv: &mut [f32]) {
        let (c, f) = (self.c, self.f);
        for e in 0..CELLS {
            matmul_strided(
                tiles,
                c,
                f,
                &mut dv[e * c..],
                CELLS * c,
                false,
                cell_rows(dm, e, f),
                View::transposed(&u[e * c * f..(e + 1) * c * f], f),
            );
        }
    }

    /// `du[e] += v[:, e]^T dm[:, e]` for a block of `tiles`: the kernel side's gradient products.
    fn multiply_kernel_gradient(&self, tiles: usize, v: &[f32], dm: &[f32], du: &mut [f32]) {
        let (c, f) = (self.c, self.f);
        for e in 0..CELLS {
            matmul(
                c,
                f,
                tiles,
                &mut du[e * c * f..(e + 1) * c * f],
                true,
                cell_rows(v, e, c).t(),
                cell_rows(dm, e, f),
            );
        }
    }
}

/// Cell `e` of every tile of `[tiles, 16, width]` as a `[tiles x width]` matrix.
fn cell_rows(data: &[f32], e: usize, width: usize) -> View<'_> {
    View {
        data: &data[e * width..],
        rs: CELLS * width,
        cs: 1,
    }
}

// Each transform maps a tile's cells, one channel at a time, by a fixed formula: `L X R^T`, with
// `L` down every column of the tile, then `R` along every row. The cells are channel rows; they are
// walked 16 channels at a time as fixed-size arrays, which the compiler keeps in vector registers.

/// Channels per step of [`per_channel`].
const LANES: usize = 16;

/// `out[o][k] = f(ins[.][k])[o]` for every channel `k`, where `out` holds `O` rows one after the
/// other.
#[inline(always)]
fn per_channel<const I: usize, const O: usize>(
    ins: [&[f32]; I],
    out: &mut [f32],
    f: impl Fn([f32; I]) -> [f32; O],
) {
    let n = out.len() / O;
    let mut rows = out.chunks_exact_mut(n);
    let out: [&mut [f32]; O] = std::array::from_fn(|_| rows.next().expect("O rows"));
    let ins = ins.map(|r| &r[..n]);
    let full = n / LANES * LANES;
    for s in (0..full).step_by(LANES) {
        let x: [&[f32; LANES]; I] =
            std::array::from_fn(|i| ins[i][s..s + LANES].try_into().expect("a full block"));
        let mut y = [[0f32; LANES]; O];
        for l in 0..LANES {
            let r = f(std::array::from_fn(|i| x[i][l]));
            for o in 0..O {
                y[o][l] = r[o];
            }
        }
        for o in 0..O {
            out[o][s..s + LANES].copy_from_slice(&y[o]);
        }
    }
    for k in full..n {
        let r = f(std::array::from_fn(|i| ins[i][k]));
        for o in 0..O {
            out[o][k] = r[o];
        }
    }
}

/// `L X R^T` for the `R x C` tile `x(i, j)`: `l` down each column, then `r` along each row.
#[inline(always)]
fn tile<const R: usize, const C: usize, const R2: usize, const C2: usize>(
    x: impl Fn(usize, usize) -> f32,
    l: impl Fn([f32; R]) -> [f32; R2],
    r: impl Fn([f32; C]) -> [f32; C2],
) -> [[f32; C2]; R2] {
    let cols: [[f32; R2]; C] = std::array::from_fn(|j| l(std::array::from_fn(|i| x(i, j))));
    std::array::from_fn(|i| r(std::array::from_fn(|j| cols[j][i])))
}

/// A 4x4 tile's cells in row-major order.
#[inline(always)]
fn cells(t: [[f32; 4]; 4]) -> [f32; CELLS] {
    std::array::from_fn(|e| t[e / 4][e % 4])
}

/// `B^T d B` of a 4x4 input tile.
#[inline(always)]
fn input_tile(d: [f32; CELLS]) -> [f32; CELLS] {
    cells(tile::<4, 4, 4, 4>(|i, j| d[4 * i + j], bt, bt))
}

/// `B dv B^T`, the adjoint of [`input_tile`].
#[inline(always)]
fn input_tile_adjoint(dv: [f32; CELLS]) -> [f32; CELLS] {
    cells(tile::<4, 4, 4, 4>(|i, j| dv[4 * i + j], b, b))
}

/// `A^T m A`: the 2x2 outputs of a tile, row-major.
#[inline(always)]
fn output_tile(m: [f32; CELLS]) -> [f32; 4] {
    let y = tile::<4, 4, 2, 2>(|i, j| m[4 * i + j], at, at);
    [y[0][0], y[0][1], y[1][0], y[1][1]]
}

/// `A dy A^T`, the adjoint of [`output_tile`].
#[inline(always)]
fn output_tile_adjoint(dy: [f32; 4]) -> [f32; CELLS] {
    cells(tile::<2, 2, 4, 4>(|i, j| dy[2 * i + j], a, a))
}

/// `G g G^T` of a 3x3 kernel.
#[inline(always)]
fn kernel_tile(k: [f32; 9]) -> [f32; CELLS] {
    cells(tile::<3, 3, 4, 4>(|i, j| k[3 * i + j], g, g))
}

/// `G^T du G`, the adjoint of [`kernel_tile`].
#[inline(always)]
fn kernel_tile_adjoint(du: [f32; CELLS]) -> [f32; 9] {
    let k = tile::<4, 4, 3, 3>(|i, j| du[4 * i + j], gt, gt);
    std::array::from_fn(|t| k[t / 3][t % 3])
}

/// `B^T` applied to 4 values, `B^T = [[1,0,-1,0], [0,1,1,0], [0,-1,1,0], [0,1,0,-1]]`.
#[inline(always)]
fn bt([d0, d1, d2, d3]: [f32; 4]) -> [f32; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// `B` applied to 4 values (the adjoint of [`bt`]).
#[inline(always)]
fn b([v0, v1, v2, v3]: [f32; 4]) -> [f32; 4] {
    [v0, v1 - v2 + v3, v1 + v2 - v0, -v3]
}

/// `A^T` applied to 4 values, `A^T = [[1,1,1,0], [0,1,-1,-1]]`.
#[inline(always)]
fn at([m0, m1, m2, m3]: [f32; 4]) -> [f32; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// `A` applied to 2 values (the adjoint of [`at`]).
#[inline(always)]
fn a([y0, y1]: [f32; 2]) -> [f32; 4] {
    [y0, y0 + y1, y0 - y1, -y1]
}

/// `G` applied to 3 values, `G = [[1,0,0], [1/2,1/2,1/2], [1/2,-1/2,1/2], [0,0,1]]`.
#[inline(always)]
fn g([g0, g1, g2]: [f32; 3]) -> [f32; 4] {
    let outer = g0 + g2;
    [g0, 0.5 * (outer + g1), 0.5 * (outer - g1), g2]
}

/// `G^T` applied to 4 values (the adjoint of [`g`]).
#[inline(always)]
fn gt([u0, u1, u2, u3]: [f32; 4]) -> [f32; 3] {
    let (sum, diff) = (0.5 * (u1 + u2), 0.5 * (u1 - u2));
    [u0 + sum, diff, sum + u3]
}

/// `v[t, e, :] = (B^T d B)[e]` for each tile `t` of `range`'s 4x4 input patch `d` of `x` (zeros past
/// the input); `v` holds the block's tiles.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn transform_input(t: &Tiles, range: Range<usize>, x: &[f32], v: &mut [f32]) {
    let c = t.c;
    let zeros = vec![0f32; c];
    for (tile, img, ty, tx) in t.each(range.clone()) {
        let d: [&[f32]; CELLS] = std::array::from_fn(|cell| {
            let (y, xx) = (2 * ty + cell / 4, 2 * tx + cell % 4);
            if y < t.h && xx < t.w {
                let at = ((img * t.h + y) * t.w + xx) * c;
                &x[at..at + c]
            } else {
                &zeros
            }
        });
        let dst = &mut v[tile * CELLS * c..(tile + 1) * CELLS * c];
        per_channel(d, dst, input_tile);
    }
}

/// `dx += B dv[t] B^T` scattered onto each tile `t` of `range`'s input patch (the adjoint of
/// [`transform_input`]); cells past the input are dropped.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn add_input_gradient(t: &Tiles, range: Range<usize>, dv: &[f32], dx: &mut [f32]) {
    let c = t.c;
    let mut patch = vec![0f32; CELLS * c];
    for (tile, img, ty, tx) in t.each(range.clone()) {
        let src = &dv[tile * CELLS * c..(tile + 1) * CELLS * c];
        let d: [&[f32]; CELLS] = std::array::from_fn(|e| &src[e * c..(e + 1) * c]);
        per_channel(d, &mut patch, input_tile_adjoint);
        for (cell, grad) in patch.chunks_exact(c).enumerate() {
            let (y, xx) = (2 * ty + cell / 4, 2 * tx + cell % 4);
            if y < t.h && xx < t.w {
                let at = ((img * t.h + y) * t.w + xx) * c;
                for (d, g) in dx[at..at + c].iter_mut().zip(grad) {
                    *d += g;
                }
            }
        }
    }
}

/// `z = A^T m[t] A` for each tile `t` of `range`, written to the output map `z: [n, oh, ow, f]`
/// (cells past the map are dropped).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn transform_output(t: &Tiles, range: Range<usize>, m: &[f32], z: &mut [f32]) {
    let f = t.f;
    let (oh, ow) = t.out_hw();
    let mut block = vec![0f32; 4 * f];
    for (tile, img, ty, tx) in t.each(range.clone()) {
        let src = &m[tile * CELLS * f..(tile + 1) * CELLS * f];
        let d: [&[f32]; CELLS] = std::array::from_fn(|e| &src[e * f..(e + 1) * f]);
        per_channel(d, &mut block, output_tile);
        for (cell, y) in block.chunks_exact(f).enumerate() {
            let (oy, ox) = (2 * ty + cell / 2, 2 * tx + cell % 2);
            if oy < oh && ox < ow {
                let at = ((img * oh + oy) * ow + ox) * f;
                z[at..at + f].copy_from_slice(y);
            }
        }
    }
}

/// `dm[t] = A dz A^T` for each tile `t` of `range`'s 2x2 block of the output gradient
/// `dz: [n, oh, ow, f]` (zeros past the map; the adjoint of [`transform_output`]).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn transform_output_gradient(t: &Tiles, range: Range<usize>, dz: &[f32], dm: &mut [f32]) {
    let f = t.f;
    let (oh, ow) = t.out_hw();
    let zeros = vec![0f32; f];
    for (tile, img, ty, tx) in t.each(range.clone()) {
        let d: [&[f32]; 4] = std::array::from_fn(|cell| {
            let (oy, ox) = (2 * ty + cell / 2, 2 * tx + cell % 2);
            if oy < oh && ox < ow {
                let at = ((img * oh + oy) * ow + ox) * f;
                &dz[at..at + f]
            } else {
                &zeros
            }
        });
        let dst = &mut dm[tile * CELLS * f..(tile + 1) * CELLS * f];
        per_channel(d, dst, output_tile_adjoint);
    }
}

/// `u[e] = (G g G^T)[e]` for the kernel `w: [3, 3, c, f]`, all `cf = c * f` columns at once.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn transform_kernel(cf: usize, w: &[f32], u: &mut [f32]) {
    let taps: [&[f32]; 9] = std::array::from_fn(|i| &w[i * cf..(i + 1) * cf]);
    per_channel(taps, u, kernel_tile);
}

/// `dw = G^T du G` (the adjoint of [`transform_kernel`]), `dw: [3, 3, c, f]`.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma"))]
fn kernel_gradient(cf: usize, du: &[f32], dw: &mut [f32]) {
    let planes: [&[f32]; CELLS] = std::array::from_fn(|e| &du[e * cf..(e + 1) * cf]);
    per_channel(planes, dw, kernel_tile_adjoint);
}
