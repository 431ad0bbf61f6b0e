//! An NLI cross-encoder for the citation check: how likely a premise (the cited sentences)
//! entails a hypothesis (the summary sentence). BERT-architecture sequence classifiers such
//! as the cross-encoder/nli-* models: candle-transformers' BERT, then HF's pooler (dense +
//! tanh over the first token) and classifier, softmax over the labels; the `entailment`
//! label of config.json's `id2label` is the support.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Linear;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;

/// Why the NLI model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum NliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what}: {message}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    #[error("{path}: no `entailment` label numbered within id2label, so it is not an NLI model")]
    NoEntailment { path: PathBuf },
    #[error("cannot load the weights in {dir}: {source}")]
    Weights {
        dir: PathBuf,
        source: Box<crate::weights::WeightsError>,
    },
    #[error("the NLI model failed: {0}")]
    Model(#[from] candle_core::Error),
    #[error("the NLI tokenizer failed: {0}")]
    Tokenize(String),
}

#[derive(Deserialize)]
struct Labels {
    id2label: std::collections::BTreeMap<String, String>,
}

/// A loaded NLI cross-encoder.
pub struct Nli {
    bert: BertModel,
    pooler: Linear,
    classifier: Linear,
    tokenizer: tokenizers::Tokenizer,
    entailment: usize,
    device: Device,
}

impl Nli {
    pub fn load(dir: &Path, device: &Device) -> Result<Self, NliError> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|source| NliError::Read {
            path: cfg_path.clone(),
            source,
        })?;
        let parse_err = |what, e: serde_json::Error| NliError::Parse {
            path: cfg_path.clone(),
            what,
            message: e.to_string(),
        };
        let config: Config =
            serde_json::from_str(&text).map_err(|e| parse_err("BERT config.json", e))?;
        let labels: Labels =
            serde_json::from_str(&text).map_err(|e| parse_err("classifier config.json", e))?;
        let entailment = labels
            .id2label
            .iter()
            .find(|(_, l)| l.eq_ignore_ascii_case("entailment"))
            .and_then(|(i, _)| i.parse().ok())
            .filter(|&i: &usize| i < labels.id2label.len())
            .ok_or(NliError::NoEntailment {
                path: cfg_path.clone(),
            })?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer =
            tokenizers::Tokenizer::from_file(&tok_path).map_err(|e| NliError::Parse {
                path: tok_path.clone(),
                what: "tokenizer.json",
                message: e.to_string(),
            })?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: config.max_position_embeddings,
                ..Default::default()
            }))
            .map_err(|e| NliError::Tokenize(e.to_string()))?;
        tokenizer.with_padding(None);
        let weights = crate::weights::checkpoint_file(dir);
        let vb =
            crate::weights::load_var_builder(&weights, DType::F32, device).map_err(|source| {
                NliError::Weights {
                    dir: dir.to_path_buf(),
                    source: Box::new(source),
                }
            })?;
        let bert = BertModel::load(vb.clone(), &config)?;
        let h = config.hidden_size;
        let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))?;
        let classifier = candle_nn::linear(h, labels.id2label.len(), vb.pp("classifier"))?;
        Ok(Self {
            bert,
            pooler,
            classifier,
            tokenizer,
            entailment,
            device: device.clone(),
        })
    }

    /// The label probabilities of each (premise, hypothesis) pair, in config order.
    pub fn probabilities(&self, pairs: &[(&str, &str)]) -> Result<Vec<Vec<f32>>, NliError> {
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(16) {
            let inputs: Vec<tokenizers::EncodeInput> =
                chunk.iter().map(|&(p, h)| (p, h).into()).collect();
            let enc = self
                .tokenizer
                .encode_batch(inputs, true)
                .map_err(|e| NliError::Tokenize(e.to_string()))?;
            let width = enc.iter().map(|e| e.get_ids().len()).max().unwrap_or(1);
            let (mut ids, mut types, mut mask) = (Vec::new(), Vec::new(), Vec::new());
            for e in &enc {
                let pad = width - e.get_ids().len();
                ids.extend(
                    e.get_ids()
                        .iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, pad)),
                );
                types.extend(
                    e.get_type_ids()
                        .iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, pad)),
                );
                mask.extend(
                    e.get_attention_mask()
                        .iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, pad)),
                );
            }
            let shape = (enc.len(), width);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let types = Tensor::from_vec(types, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
            let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            let pooled = self.pooler.forward(&first)?.tanh()?;
            let logits = self.classifier.forward(&pooled)?;
            let probs = candle_nn::ops::softmax_last_dim(&logits)?;
            out.extend(probs.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// The probability that each premise entails its hypothesis.
    pub fn entailment(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, NliError> {
        Ok(self
            .probabilities(pairs)?
            .into_iter()
            .map(|p| p[self.entailment])
            .collect())
    }
}
