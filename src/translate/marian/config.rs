//! A Marian checkpoint's `config.json`, read into the typed [`MarianConfig`] (serde) with the
//! checks and HF defaults that inference needs: the one place that knows which fields a
//! Marian config has and what each missing one means.
use std::path::Path;

use candle_nn::Activation;
use serde::Deserialize;

use super::MarianError;
use crate::generate::{GenerationConfig, TokenIds};

fn default_activation() -> String {
    "gelu".to_string()
}

fn default_true() -> bool {
    true
}

/// Every field of a Marian `config.json` that inference uses. The shape fields and the special
/// token ids are required (real OPUS-MT configs always have them); the rest take HF's
/// defaults. Unknown keys (dropout rates, `architectures`, ...) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MarianConfig {
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    /// HF `ACT2FN` name: `swish`/`silu`, `gelu`, `gelu_new`, `relu`, ...
    #[serde(default = "default_activation")]
    pub activation_function: String,
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by `sqrt(d_model)`.
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "default_true")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    pub pad_token_id: u32,
    pub eos_token_id: TokenIds,
    pub decoder_start_token_id: u32,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub forced_eos_token_id: Option<TokenIds>,
    /// Legacy BART-era key found in old OPUS-MT configs. HF's Marian ignores it (its blocks are
    /// always post-norm) and so do we; it is kept for completeness.
    #[serde(default)]
    pub normalize_before: Option<bool>,
    /// Legacy key, ignored by HF's Marian like `normalize_before`.
    #[serde(default)]
    pub normalize_embedding: Option<bool>,
    /// Legacy key; Marian positions are always static sinusoids.
    #[serde(default)]
    pub static_position_embeddings: Option<bool>,
    #[serde(default)]
    pub model_type: Option<String>,
}

impl MarianConfig {
    /// Reads `config.json`; a missing or malformed field is reported with the file's path.
    pub fn from_file(path: &Path) -> Result<Self, MarianError> {
        let text = std::fs::read_to_string(path).map_err(|source| MarianError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses the text of a `config.json` (`path` only names it in errors).
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, MarianError> {
        let cfg: Self = serde_json::from_str(text).map_err(|source| MarianError::Config {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()
            .map_err(|message| MarianError::InvalidConfig {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(cfg)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.encoder_attention_heads == 0
            || !self.d_model.is_multiple_of(self.encoder_attention_heads)
        {
            return Err(format!(
                "d_model ({}) is not divisible by encoder_attention_heads ({})",
                self.d_model, self.encoder_attention_heads
            ));
        }
        if self.decoder_attention_heads == 0
            || !self.d_model.is_multiple_of(self.decoder_attention_heads)
        {
            return Err(format!(
                "d_model ({}) is not divisible by decoder_attention_heads ({})",
                self.d_model, self.decoder_attention_heads
            ));
        }
        self.activation()?;
        Ok(())
    }

    /// `decoder_vocab_size`, defaulting to `vocab_size` as HF does.
    pub fn decoder_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// Rows of the output projection: HF uses `vocab_size` when the embeddings are shared.
    pub fn target_vocab_size(&self) -> usize {
        if self.share_encoder_decoder_embeddings {
            self.vocab_size
        } else {
            self.decoder_vocab_size()
        }
    }

    /// The candle activation matching HF's `ACT2FN[activation_function]`.
    pub fn activation(&self) -> Result<Activation, String> {
        match self.activation_function.as_str() {
            "gelu" | "gelu_python" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::NewGelu),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            "sigmoid" => Ok(Activation::Sigmoid),
            other => Err(format!("unsupported activation_function {other:?}")),
        }
    }

    /// The generation settings `config.json` itself implies (its special tokens), used to fill
    /// what a `GenerationConfig` leaves unset.
    pub fn generation_defaults(&self) -> GenerationConfig {
        GenerationConfig {
            eos_token_id: Some(self.eos_token_id.clone()),
            pad_token_id: Some(self.pad_token_id),
            bos_token_id: self.bos_token_id,
            decoder_start_token_id: Some(self.decoder_start_token_id),
            ..GenerationConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_field_names_file_and_field() {
        let err = MarianConfig::from_json_str(
            r#"{"vocab_size": 10, "encoder_layers": 1}"#,
            Path::new("/x/config.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/x/config.json"), "{err}");
        assert!(err.contains("missing field"), "{err}");
    }

    #[test]
    fn opus_mt_config_parses() {
        let text = r#"{
          "_name_or_path": "Helsinki-NLP/opus-mt-id-en", "activation_dropout": 0.0,
          "activation_function": "swish", "add_bias_logits": false, "architectures": ["MarianMTModel"],
          "attention_dropout": 0.0, "bad_words_ids": [[54795]], "bos_token_id": 0,
          "classif_dropout": 0.0, "d_model": 512, "decoder_attention_heads": 8,
          "decoder_ffn_dim": 2048, "decoder_layers": 6, "decoder_start_token_id": 54795,
          "decoder_vocab_size": 54796, "dropout": 0.1, "encoder_attention_heads": 8,
          "encoder_ffn_dim": 2048, "encoder_layers": 6, "eos_token_id": 0,
          "forced_eos_token_id": 0, "init_std": 0.02, "is_encoder_decoder": true,
          "max_length": 512, "max_position_embeddings": 512, "model_type": "marian",
          "normalize_before": false, "normalize_embedding": false, "num_beams": 4,
          "num_hidden_layers": 6, "pad_token_id": 54795, "scale_embedding": true,
          "share_encoder_decoder_embeddings": true, "static_position_embeddings": true,
          "transformers_version": "4.22.0.dev0", "use_cache": true, "vocab_size": 54796
        }"#;
        let cfg = MarianConfig::from_json_str(text, Path::new("config.json")).unwrap();
        assert_eq!(cfg.activation().unwrap(), Activation::Silu);
        assert_eq!(cfg.target_vocab_size(), 54796);
        assert_eq!(cfg.eos_token_id, TokenIds::One(0));
        let bad = text.replace("\"swish\"", "\"mystery\"");
        assert!(MarianConfig::from_json_str(&bad, Path::new("config.json")).is_err());
    }
}
