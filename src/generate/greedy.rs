//! Greedy search with HF `_sample(do_sample=False)` semantics.
//!
//! Each row takes the first argmax of its processed logits. A row stops when it produces an
//! EOS id or reaches `max_length`; HF keeps finished rows in the batch and pads them, we drop
//! them from the decoder instead (rows are independent, so the result is the same). The
//! per-token log-prob reported in [`Hypothesis`] is the log-softmax of the *raw* model
//! logits (no processors), the model's own confidence in its output; `score` is their sum
//! over `len ^ length_penalty`.
use super::config::ResolvedGeneration;
use super::logits::{argmax, argmax_over, log_sum_exp, log_sum_exp_over, LogitsProcessor};
use rayon::prelude::*;

use super::{length_normalised, step_logits, Decoder, Hypothesis};

struct Row {
    /// Index of the prompt this row answers.
    item: usize,
    /// Prompt plus generated tokens (HF's `input_ids` row).
    tokens: Vec<u32>,
    sum_logprob: f64,
}

pub fn greedy_search<D: Decoder>(
    decoder: &mut D,
    prompts: &[Vec<u32>],
    cfg: &ResolvedGeneration,
) -> candle_core::Result<Vec<Hypothesis>> {
    let processor = LogitsProcessor::new(cfg);
    let mut rows: Vec<Row> = prompts
        .iter()
        .enumerate()
        .map(|(item, p)| Row {
            item,
            tokens: p.clone(),
            sum_logprob: 0.0,
        })
        .collect();
    let mut done: Vec<Option<Hypothesis>> = vec![None; prompts.len()];

    while !rows.is_empty() {
        let last: Vec<u32> = rows.iter().map(|r| r.tokens[r.tokens.len() - 1]).collect();
        let mut step = step_logits(decoder, &last)?;
        let vocab = step.vocab;
        if vocab == 0 {
            candle_core::bail!("the decoder returned an empty vocabulary");
        }
        // Per row: (next token, its raw log-prob). Rows are independent, so when there is
        // enough of it the work is spread over the CPU threads (an exp pass over the
        // vocabulary, or the row's support, each), on rayon's pool rather than on threads
        // started every step.
        let mut picks = vec![(0usize, 0f32); rows.len()];
        let support = step.support.take();
        let support_of = |r: usize| support.as_ref().map(|s| &*s[r]);
        let pick = |(r, (scores, pick)): (usize, (&mut [f32], &mut (usize, f32)))| {
            *pick = pick_token(&processor, &rows[r].tokens, scores, support_of(r));
        };
        let logits = &mut step.values;
        if rows.len() > 1 && logits.len() >= super::PARALLEL_MIN {
            logits
                .par_chunks_mut(vocab)
                .zip(picks.par_iter_mut())
                .enumerate()
                .for_each(pick);
        } else {
            logits
                .chunks_mut(vocab)
                .zip(picks.iter_mut())
                .enumerate()
                .for_each(pick);
        }
        let mut keep = Vec::with_capacity(rows.len());
        for (i, (row, &(next, logprob))) in rows.iter_mut().zip(&picks).enumerate() {
            row.sum_logprob += logprob as f64;
            row.tokens.push(next as u32);
            let finished =
                cfg.eos_token_ids.contains(&(next as u32)) || row.tokens.len() >= cfg.max_length;
            if finished {
                let generated = row.tokens[cfg.prompt_len..].to_vec();
                let n = generated.len().max(1);
                let sum = row.sum_logprob as f32;
                done[row.item] = Some(Hypothesis {
                    score: length_normalised(sum, n, cfg.length_penalty),
                    mean_logprob: (row.sum_logprob / n as f64) as f32,
                    tokens: generated,
                });
            } else {
                keep.push(i);
            }
        }
        if keep.len() < rows.len() {
            let mut old = std::mem::take(&mut rows);
            rows = keep
                .iter()
                .map(|&i| std::mem::replace(&mut old[i], empty_row()))
                .collect();
            if !keep.is_empty() {
                decoder.select_rows(&keep)?;
            }
        }
    }
    done.into_iter()
        .map(|h| h.ok_or_else(|| candle_core::Error::Msg("greedy search lost a row".into())))
        .collect()
}

/// Greedy choice for one row: the first argmax of the processed scores, and the raw log-prob
/// of that token. `scores` is not empty. With a `support` (the ids outside which `scores` is
/// `-inf`) both passes look at those ids alone; the processors, which only ban tokens short
/// of a step that [alters values](LogitsProcessor::alters_values), keep them valid, and
/// where every supported token is banned the whole row decides.
fn pick_token(
    processor: &LogitsProcessor,
    tokens: &[u32],
    scores: &mut [f32],
    support: Option<&[u32]>,
) -> (usize, f32) {
    let lse = support.map_or_else(|| log_sum_exp(scores), |ids| log_sum_exp_over(scores, ids));
    let alters = processor.alters_values(tokens.len());
    let raw = alters.then(|| scores.to_vec());
    processor.apply(tokens, scores);
    let next = support
        .filter(|_| !alters)
        .and_then(|ids| argmax_over(scores, ids))
        .or_else(|| argmax(scores))
        .unwrap_or(0);
    let logit = raw.as_ref().map_or(scores[next], |r| r[next]);
    (next, logit - lse)
}

fn empty_row() -> Row {
    Row {
        item: 0,
        tokens: Vec::new(),
        sum_logprob: 0.0,
    }
}
