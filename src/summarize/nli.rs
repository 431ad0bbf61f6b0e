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

use super::files::{self, read_json, ModelFileError};
use crate::weights::Checkpoint;

/// Why the NLI model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum NliError {
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error("{path}: no `entailment` label numbered within id2label, so it is not an NLI model")]
    NoEntailment { path: PathBuf },
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
    /// Loads a BERT cross-encoder from its directory (config.json with `id2label`,
    /// tokenizer.json, the weights [`crate::weights::Checkpoint::find`] picks).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, NliError> {
        Self::from_checkpoint(&files::find(dir)?, device)
    }

    /// Loads a BERT cross-encoder checkpoint (a directory and the weight files to load).
    pub fn from_checkpoint(checkpoint: &Checkpoint, device: &Device) -> Result<Self, NliError> {
        let dir = checkpoint.dir.as_path();
        let cfg_path = dir.join("config.json");
        let config: Config = read_json(&cfg_path, "BERT config.json")?;
        let labels: Labels = read_json(&cfg_path, "classifier config.json")?;
        let entailment = labels
            .id2label
            .iter()
            .find(|(_, l)| l.eq_ignore_ascii_case("entailment"))
            .and_then(|(i, _)| i.parse().ok())
            .filter(|&i: &usize| i < labels.id2label.len())
            .ok_or(NliError::NoEntailment {
                path: cfg_path.clone(),
            })?;
        let tokenizer = files::tokenizer(dir, Some(config.max_position_embeddings))?;
        let vb = files::weights(checkpoint, DType::F32, device)?;
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
