//! The one decoding loop: greedy and beam search with HF `generate` semantics, written once
//! for any autoregressive decoder.
//!
//! A model plugs in by implementing [`Decoder`] over its own state (KV caches, encoder
//! outputs...): the loop hands it one token per live row and gets next-token logits back, and
//! tells it which rows survive (beam reordering, finished sentences leaving the batch). The
//! loop itself never sees tensors other than the logits, so the Marian seq2seq model and a
//! decoder-only LLM share it unchanged.
//!
//! Files: [`config`] (settings and HF's precedence rules), [`logits`] (the logits processors),
//! [`greedy`] and [`beam`] (the two searches). Parity with transformers 5.x
//! `GenerationMixin._sample` (greedy) and `_beam_search` is the goal: same token ids, same
//! `sequences_scores`.
pub mod beam;
pub mod config;
pub mod greedy;
pub mod logits;

use candle_core::{DType, Tensor};

pub use config::{
    EarlyStopping, GenerationConfig, GenerationConfigError, ResolvedGeneration, TokenIds,
};

/// An autoregressive decoder driven by [`generate`].
///
/// Rows: the decoder starts with one row per prompt given to [`generate`]. Row `i` of every
/// later call refers to the `i`-th row of the current set, which [`Decoder::select_rows`]
/// rebuilds.
///
/// Prompt contract: when [`generate`] starts, the decoder has consumed every prompt token but
/// the last; the first [`Decoder::step`] feeds the last prompt token of each row. For a seq2seq
/// model the prompt is just `[decoder_start_token_id]` and nothing is consumed beforehand; a
/// decoder-only model prefills `prompt[..len - 1]` itself.
pub trait Decoder {
    /// Feeds one token per current row and returns the next-token logits, shape
    /// `[rows, vocab]`, in any float dtype on any device (the loop converts to f32 on the
    /// host, as HF converts the logits to f32 before processing them).
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor>;

    /// [`Self::step`] with the logits as f32 host rows and the vocabulary size. A decoder
    /// that computes them on the host can hand its buffer over instead of a tensor to copy.
    fn step_host(&mut self, tokens: &[u32]) -> candle_core::Result<(Vec<f32>, usize)> {
        host_rows(&self.step(tokens)?)
    }

    /// Where the last step's logits may be finite: for each current row, the sorted ids
    /// outside which its row is `-inf` (a vocabulary shortlist), or `None` when any id may
    /// be. With a support the loop takes each row's log-sum-exp and its argmax or top-k
    /// over those ids alone instead of the whole vocabulary ([`logits::argmax_over`],
    /// [`logits::log_sum_exp_over`]).
    fn support(&self) -> Option<Vec<std::sync::Arc<[u32]>>> {
        None
    }

    /// Keeps only `rows` (indices into the current rows, possibly repeated), in that order:
    /// the new row `i` continues old row `rows[i]`. Used to expand a batch into beams, to
    /// reorder beams, and to drop finished sentences. `rows` is never empty.
    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()>;
}

/// Values (logits: rows x vocabulary; or a projection's outputs) below which host-side
/// element work stays on one thread: handing it to the pool costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// One finished translation / completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated ids, without the decoder prompt, including EOS when one was generated.
    pub tokens: Vec<u32>,
    /// Beam search: HF's `sequences_scores`, the sum of the processed beam log-probs of the
    /// generated tokens divided by `len(tokens) ^ length_penalty`. Greedy (which HF gives no
    /// sequence score): the sum of the raw log-probs over `len(tokens) ^ length_penalty`.
    pub score: f32,
    /// Mean over the generated tokens of `log_softmax(raw logits)[token]`, i.e. before any
    /// logits processor (a forced EOS keeps its real probability).
    pub mean_logprob: f32,
}

/// Runs greedy search (`num_beams == 1`) or beam search, one [`Hypothesis`] per prompt, in
/// prompt order. All prompts must have the same length (`cfg.prompt_len`).
pub fn generate<D: Decoder>(
    decoder: &mut D,
    prompts: &[Vec<u32>],
    cfg: &ResolvedGeneration,
) -> candle_core::Result<Vec<Hypothesis>> {
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(p) = prompts.iter().find(|p| p.len() != cfg.prompt_len) {
        candle_core::bail!(
            "generate: every prompt must have {} tokens, one has {}",
            cfg.prompt_len,
            p.len()
        );
    }
    if cfg.prompt_len == 0 {
        candle_core::bail!("generate: the decoder prompt is empty");
    }
    if cfg.num_beams <= 1 {
        greedy::greedy_search(decoder, prompts, cfg)
    } else {
        beam::beam_search(decoder, prompts, cfg)
    }
}

/// Logits `[rows, vocab]` of any float dtype on any device as f32 host rows, and `vocab`.
pub(crate) fn host_rows(logits: &Tensor) -> candle_core::Result<(Vec<f32>, usize)> {
    let (_, vocab) = logits.dims2()?;
    let flat = logits
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((flat, vocab))
}

/// One step's logits: `rows x vocab` f32 host rows, and each row's support when the decoder
/// gives one ([`Decoder::support`]).
pub(crate) struct StepLogits {
    pub values: Vec<f32>,
    pub vocab: usize,
    pub support: Option<Vec<std::sync::Arc<[u32]>>>,
}

/// Runs one decoder step and brings the logits to the host as f32 rows of `vocab` values,
/// with their supports checked: one per row, sorted, inside the vocabulary.
pub(crate) fn step_logits<D: Decoder>(
    decoder: &mut D,
    tokens: &[u32],
) -> candle_core::Result<StepLogits> {
    let (values, vocab) = decoder.step_host(tokens)?;
    if values.len() != tokens.len() * vocab {
        candle_core::bail!(
            "decoder returned {} logits of a {vocab} vocabulary for {} tokens",
            values.len(),
            tokens.len()
        );
    }
    let support = decoder.support();
    if let Some(s) = &support {
        let sorted = |ids: &[u32]| {
            ids.windows(2).all(|w| w[0] < w[1]) && ids.last().is_none_or(|&l| (l as usize) < vocab)
        };
        if s.len() != tokens.len() || !s.iter().all(|ids| sorted(ids)) {
            candle_core::bail!(
                "decoder returned {} supports for {} rows, or one unsorted or past its \
                 {vocab} vocabulary",
                s.len(),
                tokens.len()
            );
        }
    }
    Ok(StepLogits {
        values,
        vocab,
        support,
    })
}

/// `sum / len ^ length_penalty` in f32 as torch computes it (the denominator is a Python
/// float, applied to an f32 tensor).
pub(crate) fn length_normalised(sum: f32, len: usize, length_penalty: f64) -> f32 {
    let denom = (len as f64).powf(length_penalty);
    sum / denom as f32
}

#[cfg(test)]
mod tests;
