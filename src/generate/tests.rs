//! Loop-level tests with a toy decoder whose logits are a pure function of each row's token
//! history, so row bookkeeping (expansion, reordering, dropping) is checked end to end.
use candle_core::{Device, Tensor};

use super::*;

/// Logits are a hash of the row's history, with EOS (id 0) growing likelier over time.
struct ToyDecoder {
    vocab: usize,
    rows: Vec<Vec<u32>>,
    steps: usize,
    max_rows_seen: usize,
}

impl ToyDecoder {
    fn new(vocab: usize, n: usize) -> Self {
        Self {
            vocab,
            rows: vec![Vec::new(); n],
            steps: 0,
            max_rows_seen: 0,
        }
    }

    fn logits_for(history: &[u32], vocab: usize) -> Vec<f32> {
        let mut h: u64 = 0xcbf29ce484222325;
        for &t in history {
            h = (h ^ t as u64).wrapping_mul(0x100000001b3);
        }
        (0..vocab)
            .map(|v| {
                let mut x = h ^ (v as u64).wrapping_mul(0x9E3779B97F4A7C15);
                x ^= x >> 33;
                x = x.wrapping_mul(0xff51afd7ed558ccd);
                x ^= x >> 33;
                let base = (x % 10_000) as f32 / 1000.0;
                if v == 0 {
                    // prompt 9 makes EOS likely at once, so that sentence finishes first
                    let early = if history.first() == Some(&9) {
                        8.0
                    } else {
                        0.0
                    };
                    base + history.len() as f32 * 0.8 - 4.0 + early
                } else {
                    base
                }
            })
            .collect()
    }
}

impl Decoder for ToyDecoder {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        assert_eq!(tokens.len(), self.rows.len());
        self.steps += 1;
        self.max_rows_seen = self.max_rows_seen.max(tokens.len());
        let mut out = Vec::with_capacity(tokens.len() * self.vocab);
        for (row, &t) in self.rows.iter_mut().zip(tokens) {
            row.push(t);
            out.extend(Self::logits_for(row, self.vocab));
        }
        Tensor::from_vec(out, (tokens.len(), self.vocab), &Device::Cpu)
    }

    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        assert!(!rows.is_empty());
        self.rows = rows.iter().map(|&r| self.rows[r].clone()).collect();
        Ok(())
    }
}

fn resolved(num_beams: usize, max_new: usize) -> ResolvedGeneration {
    ResolvedGeneration {
        prompt_len: 1,
        max_length: max_new + 1,
        min_length: 0,
        num_beams,
        length_penalty: 1.0,
        early_stopping: EarlyStopping::False,
        no_repeat_ngram_size: 0,
        bad_words_ids: vec![vec![1]],
        eos_token_ids: vec![0],
        forced_eos_token_ids: vec![0],
        renormalize_logits: false,
    }
}

fn prompts(n: usize) -> Vec<Vec<u32>> {
    (0..n).map(|i| vec![2 + i as u32]).collect()
}

#[test]
fn greedy_matches_direct_argmax() {
    let cfg = resolved(1, 12);
    let mut dec = ToyDecoder::new(17, 3);
    let got = generate(&mut dec, &prompts(3), &cfg).unwrap();
    let proc = logits::LogitsProcessor::new(&cfg);
    for (i, p) in prompts(3).iter().enumerate() {
        let mut hist = p.clone();
        let mut out = Vec::new();
        loop {
            let mut s = ToyDecoder::logits_for(&hist, 17);
            proc.apply(&hist, &mut s);
            let t = logits::argmax(&s).unwrap() as u32;
            hist.push(t);
            out.push(t);
            if t == 0 || hist.len() >= cfg.max_length {
                break;
            }
        }
        assert_eq!(got[i].tokens, out, "row {i}");
        assert!(!got[i].tokens.contains(&1), "bad word generated");
    }
}

#[test]
fn beam_batch_equals_singles() {
    for (nb, es, lp, ngram) in [
        (4, EarlyStopping::False, 1.0, 0),
        (3, EarlyStopping::True, 0.6, 2),
        (5, EarlyStopping::Never, 1.3, 0),
        (2, EarlyStopping::Never, -0.5, 3),
    ] {
        let mut cfg = resolved(nb, 10);
        cfg.early_stopping = es;
        cfg.length_penalty = lp;
        cfg.no_repeat_ngram_size = ngram;
        let n = 5;
        let mut dec = ToyDecoder::new(23, n);
        let batch = generate(&mut dec, &prompts(n), &cfg).unwrap();
        assert_eq!(dec.max_rows_seen, n * nb);
        for (i, p) in prompts(n).into_iter().enumerate() {
            let mut d1 = ToyDecoder::new(23, 1);
            let single = generate(&mut d1, &[p], &cfg).unwrap();
            assert_eq!(single[0], batch[i], "item {i}, beams {nb}");
            let h = &single[0];
            assert!(h.tokens.len() <= 10);
            assert!(h.score.is_finite() && h.mean_logprob.is_finite());
            assert!(h.mean_logprob <= 0.0);
        }
    }
}

#[test]
fn forced_eos_at_the_limit() {
    let mut cfg = resolved(3, 3);
    cfg.min_length = 4; // EOS banned until the limit; the forced EOS wins at the last step
    let mut dec = ToyDecoder::new(11, 2);
    let out = generate(&mut dec, &prompts(2), &cfg).unwrap();
    for h in out {
        assert_eq!(h.tokens.len(), 3);
        assert_eq!(h.tokens[2], 0);
    }
}

