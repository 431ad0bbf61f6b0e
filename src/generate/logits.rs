//! The logits processors of HF `generate` that greedy and beam search use, applied on the host
//! to one row of next-token scores at a time, in HF's order.
//!
//! HF builds its `LogitsProcessorList` in `GenerationMixin._get_logits_processor`; for the
//! settings we support the order is: `NoRepeatNGram`, `NoBadWords`, `MinLength` /
//! `MinNewTokensLength` (folded into one `min_length` by [`super::config`]),
//! `ForcedEOSToken`, then `LogitNormalization` when `renormalize_logits` is set. Greedy search
//! runs them on the raw logits; beam search runs them on `log_softmax(logits)`.
//! Each processor only ever writes `-inf` (or, for the forced EOS, `0`), so the order matters
//! only for the final renormalisation, but it is kept anyway.
use super::config::ResolvedGeneration;

/// Applies the configured processors to the scores of one row.
#[derive(Debug, Clone)]
pub struct LogitsProcessor {
    no_repeat_ngram_size: usize,
    /// Single-token bad words, banned at every step.
    banned_always: Vec<u32>,
    /// Multi-token bad words: the last token is banned after its prefix.
    banned_after_prefix: Vec<Vec<u32>>,
    min_length: usize,
    max_length: usize,
    eos_token_ids: Vec<u32>,
    forced_eos_token_ids: Vec<u32>,
    renormalize: bool,
}

impl LogitsProcessor {
    pub fn new(cfg: &ResolvedGeneration) -> Self {
        let mut banned_always = Vec::new();
        let mut banned_after_prefix = Vec::new();
        for seq in &cfg.bad_words_ids {
            if seq.len() == 1 {
                banned_always.push(seq[0]);
            } else if !seq.is_empty() {
                banned_after_prefix.push(seq.clone());
            }
        }
        Self {
            no_repeat_ngram_size: cfg.no_repeat_ngram_size,
            banned_always,
            banned_after_prefix,
            min_length: cfg.min_length,
            max_length: cfg.max_length,
            eos_token_ids: cfg.eos_token_ids.clone(),
            forced_eos_token_ids: cfg.forced_eos_token_ids.clone(),
            renormalize: cfg.renormalize_logits,
        }
    }

    /// Whether [`Self::apply`] at this length may change scores other than by banning
    /// (`-inf`): the forced-EOS step and the final renormalisation. When it cannot, every
    /// token that stays finite keeps its original score.
    pub fn alters_values(&self, cur_len: usize) -> bool {
        self.renormalize
            || (!self.forced_eos_token_ids.is_empty() && cur_len + 1 == self.max_length)
    }

    /// Processes `scores` (one row, `vocab` long) for a row whose tokens so far, decoder prompt
    /// included, are `tokens` (HF's `input_ids` row; its length is HF's `cur_len`).
    pub fn apply(&self, tokens: &[u32], scores: &mut [f32]) {
        self.apply_at_level(tokens, scores, 0.0);
        if self.renormalize {
            log_softmax_in_place(scores);
        }
    }

    /// Whether the final `LogitNormalization` is on.
    pub fn renormalizes(&self) -> bool {
        self.renormalize
    }

    /// The processors without the final renormalisation, for scores that are log-probs
    /// shifted by `zero_level` (raw logits with `zero_level = logsumexp`): a forced token gets
    /// `zero_level`, i.e. log-prob 0. Lets beam search skip materialising `log_softmax`.
    pub fn apply_at_level(&self, tokens: &[u32], scores: &mut [f32], zero_level: f32) {
        let cur_len = tokens.len();
        let vocab = scores.len();
        let ban = |t: u32, scores: &mut [f32]| {
            if (t as usize) < vocab {
                scores[t as usize] = f32::NEG_INFINITY;
            }
        };
        // NoRepeatNGramLogitsProcessor: any earlier window whose first n-1 tokens equal the
        // last n-1 tokens bans its own last token.
        let n = self.no_repeat_ngram_size;
        if n > 0 && cur_len >= n {
            let prefix = &tokens[cur_len + 1 - n..];
            for start in 0..=(cur_len - n) {
                if &tokens[start..start + n - 1] == prefix {
                    ban(tokens[start + n - 1], scores);
                }
            }
        }
        // NoBadWordsLogitsProcessor.
        for &t in &self.banned_always {
            ban(t, scores);
        }
        for seq in &self.banned_after_prefix {
            let prefix = &seq[..seq.len() - 1];
            if prefix.len() <= cur_len && tokens[cur_len - prefix.len()..] == *prefix {
                ban(seq[seq.len() - 1], scores);
            }
        }
        // MinLengthLogitsProcessor / MinNewTokensLengthLogitsProcessor.
        if cur_len < self.min_length {
            for &t in &self.eos_token_ids {
                ban(t, scores);
            }
        }
        // ForcedEOSTokenLogitsProcessor.
        if !self.forced_eos_token_ids.is_empty() && cur_len + 1 == self.max_length {
            scores.fill(f32::NEG_INFINITY);
            for &t in &self.forced_eos_token_ids {
                if (t as usize) < vocab {
                    scores[t as usize] = zero_level;
                }
            }
        }
    }
}

