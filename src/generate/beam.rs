//! Beam search with the semantics of transformers 5.x `GenerationMixin._beam_search`.
//!
//! HF runs the whole batch in lock-step and masks finished sentences with `-1e9` scores; every
//! decision it makes is per sentence, and a sentence whose search is over can no longer change
//! its finished hypotheses. So here each sentence ([`Item`]) runs the same arithmetic on its
//! own, and leaves the decoder batch (via [`Decoder::select_rows`]) as soon as it is done:
//! same ids and scores, less work.
//!
//! Per step and sentence, exactly as HF (all scores f32):
//! 1. `log_probs = processors(log_softmax(logits))`, plus each beam's running score;
//! 2. the top `K = max(2, 1 + #eos) * num_beams` continuations over all beams;
//! 3. a continuation "hits" when it ends in EOS or reaches `max_length`; the best `num_beams`
//!    non-hitting ones (hitting ones get `-1e9`) become the running beams;
//! 4. hitting continuations among the first `num_beams` of the top K, scored
//!    `sum_logprobs / new_len ^ length_penalty` (minus `1e9` when the sentence may no longer
//!    change), are merged with the finished list, keeping the best `num_beams`;
//! 5. the early-stop heuristic (`_check_early_stop_heuristic`) decides whether the running
//!    beams can still beat the worst finished hypothesis.
use super::config::{EarlyStopping, ResolvedGeneration};
use super::logits::{log_sum_exp, log_sum_exp_over, LogitsProcessor, LANES};
use rayon::prelude::*;
use std::sync::Arc;

use super::{length_normalised, step_logits, Decoder, Hypothesis};

const NEG: f32 = -1.0e9;

#[derive(Clone)]
struct Beam {
    /// Prompt plus generated tokens.
    tokens: Vec<u32>,
    /// HF `running_beam_scores`: accumulated log-probs (with `-1e9` for the placeholder beams
    /// of the first step).
    score: f32,
    /// Sum of the raw (unprocessed) log-probs of the generated tokens.
    raw_sum: f32,
    /// The beam of the previous step this one continues (its decoder row within the item).
    parent: usize,
}

#[derive(Clone)]
struct Slot {
    tokens: Vec<u32>,
    /// HF `beam_scores`: length-normalised score of a finished hypothesis (`-1e9` when empty).
    score: f32,
    /// Sum of the raw (unprocessed) log-probs of the generated tokens.
    raw_sum: f32,
    finished: bool,
}

struct Item {
    index: usize,
    running: Vec<Beam>,
    slots: Vec<Slot>,
    /// HF `is_early_stop_heuristic_unsatisfied` (sticky once false).
    improvable: bool,
    done: bool,
}

impl Item {
    /// Prompt `index` before its first step: `nb` beams of the prompt, all but the first
    /// placeholders scored `-1e9` (HF's), and `nb` empty slots.
    fn start(index: usize, prompt: &[u32], nb: usize) -> Self {
        Item {
            index,
            running: (0..nb)
                .map(|b| Beam {
                    tokens: prompt.to_vec(),
                    score: if b == 0 { 0.0 } else { NEG },
                    raw_sum: 0.0,
                    parent: b,
                })
                .collect(),
            slots: vec![
                Slot {
                    tokens: Vec::new(),
                    score: NEG,
                    raw_sum: 0.0,
                    finished: false,
                };
                nb
            ],
            improvable: true,
            done: false,
        }
    }
}

/// Top-k of a stream of `(score, index)` pairs seen in increasing index order, best first;
/// ties keep the lower index first.
struct TopK {
    k: usize,
    items: Vec<(f32, usize)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, score: f32, index: usize) {
        if self.items.len() == self.k {
            match self.items.last() {
                Some(&(worst, _)) if score > worst => {}
                _ => return,
            }
        } else if score.is_nan() {
            return;
        }
        let pos = self.items.partition_point(|&(s, _)| s >= score);
        self.items.insert(pos, (score, index));
        self.items.truncate(self.k);
    }
}