#[test]
fn empty_and_mismatched_prompts() {
    let cfg = resolved(2, 5);
    let mut dec = ToyDecoder::new(11, 0);
    assert!(generate(&mut dec, &[], &cfg).unwrap().is_empty());
    let mut dec = ToyDecoder::new(11, 2);
    assert!(generate(&mut dec, &[vec![1], vec![1, 2]], &cfg).is_err());
}

#[test]
fn last_sentence_finishing_first_leaves_the_batch() {
    for nb in [1, 3] {
        let cfg = resolved(nb, 12);
        let prompts = vec![vec![2], vec![3], vec![9]];
        let mut dec = ToyDecoder::new(19, 3);
        let batch = generate(&mut dec, &prompts, &cfg).unwrap();
        assert!(batch[2].tokens.len() < batch[0].tokens.len());
        for (i, p) in prompts.iter().enumerate() {
            let mut d1 = ToyDecoder::new(19, 1);
            let single = generate(&mut d1, std::slice::from_ref(p), &cfg).unwrap();
            assert_eq!(single[0], batch[i], "item {i}, beams {nb}");
        }
    }
}

/// [`ToyDecoder`] whose rows are `-inf` outside a per-sentence set of ids (as a vocabulary
/// shortlist makes them), which it reports as their support when `tell` is set.
struct Shortlisted {
    toy: ToyDecoder,
    /// Per current row: its sentence's allowed ids, sorted.
    allowed: Vec<std::sync::Arc<[u32]>>,
    tell: bool,
}

impl Shortlisted {
    /// Sentence `i` may produce EOS (0), the banned word (1) and the ids `v` with
    /// `(v * 7 + i) % every == 0`.
    fn new(vocab: usize, n: usize, every: usize, tell: bool) -> Self {
        let allowed = (0..n)
            .map(|i| {
                (0..vocab as u32)
                    .filter(|&v| v < 2 || (v as usize * 7 + i).is_multiple_of(every))
                    .collect::<Vec<u32>>()
                    .into()
            })
            .collect();
        Self {
            toy: ToyDecoder::new(vocab, n),
            allowed,
            tell,
        }
    }
}

impl Decoder for Shortlisted {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        let (mut rows, vocab) = host_rows(&self.toy.step(tokens)?)?;
        for (row, ids) in rows.chunks_mut(vocab).zip(&self.allowed) {
            for (v, x) in row.iter_mut().enumerate() {
                if ids.binary_search(&(v as u32)).is_err() {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        Tensor::from_vec(rows, (tokens.len(), vocab), &Device::Cpu)
    }

    fn support(&self) -> Option<Vec<std::sync::Arc<[u32]>>> {
        self.tell.then(|| self.allowed.clone())
    }

    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        self.allowed = rows.iter().map(|&r| self.allowed[r].clone()).collect();
        self.toy.select_rows(rows)
    }
}

/// Told the rows' supports, both searches give what the full rows give: the same tokens,
/// scores within rounding (the log-sum-exp groups its terms otherwise), and the same bits
/// when the support is the whole vocabulary. Supports of two or three ids leave beam
/// search fewer finite continuations than it keeps, which it then takes from the whole
/// rows; bans, n-gram blocking and the forced EOS at the limit run as usual.
#[test]
fn a_support_changes_nothing_but_the_work() {
    for (nb, every, ngram, min_length) in [
        (1, 3, 0, 0),
        (1, 1, 0, 0),
        (1, 40, 2, 4),
        (4, 3, 0, 0),
        (4, 1, 2, 0),
        (3, 2, 2, 3),
        (3, 40, 0, 0),
        (3, 40, 0, 4),
        (5, 11, 3, 11),
    ] {
        let mut cfg = resolved(nb, 10);
        cfg.no_repeat_ngram_size = ngram;
        cfg.min_length = min_length;
        let (vocab, n) = (29, 5);
        let full = generate(
            &mut Shortlisted::new(vocab, n, every, false),
            &prompts(n),
            &cfg,
        );
        let told = generate(
            &mut Shortlisted::new(vocab, n, every, true),
            &prompts(n),
            &cfg,
        );
        let (full, told) = (full.unwrap(), told.unwrap());
        let case = format!("beams {nb}, one id in {every}, ngram {ngram}, min {min_length}");
        for (f, t) in full.iter().zip(&told) {
            assert_eq!(f.tokens, t.tokens, "{case}");
            assert!(!t.tokens.contains(&1), "{case}: a banned word");
            if every == 1 {
                assert_eq!(f, t, "{case}");
            } else {
                // Equal, or within rounding (both -inf where every allowed id was banned).
                let close = |a: f32, b: f32| a == b || (a - b).abs() <= 1e-5;
                assert!(close(f.score, t.score), "{case}: {f:?} {t:?}");
                assert!(close(f.mean_logprob, t.mean_logprob), "{case}: {f:?} {t:?}");
            }
        }
    }
}

/// A support of the wrong length, unsorted or past the vocabulary is refused.
#[test]
fn a_malformed_support_is_refused() {
    struct Bad(ToyDecoder, Vec<u32>);
    impl Decoder for Bad {
        fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
            self.0.step(tokens)
        }
        fn support(&self) -> Option<Vec<std::sync::Arc<[u32]>>> {
            Some(vec![self.1.clone().into(); self.0.rows.len()])
        }
        fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
            self.0.select_rows(rows)
        }
    }
    for ids in [vec![3, 2], vec![0, 2, 2], vec![0, 40]] {
        for nb in [1, 2] {
            let mut dec = Bad(ToyDecoder::new(11, 2), ids.clone());
            let err = generate(&mut dec, &prompts(2), &resolved(nb, 4)).unwrap_err();
            assert!(err.to_string().contains("supports"), "{ids:?}: {err}");
        }
    }
}