/// `exp` for `x <= 0` (arguments after subtracting the row max), accurate to a few ulp and
/// written branch-free, with integer work done on the bits, so the loops below (and the
/// embedding encoder's softmax and GELU, `summarize/bert.rs`) vectorise. `-inf` gives 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    // exp(x) = 2^k * exp(r), k = round(x / ln2), r = x - k ln2 in [-ln2/2, ln2/2].
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let small = x < -87.0;
    let x = x.max(-87.0);
    // Round to nearest with the 1.5 * 2^23 trick: plain float ops, so the loop vectorises
    // (`f32::round` is a libm call on baseline x86-64). `shifted` lies in [2^23, 2^24), where
    // floats are the integers, so its bits minus SHIFTER's bits are k itself.
    const SHIFTER: f32 = 12_582_912.0;
    let shifted = x * LOG2E + SHIFTER;
    let k = shifted - SHIFTER;
    let k_int = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Minimax-quality Taylor polynomial up to r^7 on the reduced range.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let v = p * f32::from_bits((k_int.wrapping_add(127) as u32) << 23);
    if small {
        0.0
    } else {
        v
    }
}

/// Lanes of the row loops: 16 independent accumulators, one AVX-512 register. The lanes and
/// the order of every sum are fixed, so each CPU (AVX-512, AVX2, SSE2, NEON) gets the same
/// bits; only the speed differs.
pub(crate) const LANES: usize = 16;

/// The largest value of `row`, NaNs ignored; `-inf` for an empty row or one of NaNs.
/// Runtime-dispatched to the widest SIMD the CPU has: these row passes run over every
/// vocabulary entry of every hypothesis at every step (7 M values a step at beam 4, batch 32),
/// and baseline x86-64 code does them four lanes at a time.
#[multiversion::multiversion(targets = "simd")]
fn row_max(row: &[f32]) -> f32 {
    row_max_lanes(row)
}

#[inline(always)]
pub(crate) fn row_max_lanes(row: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            m[i] = if c[i] > m[i] { c[i] } else { m[i] };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&m)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `sum(exp(row - max))` for the row's `max`, with a wider accumulator at the end.
#[multiversion::multiversion(targets = "simd")]
fn sum_exp(row: &[f32], max: f32) -> f64 {
    sum_exp_lanes(row, max)
}

#[inline(always)]
fn sum_exp_lanes(row: &[f32], max: f32) -> f64 {
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += exp_nonpositive(c[i] - max);
        }
    }
    let mut sum: f64 = acc.iter().map(|&a| a as f64).sum();
    for &x in chunks.remainder() {
        sum += exp_nonpositive(x - max) as f64;
    }
    sum
}

/// `log(sum(exp(row)))`, computed as torch does (max first) with a wider accumulator.
/// Returns `-inf` for a row of `-inf`.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row_max(row);
    if !max.is_finite() {
        return max;
    }
    max + (sum_exp(row, max).ln() as f32)
}

/// [`log_sum_exp`] of a row that is `-inf` outside `ids` (its support: sorted ids), from
/// those values alone, gathered in id order. With every id of the row as its support this
/// is [`log_sum_exp`] to the bit; with fewer, the same sum in another grouping of its terms
/// (the `-inf` ones add nothing), so it can differ in the last bits.
pub fn log_sum_exp_over(row: &[f32], ids: &[u32]) -> f32 {
    let values: Vec<f32> = ids.iter().map(|&i| row[i as usize]).collect();
    log_sum_exp(&values)
}

/// [`argmax`] of a row that is `-inf` outside `ids` (sorted): the first maximum among those
/// ids, which is the row's whenever it is finite. `None` when it is not (every id banned,
/// or a NaN first), for the caller to take the whole row's.
pub fn argmax_over(row: &[f32], ids: &[u32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for &i in ids {
        let v = row[i as usize];
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i as usize, v));
        }
    }
    best.filter(|&(_, v)| v.is_finite()).map(|(i, _)| i)
}

/// `row = row - logsumexp(row)`, HF's `log_softmax` on one row.
pub fn log_softmax_in_place(row: &mut [f32]) {
    let max = row_max(row);
    if !max.is_finite() {
        return;
    }
    let log_sum = sum_exp(row, max).ln() as f32;
    for x in row.iter_mut() {
        *x = (*x - max) - log_sum;
    }
}