/// Pushes `(x - norm) + score` at index `base + v` for each value `x` of `row`, in order,
/// exactly as [`TopK::push`] one value at a time would. Once the list is full, a run of
/// [`LANES`] values none of which beats the worst kept score is skipped in one vector compare:
/// all but a few of a row's 54,796 values are, and this pass runs over every row of every step.
#[multiversion::multiversion(targets = "simd")]
fn push_row(top: &mut TopK, row: &[f32], norm: f32, score: f32, base: usize) {
    let mut v = 0;
    while top.items.len() < top.k && v < row.len() {
        top.push((row[v] - norm) + score, base + v);
        v += 1;
    }
    let mut chunks = row[v..].chunks_exact(LANES);
    for c in &mut chunks {
        // Full here: `push` keeps only scores above the last (worst) item.
        let worst = top.items.last().map_or(f32::NEG_INFINITY, |&(s, _)| s);
        let mut any = false;
        for &x in c {
            any |= (x - norm) + score > worst;
        }
        if any {
            for (i, &x) in c.iter().enumerate() {
                top.push((x - norm) + score, base + v + i);
            }
        }
        v += LANES;
    }
    for (i, &x) in chunks.remainder().iter().enumerate() {
        top.push((x - norm) + score, base + v + i);
    }
}

/// [`push_row`] for a row that is `-inf` outside `ids` (sorted): the same pushes, in the same
/// order, less those of the ids outside (all `-inf`). The kept list is the same whenever its
/// last score is finite ([`process_item`] checks, and pushes the whole rows where it is not).
fn push_ids(top: &mut TopK, row: &[f32], ids: &[u32], norm: f32, score: f32, base: usize) {
    for &id in ids {
        let v = id as usize;
        top.push((row[v] - norm) + score, base + v);
    }
}

/// Indices of the `n` largest values, best first, ties by lower index.
fn top_n(values: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    idx.truncate(n);
    idx
}

pub fn beam_search<D: Decoder>(
    decoder: &mut D,
    prompts: &[Vec<u32>],
    cfg: &ResolvedGeneration,
) -> candle_core::Result<Vec<Hypothesis>> {
    let nb = cfg.num_beams;
    let processor = LogitsProcessor::new(cfg);
    let beams_to_keep = 2.max(1 + cfg.eos_token_ids.len()) * nb;

    let mut items: Vec<Item> = prompts
        .iter()
        .enumerate()
        .map(|(index, p)| Item::start(index, p, nb))
        .collect();
    let mut results: Vec<Option<Hypothesis>> = vec![None; prompts.len()];

    // Expand every prompt row into `num_beams` rows.
    let expand: Vec<usize> = (0..prompts.len())
        .flat_map(|i| std::iter::repeat_n(i, nb))
        .collect();
    decoder.select_rows(&expand)?;

    let mut cur_len = cfg.prompt_len;
    while !items.is_empty() {
        let last: Vec<u32> = items
            .iter()
            .flat_map(|it| it.running.iter().map(|b| b.tokens[b.tokens.len() - 1]))
            .collect();
        let mut step = step_logits(decoder, &last)?;
        let vocab = step.vocab;
        if vocab == 0 {
            candle_core::bail!("the decoder returned an empty vocabulary");
        }
        if step.values.len() != items.len() * nb * vocab {
            candle_core::bail!("the decoder returned the wrong number of rows");
        }
        // Sentences are independent: when there is enough work, spread them over the CPU
        // threads (the row work is a pass of exp over the vocabulary, or the support, per
        // beam: ~20% of a step on one core without a support), on rayon's pool rather than
        // on threads started every step.
        let support = step.support.take();
        let support_of = |i: usize| support.as_ref().map(|s| &s[i * nb..(i + 1) * nb]);
        let work = |(i, (item, rows)): (usize, (&mut Item, &mut [f32]))| {
            let rows = Rows {
                values: rows,
                vocab,
                support: support_of(i),
            };
            process_item(item, rows, cur_len, beams_to_keep, &processor, cfg);
        };
        let logits = &mut step.values;
        if items.len() > 1 && logits.len() >= super::PARALLEL_MIN {
            items
                .par_iter_mut()
                .zip(logits.par_chunks_mut(nb * vocab))
                .enumerate()
                .for_each(work);
        } else {
            items
                .iter_mut()
                .zip(logits.chunks_mut(nb * vocab))
                .enumerate()
                .for_each(work);
        }
        cur_len += 1;

        // Rows for the next step: the parents of the surviving sentences' running beams.
        let rows_now = items.len() * nb;
        let mut select = Vec::with_capacity(rows_now);
        let mut kept = Vec::with_capacity(items.len());
        for (pos, item) in std::mem::take(&mut items).into_iter().enumerate() {
            if item.done {
                let index = item.index;
                results[index] = Some(finish(item, cfg));
            } else {
                select.extend(item.running.iter().map(|b| pos * nb + b.parent));
                kept.push(item);
            }
        }
        items = kept;
        let unchanged = select.len() == rows_now && select.iter().enumerate().all(|(i, &r)| i == r);
        if !items.is_empty() && !unchanged {
            decoder.select_rows(&select)?;
        }
    }
    results
        .into_iter()
        .map(|h| h.ok_or_else(|| candle_core::Error::Msg("beam search lost a sentence".into())))
        .collect()
}

