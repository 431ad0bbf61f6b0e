//! One decoding step's attention on host rows: each row's one query against its keys and
//! values, for the decoder's self-attention (its KV cache) and cross-attention (the encoder
//! states a sentence's beams share).
//!
//! It exists because candle runs a step's attention as `rows × heads` tiny products
//! (`1 × head_dim` by `head_dim × len`) through its general matmul, with a softmax and
//! transposed copies of queries and outputs between. Here each (row, head) is a dot product
//! per position, a softmax as HF computes it (`exp(s - max) / Σ`), and a weighted sum of
//! value rows, read straight from the projection's output and the cache, written where the
//! output projection reads it. The work itself is the same and bound by reading the keys
//! and values; what goes is the copies and the per-product overhead (an int8 greedy run at
//! batch 32 of opus-mt's shape: 4 % less time, BENCHMARKS.md).
//!
//! The keys and values are f32, or f16 under `--dtype int8` ([`KvElem`]): stored in half the
//! memory (they are most of a beam search's peak), widened exactly as they are read, once
//! per head for all the rows (beams) that share them.
use half::{f16, slice::HalfFloatSliceExt};
use rayon::prelude::*;

use crate::generate::logits::LANES;

/// What a KV cache holds: f32, or f16 (`--dtype int8`, [`crate::device::Precision::kv_dtype`]).
pub(crate) trait KvElem: candle_core::WithDType {
    /// `src` as f32: `src` itself, or widened into `scratch` (exactly: every f16 is an f32).
    fn as_f32<'a>(src: &'a [Self], scratch: &'a mut Vec<f32>) -> &'a [f32];

    /// Appends `src` as stored: for f16, rounded to nearest even and held to ±65,504, f16's
    /// largest finite magnitude (a key past it would be infinite, and its scores NaN).
    fn extend_narrowed(dst: &mut Vec<Self>, src: &[f32]);
}

impl KvElem for f32 {
    fn as_f32<'a>(src: &'a [Self], _: &'a mut Vec<f32>) -> &'a [f32] {
        src
    }

    fn extend_narrowed(dst: &mut Vec<Self>, src: &[f32]) {
        dst.extend_from_slice(src);
    }
}

/// Widened with F16C's `vcvtph2ps` where the CPU has it (eight values an instruction, in a
/// loop of our own: `half`'s slice conversion calls a function per eight), else `half`'s;
/// narrowed through `half`'s slice conversion (F16C too where present).
impl KvElem for f16 {
    fn as_f32<'a>(src: &'a [Self], scratch: &'a mut Vec<f32>) -> &'a [f32] {
        scratch.resize(src.len(), 0.0);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has F16C and AVX; `scratch` is as long as `src`.
            unsafe { widen_f16c(src, scratch) };
            return scratch;
        }
        src.convert_to_f32_slice(scratch);
        scratch
    }

    fn extend_narrowed(dst: &mut Vec<Self>, src: &[f32]) {
        let start = dst.len();
        dst.resize(start + src.len(), f16::ZERO);
        let out = &mut dst[start..];
        out.convert_from_f32_slice(src);
        // Rounding is to nearest even, so only what lies past the largest finite value (or
        // was infinite) came out infinite: that is where holding to the range applies.
        for h in out.iter_mut().filter(|h| h.is_infinite()) {
            *h = if h.is_sign_negative() {
                f16::MIN
            } else {
                f16::MAX
            };
        }
    }
}

/// `src` widened into `dst` (as long), eight values at a time.
///
/// # Safety
/// The CPU must have F16C and AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16c(src: &[f16], dst: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    assert_eq!(src.len(), dst.len());
    let mut from = src.chunks_exact(8);
    let mut to = dst.chunks_exact_mut(8);
    for (h, f) in (&mut from).zip(&mut to) {
        // SAFETY: 8 f16 (16 bytes) read from `h`, 8 f32 written to `f`, both 8 long.
        unsafe {
            let wide = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().cast::<__m128i>()));
            _mm256_storeu_ps(f.as_mut_ptr(), wide);
        }
    }
    for (h, f) in from.remainder().iter().zip(to.into_remainder()) {
        *f = h.to_f32();
    }
}

