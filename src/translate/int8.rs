//! int8 projections for `--dtype int8` on the CPU: weights quantized once at load, one scale
//! per output column; activations quantized per row at run time; products summed in int32 and
//! turned back into f32 with the bias in one pass.
//!
//! It exists because a Marian decoding step is mostly projections, and an int8 product does
//! four times the work of an f32 one per instruction: AVX-512 VNNI's `vpdpbusd` multiplies
//! 64 byte pairs and sums them in fours into 16 int32 lanes. This is CTranslate2's int8
//! scheme (its `docs/quantization.md`: per-row weight scales, per-row dynamic activation
//! scales), here with kernels of our own, all in this one file with their packing:
//!
//! - **AMX** (Sapphire Rapids and later, `tiles::amx`, shared with bf16): `tdpbssd` multiplies
//!   a 16-row by 64-deep tile of signed activations by a 64-deep by 16-column tile of
//!   weights into int32 sums in one instruction; 16 rows a call.
//! - **VNNI** (AVX-512 VNNI): `vpdpbusd` takes unsigned × signed bytes, so activations
//!   `a ∈ [-127, 127]` go in as `a + 128` and `128 · Σ_k w` is taken off each column after.
//! - **AVX2**: `vpmaddubsw` multiplies `|a|` by `w` carrying `a`'s sign (two products per
//!   16-bit lane, at most 2 · 127 · 127 = 32,258: it never saturates), `vpmaddwd` sums pairs
//!   into int32.
//! - **Portable**: the same sums, one at a time.
//!
//! Every path sums the same integers exactly, and all share one dequantisation
//! ([`dequantize`]: `acc · (s_row · s_col) + bias`, a multiply then an add, never fused), so
//! they give the same bits; the tests hold each against a scalar reference. The kernel is
//! picked per call from what the CPU has and the call's rows ([`Kernel::for_rows`]).
//!
//! Packing: columns in tiles of 64, each 4 blocks of 16 (one 512-bit register of int32 sums
//! per block), the depth in groups of 4 (what `vpdpbusd` sums per lane). A tile's weights
//! are one stream in the order the kernels read them: group by group, its 4 blocks side by
//! side, so the 64 bytes of tile `t`, group `g`, block `b` hold `w[4g + u][64t + 16b + j]`
//! at `4j + u` (16 groups of a block, 256 bytes apart, are an AMX weight tile). The columns
//! and the depth are padded to multiples of 64 with zeros. A register kernel's call is one
//! tile by up to 6 rows: 24 accumulators, each weight loaded once per 6 rows.
use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

use crate::generate::logits::LANES;
use rayon::prelude::*;

use super::tiles::{
    amx, check_call, column_tile, for_each_tile, TileOut, BLOCK, ROWS, TILE, TILE_BLOCKS,
};

/// Depth values summed per int32 lane by `vpdpbusd`.
const GROUP: usize = 4;
/// The largest quantised magnitude: symmetric, so -128 is never used.
const QMAX: f32 = 127.0;

/// The int8 kernels; [`Kernel::for_rows`] picks one for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Amx,
    Vnni,
    Avx2,
    Portable,
}

impl Kernel {
    /// The kernel for a call of `rows` rows ([`amx::pick`]).
    pub fn for_rows(rows: usize) -> Kernel {
        amx::pick(Kernel::available(), Kernel::Amx, rows)
    }

    /// Every kernel this CPU can run, fastest first (Portable always last), decided once.
    pub fn available() -> &'static [Kernel] {
        static AVAILABLE: OnceLock<Vec<Kernel>> = OnceLock::new();
        AVAILABLE.get_or_init(Kernel::detect)
    }

    fn detect() -> Vec<Kernel> {
        let mut out = Vec::new();
        if amx::ready(amx::Op::Int8) {
            out.push(Kernel::Amx);
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                out.push(Kernel::Vnni);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                out.push(Kernel::Avx2);
            }
        }
        out.push(Kernel::Portable);
        out
    }
}