/// One sentence's logits rows (one per running beam), with their supports when the decoder
/// gave them.
struct Rows<'a> {
    values: &'a mut [f32],
    vocab: usize,
    support: Option<&'a [Arc<[u32]>]>,
}

/// HF: `log_probs = processors(log_softmax(logits))` for the sentence's beams (`rows`, one
/// per running beam), the top-K continuations, then [`step_item`]. The log-softmax is folded
/// into the top-k pass (`lp = x - logsumexp(x)`); processors see the raw row with a forced
/// token set to the logsumexp (log-prob 0). Raw logits are kept aside only when a processor
/// may change a kept score.
///
/// With supports, the log-sum-exp and the top-K pass read the supported ids alone, unless a
/// processor may set a value rather than ban it this step or renormalises the rows. Should
/// the kept list then end in `-inf` (fewer finite continuations than K), the whole rows are
/// pushed instead. The list is then the one the full rows give but for rounding: the
/// log-sum-exp over the support groups its terms otherwise and may differ in the last bit,
/// which can break an exact tie between beams another way.
fn process_item(
    item: &mut Item,
    rows: Rows,
    cur_len: usize,
    beams_to_keep: usize,
    processor: &LogitsProcessor,
    cfg: &ResolvedGeneration,
) {
    let Rows {
        values: rows,
        vocab,
        support,
    } = rows;
    let mut top = TopK::new(beams_to_keep);
    let mut raw_rows: Vec<(Option<Vec<f32>>, f32)> = Vec::with_capacity(item.running.len());
    let mut norms = Vec::with_capacity(item.running.len());
    let mut sparse = support.is_some() && !processor.renormalizes();
    let mut pushed_sparse = false;
    for ((b, beam), row) in item.running.iter().enumerate().zip(rows.chunks_mut(vocab)) {
        let ids = support.map(|s| &*s[b]);
        let lse = ids.map_or_else(|| log_sum_exp(row), |ids| log_sum_exp_over(row, ids));
        let alters = processor.alters_values(beam.tokens.len());
        let raw = alters.then(|| row.to_vec());
        processor.apply_at_level(&beam.tokens, row, lse);
        let norm = if processor.renormalizes() {
            log_sum_exp(row)
        } else {
            lse
        };
        sparse &= !alters;
        match ids.filter(|_| sparse) {
            Some(ids) => {
                push_ids(&mut top, row, ids, norm, beam.score, b * vocab);
                pushed_sparse = true;
            }
            None => push_row(&mut top, row, norm, beam.score, b * vocab),
        }
        norms.push(norm);
        raw_rows.push((raw, lse));
    }
    let short = |top: &TopK| {
        top.items.len() < top.k
            || top
                .items
                .last()
                .is_some_and(|&(s, _)| s == f32::NEG_INFINITY)
    };
    if pushed_sparse && short(&top) {
        top = TopK::new(beams_to_keep);
        for ((b, beam), row) in item.running.iter().enumerate().zip(rows.chunks(vocab)) {
            push_row(&mut top, row, norms[b], beam.score, b * vocab);
        }
    }
    let rows = &*rows;
    let raw_logprob = |b: usize, t: usize| -> f32 {
        let (raw, lse) = &raw_rows[b];
        raw.as_ref().map_or(rows[b * vocab + t], |r| r[t]) - lse
    };
    step_item(item, &top.items, vocab, cur_len, cfg, &raw_logprob);
}