/// The keys and values a step attends to: `[groups, heads, cap, head_dim]` each, of which
/// the first `len` positions are filled, with an additive mask per group (`[groups, len]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepKeys<'a, E> {
    pub k: &'a [E],
    pub v: &'a [E],
    pub groups: usize,
    pub cap: usize,
    pub len: usize,
    pub mask: Option<&'a [f32]>,
}

/// The query rows of a step: row `r`'s query is `heads · head_dim` values at `r · stride`
/// of `data` (a column range of the projection's output), already scaled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepQueries<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub stride: usize,
}

/// `softmax(q kᵀ + mask) v` for each row and head, row `r` attending to group `r / per`,
/// as `[rows, heads · head_dim]` (the heads side by side, as the output projection reads
/// them).
pub(crate) fn attend_step<E: KvElem>(
    q: StepQueries,
    keys: StepKeys<E>,
    heads: usize,
    head_dim: usize,
    per: usize,
) -> candle_core::Result<Vec<f32>> {
    let d = heads * head_dim;
    let StepKeys {
        groups, cap, len, ..
    } = keys;
    let kv_len = groups * heads * cap * head_dim;
    if per == 0
        || q.rows != groups * per
        || len == 0
        || len > cap
        || q.stride < d
        || q.data.len() < q.rows.saturating_sub(1) * q.stride + d
        || keys.k.len() < kv_len
        || keys.v.len() < kv_len
        || keys.mask.is_some_and(|m| m.len() < groups * len)
    {
        candle_core::bail!(
            "attend_step: {} rows (stride {}), {groups} groups of {per}, {heads} heads of \
             {head_dim}, {len} of {cap} positions",
            q.rows,
            q.stride,
        );
    }
    let mut out = vec![0f32; q.rows * d];
    let parallel =
        q.rows > 1 && q.rows * heads * len * head_dim >= crate::generate::PARALLEL_MIN / 4;
    // Rows a task takes: a whole group where there are groups enough to keep the threads
    // busy, so each head's keys and values are read (and widened from f16) once for all its
    // rows; else one row (the beams of one sentence), each reading them itself.
    let span = if !parallel || groups >= rayon::current_num_threads() {
        per
    } else {
        1
    };
    let rows = |(task, out): (usize, &mut [f32])| {
        let g = task * span / per;
        let mask = keys.mask.map(|m| &m[g * len..(g + 1) * len]);
        let mut scores = vec![0f32; len];
        let (mut k_wide, mut v_wide) = (Vec::new(), Vec::new());
        for h in 0..heads {
            let at = (g * heads + h) * cap * head_dim;
            let k = E::as_f32(&keys.k[at..at + len * head_dim], &mut k_wide);
            let v = E::as_f32(&keys.v[at..at + len * head_dim], &mut v_wide);
            for (i, out) in out.chunks_mut(d).enumerate() {
                let r = task * span + i;
                one_head(
                    &q.data[r * q.stride + h * head_dim..][..head_dim],
                    k,
                    v,
                    mask,
                    &mut scores,
                    &mut out[h * head_dim..(h + 1) * head_dim],
                );
            }
        }
    };
    if parallel {
        out.par_chunks_mut(span * d).enumerate().for_each(rows);
    } else {
        out.chunks_mut(span * d).enumerate().for_each(rows);
    }
    Ok(out)
}

