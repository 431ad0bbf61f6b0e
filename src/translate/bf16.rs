//! bfloat16 projections on the CPU (`--dtype bf16`): weights rounded to bf16 at load,
//! activations rounded to bf16 per call, products summed in f32, the bias added in the same
//! pass; everything else (layer norms, attention, softmax, the KV cache) stays f32.
//!
//! It exists because candle's CPU bf16 runs the whole model in bf16 through kernels that
//! widen to f32 on every call (a quarter of f32's speed on the benchmark), while CPUs with
//! AVX-512 BF16 multiply bf16 pairs natively: `vdpbf16ps` adds two products per f32 lane,
//! half of what int8's `vpdpbusd` does and with no scales. The weights take half of f32's
//! memory; the quality loss is bf16's 8-bit mantissa on both operands.
//!
//! Where the CPU has AMX (Sapphire Rapids and later), the tile unit multiplies a 16-row by
//! 32-deep block of bf16 activations by a 32-deep by 16-column block of weights in one
//! instruction (`tdpbf16ps`: 8,192 products, where `vdpbf16ps` does 32); PyTorch's CPU bf16
//! gets its speed from it, through oneDNN. Where AMX is there it runs every call, so that a
//! sentence's bits never depend on how many rows it shares a call with.
//!
//! Packing: the tiles and the driver of `tiles.rs`, the depth in pairs (what `vdpbf16ps`
//! sums per lane, and the row of an AMX weight tile): the 64 bytes of tile `t`, pair `g`,
//! block `b` hold `w[2g + u][64t + 16b + j]` at element `2j + u`, so 16 consecutive pairs of
//! a block are an AMX tile with rows 256 bytes apart. The depth is padded with zeros to a
//! multiple of 32 (one AMX tile row).
//!
//! The AVX-512 BF16 kernel adds each pair's products to the sum one at a time, the odd
//! element's first, each rounded (the instruction's order, found on the hardware and
//! tested); the portable kernel does the same, so both give the same bits but for
//! subnormal values, which the instruction flushes to zero. AMX adds a pair's two products
//! with one rounding (found likewise), so its sums may differ from theirs in the last bit:
//! it is tested against the definition and against them to f32's rounding.
use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use super::tiles::{
    amx, check_call, column_tile, for_each_tile, TileOut, BLOCK, ROWS, TILE, TILE_BLOCKS,
};

/// Depth values summed per f32 lane by `vdpbf16ps`.
const PAIR: usize = 2;
/// The depth is padded to a multiple of this: one row of an AMX tile, 64 bytes.
const DEPTH_CHUNK: usize = amx::DEPTH_BYTES / 2;

/// The bf16 kernels; [`Kernel::for_rows`] picks one for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Amx,
    Avx512Bf16,
    Portable,
}

impl Kernel {
    /// The kernel for every call, whatever its rows: the fastest this CPU has. (Unlike
    /// int8, AMX is not left for fewer rows: its sums may differ from the register
    /// kernel's in the last bit, and a sentence's result must not depend on the batch it
    /// shares a call with. At one row both ran at the same speed.)
    pub fn for_rows(_rows: usize) -> Kernel {
        Kernel::available()[0]
    }

    /// Why a bf16 run on this CPU would be slow, when it would: with neither AMX nor
    /// AVX-512 BF16 only the portable kernel is left, slower than f32's.
    pub fn slow_here() -> Option<&'static str> {
        (Kernel::available()[0] == Kernel::Portable).then_some(
            "this CPU has neither AMX nor AVX-512 BF16, so bf16 projections run on portable \
             code, slower than --dtype f32; --dtype int8 is the fast low-precision path here",
        )
    }

    /// Every kernel this CPU can run, fastest first (Portable always last).
    pub fn available() -> &'static [Kernel] {
        static AVAILABLE: OnceLock<Vec<Kernel>> = OnceLock::new();
        AVAILABLE.get_or_init(|| {
            let mut out = Vec::new();
            if amx::ready(amx::Op::Bf16) {
                out.push(Kernel::Amx);
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bf16")
            {
                out.push(Kernel::Avx512Bf16);
            }
            out.push(Kernel::Portable);
            out
        })
    }
}