/// The int8 form of `w_t: [d, cols]`, made from HF's `[cols, d]` rows. Shared by the clones
/// (the tied embeddings).
#[derive(Clone)]
pub struct Int8Panels {
    /// Packed quantised weights (see the module docs).
    data: Arc<Vec<i8>>,
    /// Per column: `max |w| / 127` (0 for padding).
    scales: Arc<Vec<f32>>,
    /// Per column: `Σ_k w`, taken off the VNNI sums `128` times.
    sums: Arc<Vec<i32>>,
    d: usize,
    cols: usize,
}

impl std::fmt::Debug for Int8Panels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Panels")
            .field("d", &self.d)
            .field("cols", &self.cols)
            .finish()
    }
}

/// Quantises `x` into `q` (same length) with one scale, returned: `max |x| / 127`.
/// A row of zeros has scale 0, and so does a row too small for `127 / max |x|` to be finite
/// ([`unscalable`]); a row with a NaN or an infinity has scale NaN, so what it touches comes
/// out NaN as it would in f32. With AVX-512 the row is read 16 values at a
/// time; the result is the same (max, multiply, round half to even and saturate are exact).
fn quantize(x: &[f32], q: &mut [i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512 F and BW.
        return unsafe { x86::quantize(x, q) };
    }
    quantize_portable(x, q)
}

/// [`quantize`] without AVX-512: compiled for each SIMD target, so that rounding is one
/// instruction (`roundps` from SSE4.1 on, `frintn` on ARM) where the x86-64 baseline calls
/// libm's `rintf` per value (on an AVX2 CPU, a quarter of an int8 run's time went to
/// quantising rows). The largest magnitude is taken in [`LANES`] lanes, which gives the
/// same value (a maximum does not depend on order).
#[multiversion::multiversion(targets = "simd")]
fn quantize_portable(x: &[f32], q: &mut [i8]) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut nan = false;
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v.abs() > *m { v.abs() } else { *m };
            nan |= v.is_nan();
        }
    }
    let amax =
        chunks
            .remainder()
            .iter()
            .chain(&lanes)
            .fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    nan |= chunks.remainder().iter().any(|v| v.is_nan());
    if !amax.is_finite() || nan {
        q.fill(0);
        return f32::NAN;
    }
    if unscalable(amax) {
        q.fill(0);
        return 0.0;
    }
    let inv = QMAX / amax;
    for (q, &v) in q.iter_mut().zip(x) {
        *q = quantize_one(v, inv);
    }
    amax / QMAX
}

/// Whether a row whose largest magnitude is `amax` (finite) quantises to zeros with scale 0:
/// a row of zeros, or one too small for `127 / amax` to be finite (below about 3.7e-37; its
/// products are nothing beside any bias, and scaled they would be `0 · inf`, NaN).
#[inline(always)]
fn unscalable(amax: f32) -> bool {
    !(QMAX / amax).is_finite()
}

/// One value: `v · inv` rounded half to even, within ±127.
///
/// The whole number is read from the bits of `r + 1.5 · 2^23` (exact below 2^22 in
/// magnitude) rather than cast: Rust's `as i8` from f32 saturates and maps NaN to 0, which
/// LLVM does one value at a time, and that was most of this function's time on AVX2.
#[inline(always)]
fn quantize_one(v: f32, inv: f32) -> i8 {
    const MAGIC: f32 = 12_582_912.0;
    let r = (v * inv).round_ties_even().clamp(-QMAX, QMAX);
    ((r + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32) as i8
}

/// Whether this CPU has the AVX-512 the row quantiser uses, decided once.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
    })
}

/// The one dequantisation every kernel ends with: `acc · (s_row · s_col) + bias`.
/// `out` may be memory not written yet (the output rows are filled tile by tile).
#[multiversion::multiversion(targets = "simd")]
fn dequantize(
    acc: &[i32],
    row_scale: f32,
    scales: &[f32],
    bias: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    for (((o, &a), &s), &b) in out.iter_mut().zip(acc).zip(scales).zip(bias) {
        o.write(a as f32 * (row_scale * s) + b);
    }
}