/// One query against `len` keys and values (`k`, `v`: `len × head_dim`): the scores, their
/// softmax, the weighted sum of the values into `out`. Dispatched to the widest SIMD once
/// per head, the dot products and sums inlined into it (per position they are too short
/// to pay for a dispatch each).
#[multiversion::multiversion(targets = "simd")]
fn one_head(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: Option<&[f32]>,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let dh = q.len();
    for (s, score) in scores.iter_mut().enumerate() {
        *score = dot(q, &k[s * dh..(s + 1) * dh]) + mask.map_or(0.0, |m| m[s]);
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    out.fill(0.0);
    for (s, &e) in scores.iter().enumerate() {
        axpy(e / sum, &v[s * dh..(s + 1) * dh], out);
    }
}

/// `Σ a·b` in [`LANES`] fixed lanes, so the order of the sum (and the result) is the same
/// on every CPU.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// `out += p · v`.
#[inline(always)]
fn axpy(p: f32, v: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o += p * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::tiles::test_values;
    use proptest::prelude::*;

    /// The definition in f64, one (row, head) at a time.
    fn reference<E: KvElem>(
        q: &StepQueries,
        keys: &StepKeys<E>,
        heads: usize,
        dh: usize,
        per: usize,
    ) -> Vec<f64> {
        let d = heads * dh;
        let mut out = vec![0f64; q.rows * d];
        for r in 0..q.rows {
            let g = r / per;
            for h in 0..heads {
                let at = (g * heads + h) * keys.cap * dh;
                let scores: Vec<f64> = (0..keys.len)
                    .map(|s| {
                        let dot: f64 = (0..dh)
                            .map(|i| {
                                q.data[r * q.stride + h * dh + i] as f64
                                    * keys.k[at + s * dh + i].to_f64()
                            })
                            .sum();
                        dot + keys.mask.map_or(0.0, |m| m[g * keys.len + s] as f64)
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for i in 0..dh {
                    out[r * d + h * dh + i] = (0..keys.len)
                        .map(|s| e[s] / sum * keys.v[at + s * dh + i].to_f64())
                        .sum();
                }
            }
        }
        out
    }

    /// Every f16 widens to what `half` makes of it, one value at a time.
    #[test]
    fn f16_widens_exactly() {
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut scratch = Vec::new();
        // All of them (eight at a time), then lengths that leave a remainder past the eights.
        for part in [&all[..], &all[..65_533], &all[0x3c00..0x3c0d], &all[..3]] {
            let wide = f16::as_f32(part, &mut scratch);
            assert_eq!(wide.len(), part.len());
            for (h, &got) in part.iter().zip(wide) {
                let want = h.to_f32();
                if want.is_nan() {
                    assert!(got.is_nan() && got.is_sign_negative() == want.is_sign_negative());
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{h:?}");
                }
            }
        }
    }

    /// Narrowing rounds as `half` does value by value, and holds values past f16's range
    /// to its largest finite magnitude instead of infinity.
    #[test]
    fn f16_narrows_to_nearest_and_saturates() {
        let near = [
            0.0f32, -0.0, 1.0, 0.1, -2.71, 1e-7, 3e-5, 65504.0, 65519.0, -6e4,
        ];
        let far = [65520.0f32, 1e9, f32::INFINITY];
        let src: Vec<f32> = near
            .iter()
            .chain(&far)
            .copied()
            .chain(far.iter().map(|x| -x))
            .chain([f32::NAN])
            .collect();
        let mut got = vec![f16::ONE];
        f16::extend_narrowed(&mut got, &src);
        assert_eq!(got[0], f16::ONE, "appends after what is there");
        for (&x, &h) in near.iter().zip(&got[1..]) {
            assert_eq!(h, f16::from_f32(x), "{x}");
        }
        let rest = &got[1 + near.len()..];
        assert!(rest[..far.len()].iter().all(|&h| h == f16::MAX));
        assert!(rest[far.len()..2 * far.len()]
            .iter()
            .all(|&h| h == f16::MIN));
        assert!(rest[2 * far.len()].is_nan());
    }

    proptest! {
        /// Any shape (strided queries, spare capacity, shared groups, masked positions)
        /// agrees with the definition, with f32 keys and values and with f16 ones.
        #[test]
        fn matches_the_definition(
            groups in 1usize..4,
            per in 1usize..4,
            heads in 1usize..4,
            dh in 1usize..40,
            len in 1usize..12,
            spare in 0usize..3,
            pad in 0usize..5,
            masked in proptest::bool::ANY,
            seed in 0u64..1000,
        ) {
            let (rows, d, cap) = (groups * per, heads * dh, len + spare);
            let stride = d + pad;
            let data = test_values(rows * stride, seed);
            let k = test_values(groups * heads * cap * dh, seed ^ 1);
            let v = test_values(groups * heads * cap * dh, seed ^ 2);
            let coin = test_values(groups * len, seed ^ 3);
            // Every group keeps position 0; the rest are masked as a padded source is.
            let mask: Vec<f32> = (0..groups * len)
                .map(|i| if i % len > 0 && coin[i] > 1.0 { f32::NEG_INFINITY } else { 0.0 })
                .collect();
            let q = StepQueries { data: &data, rows, stride };
            let keys = StepKeys {
                k: &k, v: &v, groups, cap, len, mask: masked.then_some(&mask[..]),
            };
            let got = attend_step(q, keys, heads, dh, per).unwrap();
            let want = reference(&q, &keys, heads, dh, per);
            prop_assert_eq!(got.len(), want.len());
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                prop_assert!((g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0), "{i}: {g} vs {w}");
            }
            let (mut k16, mut v16) = (Vec::new(), Vec::new());
            f16::extend_narrowed(&mut k16, &k);
            f16::extend_narrowed(&mut v16, &v);
            let keys16 = StepKeys {
                k: &k16[..],
                v: &v16[..],
                groups: keys.groups,
                cap: keys.cap,
                len: keys.len,
                mask: keys.mask,
            };
            let got = attend_step(q, keys16, heads, dh, per).unwrap();
            let want = reference(&q, &keys16, heads, dh, per);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                prop_assert!((g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0), "{i}: {g} vs {w}");
            }
        }
    }

    /// Shapes large enough to run in parallel, f32 and f16: they agree with the definition,
    /// and each group's rows get the same bits whether the group is one of several (its rows
    /// one task, its keys widened once) or alone (its rows tasks of their own on more than
    /// one thread).
    #[test]
    fn parallel_shapes_match_the_definition_and_each_other() {
        let (groups, per, heads, dh, len) = (3, 4, 8, 64, 24);
        let (rows, d) = (groups * per, heads * dh);
        let data = test_values(rows * d, 7);
        let (k, v) = (
            test_values(groups * heads * len * dh, 8),
            test_values(groups * heads * len * dh, 9),
        );
        let (mut k16, mut v16) = (Vec::new(), Vec::new());
        f16::extend_narrowed(&mut k16, &k);
        f16::extend_narrowed(&mut v16, &v);
        fn check<E: KvElem>(data: &[f32], k: &[E], v: &[E], shape: [usize; 5]) {
            let [groups, per, heads, dh, len] = shape;
            let d = heads * dh;
            let q = StepQueries {
                data,
                rows: groups * per,
                stride: d,
            };
            let keys = StepKeys {
                k,
                v,
                groups,
                cap: len,
                len,
                mask: None,
            };
            let all = attend_step(q, keys, heads, dh, per).unwrap();
            let want = reference(&q, &keys, heads, dh, per);
            for (i, (&g, &w)) in all.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{i}: {g} vs {w}"
                );
            }
            let block = heads * len * dh;
            for g in 0..groups {
                let q = StepQueries {
                    data: &data[g * per * d..(g + 1) * per * d],
                    rows: per,
                    stride: d,
                };
                let keys = StepKeys {
                    k: &k[g * block..(g + 1) * block],
                    v: &v[g * block..(g + 1) * block],
                    groups: 1,
                    ..keys
                };
                let alone = attend_step(q, keys, heads, dh, per).unwrap();
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&alone),
                    bits(&all[g * per * d..(g + 1) * per * d]),
                    "group {g}"
                );
            }
        }
        check(&data, &k, &v, [groups, per, heads, dh, len]);
        check(&data, &k16, &v16, [groups, per, heads, dh, len]);
    }

    #[test]
    fn refuses_shapes_that_do_not_fit() {
        let data = vec![0f32; 8];
        let kv = vec![0f32; 8];
        let q = StepQueries {
            data: &data,
            rows: 2,
            stride: 4,
        };
        let keys = StepKeys {
            k: &kv,
            v: &kv,
            groups: 1,
            cap: 2,
            len: 2,
            mask: None,
        };
        // 2 rows of one group attend fine with per = 2 ...
        assert!(attend_step(q, keys, 1, 4, 2).is_ok());
        // ... but not with one row per group (2 groups needed), nor past the capacity.
        assert!(attend_step(q, keys, 1, 4, 1).is_err());
        assert!(attend_step(q, StepKeys { len: 3, ..keys }, 1, 4, 2).is_err());
    }
}
