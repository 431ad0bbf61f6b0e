//! The one weights loader: a [`Checkpoint`]'s files (safetensors and both `pytorch_model.bin`
//! formats) into a candle `VarBuilder`.
//!
//! It exists because checkpoints come in several shapes and the model code should not care
//! which. Each shape has its own room:
//!
//! - [`checkpoint`]: which weight files a model directory has (the one preference order, and
//!   the one reading of `*.index.json` shard lists); the hub and every model loader ask it.
//! - `safetensors`: memory-mapped, tensors read lazily.
//! - `zip`: the archive `torch.save` writes since torch 1.6.
//! - `legacy`: the stream older torch wrote (and 2020-era OPUS-MT conversions still are).
//! - `pickle`: the small pickle machine both `.bin` formats use (no code is ever run: it only
//!   builds a tree of values), and `rebuild`: tensors rebuilt from its tree and the storages.
//!
//! This file is the loader the model code sees. Floating tensors (f16, bf16, f32, f64) are
//! converted to the requested dtype at load; integer buffers (e.g. i64 position ids) keep
//! their type; bool tensors become u8 0/1 (candle has no bool). Every failure names the file
//! and what is wrong; a tensor the model asks for later and that is in no file names the
//! tensor and the files.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

pub mod checkpoint;
mod legacy;
mod pickle;
mod rebuild;
mod safetensors;
mod zip;

pub use checkpoint::{Checkpoint, WEIGHT_CANDIDATES};

/// Everything that can go wrong while loading weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("no weight files given")]
    NoFiles,

    #[error(
        "{} has no weights: none of {} found",
        dir.display(),
        WEIGHT_CANDIDATES.join(", ")
    )]
    NoWeights { dir: PathBuf },

    #[error("{}: names the shard `{shard}`, which is not in {}", index.display(), dir.display())]
    MissingShard {
        index: PathBuf,
        dir: PathBuf,
        shard: String,
    },

    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a weights file: {reason}", path.display())]
    UnknownFormat { path: PathBuf, reason: String },

    #[error("{}: corrupt or truncated {format} file: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },

    #[error("{}: tensor `{name}`: {reason}", path.display())]
    BadTensor {
        path: PathBuf,
        name: String,
        reason: String,
    },

    #[error("{}: {source}", path.display())]
    Candle {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },

    #[error("tensor `{name}` is in none of the weight files ({files})")]
    MissingTensor { name: String, files: String },

    #[error("tensor `{name}` ({files}): expected shape {expected:?}, the file has {found:?}")]
    ShapeMismatch {
        name: String,
        files: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

/// How a weights file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    Safetensors,
    /// `torch.save` since torch 1.6: a zip archive with `data.pkl` and `data/<key>` entries.
    PytorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: a bare sequence of pickles.
    PytorchLegacy,
}

/// The format of `path`, from its first bytes (and `.safetensors` for safetensors).
pub fn detect_format(path: &Path) -> Result<WeightsFormat, WeightsError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(source) => {
                return Err(WeightsError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Ok(WeightsFormat::PytorchZip);
    }
    if head.starts_with(&[0x80]) {
        return Ok(WeightsFormat::PytorchLegacy);
    }
    let is_safetensors_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    // safetensors: 8-byte header length, then a JSON object.
    if is_safetensors_name || (n >= 9 && head[8] == b'{') {
        return Ok(WeightsFormat::Safetensors);
    }
    let reason = if n == 0 {
        "the file is empty".to_string()
    } else {
        format!(
            "starts with bytes {:02x?}, which is neither safetensors, a torch zip archive nor a legacy torch pickle",
            head
        )
    };
    Err(WeightsError::UnknownFormat {
        path: path.to_path_buf(),
        reason,
    })
}

/// Loaded weights: `.bin` tensors in memory (on the target device, floats in the target
/// dtype) and safetensors files memory-mapped and read on demand.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    safetensors: Option<candle_core::safetensors::MmapedSafetensors>,
    safetensor_names: Vec<String>,
    files: Vec<PathBuf>,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("files", &self.files)
            .field("tensors", &self.len())
            .field("dtype", &self.dtype)
            .finish()
    }
}

