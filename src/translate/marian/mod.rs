//! The Marian (OPUS-MT) encoder-decoder on candle, built for fast batched translation.
//!
//! This exists instead of candle-transformers' `marian` because translation needs what that
//! one lacks: a key-padding mask (a padded batch must translate exactly like one sentence at a
//! time), an encoder without hidden state, cross-attention keys/values computed once per batch,
//! a self-attention KV cache whose rows can be reordered and dropped, and beam search (the
//! shared loop in [`crate::generate`]). The architecture and weight names follow HF
//! transformers' `modeling_marian.py` (post-layer-norm blocks, sinusoidal positions with the
//! sines in the first half and the cosines in the second, `final_logits_bias`).
//!
//! Tensors in, tensors out: tokenisation lives in [`super::tokenizer`]. Files: `config.rs`
//! (`config.json`), `layers.rs` (attention, feed-forward, layer norms, embeddings), `model.rs`
//! (encoder and decoder as the weights name them), `state.rs` (a batch's decoding state and
//! KV cache); this file joins them to the decoding loop. Entry points: [`MarianModel::new`]
//! (from a `VarBuilder`), [`MarianModel::load`] (from a checkpoint directory),
//! [`MarianModel::decoding`] (settings resolved once) and
//! [`MarianModel::translate_resolved`].
mod config;
mod layers;
mod model;
mod restrict;
mod state;

use std::path::PathBuf;

use candle_core::Tensor;

use crate::generate::{
    self, GenerationConfig, GenerationConfigError, Hypothesis, ResolvedGeneration,
};
pub use config::MarianConfig;
pub use layers::sinusoidal_positions;
pub use model::MarianModel;
use restrict::Restricted;
use state::DecoderCache;

#[derive(Debug, thiserror::Error)]
pub enum MarianError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error(transparent)]
    Generation(#[from] GenerationConfigError),
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Which code a model runs on the CPU: its host fast paths (packed projections, host-row
/// logits, the one-copy cache append), or the device-generic candle ops every other device
/// takes. Outside the tests the CPU always takes `Host`; `Generic` exists so that the code a
/// GPU runs is held to HF here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paths {
    #[default]
    Host,
    Generic,
}

/// Decoding settings resolved for one model ([`MarianModel::decoding`]): what every batch
/// decodes with, so a bad setting fails when the settings are made, not at a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoding {
    /// The lengths, beams and token rules of each `generate` call.
    pub settings: ResolvedGeneration,
    /// The decoder prompt each row starts with (`decoder_start_token_id`).
    pub start: u32,
}

impl MarianModel {
    /// The concrete settings `gen` gives for this model (its special tokens filled in, its
    /// positions capping a default length) and the decoder start token: worked out once, when
    /// a translator is configured, and handed to every batch. A setting no decoding can run
    /// with is a [`GenerationConfigError::Invalid`] naming it.
    pub fn decoding(&self, gen: &GenerationConfig) -> Result<Decoding, GenerationConfigError> {
        let mut gen = gen.clone();
        gen.fill_special_tokens_from(&self.cfg.generation_defaults());
        let settings = gen.resolve(1, Some(self.cfg.max_position_embeddings))?;
        let start = gen
            .decoder_start()
            .unwrap_or(self.cfg.decoder_start_token_id);
        Ok(Decoding { settings, start })
    }

    /// Decoding state for a batch: cross-attention keys/values of every decoder layer,
    /// computed once from `encoder_states`, and empty self-attention caches.
    pub fn start_decoding(
        &self,
        encoder_states: &Tensor,
        mask: Option<Tensor>,
    ) -> candle_core::Result<MarianDecoderState<'_>> {
        let rows = encoder_states.dim(0)?;
        let cross = self.cross_key_values(encoder_states)?;
        Ok(MarianDecoderState {
            model: self,
            cache: DecoderCache::new(cross, mask, rows),
            restricted: None,
        })
    }

    /// Translates a batch of token-id sequences (source ids ending in EOS, as the tokenizer
    /// produces them) with settings resolved by [`MarianModel::decoding`]. Pads internally;
    /// returns one hypothesis per input, in order. A padded batch gives the same result as
    /// each sentence alone.
    pub fn translate_resolved(
        &self,
        input_ids: &[Vec<u32>],
        decoding: &Decoding,
    ) -> candle_core::Result<Vec<Hypothesis>> {
        self.translate_within(input_ids, decoding, None)
    }

    /// [`MarianModel::translate_resolved`] with input `i` choosing among the sorted target
    /// ids `candidates[i]` alone (its vocabulary shortlist), when given: the output
    /// projection runs over the batch's candidates only.
    pub fn translate_within(
        &self,
        input_ids: &[Vec<u32>],
        decoding: &Decoding,
        candidates: Option<&[Vec<u32>]>,
    ) -> candle_core::Result<Vec<Hypothesis>> {
        if input_ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(c) = candidates.filter(|c| c.len() != input_ids.len()) {
            candle_core::bail!(
                "translate: {} candidate lists for {} inputs",
                c.len(),
                input_ids.len()
            );
        }
        let (ids, mask) = self.pad_batch(input_ids)?;
        let encoded = self.encode(&ids, mask.as_ref())?;
        let mut state = self.start_decoding(&encoded, mask)?;
        if let Some(c) = candidates {
            state.restricted = Some(Restricted::new(self, c)?);
        }
        let prompts = vec![vec![decoding.start]; input_ids.len()];
        generate::generate(&mut state, &prompts, &decoding.settings)
    }

    /// [`MarianModel::translate_resolved`] for one-off calls: resolves `gen` for this batch
    /// alone. A translator resolves its settings once instead.
    pub fn translate_batch(
        &self,
        input_ids: &[Vec<u32>],
        gen: &GenerationConfig,
    ) -> Result<Vec<Hypothesis>, MarianError> {
        let decoding = self.decoding(gen)?;
        Ok(self.translate_resolved(input_ids, &decoding)?)
    }
}

/// Per-batch decoding state of a [`MarianModel`]: the model and the batch's caches;
/// implements [`generate::Decoder`].
pub struct MarianDecoderState<'a> {
    model: &'a MarianModel,
    cache: DecoderCache,
    /// The output projection over the rows' shortlist candidates, when given.
    restricted: Option<Restricted>,
}

impl generate::Decoder for MarianDecoderState<'_> {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        if self.restricted.is_some() {
            let (rows, vocab) = self.step_host(tokens)?;
            return Tensor::from_vec(rows, (tokens.len(), vocab), &candle_core::Device::Cpu);
        }
        let x = self.model.decoder_step(tokens, &mut self.cache)?;
        self.model.logits(&x)
    }

    /// On the CPU the output projection writes the host rows directly (see
    /// `MarianModel::logits_host`).
    fn step_host(&mut self, tokens: &[u32]) -> candle_core::Result<(Vec<f32>, usize)> {
        let x = self.model.decoder_step(tokens, &mut self.cache)?;
        match &self.restricted {
            Some(r) => r.logits_host(self.model, &x),
            None => self.model.logits_host(&x),
        }
    }

    fn support(&self) -> Option<Vec<std::sync::Arc<[u32]>>> {
        self.restricted.as_ref().map(Restricted::support)
    }

    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        if let Some(r) = &mut self.restricted {
            r.select_rows(rows)?;
        }
        self.cache.select_rows(rows, &self.model.device)
    }
}
