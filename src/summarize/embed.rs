//! Sentence embeddings from a BERT-family sentence-transformers checkpoint
//! (default `sentence-transformers/all-MiniLM-L6-v2`), as sentence-transformers computes
//! them: WordPiece tokens truncated to the model's `max_seq_length`, the encoder run on
//! padded batches with an attention mask, token vectors mean-pooled over the real tokens,
//! then L2-normalised when the checkpoint's `modules.json` has a `Normalize` module.
//!
//! The summariser ranks sentences with them and the citation check scores support with
//! them. The encoder is `bert.rs` on the CPU and candle-transformers' BERT on other devices;
//! this file adds what sentence-transformers puts around it.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use rayon::prelude::*;
use serde::Deserialize;

use super::bert::Bert;
use super::files::{self, read_json, ModelFileError};
use crate::weights::Checkpoint;

/// Why an embedding model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error("{path}: pooling mode {mode:?} is not supported (warta pools by mean or CLS token)")]
    Pooling { path: PathBuf, mode: String },
    #[error("the embedding model failed: {0}")]
    Model(#[from] candle_core::Error),
    #[error("the embedding tokenizer failed: {0}")]
    Tokenize(String),
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// Which implementation runs the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `bert.rs` on host memory: the CPU in f32.
    Host,
    /// candle-transformers' `BertModel` on padded batches: any device.
    Candle,
}

impl Backend {
    /// The one for `device`: `Host` on the CPU, `Candle` elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            Backend::Host
        } else {
            Backend::Candle
        }
    }
}

/// The loaded encoder of a [`Backend`].
enum Encoder {
    Host(Bert),
    Candle(BertModel),
}

/// Most tokens in one group of sentences through the host encoder: the projections then
/// read their weight panels as stored (`translate/project.rs`), and a layer's activations
/// stay in the cache.
const GROUP_TOKENS: usize = 384;

/// A loaded sentence-embedding model.
pub struct Embedder {
    encoder: Encoder,
    tokenizer: tokenizers::Tokenizer,
    device: Device,
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
    batch_size: usize,
    dim: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    /// sentence-transformers 6 writes the mode as one string ("mean", "cls", "max", …).
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

impl Embedder {
    /// Loads a sentence-transformers checkpoint from `dir` (config.json, model.safetensors
    /// or pytorch_model.bin, tokenizer.json, modules.json and the pooling config), with the
    /// encoder for `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, EmbedError> {
        Self::load_with(dir, device, Backend::for_device(device))
    }

    /// [`Self::load`] with the given encoder (`Host` needs the CPU; the tests run `Candle`
    /// there too, to check the two agree).
    pub fn load_with(dir: &Path, device: &Device, backend: Backend) -> Result<Self, EmbedError> {
        Self::from_checkpoint_with(&files::find(dir)?, device, backend)
    }

    /// [`Self::load`] for a checkpoint (a directory and the weight files to load from it).
    pub fn from_checkpoint(checkpoint: &Checkpoint, device: &Device) -> Result<Self, EmbedError> {
        Self::from_checkpoint_with(checkpoint, device, Backend::for_device(device))
    }

    /// [`Self::load_with`] for a checkpoint.
    pub fn from_checkpoint_with(
        checkpoint: &Checkpoint,
        device: &Device,
        backend: Backend,
    ) -> Result<Self, EmbedError> {
        let dir = checkpoint.dir.as_path();
        let config: Config = read_json(&dir.join("config.json"), "BERT config.json")?;
        // modules.json names the pooling folder and whether vectors are normalised;
        // without it, sentence-transformers' defaults: mean pooling, no normalisation.
        let modules_path = dir.join("modules.json");
        let modules: Vec<Module> = if modules_path.exists() {
            read_json(&modules_path, "modules.json")?
        } else {
            Vec::new()
        };
        let normalize = modules.iter().any(|m| m.kind.ends_with("Normalize"));
        let pooling = match modules.iter().find(|m| m.kind.ends_with("Pooling")) {
            Some(m) => {
                let path = dir.join(&m.path).join("config.json");
                let p: PoolingConfig = read_json(&path, "pooling config")?;
                if let Some(mode) = p.pooling_mode {
                    match mode.as_str() {
                        "mean" => Pooling::Mean,
                        "cls" => Pooling::Cls,
                        _ => return Err(EmbedError::Pooling { path, mode }),
                    }
                } else if p.pooling_mode_mean_tokens {
                    Pooling::Mean
                } else if p.pooling_mode_cls_token {
                    Pooling::Cls
                } else {
                    let mode = if p.pooling_mode_max_tokens {
                        "max"
                    } else {
                        "none"
                    };
                    return Err(EmbedError::Pooling {
                        path,
                        mode: mode.to_string(),
                    });
                }
            }
            None => Pooling::Mean,
        };
        let st_path = dir.join("sentence_bert_config.json");
        let max_seq = if st_path.exists() {
            read_json::<SentenceBertConfig>(&st_path, "sentence_bert_config.json")?.max_seq_length
        } else {
            None
        };
        let max_tokens = max_seq
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);