/// One HF beam-search step for one sentence, given its top-K `(accumulated log-prob,
/// beam * vocab + token)` continuations, best first. `cur_len` is the length before the step.
fn step_item(
    item: &mut Item,
    top: &[(f32, usize)],
    vocab: usize,
    cur_len: usize,
    cfg: &ResolvedGeneration,
    raw_logprob: &dyn Fn(usize, usize) -> f32,
) {
    let nb = cfg.num_beams;
    let hits: Vec<bool> = top
        .iter()
        .map(|&(_, flat)| {
            cfg.eos_token_ids.contains(&((flat % vocab) as u32)) || cur_len + 1 >= cfg.max_length
        })
        .collect();
    let continuation = |c: usize| -> (usize, Vec<u32>, f32) {
        let (_, flat) = top[c];
        let (parent, token) = (flat / vocab, flat % vocab);
        let mut tokens = Vec::with_capacity(cur_len + 1);
        tokens.extend_from_slice(&item.running[parent].tokens);
        tokens.push(token as u32);
        let raw_sum = item.running[parent].raw_sum + raw_logprob(parent, token);
        (parent, tokens, raw_sum)
    };

    // e. next running beams: the best non-hitting continuations.
    let running_scores: Vec<f32> = top
        .iter()
        .zip(&hits)
        .map(|(&(lp, _), &h)| if h { lp + NEG } else { lp })
        .collect();
    let next_running: Vec<Beam> = top_n(&running_scores, nb)
        .into_iter()
        .map(|c| {
            let (parent, tokens, raw_sum) = continuation(c);
            Beam {
                tokens,
                score: running_scores[c],
                raw_sum,
                parent,
            }
        })
        .collect();

    // f. merge newly finished hypotheses into the finished slots.
    let all_finished = item.slots.iter().all(|s| s.finished);
    let full_and_early = all_finished && cfg.early_stopping == EarlyStopping::True;
    let new_len = cur_len + 1 - cfg.prompt_len;
    let mut candidate_scores = Vec::with_capacity(top.len());
    let mut did_finish = Vec::with_capacity(top.len());
    for (c, (&(lp, _), &h)) in top.iter().zip(&hits).enumerate() {
        let mut s = length_normalised(lp, new_len, cfg.length_penalty);
        if full_and_early {
            s += NEG;
        }
        if !item.improvable {
            s += NEG;
        }
        let did = h && c < nb;
        if !did {
            s += NEG;
        }
        candidate_scores.push(s);
        did_finish.push(did);
    }
    let merged: Vec<f32> = item
        .slots
        .iter()
        .map(|s| s.score)
        .chain(candidate_scores.iter().copied())
        .collect();
    let chosen = top_n(&merged, nb);
    if chosen.iter().any(|&m| m >= nb) {
        let old = std::mem::take(&mut item.slots);
        item.slots = chosen
            .into_iter()
            .map(|m| {
                if m < nb {
                    old[m].clone()
                } else {
                    let c = m - nb;
                    let (_, tokens, raw_sum) = continuation(c);
                    Slot {
                        tokens,
                        score: candidate_scores[c],
                        raw_sum,
                        finished: did_finish[c],
                    }
                }
            })
            .collect();
    } else if chosen.iter().enumerate().any(|(i, &m)| i != m) {
        let old = std::mem::take(&mut item.slots);
        item.slots = chosen.into_iter().map(|m| old[m].clone()).collect();
    }
    item.running = next_running;

    // g. early-stop heuristic at the new length, then the sentence's stopping condition.
    let new_cur_len = cur_len + 1;
    let best_len = if cfg.early_stopping == EarlyStopping::Never && cfg.length_penalty > 0.0 {
        cfg.max_length - cfg.prompt_len
    } else {
        new_cur_len - cfg.prompt_len
    };
    let best_possible = length_normalised(item.running[0].score, best_len, cfg.length_penalty);
    let all_finished = item.slots.iter().all(|s| s.finished);
    let worst = item
        .slots
        .iter()
        .map(|s| s.score)
        .fold(f32::INFINITY, f32::min);
    let can_improve = item
        .slots
        .iter()
        .any(|s| best_possible > if s.finished { worst } else { NEG });
    item.improvable &= can_improve;
    item.done = !item.improvable
        || (all_finished && cfg.early_stopping == EarlyStopping::True)
        || hits.iter().all(|&h| h);
}

