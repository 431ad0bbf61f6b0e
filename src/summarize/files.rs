//! Reading a summarisation model's files (the embedding model, the NLI cross-encoder, the
//! LLM): JSON configs, tokenizer.json and weights, each failure naming the file. One place,
//! so the three models load their files the same way and report them the same way.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::weights::{Checkpoint, WeightsError};

/// Why one of a model's files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
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
    #[error("cannot load the weights in {dir}: {source}")]
    Weights {
        dir: PathBuf,
        source: Box<WeightsError>,
    },
    #[error("the tokenizer failed: {0}")]
    Tokenize(String),
}

/// Parses the JSON file `path`; `what` names it in errors ("BERT config.json").
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T, ModelFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ModelFileError::Parse {
        path: path.to_path_buf(),
        what,
        message: e.to_string(),
    })
}

/// Loads `dir/tokenizer.json`, without padding (callers pad per batch) and, when
/// `max_tokens` is given, truncating there.
pub fn tokenizer(
    dir: &Path,
    max_tokens: Option<usize>,
) -> Result<tokenizers::Tokenizer, ModelFileError> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer =
        tokenizers::Tokenizer::from_file(&path).map_err(|e| ModelFileError::Parse {
            path: path.clone(),
            what: "tokenizer.json",
            message: e.to_string(),
        })?;
    if let Some(max_length) = max_tokens {
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| ModelFileError::Tokenize(e.to_string()))?;
    }
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// The checkpoint in the model directory `dir` (its weight files as
/// [`Checkpoint::find`] picks them).
pub fn find(dir: &Path) -> Result<Checkpoint, ModelFileError> {
    Checkpoint::find(dir).map_err(|source| weights_error(dir, source))
}

/// The weights of `checkpoint` as a var builder.
pub fn weights(
    checkpoint: &Checkpoint,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, ModelFileError> {
    checkpoint
        .var_builder(dtype, device)
        .map_err(|source| weights_error(&checkpoint.dir, source))
}

fn weights_error(dir: &Path, source: WeightsError) -> ModelFileError {
    ModelFileError::Weights {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    }
}
