//! Sentence embeddings from a BERT-family sentence-transformers checkpoint
//! (default `sentence-transformers/all-MiniLM-L6-v2`), as sentence-transformers computes
//! them: WordPiece tokens truncated to the model's `max_seq_length`, the encoder run on
//! padded batches with an attention mask, token vectors mean-pooled over the real tokens,
//! then L2-normalised when the checkpoint's `modules.json` has a `Normalize` module.
//!
//! The summariser ranks sentences with them and the citation check scores support with
//! them. The encoder itself is candle-transformers' BERT; this file adds what
//! sentence-transformers puts around it.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;

use super::files::{self, read_json, ModelFileError};

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

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: BertModel,
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
    /// or pytorch_model.bin, tokenizer.json, modules.json and the pooling config).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, EmbedError> {
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
        let vb = files::checkpoint(dir, device)?;
        let model = BertModel::load(vb, &config)?;
        Ok(Self {
            model,
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

    /// Embeds `texts`, in order. Batches are formed from texts of similar length, so the
    /// result does not depend on how the caller groups its calls.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let width = chunk
                .iter()
                .map(|&i| encodings[i].get_ids().len())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut ids = Vec::with_capacity(chunk.len() * width);
            let mut mask = Vec::with_capacity(chunk.len() * width);
            for &i in chunk {
                let e = &encodings[i];
                ids.extend(e.get_ids().iter().copied());
                mask.extend(e.get_attention_mask().iter().copied());
                let pad = width - e.get_ids().len();
                ids.extend(std::iter::repeat_n(0u32, pad));
                mask.extend(std::iter::repeat_n(0u32, pad));
            }
            let shape = (chunk.len(), width);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
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
