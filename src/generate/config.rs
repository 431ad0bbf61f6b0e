//! Decoding settings: `generation_config.json` (or the legacy fields of `config.json`) read into
//! a [`GenerationConfig`], and turned into the concrete lengths of one `generate` call.
//!
//! This file exists so that HF's rules for *which* setting wins live in one place: a file value
//! beats the global default, `max_new_tokens` beats `max_length`, `min_new_tokens` beats
//! `min_length`, and a `max_length` nobody set means "20 new tokens, capped by the model's
//! `max_position_embeddings`" (transformers `GenerationMixin._prepare_generated_length`). The CLI
//! overrides by assigning the pub fields before calling `generate`.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// HF's global default for `max_length` when neither the user nor the checkpoint sets one.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum GenerationConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid generation config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A setting no decoding can run with; `setting` is its name in `generation_config.json`.
    #[error("invalid generation setting {setting}: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

/// One token id or several, as HF accepts for `eos_token_id` / `forced_eos_token_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(t) => vec![*t],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

/// HF's `early_stopping`: `true`, `false` or `"never"`; each changes when beam search stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// Stop a sentence as soon as `num_beams` hypotheses are finished.
    True,
    /// Stop when the best running beam, scored at the current length, cannot beat the worst
    /// finished hypothesis (HF's default heuristic).
    #[default]
    False,
    /// Like `False`, but with a positive length penalty the running beam is scored at
    /// `max_length` (the canonical beam search bound).
    Never,
}

impl Serialize for EarlyStopping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EarlyStopping::True => s.serialize_bool(true),
            EarlyStopping::False => s.serialize_bool(false),
            EarlyStopping::Never => s.serialize_str("never"),
        }
    }
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(EarlyStopping::True),
            Raw::Bool(false) => Ok(EarlyStopping::False),
            Raw::Str(s) if s == "never" => Ok(EarlyStopping::Never),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "early_stopping must be true, false or \"never\", not {s:?}"
            ))),
        }
    }
}

impl std::str::FromStr for EarlyStopping {
    type Err = GenerationConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "true" => Ok(EarlyStopping::True),
            "false" => Ok(EarlyStopping::False),
            "never" => Ok(EarlyStopping::Never),
            other => Err(GenerationConfigError::Invalid {
                setting: "early_stopping",
                problem: format!("must be true, false or never, not {other:?}"),
            }),
        }
    }
}

/// The decoding settings HF's `generate` honours for greedy and beam search.
///
/// Every field is optional in the file; `None` / the serde default means "not set", and the
/// HF global default applies (see [`GenerationConfig::resolve`]). Sampling settings are not
/// supported: `do_sample: true` is rejected at resolve time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GenerationConfig {
    /// Total length limit, counting the decoder prompt (`decoder_start_token_id`).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Limit on generated tokens; wins over `max_length`.
    #[serde(default)]
    pub max_new_tokens: Option<usize>,
    /// Minimum total length (prompt included) before EOS may be generated.
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Minimum generated tokens before EOS may be generated; wins over `min_length`.
    #[serde(default)]
    pub min_new_tokens: Option<usize>,
    #[serde(default)]
    pub num_beams: Option<usize>,
    #[serde(default)]
    pub length_penalty: Option<f64>,
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    #[serde(default)]
    pub no_repeat_ngram_size: Option<usize>,
    /// Token sequences that may never be generated (opus-mt lists the pad token here).
    #[serde(default)]
    pub bad_words_ids: Option<Vec<Vec<u32>>>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    /// Forced as the last token when the length limit is reached.
    #[serde(default)]
    pub forced_eos_token_id: Option<TokenIds>,
    /// Apply a final log-softmax after the logits processors (HF `LogitNormalization`).
    #[serde(default)]
    pub renormalize_logits: Option<bool>,
    #[serde(default)]
    pub num_return_sequences: Option<usize>,
    #[serde(default)]
    pub do_sample: Option<bool>,
}

/// The concrete settings of one `generate` call, after HF's precedence rules (recorded in
/// `run.json` as what the translations were made with).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedGeneration {
    /// Length of the decoder prompt each row starts with (1 for a seq2seq model).
    pub prompt_len: usize,
    /// Total length limit (prompt included).
    pub max_length: usize,
    /// EOS is banned while the total length is below this.
    pub min_length: usize,
    pub num_beams: usize,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub no_repeat_ngram_size: usize,
    /// Bad word sequences, EOS-only entries removed as HF does.
    pub bad_words_ids: Vec<Vec<u32>>,
    pub eos_token_ids: Vec<u32>,
    pub forced_eos_token_ids: Vec<u32>,
    pub renormalize_logits: bool,
}

