//! Translation: Indonesian segments in, English segments out.
//!
//! [`Translator`] joins the Marian tokenizer ([`tokenizer`]) and model ([`marian`]) with the
//! shared decoding loop ([`crate::generate`]). It batches segments by length so batches stay
//! full, runs several batches at once (one per thread), and cuts a segment longer than the
//! model's input into pieces ([`chunk`]) instead of truncating it. Batching never changes a
//! result: the model masks padding, and batches are independent.
pub mod chunk;
pub mod marian;
pub mod project;
mod spm;
mod spm_normalizer;
mod spm_proto;
mod spm_trie;
pub mod tokenizer;

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device};
use rayon::prelude::*;

use crate::generate::GenerationConfig;
use marian::MarianModel;
use tokenizer::MarianTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    #[error(transparent)]
    Model(#[from] marian::MarianError),
    #[error("model {model} failed while translating: {source}")]
    Inference {
        model: String,
        source: candle_core::Error,
    },
}

/// One translated segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub text: String,
    /// Mean log-probability of the generated tokens (over all pieces); 0 for an empty segment.
    pub score: f32,
    /// How many pieces the segment was cut into to fit the model (1 when it fit whole, 0 when
    /// it was empty).
    pub pieces: usize,
    /// Generated tokens, the end-of-sequence token included.
    pub tokens: usize,
}

/// A segment made ready for the model: the source ids of each piece it is cut into to fit
/// (none when it is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pieces: Vec<Vec<u32>>,
}

/// Makes segments into [`Source`]s with a translator's tokenizer and length limit. It is
/// cheap to clone and works on any thread, so a batch runner can tokenize the next articles
/// while the model translates these.
#[derive(Clone)]
pub struct Encoder {
    tokenizer: Arc<MarianTokenizer>,
    /// Longest source, in tokens with `</s>`, that the model takes.
    max_source_tokens: usize,
}

impl Encoder {
    pub fn encode(&self, segment: &str) -> Source {
        let seg = segment.trim();
        if seg.is_empty() {
            return Source { pieces: Vec::new() };
        }
        let ids = self.tokenizer.encode(seg);
        if ids.len() <= self.max_source_tokens {
            return Source { pieces: vec![ids] };
        }
        let fits = |s: &str| self.tokenizer.encode(s).len() <= self.max_source_tokens;
        Source {
            pieces: chunk::split_to_fit(seg, &fits)
                .into_iter()
                .map(|r| self.tokenizer.encode(&seg[r]))
                .collect(),
        }
    }
}

pub struct Translator {
    model: MarianModel,
    encoder: Encoder,
    generation: GenerationConfig,
    batch_size: usize,
    name: String,
}

impl Translator {
    /// Loads a model directory (config.json, generation_config.json, weights, tokenizer files).
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self, TranslateError> {
        let (model, config, generation) = MarianModel::load(dir, device, dtype)?;
        let tokenizer = MarianTokenizer::from_dir(dir)?;
        Ok(Self {
            model,
            encoder: Encoder {
                tokenizer: Arc::new(tokenizer),
                max_source_tokens: config.max_position_embeddings,
            },
            generation,
            batch_size: 32,
            name: dir.display().to_string(),
        })
    }

    /// The name used in errors (the model's repo id or directory).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The decoding settings; starts as the checkpoint's generation_config.json.
    pub fn generation(&self) -> &GenerationConfig {
        &self.generation
    }

    pub fn generation_mut(&mut self) -> &mut GenerationConfig {
        &mut self.generation
    }

    pub fn tokenizer(&self) -> &MarianTokenizer {
        &self.encoder.tokenizer
    }

    /// What makes segments ready for this translator, on any thread.
    pub fn encoder(&self) -> Encoder {
        self.encoder.clone()
    }

    /// Translates `segments`, one [`Translation`] per segment in the same order.
    pub fn translate(&self, segments: &[&str]) -> Result<Vec<Translation>, TranslateError> {
        self.translate_sources(segments.iter().map(|s| self.encoder.encode(s)).collect())
    }

    /// Translates segments made ready by [`Translator::encoder`], one [`Translation`] per
    /// segment in the same order.
    pub fn translate_sources(
        &self,
        sources: Vec<Source>,
    ) -> Result<Vec<Translation>, TranslateError> {
        // Every piece of every segment, as (segment index, source ids).
        let counts: Vec<usize> = sources.iter().map(|s| s.pieces.len()).collect();
        let mut pieces: Vec<(usize, Vec<u32>)> = sources
            .into_iter()
            .enumerate()
            .flat_map(|(i, s)| s.pieces.into_iter().map(move |p| (i, p)))
            .collect();
        // Longest first, so each batch holds sources of similar length and little padding.
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&p| std::cmp::Reverse(pieces[p].1.len()));
        let mut outputs: Vec<Option<crate::generate::Hypothesis>> = vec![None; pieces.len()];
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        // Several batches at a time, one per thread of rayon's pool (up to four, as each
        // holds its own decoder state): each keeps a core busy through its serial
        // stretches (copies, the beam step), and an idle thread helps with the others'
        // matrix products. Batches are independent, so the output is the same.
        let in_flight = rayon::current_num_threads().clamp(1, 4);
        for group in batches.chunks(in_flight) {
            // The ids are not needed after their batch: move them instead of copying.
            let inputs: Vec<Vec<Vec<u32>>> = group
                .iter()
                .map(|b| {
                    b.iter()
                        .map(|&p| std::mem::take(&mut pieces[p].1))
                        .collect()
                })
                .collect();
            let done: Vec<Vec<crate::generate::Hypothesis>> = inputs
                .par_iter()
                .map(|inputs| {
                    self.model
                        .translate_batch(inputs, &self.generation)
                        .map_err(|source| TranslateError::Inference {
                            model: self.name.clone(),
                            source,
                        })
                })
                .collect::<Result<_, _>>()?;
            for (batch, hyps) in group.iter().zip(done) {
                for (&p, h) in batch.iter().zip(hyps) {
                    outputs[p] = Some(h);
                }
            }
        }
        let mut texts: Vec<Vec<String>> = vec![Vec::new(); counts.len()];
        let mut logprob = vec![0f64; counts.len()];
        let mut tokens = vec![0usize; counts.len()];
        for ((seg, _), hyp) in pieces.iter().zip(outputs) {
            let Some(hyp) = hyp else { continue };
            texts[*seg].push(self.encoder.tokenizer.decode(&hyp.tokens));
            logprob[*seg] += hyp.mean_logprob as f64 * hyp.tokens.len() as f64;
            tokens[*seg] += hyp.tokens.len();
        }
        Ok(texts
            .into_iter()
            .enumerate()
            .map(|(i, parts)| Translation {
                text: parts.join(" "),
                score: if tokens[i] == 0 {
                    0.0
                } else {
                    (logprob[i] / tokens[i] as f64) as f32
                },
                pieces: counts[i],
                tokens: tokens[i],
            })
            .collect())
    }
}