impl Int8Panels {
    /// Quantises and packs `w: [cols, d]` (HF's out x in layout, row-major).
    pub fn from_host_rows(w: &[f32], cols: usize, d: usize) -> candle_core::Result<Self> {
        super::project::check_weights(w, cols, d)?;
        let dp = d.next_multiple_of(amx::DEPTH_BYTES);
        let groups = dp / GROUP;
        let padded = cols.next_multiple_of(TILE);
        let mut data = vec![0i8; padded * dp];
        let mut scales = vec![0f32; padded];
        let mut sums = vec![0i32; padded];
        // One tile (64 columns) per task: each writes only its own bytes.
        data.par_chunks_mut(groups * GROUP * TILE)
            .zip(scales.par_chunks_mut(TILE))
            .zip(sums.par_chunks_mut(TILE))
            .enumerate()
            .for_each(|(t, ((tile, scales), sums))| {
                let mut q = vec![0i8; d];
                for c in 0..TILE {
                    let col = t * TILE + c;
                    if col >= cols {
                        break;
                    }
                    scales[c] = quantize(&w[col * d..(col + 1) * d], &mut q);
                    sums[c] = q.iter().map(|&v| v as i32).sum();
                    for (k, &v) in q.iter().enumerate() {
                        tile[packed_at(k, c)] = v;
                    }
                }
            });
        Ok(Self {
            data: Arc::new(data),
            scales: Arc::new(scales),
            sums: Arc::new(sums),
            d,
            cols,
        })
    }

    /// Inputs per row.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Outputs per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Depth groups of 4 in the (padded) depth.
    fn groups(&self) -> usize {
        self.d.next_multiple_of(amx::DEPTH_BYTES) / GROUP
    }

    /// Bytes per tile.
    fn tile_len(&self) -> usize {
        self.groups() * GROUP * TILE
    }

    /// Column `j` of `w_t` (row `j` of HF's weight), dequantised: an embedding when the
    /// output projection is tied to the embeddings.
    pub fn column(&self, j: usize, out: &mut Vec<f32>) -> candle_core::Result<()> {
        let tile = column_tile(&self.data, j, self.cols, self.tile_len())?;
        let s = self.scales[j];
        out.extend((0..self.d).map(|k| tile[packed_at(k, j % TILE)] as f32 * s));
        Ok(())
    }