/// The bf16 form of `w_t: [d, cols]`, made from HF's `[cols, d]` rows. Shared by the clones
/// (the tied embeddings).
#[derive(Clone)]
pub struct Bf16Panels {
    /// Packed bf16 bits (see the module docs).
    data: Arc<Vec<u16>>,
    d: usize,
    cols: usize,
}

impl std::fmt::Debug for Bf16Panels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bf16Panels")
            .field("d", &self.d)
            .field("cols", &self.cols)
            .finish()
    }
}

/// `x` rounded to the nearest bf16 (ties to even), as bits.
fn to_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

#[inline(always)]
fn from_bf16(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// Where weight `k` (depth) of column `c` of a tile lies in the tile's elements.
#[inline(always)]
fn packed_at(k: usize, c: usize) -> usize {
    (k / PAIR) * PAIR * TILE + (c / BLOCK) * PAIR * BLOCK + (c % BLOCK) * PAIR + k % PAIR
}

impl Bf16Panels {
    /// Rounds and packs `w: [cols, d]` (HF's layout: one output column per row).
    pub fn from_host_rows(w: &[f32], cols: usize, d: usize) -> candle_core::Result<Self> {
        super::project::check_weights(w, cols, d)?;
        let dp = d.next_multiple_of(DEPTH_CHUNK);
        let padded = cols.next_multiple_of(TILE);
        let mut data = vec![0u16; padded * dp];
        // One tile (64 columns) per task: each writes only its own elements.
        data.par_chunks_mut(dp * TILE)
            .enumerate()
            .for_each(|(t, tile)| {
                for c in 0..TILE.min(cols.saturating_sub(t * TILE)) {
                    let column = &w[(t * TILE + c) * d..][..d];
                    for (k, &v) in column.iter().enumerate() {
                        tile[packed_at(k, c)] = to_bf16(v);
                    }
                }
            });
        Ok(Self {
            data: Arc::new(data),
            d,
            cols,
        })
    }

    pub fn d(&self) -> usize {
        self.d
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pairs in the (padded) depth.
    fn pairs(&self) -> usize {
        self.d.next_multiple_of(DEPTH_CHUNK) / PAIR
    }

    /// Elements per tile.
    fn tile_len(&self) -> usize {
        self.pairs() * PAIR * TILE
    }

    /// Column `j` of `w_t` (row `j` of HF's weight) in f32: an embedding when the output
    /// projection is tied to the embeddings.
    pub fn column(&self, j: usize, out: &mut Vec<f32>) -> candle_core::Result<()> {
        let tile = column_tile(&self.data, j, self.cols, self.tile_len())?;
        out.extend((0..self.d).map(|k| from_bf16(tile[packed_at(k, j % TILE)])));
        Ok(())
    }

    /// Columns `ids` of `w_t` (in that order) as a projection of their own.
    pub fn select_columns(&self, ids: &[u32]) -> candle_core::Result<Self> {
        let data = super::tiles::gather_columns(
            &self.data,
            self.cols,
            self.tile_len(),
            self.d,
            PAIR,
            packed_at,
            ids,
        )?;
        Ok(Self {
            data: Arc::new(data),
            d: self.d,
            cols: ids.len(),
        })
    }

    /// `x @ w_t + bias` for host rows `x: [rows, d]` into `out` (`[rows, cols]`, its
    /// allocation reused), with this CPU's best kernel for this many rows.
    pub fn forward_into(
        &self,
        xs: &[f32],
        bias: Option<&[f32]>,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        self.forward_with(Kernel::for_rows(xs.len() / self.d.max(1)), xs, bias, out)
    }

    /// [`Self::forward_into`] with a chosen kernel (the tests run each).
    pub fn forward_with(
        &self,
        kernel: Kernel,
        xs: &[f32],
        bias: Option<&[f32]>,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        out.clear();
        let (d, cols) = (self.d, self.cols);
        let rows = check_call("bf16", Kernel::available(), kernel, xs, bias, d, cols)?;
        // Activations in bf16, the depth padded with zeros.
        let pairs = self.pairs();
        let dp = pairs * PAIR;
        let mut a = vec![0u16; rows * dp];
        let round_row = |(a, x): (&mut [u16], &[f32])| {
            a.iter_mut().zip(x).for_each(|(a, &x)| *a = to_bf16(x));
        };
        if rows * d >= crate::generate::PARALLEL_MIN {
            a.par_chunks_mut(dp)
                .zip(xs.par_chunks(d))
                .for_each(round_row);
        } else {
            a.chunks_mut(dp).zip(xs.chunks(d)).for_each(round_row);
        }
        let zeros = [0f32; TILE];
        let bias_of = |t: usize| {
            let (j0, n) = (t * TILE, TILE.min(cols - t * TILE));
            bias.map_or(&zeros[..n], |b| &b[j0..j0 + n])
        };
        let tile_w = |t: usize| &self.data[t * self.tile_len()..][..self.tile_len()];
        let rows_a = |r0: usize, mr: usize| &a[r0 * dp..(r0 + mr) * dp];
        // SAFETY (both): `write_rows` writes every column of every row of its part.
        match kernel {
            Kernel::Amx => unsafe {
                for_each_tile::<{ amx::ROWS }>(rows, cols, out, |t, r0, mr, outs| {
                    let mut acc = [[MaybeUninit::uninit(); TILE]; amx::ROWS];
                    let (w, a) = (tile_w(t), rows_a(r0, mr));
                    let acc = amx::tile::<_, f32>(amx::Op::Bf16, w, a, mr, dp * 2, &mut acc);
                    write_rows(acc, bias_of(t), outs);
                })
            },
            _ => unsafe {
                for_each_tile::<ROWS>(rows, cols, out, |t, r0, mr, outs| {
                    let mut acc = [[0f32; TILE]; ROWS];
                    let (w, a) = (tile_w(t), rows_a(r0, mr));
                    match kernel {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `forward_with` checked that the CPU has the features; `w`
                        // holds a tile of `pairs` pairs and `a` holds `mr` rows of them.
                        Kernel::Avx512Bf16 => x86::tile_bf16(w, a, mr, pairs, &mut acc),
                        _ => tile_portable(w, a, mr, pairs, &mut acc),
                    }
                    write_rows(&acc[..mr], bias_of(t), outs);
                })
            },
        }
        Ok(())
    }
}

/// Each row's sums (`acc`: the call's rows) plus the bias into its part of the output.
fn write_rows<const R: usize>(acc: &[[f32; TILE]], bias: &[f32], outs: TileOut<R>) {
    for (acc, out) in acc.iter().zip(outs) {
        for ((o, &s), &b) in out.iter_mut().zip(acc).zip(bias) {
            *o = MaybeUninit::new(s + b);
        }
    }
}

/// The portable kernel: per pair, the odd element's product added first, then the even
/// one's, each rounded, as `vdpbf16ps` does (bf16 products are exact in f32).
///
/// Compiled for each SIMD target, the 64 columns of a pair in vector lanes: a pair's 64
/// weight pairs are 128 consecutive elements, column `c`'s at `2c` ([`packed_at`]), loaded
/// once for all the call's rows. Each sum still takes its products in the same order, so
/// every target gives the same bits (built for the x86-64 baseline and column by column,
/// a bf16 run took 15 times f32's time on an AVX2 CPU).
#[multiversion::multiversion(targets = "simd")]
fn tile_portable(w: &[u16], a: &[u16], mr: usize, pairs: usize, acc: &mut [[f32; TILE]; ROWS]) {
    let dp = pairs * PAIR;
    let mut w0 = [0f32; TILE];
    let mut w1 = [0f32; TILE];
    for g in 0..pairs {
        let group = &w[g * PAIR * TILE..(g + 1) * PAIR * TILE];
        for ((w0, w1), pair) in w0.iter_mut().zip(&mut w1).zip(group.chunks_exact(PAIR)) {
            (*w0, *w1) = (from_bf16(pair[0]), from_bf16(pair[1]));
        }
        for (r, acc) in acc.iter_mut().enumerate().take(mr) {
            let (a0, a1) = (
                from_bf16(a[r * dp + 2 * g]),
                from_bf16(a[r * dp + 2 * g + 1]),
            );
            for ((s, &w0), &w1) in acc.iter_mut().zip(&w0).zip(&w1) {
                *s += a1 * w1;
                *s += a0 * w0;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX-512 BF16 kernel: `a · w` over the depth for 4 blocks of 16 columns and `mr`
    //! rows into `acc` (AMX's is `tiles::amx`, shared with int8).
    use super::{BLOCK, PAIR, ROWS, TILE, TILE_BLOCKS};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX-512 F and BF16; `w` must hold a tile of `pairs` pairs and `a`
    /// `mr` (at most 6) rows of `pairs` pairs.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn tile_bf16(
        w: &[u16],
        a: &[u16],
        mr: usize,
        pairs: usize,
        acc: &mut [[f32; TILE]; ROWS],
    ) {
        match mr {
            6 => rows::<6>(w, a, pairs, acc),
            5 => rows::<5>(w, a, pairs, acc),
            4 => rows::<4>(w, a, pairs, acc),
            3 => rows::<3>(w, a, pairs, acc),
            2 => rows::<2>(w, a, pairs, acc),
            1 => rows::<1>(w, a, pairs, acc),
            _ => unreachable!("{mr} rows in a call of at most {ROWS}"),
        }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    fn rows<const MR: usize>(w: &[u16], a: &[u16], pairs: usize, acc: &mut [[f32; TILE]; ROWS]) {
        let dp = pairs * PAIR;
        assert!(w.len() >= pairs * PAIR * TILE && a.len() >= MR * dp);
        let mut s = [[_mm512_setzero_ps(); TILE_BLOCKS]; MR];
        let wp = w.as_ptr();
        let ap = a.as_ptr();
        for g in 0..pairs {
            let wv: [__m512bh; TILE_BLOCKS] = std::array::from_fn(|b| {
                // SAFETY: block b, pair g lies inside `w` (asserted above); the bits are
                // bf16 pairs, which is what __m512bh holds.
                unsafe {
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                        wp.add((g * TILE_BLOCKS + b) * PAIR * BLOCK).cast(),
                    ))
                }
            });
            for (r, s) in s.iter_mut().enumerate() {
                // SAFETY: row r, pair g lies inside `a`; the pair's two bf16 values are read
                // as one 32-bit lane and broadcast.
                let av = unsafe {
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(
                        ap.add(r * dp + g * PAIR).cast::<i32>().read_unaligned(),
                    ))
                };
                for b in 0..TILE_BLOCKS {
                    s[b] = _mm512_dpbf16_ps(s[b], av, wv[b]);
                }
            }
        }
        for (r, s) in s.iter().enumerate() {
            for (b, v) in s.iter().enumerate() {
                // SAFETY: 16 f32 lanes into acc[r][16b..16b + 16].
                unsafe { _mm512_storeu_ps(acc[r][b * BLOCK..].as_mut_ptr(), *v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::tiles::{rows_alone_as_in_a_batch, test_values as values};
    use proptest::prelude::*;

    /// The definition on the bf16-rounded operands, in f64.
    fn reference(w: &[f32], xs: &[f32], bias: Option<&[f32]>, d: usize, cols: usize) -> Vec<f64> {
        let r = |x: f32| from_bf16(to_bf16(x)) as f64;
        let rows = xs.len() / d;
        let mut out = Vec::with_capacity(rows * cols);
        for x in xs.chunks(d) {
            for j in 0..cols {
                let dot: f64 = (0..d).map(|k| r(x[k]) * r(w[j * d + k])).sum();
                out.push(dot + bias.map_or(0.0, |b| b[j] as f64));
            }
        }
        out
    }

    proptest! {
        /// The AVX-512 BF16 kernel gives the portable kernel's bits, AMX the same values to
        /// f32's rounding, and all agree with the definition on the rounded operands, for
        /// shapes that end inside a block, a tile, an AMX tile's rows and its depth, with
        /// and without a bias.
        #[test]
        fn every_kernel_agrees_with_the_portable_one_and_the_definition(
            rows in 1usize..40,
            d in 1usize..80,
            cols in 1usize..150,
            seed in any::<u64>(),
            with_bias in any::<bool>(),
        ) {
            let w = values(cols * d, seed);
            let xs = values(rows * d, seed ^ 0x5555);
            let bias = values(cols, seed ^ 0xaaaa);
            let bias = with_bias.then_some(&bias[..]);
            let panels = Bf16Panels::from_host_rows(&w, cols, d).unwrap();
            let mut portable = Vec::new();
            panels.forward_with(Kernel::Portable, &xs, bias, &mut portable).unwrap();
            let want = reference(&w, &xs, bias, d, cols);
            // |x|, |w| <= 2: d products of at most 4, summed with f32 roundings.
            let tolerance = 4.0 * d as f64 * d as f64 * 6e-8 + 1e-6;
            prop_assert_eq!(portable.len(), want.len());
            for (i, (&g, &w)) in portable.iter().zip(&want).enumerate() {
                prop_assert!((g as f64 - w).abs() <= tolerance, "{}: {} vs {}", i, g, w);
            }
            for &kernel in Kernel::available() {
                let mut got = vec![7.0];
                panels.forward_with(kernel, &xs, bias, &mut got).unwrap();
                if kernel == Kernel::Amx {
                    prop_assert_eq!(got.len(), want.len());
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        prop_assert!((g as f64 - w).abs() <= tolerance, "AMX {}: {} vs {}", i, g, w);
                    }
                } else {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    prop_assert_eq!(bits(&got), bits(&portable), "{:?}", kernel);
                }
            }
        }
    }

    /// The portable kernel's bits are `vdpbf16ps`'s order, one sum at a time: per pair the
    /// odd element's product added first, then the even one's, each rounded in f32. (So on
    /// any CPU, where the proptest above holds it only to the definition within rounding.)
    #[test]
    fn the_portable_kernel_sums_each_pair_odd_element_first() {
        let (rows, d, cols) = (7, 70, 130);
        let (w, xs) = (values(cols * d, 3), values(rows * d, 4));
        let bias = values(cols, 5);
        let panels = Bf16Panels::from_host_rows(&w, cols, d).unwrap();
        let mut got = Vec::new();
        panels
            .forward_with(Kernel::Portable, &xs, Some(&bias), &mut got)
            .unwrap();
        let r = |x: f32| from_bf16(to_bf16(x));
        for (i, x) in xs.chunks(d).enumerate() {
            for j in 0..cols {
                let mut s = 0f32;
                for k in (0..d).step_by(2) {
                    let odd = |v: &[f32]| v.get(k + 1).map_or(0.0, |&v| r(v));
                    s += odd(&x[..d]) * odd(&w[j * d..(j + 1) * d]);
                    s += r(x[k]) * r(w[j * d + k]);
                }
                let want = s + bias[j];
                assert_eq!(
                    got[i * cols + j].to_bits(),
                    want.to_bits(),
                    "row {i}, column {j}"
                );
            }
        }
    }

    /// A row projected alone gets the bits it gets in a batch: one kernel serves every row
    /// count, so a sentence's result never depends on its batch.
    #[test]
    fn a_row_gets_the_same_bits_alone_as_in_a_batch() {
        let (d, cols) = (70, 130);
        let p = Bf16Panels::from_host_rows(&values(cols * d, 1), cols, d).unwrap();
        rows_alone_as_in_a_batch(d, cols, |xs, out| p.forward_into(xs, None, out).unwrap());
    }

    #[test]
    fn columns_are_the_rounded_rows_and_bad_inputs_are_refused() {
        let (cols, d) = (70, 5);
        let w = values(cols * d, 3);
        let panels = Bf16Panels::from_host_rows(&w, cols, d).unwrap();
        for j in [0, 63, 64, 69] {
            let mut col = Vec::new();
            panels.column(j, &mut col).unwrap();
            let want: Vec<f32> = w[j * d..(j + 1) * d]
                .iter()
                .map(|&x| from_bf16(to_bf16(x)))
                .collect();
            assert_eq!(col, want, "column {j}");
        }
        assert!(panels.column(cols, &mut Vec::new()).is_err());
        assert!(Bf16Panels::from_host_rows(&w[1..], cols, d).is_err());
        assert!(panels
            .forward_into(&[0.0; 4], None, &mut Vec::new())
            .is_err());
    }
}