fn finish(mut item: Item, cfg: &ResolvedGeneration) -> Hypothesis {
    let best = if item.slots.first().is_some_and(|s| s.finished) {
        item.slots.swap_remove(0)
    } else {
        // Unreachable with HF semantics (the length limit finishes the best beams); keep the
        // best running beam rather than fail.
        let b = item.running.swap_remove(0);
        let n = (b.tokens.len() - cfg.prompt_len).max(1);
        Slot {
            score: length_normalised(b.score, n, cfg.length_penalty),
            raw_sum: b.raw_sum,
            tokens: b.tokens,
            finished: true,
        }
    };
    let generated = best.tokens[cfg.prompt_len..].to_vec();
    let n = generated.len().max(1);
    Hypothesis {
        tokens: generated,
        score: best.score,
        mean_logprob: best.raw_sum / n as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::EarlyStopping;
    use proptest::prelude::*;

    /// Rows with a support whose every id is banned (EOS by the minimum length, the rest by
    /// no-repeat n-grams) leave beam search nothing finite: the running beams then come from
    /// the `-inf` continuations of the lowest ids, as on the full rows, not from the support.
    #[test]
    fn a_support_with_too_few_finite_continuations_takes_the_whole_rows() {
        let (nb, vocab) = (3, 8);
        let cfg = ResolvedGeneration {
            prompt_len: 1,
            max_length: 10,
            min_length: 10,
            num_beams: nb,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            no_repeat_ngram_size: 1,
            bad_words_ids: vec![],
            eos_token_ids: vec![0],
            forced_eos_token_ids: vec![],
            renormalize_logits: false,
        };
        let processor = LogitsProcessor::new(&cfg);
        let support: Vec<Arc<[u32]>> = vec![Arc::from(vec![0, 3, 5]); nb];
        let item = || Item::start(0, &[7, 3, 5], nb);
        let logits: Vec<f32> = (0..nb * vocab)
            .map(|i| match i % vocab {
                0 | 3 | 5 => i as f32 * 0.1,
                _ => f32::NEG_INFINITY,
            })
            .collect();
        let run = |support: Option<&[Arc<[u32]>]>| {
            let (mut it, mut values) = (item(), logits.clone());
            let rows = Rows {
                values: &mut values,
                vocab,
                support,
            };
            process_item(&mut it, rows, 3, 2 * nb, &processor, &cfg);
            it.running
                .iter()
                .map(|b| (b.tokens.clone(), b.score.to_bits(), b.parent))
                .collect::<Vec<_>>()
        };
        let full = run(None);
        assert_eq!(full[1].0, vec![7, 3, 5, 1], "the lowest -inf ids");
        assert_eq!(run(Some(&support)), full);
    }

    proptest! {
        /// The vector pass keeps exactly what pushing the values one at a time keeps, ties
        /// (to the earlier index), NaNs and `-inf` included.
        #[test]
        fn push_row_equals_pushing_one_by_one(
            rows in prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![
                        6 => (-40i32..40).prop_map(|v| v as f32 / 4.0),
                        1 => Just(f32::NEG_INFINITY),
                        1 => Just(f32::NAN),
                    ],
                    0..120,
                ),
                1..4,
            ),
            k in 1usize..10,
            norm in -3f32..3.0,
            scores in prop::collection::vec(-5f32..0.0, 4),
        ) {
            let mut fast = TopK::new(k);
            let mut slow = TopK::new(k);
            let mut base = 0;
            for (row, &score) in rows.iter().zip(&scores) {
                push_row(&mut fast, row, norm, score, base);
                for (v, &x) in row.iter().enumerate() {
                    slow.push((x - norm) + score, base + v);
                }
                base += row.len();
            }
            let bits = |t: &TopK| t.items.iter().map(|&(s, i)| (s.to_bits(), i)).collect::<Vec<_>>();
            prop_assert_eq!(bits(&fast), bits(&slow));
        }
    }
}