    /// Columns `ids` of `w_t` (in that order) as a projection of their own: the raw int8
    /// values with their scales and sums, so each column's outputs keep their bits.
    pub fn select_columns(&self, ids: &[u32]) -> candle_core::Result<Self> {
        let data = super::tiles::gather_columns(
            &self.data,
            self.cols,
            self.tile_len(),
            self.d,
            GROUP,
            packed_at,
            ids,
        )?;
        let padded = ids.len().next_multiple_of(TILE);
        let mut scales = vec![0f32; padded];
        let mut sums = vec![0i32; padded];
        for (n, &j) in ids.iter().enumerate() {
            scales[n] = self.scales[j as usize];
            sums[n] = self.sums[j as usize];
        }
        Ok(Self {
            data: Arc::new(data),
            scales: Arc::new(scales),
            sums: Arc::new(sums),
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
        let rows = check_call("int8", Kernel::available(), kernel, xs, bias, d, cols)?;
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        // Activations: one scale per row, depth padded with zeros.
        let groups = self.groups();
        let dp = groups * GROUP;
        let mut qa = vec![0i8; rows * dp];
        let mut row_scales = vec![0f32; rows];
        let quantize_row = |(q, (x, s)): (&mut [i8], (&[f32], &mut f32))| {
            *s = quantize(x, &mut q[..d]);
        };
        if rows * d >= crate::generate::PARALLEL_MIN {
            qa.par_chunks_mut(dp)
                .zip(xs.par_chunks(d).zip(row_scales.par_iter_mut()))
                .for_each(quantize_row);
        } else {
            qa.chunks_mut(dp)
                .zip(xs.chunks(d).zip(row_scales.iter_mut()))
                .for_each(quantize_row);
        }
        if kernel == Kernel::Vnni {
            // vpdpbusd's unsigned operand: a + 128, the same bits with the top one flipped.
            qa.iter_mut().for_each(|v| *v = (*v as u8 ^ 0x80) as i8);
        }
        let zeros = [0f32; TILE];
        let job = Job {
            panels: self,
            kernel,
            qa: &qa,
            row_scales: &row_scales,
            bias,
            zeros: &zeros,
            rows,
            groups,
        };
        // SAFETY (both): `finish` dequantises every column of every row of its part.
        if kernel == Kernel::Amx {
            unsafe {
                for_each_tile::<{ amx::ROWS }>(rows, cols, out, |t, r0, mr, outs| {
                    let mut acc = [[MaybeUninit::uninit(); TILE]; amx::ROWS];
                    let (w, a) = (job.weights(t), job.rows_of(r0, mr));
                    let acc = amx::tile::<_, i32>(amx::Op::Int8, w, a, mr, dp, &mut acc);
                    job.finish(t, r0, acc, outs);
                })
            };
        } else {
            unsafe {
                for_each_tile::<ROWS>(rows, cols, out, |t, r0, mr, outs| job.tile(t, r0, mr, outs))
            };
        }
        Ok(())
    }
}

/// One projection call's shared inputs.
struct Job<'a> {
    panels: &'a Int8Panels,
    kernel: Kernel,
    /// Quantised activations, `rows x 4·groups` (for VNNI with the top bit flipped).
    qa: &'a [i8],
    row_scales: &'a [f32],
    bias: Option<&'a [f32]>,
    zeros: &'a [f32; TILE],
    rows: usize,
    groups: usize,
}

impl Job<'_> {
    /// Tile `t` (columns 64t..64t + 64) of rows r0..r0 + mr, each row's part into its
    /// slice of `out` (the first `mr`, each as long as the tile's real columns).
    fn tile(&self, t: usize, r0: usize, mr: usize, out: TileOut) {
        debug_assert!(r0 + mr <= self.rows && mr <= ROWS);
        let mut acc = [[0i32; TILE]; ROWS];
        let (w, a) = (self.weights(t), self.rows_of(r0, mr));
        let sums = &self.panels.sums[t * TILE..(t + 1) * TILE];
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `forward_with` checked that the CPU has the features; `w` holds a
            // tile of `groups` groups and `a` holds `mr` rows of `groups` groups.
            Kernel::Vnni => unsafe { x86::tile_vnni(w, a, mr, self.groups, sums, &mut acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX2.
            Kernel::Avx2 => unsafe { x86::tile_avx2(w, a, mr, self.groups, &mut acc) },
            _ => tile_portable(w, a, mr, self.groups, &mut acc),
        }
        self.finish(t, r0, &acc[..mr], out);
    }

    /// Tile `t`'s packed weights.
    fn weights(&self, t: usize) -> &[i8] {
        let p = self.panels;
        &p.data[t * p.tile_len()..(t + 1) * p.tile_len()]
    }

    /// The quantised activations of rows `r0..r0 + mr`.
    fn rows_of(&self, r0: usize, mr: usize) -> &[i8] {
        let dp = self.groups * GROUP;
        &self.qa[r0 * dp..(r0 + mr) * dp]
    }

    /// Rows `r0..` of tile `t`'s integer sums, dequantised with the bias into `out`.
    fn finish<const R: usize>(&self, t: usize, r0: usize, acc: &[[i32; TILE]], out: TileOut<R>) {
        let p = self.panels;
        let j0 = t * TILE;
        let n = TILE.min(p.cols - j0);
        let scales = &p.scales[j0..j0 + n];
        let bias = match self.bias {
            Some(b) => &b[j0..j0 + n],
            None => &self.zeros[..n],
        };
        for ((r, acc), out) in acc.iter().enumerate().zip(out) {
            dequantize(&acc[..n], self.row_scales[r0 + r], scales, bias, out);
        }
    }
}

/// Where weight `k` (depth) of column `c` of a tile lies in the tile's bytes.
#[inline(always)]
fn packed_at(k: usize, c: usize) -> usize {
    (k / GROUP) * GROUP * TILE + (c / BLOCK) * GROUP * BLOCK + (c % BLOCK) * GROUP + k % GROUP
}

/// The portable kernel: the same sums as the SIMD ones, one product at a time.
fn tile_portable(w: &[i8], a: &[i8], mr: usize, groups: usize, acc: &mut [[i32; TILE]; ROWS]) {
    let dp = groups * GROUP;
    for (r, acc) in acc.iter_mut().enumerate().take(mr) {
        let row = &a[r * dp..(r + 1) * dp];
        for (c, acc) in acc.iter_mut().enumerate() {
            let mut s = 0i32;
            for g in 0..groups {
                let wg = &w[packed_at(g * GROUP, c)..][..GROUP];
                let ag = &row[g * GROUP..][..GROUP];
                for t in 0..GROUP {
                    s += ag[t] as i32 * wg[t] as i32;
                }
            }
            *acc = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD kernels. Each sums `a · w` over the depth for 4 blocks of 16 columns and
    //! `mr` rows into `acc`, exactly.
    use super::{BLOCK, GROUP, ROWS, TILE, TILE_BLOCKS};
    use std::arch::x86_64::*;

    /// [`super::quantize`] 16 values at a time.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn quantize(x: &[f32], q: &mut [i8]) -> f32 {
        assert_eq!(x.len(), q.len());
        let n = x.len();
        let body = n - n % 16;
        let sign = _mm512_set1_ps(-0.0);
        let mut m = _mm512_setzero_ps();
        let mut unordered: u16 = 0;
        for i in (0..body).step_by(16) {
            // SAFETY: i + 16 <= body <= n.
            let v = unsafe { _mm512_loadu_ps(x.as_ptr().add(i)) };
            unordered |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            m = _mm512_max_ps(m, _mm512_andnot_ps(sign, v));
        }
        let mut amax = _mm512_reduce_max_ps(m);
        for &v in &x[body..] {
            if v.is_nan() {
                unordered = 1;
            } else if v.abs() > amax {
                amax = v.abs();
            }
        }
        if unordered != 0 || !amax.is_finite() {
            q.fill(0);
            return f32::NAN;
        }
        if super::unscalable(amax) {
            q.fill(0);
            return 0.0;
        }
        let inv = super::QMAX / amax;
        let inv_v = _mm512_set1_ps(inv);
        for i in (0..body).step_by(16) {
            // SAFETY: as above; the 16 bytes stored lie inside `q` (same length as `x`).
            unsafe {
                let v = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(i)), inv_v);
                // Rounds half to even (the default rounding mode); |v| <= 127 after rounding.
                let r = _mm512_cvtps_epi32(v);
                _mm_storeu_si128(q.as_mut_ptr().add(i).cast(), _mm512_cvtsepi32_epi8(r));
            }
        }
        for (q, &v) in q[body..].iter_mut().zip(&x[body..]) {
            *q = super::quantize_one(v, inv);
        }
        amax / super::QMAX
    }