impl GenerationConfig {
    /// Parses a JSON text (`generation_config.json` or `config.json`); unknown keys are ignored.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, GenerationConfigError> {
        serde_json::from_str(text).map_err(|source| GenerationConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, GenerationConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenerationConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// The checkpoint's settings as HF's `from_pretrained` finds them: `generation_config.json`
    /// when present, else the generation fields of `config.json`. Special token ids the
    /// generation file leaves out are then taken from `config.json`.
    pub fn from_model_dir(dir: &Path) -> Result<Self, GenerationConfigError> {
        let gen_path = dir.join("generation_config.json");
        let cfg_path = dir.join("config.json");
        let from_model = if cfg_path.exists() {
            Some(Self::from_file(&cfg_path)?)
        } else {
            None
        };
        if gen_path.exists() {
            let mut gen = Self::from_file(&gen_path)?;
            if let Some(m) = from_model {
                gen.fill_special_tokens_from(&m);
            }
            Ok(gen)
        } else if let Some(m) = from_model {
            Ok(m)
        } else {
            Err(GenerationConfigError::Read {
                path: cfg_path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            })
        }
    }

    /// Fills unset special token ids from another config (usually the model's `config.json`).
    pub fn fill_special_tokens_from(&mut self, other: &GenerationConfig) {
        if self.eos_token_id.is_none() {
            self.eos_token_id = other.eos_token_id.clone();
        }
        if self.pad_token_id.is_none() {
            self.pad_token_id = other.pad_token_id;
        }
        if self.bos_token_id.is_none() {
            self.bos_token_id = other.bos_token_id;
        }
        if self.decoder_start_token_id.is_none() {
            self.decoder_start_token_id = other.decoder_start_token_id;
        }
    }

    /// `decoder_start_token_id`, falling back to `bos_token_id` as HF does.
    pub fn decoder_start(&self) -> Option<u32> {
        self.decoder_start_token_id.or(self.bos_token_id)
    }

    /// Applies HF's precedence rules for a decoder prompt of `prompt_len` tokens.
    /// `max_position_embeddings` caps the default `max_length` (not an explicit one).
    pub fn resolve(
        &self,
        prompt_len: usize,
        max_position_embeddings: Option<usize>,
    ) -> Result<ResolvedGeneration, GenerationConfigError> {
        if self.do_sample == Some(true) {
            return Err(GenerationConfigError::Invalid {
                setting: "do_sample",
                problem: "true is not supported (greedy and beam search only)".into(),
            });
        }
        if let Some(n) = self.num_return_sequences {
            if n > 1 {
                return Err(GenerationConfigError::Invalid {
                    setting: "num_return_sequences",
                    problem: format!("{n} is not supported (1 only)"),
                });
            }
        }
        let num_beams = self.num_beams.unwrap_or(1);
        if num_beams == 0 {
            return Err(GenerationConfigError::Invalid {
                setting: "num_beams",
                problem: "must be at least 1".into(),
            });
        }
        let max_length = if let Some(n) = self.max_new_tokens {
            n + prompt_len
        } else if let Some(n) = self.max_length {
            n
        } else {
            let n = DEFAULT_MAX_NEW_TOKENS + prompt_len;
            max_position_embeddings.map_or(n, |m| n.min(m))
        };
        if prompt_len >= max_length {
            return Err(GenerationConfigError::Invalid {
                setting: if self.max_new_tokens.is_some() {
                    "max_new_tokens"
                } else {
                    "max_length"
                },
                problem: format!(
                    "the decoder prompt has {prompt_len} tokens but max_length is {max_length}; \
                     raise max_length or set max_new_tokens"
                ),
            });
        }
        let min_length = match self.min_new_tokens {
            Some(n) => n + prompt_len,
            None => self.min_length.unwrap_or(0),
        };
        let eos_token_ids = self
            .eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default();
        let bad_words_ids = self
            .bad_words_ids
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|seq| !(seq.len() == 1 && eos_token_ids.contains(&seq[0])))
            .collect::<Vec<_>>();
        if bad_words_ids.iter().any(|s| s.is_empty()) {
            return Err(GenerationConfigError::Invalid {
                setting: "bad_words_ids",
                problem: "holds an empty sequence".into(),
            });
        }
        Ok(ResolvedGeneration {
            prompt_len,
            max_length,
            min_length,
            num_beams,
            length_penalty: self.length_penalty.unwrap_or(1.0),
            early_stopping: self.early_stopping.unwrap_or_default(),
            no_repeat_ngram_size: self.no_repeat_ngram_size.unwrap_or(0),
            bad_words_ids,
            eos_token_ids,
            forced_eos_token_ids: self
                .forced_eos_token_id
                .as_ref()
                .map(TokenIds::to_vec)
                .unwrap_or_default(),
            renormalize_logits: self.renormalize_logits.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> GenerationConfig {
        GenerationConfig::from_json_str(s, Path::new("generation_config.json")).unwrap()
    }

    #[test]
    fn opus_mt_generation_config() {
        let g = parse(
            r#"{"bad_words_ids": [[54795]], "bos_token_id": 0, "decoder_start_token_id": 54795,
                "eos_token_id": 0, "forced_eos_token_id": 0, "max_length": 512, "num_beams": 4,
                "pad_token_id": 54795, "transformers_version": "4.27.0.dev0"}"#,
        );
        let r = g.resolve(1, Some(512)).unwrap();
        assert_eq!(r.max_length, 512);
        assert_eq!(r.num_beams, 4);
        assert_eq!(r.bad_words_ids, vec![vec![54795]]);
        assert_eq!(r.eos_token_ids, vec![0]);
        assert_eq!(r.forced_eos_token_ids, vec![0]);
        assert_eq!(r.early_stopping, EarlyStopping::False);
        assert_eq!(g.decoder_start(), Some(54795));
    }

    #[test]
    fn length_precedence() {
        let mut g = parse(r#"{"max_length": 100, "min_length": 3}"#);
        assert_eq!(g.resolve(1, None).unwrap().max_length, 100);
        g.max_new_tokens = Some(7);
        g.min_new_tokens = Some(2);
        let r = g.resolve(1, None).unwrap();
        assert_eq!((r.max_length, r.min_length), (8, 3));
        let d = GenerationConfig::default();
        assert_eq!(d.resolve(1, Some(512)).unwrap().max_length, 21);
        assert_eq!(d.resolve(1, Some(10)).unwrap().max_length, 10);
        g.max_new_tokens = Some(0);
        assert!(g.resolve(1, None).is_err());
    }

    #[test]
    fn early_stopping_forms() {
        assert_eq!(
            parse(r#"{"early_stopping": "never"}"#).early_stopping,
            Some(EarlyStopping::Never)
        );
        assert_eq!(
            parse(r#"{"early_stopping": true}"#).early_stopping,
            Some(EarlyStopping::True)
        );
        assert!(GenerationConfig::from_json_str(
            r#"{"early_stopping": "sometimes"}"#,
            Path::new("g.json")
        )
        .is_err());
    }

    #[test]
    fn an_invalid_setting_is_named() {
        let setting = |g: GenerationConfig| match g.resolve(1, None) {
            Err(GenerationConfigError::Invalid { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        let with = |edit: fn(&mut GenerationConfig)| {
            let mut g = GenerationConfig::default();
            edit(&mut g);
            g
        };
        assert_eq!(setting(with(|g| g.num_beams = Some(0))), "num_beams");
        assert_eq!(setting(with(|g| g.do_sample = Some(true))), "do_sample");
        assert_eq!(setting(with(|g| g.max_length = Some(1))), "max_length");
        assert_eq!(
            setting(with(|g| g.max_new_tokens = Some(0))),
            "max_new_tokens"
        );
        assert_eq!(
            setting(with(|g| g.num_return_sequences = Some(2))),
            "num_return_sequences"
        );
        assert_eq!(
            setting(with(|g| g.bad_words_ids = Some(vec![vec![]]))),
            "bad_words_ids"
        );
    }

    #[test]
    fn eos_bad_word_is_dropped_and_lists_accepted() {
        let g = parse(r#"{"eos_token_id": [0, 5], "bad_words_ids": [[0], [9], [5, 6]]}"#);
        let r = g.resolve(1, None).unwrap();
        assert_eq!(r.eos_token_ids, vec![0, 5]);
        assert_eq!(r.bad_words_ids, vec![vec![9], vec![5, 6]]);
    }
}