/// Index of the first maximum (torch `argmax` semantics). `None` for an empty row.
pub fn argmax(row: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in row.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => v > b,
        };
        if better {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::config::{EarlyStopping, ResolvedGeneration};
    use super::*;

    fn cfg() -> ResolvedGeneration {
        ResolvedGeneration {
            prompt_len: 1,
            max_length: 10,
            min_length: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            no_repeat_ngram_size: 0,
            bad_words_ids: vec![],
            eos_token_ids: vec![0],
            forced_eos_token_ids: vec![],
            renormalize_logits: false,
        }
    }

    proptest::proptest! {
        /// The dispatched (AVX-512 / AVX2 / NEON) row passes give the bits of the baseline
        /// build of the same code, and the max is the plain NaN-ignoring fold.
        #[test]
        fn row_passes_are_the_same_on_every_cpu(
            row in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => -30f32..30.0,
                    1 => proptest::strategy::Just(f32::NEG_INFINITY),
                    1 => proptest::strategy::Just(f32::NAN),
                ],
                0..200,
            ),
        ) {
            let max = row_max(&row);
            let fold = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            proptest::prop_assert_eq!(max.to_bits(), fold.to_bits());
            proptest::prop_assert_eq!(max.to_bits(), row_max_lanes(&row).to_bits());
            if max.is_finite() {
                let sum = sum_exp(&row, max);
                proptest::prop_assert_eq!(sum.to_bits(), sum_exp_lanes(&row, max).to_bits());
            }
        }
    }

    #[test]
    fn exp_is_accurate() {
        for i in 0..2000 {
            let x = -(i as f32) * 0.05;
            let want = (x as f64).exp();
            let got = exp_nonpositive(x) as f64;
            assert!(
                (got - want).abs() <= want * 4e-7 + 1e-37,
                "{x}: {got} vs {want}"
            );
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn log_softmax_matches_reference() {
        let mut row: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 101) as f32 * 0.37 - 12.0)
            .collect();
        let want: Vec<f64> = {
            let m = row.iter().copied().fold(f32::MIN, f32::max) as f64;
            let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
            row.iter().map(|&x| x as f64 - m - s.ln()).collect()
        };
        row[3] = f32::NEG_INFINITY;
        log_softmax_in_place(&mut row);
        for (i, (&g, &w)) in row.iter().zip(&want).enumerate() {
            if i == 3 {
                assert_eq!(g, f32::NEG_INFINITY);
            } else {
                assert!((g as f64 - w).abs() < 2e-5, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn no_repeat_ngram_bans_like_hf() {
        let mut c = cfg();
        c.no_repeat_ngram_size = 2;
        let p = LogitsProcessor::new(&c);
        // tokens: 9 5 6 5 -> bigram (5,6) seen, so after a final 5, 6 is banned.
        let mut s = vec![0.0; 10];
        p.apply(&[9, 5, 6, 5], &mut s);
        assert_eq!(s[6], f32::NEG_INFINITY);
        assert_eq!(s.iter().filter(|v| v.is_infinite()).count(), 1);
        // a prefix never bans its own successor
        let mut s = vec![0.0; 10];
        p.apply(&[9, 5], &mut s);
        assert!(s.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_words_min_length_forced_eos() {
        let mut c = cfg();
        c.bad_words_ids = vec![vec![7], vec![3, 4]];
        c.min_length = 3;
        c.forced_eos_token_ids = vec![0];
        let p = LogitsProcessor::new(&c);
        let mut s = vec![1.0; 10];
        p.apply(&[9, 3], &mut s);
        assert_eq!(s[7], f32::NEG_INFINITY);
        assert_eq!(s[4], f32::NEG_INFINITY);
        assert_eq!(s[0], f32::NEG_INFINITY);
        let mut s = vec![1.0; 10];
        p.apply(&[9, 1, 2, 3, 4, 5, 6, 7, 8], &mut s);
        assert_eq!(s[0], 0.0);
        assert!(s[1..].iter().all(|v| *v == f32::NEG_INFINITY));
    }

    /// Over a support (the ids outside which a row is -inf): the whole row's argmax when it
    /// is finite, else none; the log-sum-exp to the bit when the support is every id, and
    /// within rounding otherwise.
    #[test]
    fn passes_over_a_support() {
        let ninf = f32::NEG_INFINITY;
        let row = [ninf, 2.0, ninf, 5.0, 5.0, ninf, -1.0];
        let ids = [1, 3, 4, 6];
        assert_eq!(argmax_over(&row, &ids), Some(3));
        assert_eq!(argmax_over(&row, &ids), argmax(&row));
        assert_eq!(argmax_over(&[ninf, ninf, 1.0], &[0, 1]), None);
        assert_eq!(argmax_over(&[f32::NAN, 3.0], &[0, 1]), None);
        assert_eq!(argmax_over(&row, &[]), None);
        let lse = log_sum_exp_over(&row, &ids);
        assert!((lse - log_sum_exp(&row)).abs() <= 1e-6, "{lse}");
        let dense: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        let every: Vec<u32> = (0..100).collect();
        assert_eq!(
            log_sum_exp_over(&dense, &every).to_bits(),
            log_sum_exp(&dense).to_bits()
        );
        assert_eq!(log_sum_exp_over(&row, &[0, 2]), ninf);
    }

    #[test]
    fn argmax_takes_first_max() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Some(1));
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), Some(0));
        assert_eq!(argmax(&[]), None);
    }
}