/// The weights in `files` as a `VarBuilder` whose tensors are `dtype` (floats) on `device`.
/// `files` are safetensors, `pytorch_model.bin` (zip or legacy) or `*.index.json` files
/// (replaced by the shards they name); later files win on duplicate names.
pub fn load_var_builder(
    files: &[PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, WeightsError> {
    Ok(Weights::load(files, dtype, device)?.into_var_builder())
}

impl Weights {
    /// Reads (`.bin`) or maps (safetensors) every file; see [`load_var_builder`].
    pub fn load(files: &[PathBuf], dtype: DType, device: &Device) -> Result<Self, WeightsError> {
        if files.is_empty() {
            return Err(WeightsError::NoFiles);
        }
        let mut expanded = Vec::new();
        for file in files {
            if checkpoint::is_index(file) {
                expanded.extend(checkpoint::index_files(file)?);
            } else {
                expanded.push(file.clone());
            }
        }
        let mut tensors = HashMap::new();
        let mut safetensor_files = Vec::new();
        for path in &expanded {
            match detect_format(path)? {
                WeightsFormat::Safetensors => {
                    safetensors::check(path)?;
                    safetensor_files.push(path.clone());
                }
                format => {
                    for (name, tensor) in read_pytorch_bin_as(path, format)? {
                        let tensor = convert(&tensor, dtype, device).map_err(|source| {
                            WeightsError::Candle {
                                path: path.clone(),
                                source,
                            }
                        })?;
                        tensors.insert(name, tensor);
                    }
                }
            }
        }
        let (safetensors, safetensor_names) = if safetensor_files.is_empty() {
            (None, Vec::new())
        } else {
            let st = safetensors::map(&safetensor_files)?;
            let names = st.tensors().into_iter().map(|(n, _)| n).collect();
            (Some(st), names)
        };
        Ok(Weights {
            tensors,
            safetensors,
            safetensor_names,
            files: expanded,
            dtype,
            device: device.clone(),
        })
    }

    /// The files the weights come from (index files replaced by their shards).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tensors
            .keys()
            .chain(self.safetensor_names.iter())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// How many tensors there are.
    pub fn len(&self) -> usize {
        self.names().len()
    }

    /// No tensors at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.safetensor_names.iter().any(|n| n == name)
    }

    /// One tensor, floats in the load dtype, on the load device.
    pub fn get(&self, name: &str) -> Result<Tensor, WeightsError> {
        self.get_as(name, self.dtype, &self.device)
    }

    fn files_list(&self) -> String {
        self.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn get_as(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor, WeightsError> {
        if let Some(t) = self.tensors.get(name) {
            return convert(t, dtype, device).map_err(|source| WeightsError::Candle {
                path: self.files.first().cloned().unwrap_or_default(),
                source,
            });
        }
        if let Some(st) = &self.safetensors {
            if self.safetensor_names.iter().any(|n| n == name) {
                let t = safetensors::load(st, name, device)
                    .and_then(|t| convert(&t, dtype, device))
                    .map_err(|e| WeightsError::BadTensor {
                        path: self.files.first().cloned().unwrap_or_default(),
                        name: name.to_string(),
                        reason: e.to_string(),
                    })?;
                return Ok(t);
            }
        }
        Err(WeightsError::MissingTensor {
            name: name.to_string(),
            files: self.files_list(),
        })
    }

    /// A `VarBuilder` over these weights (its dtype and device are the load ones).
    pub fn into_var_builder(self) -> VarBuilder<'static> {
        let dtype = self.dtype;
        let device = self.device.clone();
        VarBuilder::from_backend(Box::new(Backend(Arc::new(self))), dtype, device)
    }
}

/// Floats to `dtype`, integers unchanged; then to `device`.
fn convert(t: &Tensor, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
    let t = if t.dtype().is_float() && t.dtype() != dtype {
        t.to_dtype(dtype)?
    } else {
        t.clone()
    };
    t.to_device(device)
}

struct Backend(Arc<Weights>);

impl SimpleBackend for Backend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self
            .0
            .get_as(name, dtype, dev)
            .map_err(candle_core::Error::wrap)?;
        if t.shape() != &s {
            return Err(candle_core::Error::wrap(WeightsError::ShapeMismatch {
                name: name.to_string(),
                files: self.0.files_list(),
                expected: s.dims().to_vec(),
                found: t.dims().to_vec(),
            }));
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0
            .get_as(name, dtype, dev)
            .map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// All tensors of a `pytorch_model.bin` (zip or legacy format) on the CPU in their stored
/// dtypes, in the order the state dict lists them.
pub fn read_pytorch_bin(path: &Path) -> Result<Vec<(String, Tensor)>, WeightsError> {
    let format = detect_format(path)?;
    if format == WeightsFormat::Safetensors {
        return Err(WeightsError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "this is a safetensors file, not a pytorch_model.bin".to_string(),
        });
    }
    read_pytorch_bin_as(path, format)
}

fn read_pytorch_bin_as(
    path: &Path,
    format: WeightsFormat,
) -> Result<Vec<(String, Tensor)>, WeightsError> {
    let file = std::fs::File::open(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: mapped read-only; we rely on nobody truncating the file while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match format {
        WeightsFormat::PytorchLegacy => legacy::read(path, &map),
        WeightsFormat::PytorchZip => zip::read(path, &map),
        WeightsFormat::Safetensors => Err(WeightsError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "safetensors is not a pytorch format".to_string(),
        }),
    }
}