    /// AVX-512 VNNI. `a` holds `a + 128` as bytes; `sums` the columns' `Σ w`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI; `w` must hold a tile of `groups` groups
    /// and `a` `mr` (at most 6) rows of `groups` groups.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_vnni(
        w: &[i8],
        a: &[i8],
        mr: usize,
        groups: usize,
        sums: &[i32],
        acc: &mut [[i32; TILE]; ROWS],
    ) {
        match mr {
            6 => vnni_rows::<6>(w, a, groups, sums, acc),
            5 => vnni_rows::<5>(w, a, groups, sums, acc),
            4 => vnni_rows::<4>(w, a, groups, sums, acc),
            3 => vnni_rows::<3>(w, a, groups, sums, acc),
            2 => vnni_rows::<2>(w, a, groups, sums, acc),
            _ => vnni_rows::<1>(w, a, groups, sums, acc),
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn vnni_rows<const MR: usize>(
        w: &[i8],
        a: &[i8],
        groups: usize,
        sums: &[i32],
        acc: &mut [[i32; TILE]; ROWS],
    ) {
        let dp = groups * GROUP;
        assert!(w.len() >= groups * GROUP * TILE && a.len() >= MR * dp && sums.len() >= TILE);
        let mut s = [[_mm512_setzero_si512(); TILE_BLOCKS]; MR];
        let wp = w.as_ptr();
        let ap = a.as_ptr();
        for g in 0..groups {
            let wv: [__m512i; TILE_BLOCKS] = std::array::from_fn(|b| {
                // SAFETY: block b, group g lies inside `w` (asserted above).
                unsafe { _mm512_loadu_si512(wp.add((g * TILE_BLOCKS + b) * GROUP * BLOCK).cast()) }
            });
            for (r, s) in s.iter_mut().enumerate() {
                // SAFETY: row r, group g lies inside `a`.
                let av = unsafe {
                    _mm512_set1_epi32(std::ptr::read_unaligned(
                        ap.add(r * dp + g * GROUP).cast::<i32>(),
                    ))
                };
                for b in 0..TILE_BLOCKS {
                    s[b] = _mm512_dpbusd_epi32(s[b], av, wv[b]);
                }
            }
        }
        for (r, s) in s.iter().enumerate() {
            for (b, &v) in s.iter().enumerate() {
                // SAFETY: 16 sums of this block; `acc` rows hold 64.
                unsafe {
                    let comp = _mm512_slli_epi32::<7>(_mm512_loadu_si512(
                        sums.as_ptr().add(b * BLOCK).cast(),
                    ));
                    _mm512_storeu_si512(
                        acc[r].as_mut_ptr().add(b * BLOCK).cast(),
                        _mm512_sub_epi32(v, comp),
                    );
                }
            }
        }
    }

    /// AVX2: `|a|` times `w` with `a`'s sign, in 16-bit pairs, then summed into int32.
    ///
    /// # Safety
    /// The CPU must have AVX2; `w` and `a` as for [`tile_vnni`].
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_avx2(
        w: &[i8],
        a: &[i8],
        mr: usize,
        groups: usize,
        acc: &mut [[i32; TILE]; ROWS],
    ) {
        let dp = groups * GROUP;
        assert!(w.len() >= groups * GROUP * TILE && a.len() >= mr * dp);
        let ones = _mm256_set1_epi16(1);
        let wp = w.as_ptr();
        for (r, acc) in acc.iter_mut().enumerate().take(mr) {
            // 64 columns: 8 registers of 8 int32 sums.
            let mut s = [_mm256_setzero_si256(); 8];
            let ap = a.as_ptr().wrapping_add(r * dp);
            for g in 0..groups {
                // SAFETY: row r, group g lies inside `a` (asserted above).
                let av = _mm256_set1_epi32(unsafe {
                    std::ptr::read_unaligned(ap.add(g * GROUP).cast::<i32>())
                });
                let abs = _mm256_sign_epi8(av, av);
                for (h, s) in s.iter_mut().enumerate() {
                    let (b, half) = (h / 2, h % 2);
                    // SAFETY: half `half` of block b, group g lies inside `w`.
                    let wv = unsafe {
                        _mm256_loadu_si256(
                            wp.add((g * TILE_BLOCKS + b) * GROUP * BLOCK + half * 32)
                                .cast(),
                        )
                    };
                    let pairs = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(wv, av));
                    *s = _mm256_add_epi32(*s, _mm256_madd_epi16(pairs, ones));
                }
            }
            for (h, &v) in s.iter().enumerate() {
                // SAFETY: 8 sums at 8h, inside the row's 64.
                unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(h * 8).cast(), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::tiles::{rows_alone_as_in_a_batch, test_values as values};
    use proptest::prelude::*;

    /// The reference: quantise as the kernels do, sum in i64 from the unpacked values, and
    /// dequantise with the same formula.
    fn reference(w: &[f32], cols: usize, d: usize, xs: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let rows = xs.len() / d;
        let mut qw = vec![0i8; cols * d];
        let sw: Vec<f32> = (0..cols)
            .map(|j| quantize(&w[j * d..(j + 1) * d], &mut qw[j * d..(j + 1) * d]))
            .collect();
        let mut out = Vec::new();
        let mut qa = vec![0i8; d];
        for r in 0..rows {
            let sa = quantize(&xs[r * d..(r + 1) * d], &mut qa);
            for j in 0..cols {
                let acc: i64 = (0..d).map(|k| qa[k] as i64 * qw[j * d + k] as i64).sum();
                let b = bias.map_or(0.0, |b| b[j]);
                out.push(acc as i32 as f32 * (sa * sw[j]) + b);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Every kernel this CPU has gives the reference's bits, for shapes that end inside a
        /// block, a tile and a depth group, with and without a bias.
        #[test]
        fn every_kernel_equals_the_scalar_reference(
            rows in 1usize..40,
            d in 1usize..70,
            cols in 1usize..150,
            seed in any::<u64>(),
            with_bias in any::<bool>(),
        ) {
            let w = values(cols * d, seed);
            let xs = values(rows * d, seed ^ 0x9e37);
            let bias = values(cols, seed ^ 0x51);
            let bias = with_bias.then_some(bias.as_slice());
            let want = reference(&w, cols, d, &xs, bias);
            let p = Int8Panels::from_host_rows(&w, cols, d).unwrap();
            for &kernel in Kernel::available() {
                let mut out = vec![3.0; 2];
                p.forward_with(kernel, &xs, bias, &mut out).unwrap();
                prop_assert_eq!(out.len(), want.len());
                for (i, (g, w)) in out.iter().zip(&want).enumerate() {
                    prop_assert!(g.to_bits() == w.to_bits(), "{:?} element {}: {} vs {}", kernel, i, g, w);
                }
            }
        }
    }

    /// A row projected alone gets the bits it gets in a batch, whichever kernel the row
    /// counts pick (AMX from 4 rows where it is there, a register kernel below).
    #[test]
    fn a_row_gets_the_same_bits_alone_as_in_a_batch() {
        let (d, cols) = (70, 130);
        let p = Int8Panels::from_host_rows(&values(cols * d, 1), cols, d).unwrap();
        rows_alone_as_in_a_batch(d, cols, |xs, out| p.forward_into(xs, None, out).unwrap());
    }

    /// The row quantiser's definition, one value at a time in order.
    fn quantize_reference(x: &[f32], q: &mut [i8]) -> f32 {
        let amax = x
            .iter()
            .fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
        if !amax.is_finite() || x.iter().any(|v| v.is_nan()) {
            q.fill(0);
            return f32::NAN;
        }
        if amax == 0.0 || !(QMAX / amax).is_finite() {
            q.fill(0);
            return 0.0;
        }
        let inv = QMAX / amax;
        for (q, &v) in q.iter_mut().zip(x) {
            // The definition, with Rust's saturating cast rather than `quantize_one`'s bits.
            *q = (v * inv).round_ties_even().clamp(-QMAX, QMAX) as i8;
        }
        amax / QMAX
    }

    /// A row too small for `127 / max` to be finite quantises to zeros with scale 0, as a
    /// row of zeros does, rather than to NaN products (0 · inf) and ±127.
    #[test]
    fn rows_too_small_to_scale_are_zeros() {
        for x in [
            vec![3e-38f32, -1e-38, 0.0, 2e-39],
            vec![f32::from_bits(7); 40],
        ] {
            let mut q = vec![5i8; x.len()];
            assert_eq!(quantize(&x, &mut q), 0.0);
            assert!(q.iter().all(|&v| v == 0), "{q:?}");
            q.fill(5);
            assert_eq!(quantize_portable(&x, &mut q), 0.0);
            assert!(q.iter().all(|&v| v == 0), "{q:?}");
        }
        let mut q = [0i8; 2];
        assert!(quantize(&[1e-36, -2.5e-37], &mut q) > 0.0, "still scaled");
        assert_eq!(q, [127, -32]);
    }

    /// `quantize_one` reads the rounded value from its bits; it equals the saturating cast
    /// for every product a row can give (|v · inv| <= 127 and a little over), ties included,
    /// and past the clamp.
    #[test]
    fn quantize_one_equals_the_cast() {
        let mut products: Vec<f32> = (-1300..=1300).map(|i| i as f32 * 0.1).collect();
        products.extend((-256..=256).map(|i| i as f32 * 0.5)); // every tie
        products.extend([127.49999, -127.49999, 127.5, -127.5, 1e6, -1e6, 0.0, -0.0]);
        products.extend([
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-30,
            0.5f32.next_up(),
        ]);
        for p in products {
            let cast = p.round_ties_even().clamp(-QMAX, QMAX) as i8;
            assert_eq!(quantize_one(p, 1.0), cast, "{p}");
        }
    }

    /// The quantiser (AVX-512 where the CPU has it) and the portable one (its lanes, per SIMD
    /// target) both give the definition's bits, with NaNs and infinities inside the lanes
    /// and in the remainder past them.
    #[test]
    fn the_row_quantisers_equal_the_definition() {
        let mut rows: Vec<Vec<f32>> = (1..70).map(|n| values(n, n as u64)).collect();
        rows.push(vec![0.0; 33]);
        // Rows whose 127 / max is infinite: zeros, on every path (AVX-512 once gave -128).
        rows.push((0..37).map(|i| (i as f32 - 18.0) * 1e-39).collect());
        rows.push(vec![f32::from_bits(1); 20]);
        rows.push((0..40).map(|i| i as f32 * 0.5 - 10.0).collect()); // ties at .5 steps
        for (at, bad) in [
            (35, f32::NAN),
            (5, f32::NAN),
            (3, f32::NEG_INFINITY),
            (35, f32::INFINITY),
        ] {
            let mut row = values(37, at as u64);
            row[at] = bad;
            rows.push(row);
        }
        for x in rows {
            let mut out = [vec![1i8; x.len()], vec![2i8; x.len()], vec![3i8; x.len()]];
            let [a, b, c] = &mut out;
            let scales = [
                quantize(&x, a),
                quantize_portable(&x, b),
                quantize_reference(&x, c),
            ];
            assert_eq!(scales[0].to_bits(), scales[2].to_bits(), "{x:?}");
            assert_eq!(scales[1].to_bits(), scales[2].to_bits(), "{x:?}");
            assert_eq!(out[0], out[2], "{x:?}");
            assert_eq!(out[1], out[2], "{x:?}");
        }
    }

    /// Close to the f32 product: the error of 8-bit weights and activations.
    #[test]
    fn int8_is_close_to_f32() {
        let (rows, d, cols) = (5, 512, 300);
        let w = values(cols * d, 1);
        let xs = values(rows * d, 2);
        let p = Int8Panels::from_host_rows(&w, cols, d).unwrap();
        let mut out = Vec::new();
        p.forward_into(&xs, None, &mut out).unwrap();
        for r in 0..rows {
            for j in 0..cols {
                let exact: f32 = (0..d).map(|k| xs[r * d + k] * w[j * d + k]).sum();
                let got = out[r * cols + j];
                // Each factor is off by at most half a step of max/127; over 512 products of
                // values up to 2 the error stays well under 2 % of the largest sum possible.
                assert!(
                    (got - exact).abs() < 0.02 * (d as f32) * 4.0 / 10.0,
                    "{got} vs {exact}"
                );
            }
        }
    }

    /// Zero rows give the bias; a NaN in a row gives NaN in that row only; columns come back
    /// dequantised.
    #[test]
    fn zeros_nans_and_columns() {
        let (d, cols) = (8, 20);
        let w = values(cols * d, 3);
        let p = Int8Panels::from_host_rows(&w, cols, d).unwrap();
        let bias: Vec<f32> = (0..cols).map(|j| j as f32).collect();
        let mut xs = vec![0f32; 2 * d];
        xs[d] = f32::NAN;
        for &kernel in Kernel::available() {
            let mut out = Vec::new();
            p.forward_with(kernel, &xs, Some(&bias), &mut out).unwrap();
            assert_eq!(&out[..cols], &bias[..]);
            assert!(out[cols..].iter().all(|v| v.is_nan()));
        }
        let mut col = Vec::new();
        p.column(7, &mut col).unwrap();
        for (k, &v) in col.iter().enumerate() {
            assert!((v - w[7 * d + k]).abs() <= 2.0 / 127.0 / 2.0 + 1e-6);
        }
        assert!(p.column(cols, &mut col).is_err());
        assert!(p.forward_into(&[0.0; 3], None, &mut Vec::new()).is_err());
    }
}
