//! Which weight files a checkpoint has: the one preference order ([`WEIGHT_CANDIDATES`]) and
//! the one reading of an `*.index.json` shard list.
//!
//! It exists so that exactly one place decides this. The hub picks a repo's weights with
//! [`choose`] and [`expand`] (its cache and the hub's file list are asked the same questions
//! a directory is), a model directory is read with [`Checkpoint::find`], and every model
//! loader (translator, embedder, NLI judge, LLM) loads a [`Checkpoint`], so a model resolved
//! by the hub loads exactly the files the hub worked out.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use super::WeightsError;

/// Weight files in order of preference; index files list shards of the format before them.
pub const WEIGHT_CANDIDATES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

/// A model's directory and the weight files to load from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The directory holding the model files (`config.json`, tokenizer files, the weights).
    pub dir: PathBuf,
    /// The weight files in load order: one file, or the shards an index names. Empty when
    /// only the other files were asked for (a tokenizer alone).
    pub weights: Vec<PathBuf>,
}

impl Checkpoint {
    /// The checkpoint in a model directory: the first of [`WEIGHT_CANDIDATES`] there, an
    /// index replaced by its shards (each of which must be there).
    pub fn find(dir: &Path) -> Result<Self, WeightsError> {
        let chosen = choose(|name| {
            let path = dir.join(name);
            Ok::<_, WeightsError>(path.is_file().then_some(path))
        })?;
        let Some(path) = chosen else {
            return Err(WeightsError::NoWeights {
                dir: dir.to_path_buf(),
            });
        };
        let weights = expand(&path, |shard| {
            let shard_path = dir.join(shard);
            if shard_path.is_file() {
                Ok(shard_path)
            } else {
                Err(WeightsError::MissingShard {
                    index: path.clone(),
                    dir: dir.to_path_buf(),
                    shard: shard.to_string(),
                })
            }
        })?;
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            weights,
        })
    }

    /// A single GGUF file; the files that go with it (tokenizer.json, ...) sit beside it.
    pub fn gguf(path: &Path) -> Self {
        Checkpoint {
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            weights: vec![path.to_path_buf()],
        }
    }

    /// The GGUF file, when the weights are one.
    pub fn gguf_file(&self) -> Option<&Path> {
        match self.weights.as_slice() {
            [one] if one.extension().is_some_and(|x| x == "gguf") => Some(one),
            _ => None,
        }
    }

    /// The weights as a `VarBuilder` whose tensors are `dtype` (floats) on `device`.
    pub fn var_builder(
        &self,
        dtype: DType,
        device: &Device,
    ) -> Result<VarBuilder<'static>, WeightsError> {
        super::load_var_builder(&self.weights, dtype, device)
    }
}

/// The weight file to use: [`WEIGHT_CANDIDATES`] in order, the first that `probe` finds
/// (`Ok(Some(_))`) wins; `Ok(None)` when it finds none. `probe` says how a candidate is
/// found: a file in a directory, a cached file, a file the hub lists.
pub fn choose<T, E>(
    mut probe: impl FnMut(&'static str) -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    for candidate in WEIGHT_CANDIDATES {
        if let Some(found) = probe(candidate)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Whether `path` names a shard index (`*.index.json`).
pub fn is_index(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"))
}

/// A chosen weight file as it is, or the shards its index names, each located by `locate`
/// (a file next to the index, a cached file, a download).
pub fn expand<E: From<WeightsError>>(
    path: &Path,
    mut locate: impl FnMut(&str) -> Result<PathBuf, E>,
) -> Result<Vec<PathBuf>, E> {
    if !is_index(path) {
        return Ok(vec![path.to_path_buf()]);
    }
    index_shards(path)?.iter().map(|s| locate(s)).collect()
}

/// The shard files an index names, next to it, sorted (not checked to exist: loading them
/// says which one is missing).
pub fn index_files(index: &Path) -> Result<Vec<PathBuf>, WeightsError> {
    let dir = index.parent().unwrap_or(Path::new("."));
    Ok(index_shards(index)?
        .iter()
        .map(|shard| dir.join(shard))
        .collect())
}

/// The shard file names an `*.index.json` names in its `weight_map`, sorted and
/// deduplicated. A name that would leave the index's directory (`..`, an absolute path, a
/// backslash) is refused.
pub fn index_shards(index: &Path) -> Result<Vec<String>, WeightsError> {
    let corrupt = |reason: String| WeightsError::Corrupt {
        path: index.to_path_buf(),
        format: "index.json",
        reason,
    };
    let text = std::fs::read_to_string(index).map_err(|source| WeightsError::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| corrupt("no `weight_map` object".to_string()))?;
    let mut shards = BTreeSet::new();
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| corrupt(format!("`{tensor}` does not map to a file name")))?;
        if shard.contains("..") || shard.starts_with('/') || shard.contains('\\') {
            return Err(corrupt(format!(
                "shard name `{shard}` leaves the model directory"
            )));
        }
        shards.insert(shard.to_string());
    }
    if shards.is_empty() {
        return Err(corrupt("`weight_map` is empty".to_string()));
    }
    Ok(shards.into_iter().collect())
}