        let tokenizer = files::tokenizer(dir, Some(max_tokens))?;
        let vb = files::weights(checkpoint, DType::F32, device)?;
        let encoder = match backend {
            Backend::Host if !device.is_cpu() => {
                return Err(EmbedError::Model(candle_core::Error::Msg(format!(
                    "the host encoder runs on the CPU, not {device:?}"
                ))))
            }
            Backend::Host => Encoder::Host(Bert::load(vb, &config)?),
            Backend::Candle => Encoder::Candle(BertModel::load(vb, &config)?),
        };
        Ok(Self {
            encoder,
            tokenizer,
            device: device.clone(),
            pooling,
            normalize,
            max_tokens,
            batch_size: 32,
            dim: config.hidden_size,
        })
    }

    /// The length of every embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The most tokens of a sentence the model sees; the rest is cut, as
    /// sentence-transformers cuts it.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Embeds `texts`, in order; equal texts are embedded once. A sentence's vector does not
    /// depend on the other texts of the call, so the result does not depend on how the
    /// caller groups its calls.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut unique: Vec<&str> = Vec::new();
        let slots: Vec<usize> = texts
            .iter()
            .map(|&t| {
                *index.entry(t).or_insert_with(|| {
                    unique.push(t);
                    unique.len() - 1
                })
            })
            .collect();
        let distinct = unique.len();
        let encodings = self
            .tokenizer
            .encode_batch(unique, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let vectors = match &self.encoder {
            Encoder::Host(bert) => self.embed_host(bert, &ids)?,
            Encoder::Candle(model) => self.embed_candle(model, &ids)?,
        };
        if distinct == texts.len() {
            return Ok(vectors);
        }
        Ok(slots.into_iter().map(|i| vectors[i].clone()).collect())
    }

    /// Sentence vectors through the host encoder: sentences in groups of up to
    /// [`GROUP_TOKENS`] tokens (packed without padding), the groups on rayon's threads.
    fn embed_host(&self, bert: &Bert, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        // Smaller groups when there are too few tokens to give every thread one.
        let total: usize = ids.iter().map(|s| s.len()).sum();
        let budget = total
            .div_ceil(rayon::current_num_threads())
            .clamp(1, GROUP_TOKENS);
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut tokens = 0;
        for i in order {
            let n = ids[i].len();
            match groups.last_mut() {
                Some(g) if tokens + n <= budget => g.push(i),
                _ => {
                    groups.push(vec![i]);
                    tokens = 0;
                }
            }
            tokens += n;
        }
        let h = bert.hidden_size();
        let done: Vec<Vec<(usize, Vec<f32>)>> = groups
            .par_iter()
            .map(|g| {
                let sentences: Vec<&[u32]> = g.iter().map(|&i| ids[i]).collect();
                let hidden = bert.forward(&sentences)?;
                let mut start = 0;
                Ok(g.iter()
                    .map(|&i| {
                        let rows = &hidden[start * h..(start + ids[i].len()) * h];
                        start += ids[i].len();
                        (i, self.pool(rows, h))
                    })
                    .collect())
            })
            .collect::<candle_core::Result<_>>()?;
        let mut out = vec![Vec::new(); ids.len()];
        for (i, v) in done.into_iter().flatten() {
            out[i] = v;
        }
        Ok(out)
    }

    /// One sentence's vector from its token vectors (`[tokens, h]`, all real tokens).
    fn pool(&self, rows: &[f32], h: usize) -> Vec<f32> {
        let mut v = match self.pooling {
            Pooling::Cls => rows[..h.min(rows.len())].to_vec(),
            Pooling::Mean => {
                let mut sum = vec![0f32; h];
                for row in rows.chunks_exact(h) {
                    sum.iter_mut().zip(row).for_each(|(s, &x)| *s += x);
                }
                let count = (rows.len() / h).max(1) as f32;
                sum.iter_mut().for_each(|s| *s /= count);
                sum
            }
        };
        if self.normalize {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    /// Sentence vectors through candle-transformers' BERT: batches of similar length,
    /// padded, with an attention mask.
    fn embed_candle(&self, model: &BertModel, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); ids.len()];
        for chunk in order.chunks(self.batch_size) {
            let width = chunk
                .iter()
                .map(|&i| ids[i].len())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut flat = Vec::with_capacity(chunk.len() * width);
            let mut mask = Vec::with_capacity(chunk.len() * width);
            for &i in chunk {
                let pad = width - ids[i].len();
                flat.extend(ids[i].iter().copied());
                flat.extend(std::iter::repeat_n(0u32, pad));
                mask.extend(std::iter::repeat_n(1u32, ids[i].len()));
                mask.extend(std::iter::repeat_n(0u32, pad));
            }
            let shape = (chunk.len(), width);
            let flat = Tensor::from_vec(flat, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let types = flat.zeros_like()?;
            let hidden = model.forward(&flat, &types, Some(&mask))?;
            let pooled = match self.pooling {
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
                Pooling::Mean => {
                    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                    let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                    let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
                    summed.broadcast_div(&counts)?
                }
            };
            let pooled = if self.normalize {
                let norm = pooled
                    .sqr()?
                    .sum_keepdim(1)?
                    .sqrt()?
                    .clamp(1e-12, f64::MAX)?;
                pooled.broadcast_div(&norm)?
            } else {
                pooled
            };
            for (&i, v) in chunk.iter().zip(pooled.to_vec2::<f32>()?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Cosine similarity of two vectors (their dot product when both are normalised).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
