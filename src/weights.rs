//! The one weights loader: safetensors and both `pytorch_model.bin` formats into a candle
//! `VarBuilder`.
//!
//! It exists because OPUS-MT checkpoints come in three shapes and the model code should not
//! care which: `model.safetensors` (memory-mapped, tensors read lazily), the zip archive
//! `torch.save` writes since torch 1.6, and the legacy stream older torch wrote (and 2020-era
//! OPUS-MT conversions still are): a magic-number pickle, a protocol-version pickle, a
//! sys-info pickle, the state-dict pickle whose persistent ids name storages, a pickle list of
//! storage keys, then per storage an 8-byte little-endian element count and the raw data.
//!
//! Both `.bin` formats are read by the small pickle machine below (no code is ever run: it
//! only builds a tree of values) and every tensor is rebuilt the way
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` does: offset and
//! stride are honoured (transposed and other non-contiguous views are gathered), storages
//! shared by tied weights are read once and identical views share one candle tensor, and
//! storage views (`view_metadata` of old files) are supported. Floating tensors (f16, bf16,
//! f32, f64) are converted to the requested dtype at load; integer buffers (e.g. i64 position
//! ids) keep their type; bool tensors become u8 0/1 (candle has no bool). Every failure names
//! the file and what is wrong; a tensor the model asks for later and that is in no file names
//! the tensor and the files.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

/// Everything that can go wrong while loading weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("no weight files given")]
    NoFiles,

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

/// The weight file of a single-file checkpoint in `dir`: `model.safetensors`, else
/// `pytorch_model.bin` (empty when neither exists, which the loader reports).
pub fn checkpoint_file(dir: &Path) -> Vec<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .take(1)
        .collect()
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
            if file.to_string_lossy().ends_with(".index.json") {
                expanded.extend(index_shards(file)?);
            } else {
                expanded.push(file.clone());
            }
        }
        let mut tensors = HashMap::new();
        let mut safetensor_files = Vec::new();
        for path in &expanded {
            match detect_format(path)? {
                WeightsFormat::Safetensors => {
                    // Validate each file alone first so an error names the file.
                    // SAFETY: the file is mapped read-only; like every mmap user we rely on
                    // nobody truncating the file while it is mapped.
                    unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.map_err(
                        |e| WeightsError::Corrupt {
                            path: path.clone(),
                            format: "safetensors",
                            reason: e.to_string(),
                        },
                    )?;
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
            // SAFETY: as above.
            let st =
                unsafe { candle_core::safetensors::MmapedSafetensors::multi(&safetensor_files) }
                    .map_err(|e| WeightsError::Corrupt {
                        path: safetensor_files[0].clone(),
                        format: "safetensors",
                        reason: e.to_string(),
                    })?;
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
                let t = load_safetensor(st, name, device)
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

/// One safetensors tensor; `BOOL` (which candle does not read) becomes `U8` 0/1.
fn load_safetensor(
    st: &candle_core::safetensors::MmapedSafetensors,
    name: &str,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let view = st.get(name)?;
    let tensor = if view.dtype() == safetensors::Dtype::BOOL {
        Tensor::from_raw_buffer(view.data(), DType::U8, view.shape(), device)?
    } else {
        view.load(device)?
    };
    release_mapped(view.data());
    Ok(tensor)
}

/// Drops this process's mapping of bytes of a mapped file that have been copied out (into a
/// tensor), so they stop counting in its memory. Without it the whole checkpoint stayed
/// resident beside the model built from it until loading ended, 290 MB of the 920 MB peak
/// for opus-mt's shape. A later read faults the bytes back in from the page cache, so this
/// only costs time if a tensor is read twice (tied weights, which are small in number).
fn release_mapped(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: the range is whole pages inside a read-only file mapping that is never
            // written; MADV_DONTNEED drops their page-table entries and a later read of the
            // same bytes maps the file's unchanged pages again.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
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

/// The shard files an `*.index.json` names (in its `weight_map`), next to it, sorted.
fn index_shards(index: &Path) -> Result<Vec<PathBuf>, WeightsError> {
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
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<PathBuf> = Vec::new();
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| corrupt(format!("`{tensor}` does not map to a file name")))?;
        let path = dir.join(shard);
        if !shards.contains(&path) {
            shards.push(path);
        }
    }
    shards.sort();
    Ok(shards)
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
        WeightsFormat::PytorchZip => zipped::read(path, &map),
        WeightsFormat::Safetensors => Err(WeightsError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "safetensors is not a pytorch format".to_string(),
        }),
    }
}

/// A minimal pickle reader: builds values, never calls anything.
mod pickle {
    use std::collections::HashMap;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Obj {
        None,
        Bool(bool),
        Int(i64),
        /// An integer wider than 64 bits, as little-endian two's-complement bytes.
        BigInt(Vec<u8>),
        Float(f64),
        Str(String),
        Bytes(Vec<u8>),
        Tuple(Vec<Obj>),
        List(Vec<Obj>),
        Dict(Vec<(Obj, Obj)>),
        Global {
            module: String,
            name: String,
        },
        Reduce {
            func: Box<Obj>,
            args: Box<Obj>,
        },
        Build {
            obj: Box<Obj>,
            state: Box<Obj>,
        },
        PersId(Box<Obj>),
        Mark,
    }

    impl Obj {
        pub fn as_int(&self) -> Option<i64> {
            match self {
                Obj::Int(i) => Some(*i),
                Obj::Bool(b) => Some(*b as i64),
                _ => None,
            }
        }

        pub fn is_global(&self, module: &str, name: &str) -> bool {
            matches!(self, Obj::Global { module: m, name: n } if m == module && n == name)
        }

        /// Strings and integers as text (storage keys are either).
        pub fn as_key(&self) -> Option<String> {
            match self {
                Obj::Str(s) => Some(s.clone()),
                Obj::Bytes(b) => Some(String::from_utf8_lossy(b).to_string()),
                Obj::Int(i) => Some(i.to_string()),
                _ => None,
            }
        }
    }

    /// Where and why a pickle could not be read.
    #[derive(Debug)]
    pub struct PickleError {
        pub offset: usize,
        pub reason: String,
    }

    impl std::fmt::Display for PickleError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "pickle error at byte {}: {}", self.offset, self.reason)
        }
    }

    struct Reader<'a> {
        data: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let end = self
                .pos
                .checked_add(n)
                .filter(|end| *end <= self.data.len())
                .ok_or_else(|| {
                    format!(
                        "needs {n} more bytes but the data ends {} bytes later (truncated?)",
                        self.data.len().saturating_sub(self.pos)
                    )
                })?;
            let slice = &self.data[self.pos..end];
            self.pos = end;
            Ok(slice)
        }

        fn u8(&mut self) -> Result<u8, String> {
            Ok(self.take(1)?[0])
        }

        fn u16(&mut self) -> Result<u16, String> {
            let b = self.take(2)?;
            Ok(u16::from_le_bytes([b[0], b[1]]))
        }

        fn u32(&mut self) -> Result<u32, String> {
            let b = self.take(4)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }

        fn u64(&mut self) -> Result<u64, String> {
            let b = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(u64::from_le_bytes(a))
        }

        fn line(&mut self) -> Result<&'a [u8], String> {
            let rest = &self.data[self.pos..];
            let nl = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| "unterminated text argument (truncated?)".to_string())?;
            let line = &rest[..nl];
            self.pos += nl + 1;
            Ok(line)
        }

        fn len_prefixed(&mut self, len: u64) -> Result<&'a [u8], String> {
            let len = usize::try_from(len).map_err(|_| format!("length {len} is too large"))?;
            self.take(len)
        }
    }

    fn text(bytes: &[u8]) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not valid UTF-8".to_string())
    }

    fn long_from_le(bytes: &[u8]) -> Obj {
        if bytes.is_empty() {
            return Obj::Int(0);
        }
        if bytes.len() <= 8 {
            let negative = bytes[bytes.len() - 1] & 0x80 != 0;
            let mut a = if negative { [0xffu8; 8] } else { [0u8; 8] };
            a[..bytes.len()].copy_from_slice(bytes);
            Obj::Int(i64::from_le_bytes(a))
        } else {
            Obj::BigInt(bytes.to_vec())
        }
    }

    /// Reads one pickle starting at `start`; returns the value and the offset after STOP.
    pub fn load(data: &[u8], start: usize) -> Result<(Obj, usize), PickleError> {
        let mut r = Reader { data, pos: start };
        let mut stack: Vec<Obj> = Vec::new();
        let mut memo: HashMap<u64, Obj> = HashMap::new();
        loop {
            let op_pos = r.pos;
            let fail = |reason: String| PickleError {
                offset: op_pos,
                reason,
            };
            let op = r.u8().map_err(fail)?;
            match step(op, &mut r, &mut stack, &mut memo) {
                Ok(true) => {
                    let top = stack
                        .pop()
                        .ok_or_else(|| fail("STOP with an empty stack".to_string()))?;
                    return Ok((top, r.pos));
                }
                Ok(false) => {}
                Err(reason) => return Err(fail(format!("opcode 0x{op:02x}: {reason}"))),
            }
        }
    }

    fn pop(stack: &mut Vec<Obj>) -> Result<Obj, String> {
        stack.pop().ok_or_else(|| "stack underflow".to_string())
    }

    fn pop_mark(stack: &mut Vec<Obj>) -> Result<Vec<Obj>, String> {
        let mark = stack
            .iter()
            .rposition(|o| *o == Obj::Mark)
            .ok_or_else(|| "no MARK on the stack".to_string())?;
        let items = stack.split_off(mark + 1);
        stack.pop();
        Ok(items)
    }

    fn top(stack: &mut [Obj]) -> Result<&mut Obj, String> {
        stack
            .last_mut()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn set_items(dict: &mut Obj, items: Vec<Obj>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("odd number of items for a dict".to_string());
        }
        match dict {
            Obj::Dict(entries) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(())
            }
            // Items set on an object we do not model: keep going, the value is ignored.
            Obj::Reduce { .. } | Obj::Build { .. } => Ok(()),
            other => Err(format!("SETITEM(S) on a {}", kind(other))),
        }
    }

    fn append(list: &mut Obj, items: Vec<Obj>) -> Result<(), String> {
        match list {
            Obj::List(v) => {
                v.extend(items);
                Ok(())
            }
            Obj::Reduce { .. } | Obj::Build { .. } => Ok(()),
            other => Err(format!("APPEND(S) on a {}", kind(other))),
        }
    }

    fn kind(o: &Obj) -> &'static str {
        match o {
            Obj::None => "None",
            Obj::Bool(_) => "bool",
            Obj::Int(_) | Obj::BigInt(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Global { .. } => "global",
            Obj::Reduce { .. } => "object",
            Obj::Build { .. } => "object",
            Obj::PersId(_) => "persistent id",
            Obj::Mark => "mark",
        }
    }

    fn memo_get(memo: &HashMap<u64, Obj>, id: u64) -> Result<Obj, String> {
        memo.get(&id)
            .cloned()
            .ok_or_else(|| format!("memo entry {id} is missing"))
    }

    fn memo_put(memo: &mut HashMap<u64, Obj>, stack: &[Obj], id: u64) -> Result<(), String> {
        let obj = stack.last().ok_or("stack underflow")?.clone();
        memo.insert(id, obj);
        Ok(())
    }

    /// One opcode; `Ok(true)` at STOP.
    fn step(
        op: u8,
        r: &mut Reader<'_>,
        stack: &mut Vec<Obj>,
        memo: &mut HashMap<u64, Obj>,
    ) -> Result<bool, String> {
        match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(format!("unsupported pickle protocol {proto}"));
                }
            }
            0x95 => {
                r.u64()?; // FRAME: a length hint only
            }
            b'.' => return Ok(true),
            b'(' => stack.push(Obj::Mark),
            b'0' => {
                pop(stack)?;
            }
            b'1' => {
                pop_mark(stack)?;
            }
            b'2' => {
                let t = stack.last().ok_or("stack underflow")?.clone();
                stack.push(t);
            }
            b'N' => stack.push(Obj::None),
            0x88 => stack.push(Obj::Bool(true)),
            0x89 => stack.push(Obj::Bool(false)),
            b'J' => {
                let v = r.u32()? as i32;
                stack.push(Obj::Int(v as i64))
            }
            b'K' => {
                let v = r.u8()?;
                stack.push(Obj::Int(v as i64))
            }
            b'M' => {
                let v = r.u16()?;
                stack.push(Obj::Int(v as i64))
            }
            b'I' => {
                let line = text(r.line()?)?;
                let obj = match line.as_str() {
                    "00" => Obj::Bool(false),
                    "01" => Obj::Bool(true),
                    s => Obj::Int(s.trim().parse().map_err(|_| format!("bad INT `{s}`"))?),
                };
                stack.push(obj)
            }
            b'L' => {
                let line = text(r.line()?)?;
                let s = line.trim().trim_end_matches('L');
                stack.push(Obj::Int(s.parse().map_err(|_| format!("bad LONG `{s}`"))?))
            }
            0x8a => {
                let n = r.u8()? as u64;
                let bytes = r.len_prefixed(n)?;
                stack.push(long_from_le(bytes))
            }
            0x8b => {
                let n = r.u32()? as u64;
                let bytes = r.len_prefixed(n)?;
                stack.push(long_from_le(bytes))
            }
            b'G' => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(Obj::Float(f64::from_be_bytes(a)))
            }
            b'F' => {
                let line = text(r.line()?)?;
                let v = line
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad FLOAT `{line}`"))?;
                stack.push(Obj::Float(v))
            }
            b'X' => {
                let n = r.u32()? as u64;
                stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
            }
            0x8c => {
                let n = r.u8()? as u64;
                stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
            }
            0x8d => {
                let n = r.u64()?;
                stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
            }
            b'V' => {
                let line = r.line()?;
                stack.push(Obj::Str(String::from_utf8_lossy(line).to_string()))
            }
            b'T' => {
                let n = r.u32()? as u64;
                stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
            }
            b'U' => {
                let n = r.u8()? as u64;
                stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
            }
            b'B' => {
                let n = r.u32()? as u64;
                stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
            }
            b'C' => {
                let n = r.u8()? as u64;
                stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
            }
            0x8e => {
                let n = r.u64()?;
                stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
            }
            b'S' => {
                let line = text(r.line()?)?;
                let s = line.trim();
                let s = s
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    .ok_or_else(|| format!("bad STRING `{s}`"))?;
                stack.push(Obj::Str(s.to_string()))
            }
            b')' => stack.push(Obj::Tuple(Vec::new())),
            b't' => {
                let items = pop_mark(stack)?;
                stack.push(Obj::Tuple(items))
            }
            0x85 => {
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a]))
            }
            0x86 => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a, b]))
            }
            0x87 => {
                let c = pop(stack)?;
                let b = pop(stack)?;
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a, b, c]))
            }
            b']' => stack.push(Obj::List(Vec::new())),
            b'l' => {
                let items = pop_mark(stack)?;
                stack.push(Obj::List(items))
            }
            b'a' => {
                let v = pop(stack)?;
                append(top(stack)?, vec![v])?
            }
            b'e' => {
                let items = pop_mark(stack)?;
                append(top(stack)?, items)?
            }
            b'}' => stack.push(Obj::Dict(Vec::new())),
            b'd' => {
                let items = pop_mark(stack)?;
                let mut d = Obj::Dict(Vec::new());
                set_items(&mut d, items)?;
                stack.push(d)
            }
            b's' => {
                let v = pop(stack)?;
                let k = pop(stack)?;
                set_items(top(stack)?, vec![k, v])?
            }
            b'u' => {
                let items = pop_mark(stack)?;
                set_items(top(stack)?, items)?
            }
            0x8f => stack.push(Obj::List(Vec::new())), // EMPTY_SET, modelled as a list
            0x90 => {
                let items = pop_mark(stack)?;
                append(top(stack)?, items)?
            }
            0x91 => {
                let items = pop_mark(stack)?;
                stack.push(Obj::List(items))
            }
            b'c' => {
                let module = text(r.line()?)?;
                let name = text(r.line()?)?;
                stack.push(Obj::Global { module, name })
            }
            0x93 => {
                let name = pop(stack)?;
                let module = pop(stack)?;
                match (module, name) {
                    (Obj::Str(module), Obj::Str(name)) => stack.push(Obj::Global { module, name }),
                    _ => return Err("STACK_GLOBAL needs two strings".to_string()),
                }
            }
            b'R' => {
                let args = pop(stack)?;
                let func = pop(stack)?;
                let is_dict = func.is_global("collections", "OrderedDict")
                    || func.is_global("collections", "defaultdict")
                    || func.is_global("builtins", "dict")
                    || func.is_global("__builtin__", "dict");
                stack.push(if is_dict {
                    Obj::Dict(Vec::new())
                } else {
                    Obj::Reduce {
                        func: Box::new(func),
                        args: Box::new(args),
                    }
                })
            }
            0x81 => {
                let args = pop(stack)?;
                let cls = pop(stack)?;
                stack.push(Obj::Reduce {
                    func: Box::new(cls),
                    args: Box::new(args),
                })
            }
            0x92 => {
                let _kwargs = pop(stack)?;
                let args = pop(stack)?;
                let cls = pop(stack)?;
                stack.push(Obj::Reduce {
                    func: Box::new(cls),
                    args: Box::new(args),
                })
            }
            b'b' => {
                let state = pop(stack)?;
                let obj = pop(stack)?;
                stack.push(match obj {
                    // OrderedDict state (e.g. `_metadata`) is not part of the mapping.
                    d @ Obj::Dict(_) => d,
                    obj => Obj::Build {
                        obj: Box::new(obj),
                        state: Box::new(state),
                    },
                })
            }
            b'Q' => {
                let pid = pop(stack)?;
                stack.push(Obj::PersId(Box::new(pid)))
            }
            b'P' => {
                let line = text(r.line()?)?;
                stack.push(Obj::PersId(Box::new(Obj::Str(line))))
            }
            b'h' => {
                let id = r.u8()? as u64;
                stack.push(memo_get(memo, id)?)
            }
            b'j' => {
                let id = r.u32()? as u64;
                stack.push(memo_get(memo, id)?)
            }
            b'g' => {
                let line = text(r.line()?)?;
                let id = line
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad GET `{line}`"))?;
                stack.push(memo_get(memo, id)?)
            }
            b'q' => {
                let id = r.u8()? as u64;
                memo_put(memo, stack, id)?
            }
            b'r' => {
                let id = r.u32()? as u64;
                memo_put(memo, stack, id)?
            }
            b'p' => {
                let line = text(r.line()?)?;
                let id = line
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad PUT `{line}`"))?;
                memo_put(memo, stack, id)?
            }
            0x94 => {
                let id = memo.len() as u64;
                memo_put(memo, stack, id)?
            }
            other => return Err(format!("unsupported or invalid opcode 0x{other:02x}")),
        }
        Ok(false)
    }
}

/// Tensor descriptions from a state-dict pickle, and their rebuilding from storages.
mod rebuild {
    use super::pickle::Obj;
    use super::WeightsError;
    use candle_core::{DType, Device, Tensor};
    use std::collections::HashMap;
    use std::path::Path;

    /// A storage as a persistent id names it.
    #[derive(Debug, Clone)]
    pub struct StorageRef {
        /// The key of the root storage (what the data section or `data/<key>` is named by).
        pub key: String,
        pub dtype: DType,
        /// Element count of the root storage.
        pub numel: usize,
        /// For views (`view_metadata` of old files): element offset into the root storage.
        pub view_offset: usize,
    }

    /// One tensor as `_rebuild_tensor_v2(storage, offset, size, stride, ...)` describes it.
    #[derive(Debug, Clone)]
    pub struct TensorRef {
        pub name: String,
        pub storage: StorageRef,
        pub offset: usize,
        pub size: Vec<usize>,
        pub stride: Vec<usize>,
    }

    pub fn storage_dtype(class: &str) -> Option<DType> {
        Some(match class {
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "DoubleStorage" => DType::F64,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "ByteStorage" | "BoolStorage" | "UntypedStorage" => DType::U8,
            _ => return None,
        })
    }

    fn torch_dtype(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float64" | "double" => DType::F64,
            "int64" | "long" => DType::I64,
            "int32" | "int" => DType::I32,
            "int16" | "short" => DType::I16,
            "uint8" | "bool" => DType::U8,
            _ => return None,
        })
    }

    /// `('storage', storage_type, key, location, numel[, view_metadata])`.
    pub fn storage_ref(pid: &Obj) -> Result<StorageRef, String> {
        let Obj::Tuple(items) = pid else {
            return Err(format!("persistent id is not a tuple: {pid:?}"));
        };
        let tag = items.first().and_then(Obj::as_key);
        if tag.as_deref() != Some("storage") {
            return Err(format!("persistent id is not a storage: {tag:?}"));
        }
        if items.len() < 5 {
            return Err(format!(
                "storage id has {} fields, expected 5 or 6",
                items.len()
            ));
        }
        let dtype = match &items[1] {
            Obj::Global { name, .. } => {
                storage_dtype(name).ok_or_else(|| format!("unsupported storage type {name}"))?
            }
            other => return Err(format!("storage type is not a class: {other:?}")),
        };
        let key = items[2]
            .as_key()
            .ok_or_else(|| format!("storage key is not a string: {:?}", items[2]))?;
        let numel = non_negative(&items[4], "storage size")?;
        let mut view_offset = 0;
        if let Some(Obj::Tuple(view)) = items.get(5) {
            // (view_key, offset, view_size): a window into the root storage.
            if view.len() != 3 {
                return Err("storage view metadata is not (key, offset, size)".to_string());
            }
            view_offset = non_negative(&view[1], "storage view offset")?;
        }
        Ok(StorageRef {
            key,
            dtype,
            numel,
            view_offset,
        })
    }

    fn non_negative(o: &Obj, what: &str) -> Result<usize, String> {
        o.as_int()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| format!("{what} is not a non-negative integer: {o:?}"))
    }

    fn usizes(o: &Obj, what: &str) -> Result<Vec<usize>, String> {
        match o {
            Obj::Tuple(items) | Obj::List(items) => {
                items.iter().map(|i| non_negative(i, what)).collect()
            }
            // torch.Size pickles as a REDUCE of torch.Size on a tuple.
            Obj::Reduce { args, .. } => match args.as_ref() {
                Obj::Tuple(inner) if inner.len() == 1 => usizes(&inner[0], what),
                other => usizes(other, what),
            },
            other => Err(format!("{what} is not a tuple: {other:?}")),
        }
    }

    /// The tensor a state-dict value describes; `Ok(None)` for values that are not tensors.
    pub fn tensor_ref(name: &str, value: &Obj) -> Result<Option<TensorRef>, String> {
        let Obj::Reduce { func, args } = value else {
            return Ok(None);
        };
        let Obj::Global { module, name: f } = func.as_ref() else {
            return Ok(None);
        };
        let Obj::Tuple(args) = args.as_ref() else {
            return Ok(None);
        };
        match (module.as_str(), f.as_str()) {
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => match args.first() {
                Some(inner) => tensor_ref(name, inner),
                None => Err("_rebuild_parameter without data".to_string()),
            },
            ("torch._tensor", "_rebuild_from_type_v2") => {
                // (func, type, args, state)
                if args.len() < 3 {
                    return Err("_rebuild_from_type_v2 with too few arguments".to_string());
                }
                let inner = Obj::Reduce {
                    func: Box::new(args[0].clone()),
                    args: Box::new(args[2].clone()),
                };
                tensor_ref(name, &inner)
            }
            ("torch._utils", "_rebuild_tensor")
            | ("torch._utils", "_rebuild_tensor_v2")
            | ("torch._utils", "_rebuild_tensor_v3") => {
                if args.len() < 4 {
                    return Err(format!(
                        "{f} with {} arguments, expected 4 or more",
                        args.len()
                    ));
                }
                let Obj::PersId(pid) = &args[0] else {
                    return Err(format!("{f}: first argument is not a storage"));
                };
                let mut storage = storage_ref(pid)?;
                if f == "_rebuild_tensor_v3" {
                    match args.get(6) {
                        Some(Obj::Global { module, name: dt }) if module == "torch" => {
                            let dtype = torch_dtype(dt)
                                .ok_or_else(|| format!("unsupported dtype torch.{dt}"))?;
                            if storage.dtype != dtype {
                                // An untyped (byte) storage read as `dtype`.
                                let size = dtype.size_in_bytes();
                                let old = storage.dtype.size_in_bytes();
                                storage.numel = storage.numel * old / size;
                                storage.view_offset = storage.view_offset * old / size;
                                storage.dtype = dtype;
                            }
                        }
                        _ => return Err("_rebuild_tensor_v3 without a dtype".to_string()),
                    }
                }
                let offset = non_negative(&args[1], "storage offset")?;
                let size = usizes(&args[2], "size")?;
                let stride = usizes(&args[3], "stride")?;
                if size.len() != stride.len() {
                    return Err(format!(
                        "size {size:?} and stride {stride:?} have different ranks"
                    ));
                }
                Ok(Some(TensorRef {
                    name: name.to_string(),
                    storage,
                    offset,
                    size,
                    stride,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Every storage any persistent id in `obj` names, by root key (first reference wins).
    pub fn all_storages(obj: &Obj, out: &mut HashMap<String, StorageRef>, depth: usize) {
        if depth > 64 {
            return;
        }
        match obj {
            Obj::PersId(pid) => {
                if let Ok(s) = storage_ref(pid) {
                    out.entry(s.key.clone()).or_insert(s);
                }
            }
            Obj::Tuple(items) | Obj::List(items) => {
                for o in items {
                    all_storages(o, out, depth + 1)
                }
            }
            Obj::Dict(entries) => {
                for (k, v) in entries {
                    all_storages(k, out, depth + 1);
                    all_storages(v, out, depth + 1);
                }
            }
            Obj::Reduce { func: a, args: b } | Obj::Build { obj: a, state: b } => {
                all_storages(a, out, depth + 1);
                all_storages(b, out, depth + 1);
            }
            _ => {}
        }
    }

    /// The (name, tensor) entries of a state dict, flattening nested dicts with `.`.
    pub fn state_dict_refs(root: &Obj) -> Result<Vec<TensorRef>, String> {
        let mut out = Vec::new();
        collect(root, "", &mut out, 0)?;
        if out.is_empty() {
            return Err("the pickle holds no tensors (not a state dict?)".to_string());
        }
        Ok(out)
    }

    fn collect(
        obj: &Obj,
        prefix: &str,
        out: &mut Vec<TensorRef>,
        depth: usize,
    ) -> Result<(), String> {
        let Obj::Dict(entries) = obj else {
            return Ok(());
        };
        if depth > 8 {
            return Ok(());
        }
        for (k, v) in entries {
            let Some(key) = k.as_key() else { continue };
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match tensor_ref(&name, v).map_err(|e| format!("tensor `{name}`: {e}"))? {
                Some(t) => out.push(t),
                None => collect(v, &name, out, depth + 1)?,
            }
        }
        Ok(())
    }

    /// Identifies a view: storage key, dtype, element offset, size, stride.
    type ViewKey = (String, DType, usize, Vec<usize>, Vec<usize>);

    /// Builds every tensor from its storage bytes (`storages[key]`, the root storage's raw
    /// little-endian data). Identical views share one tensor.
    pub fn build(
        path: &Path,
        refs: &[TensorRef],
        storages: &HashMap<String, &[u8]>,
    ) -> Result<Vec<(String, Tensor)>, WeightsError> {
        let mut seen: HashMap<ViewKey, Tensor> = HashMap::new();
        let mut out = Vec::with_capacity(refs.len());
        for t in refs {
            let bad = |reason: String| WeightsError::BadTensor {
                path: path.to_path_buf(),
                name: t.name.clone(),
                reason,
            };
            let bytes = storages
                .get(&t.storage.key)
                .ok_or_else(|| bad(format!("storage `{}` has no data", t.storage.key)))?;
            let offset = t
                .offset
                .checked_add(t.storage.view_offset)
                .ok_or_else(|| bad("offset overflows".to_string()))?;
            let key = (
                t.storage.key.clone(),
                t.storage.dtype,
                offset,
                t.size.clone(),
                t.stride.clone(),
            );
            if let Some(existing) = seen.get(&key) {
                out.push((t.name.clone(), existing.clone()));
                continue;
            }
            let data = gather(
                bytes,
                t.storage.dtype.size_in_bytes(),
                offset,
                &t.size,
                &t.stride,
            )
            .map_err(bad)?;
            let tensor = Tensor::from_raw_buffer(&data, t.storage.dtype, &t.size, &Device::Cpu)
                .map_err(|e| bad(e.to_string()))?;
            seen.insert(key, tensor.clone());
            out.push((t.name.clone(), tensor));
        }
        Ok(out)
    }

    /// The elements of a strided view, row-major, as bytes.
    pub fn gather(
        storage: &[u8],
        elem: usize,
        offset: usize,
        size: &[usize],
        stride: &[usize],
    ) -> Result<Vec<u8>, String> {
        let numel = size
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or("element count overflows")?;
        if numel == 0 {
            return Ok(Vec::new());
        }
        // The last element read: offset + sum((size_i - 1) * stride_i).
        let last = size
            .iter()
            .zip(stride)
            .try_fold(offset, |acc, (&d, &s)| {
                (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
            })
            .ok_or("view extent overflows")?;
        let end_bytes = last
            .checked_add(1)
            .and_then(|n| n.checked_mul(elem))
            .ok_or("view extent overflows")?;
        if end_bytes > storage.len() {
            return Err(format!(
                "view (offset {offset}, size {size:?}, stride {stride:?}) reaches element {last} \
                 but the storage has {} elements",
                storage.len() / elem
            ));
        }
        // Zero strides (expanded views) can make a tiny storage huge: refuse past 1 GiB.
        let out_bytes = numel.checked_mul(elem).ok_or("element count overflows")?;
        if out_bytes > storage.len() && out_bytes > 1 << 30 {
            return Err(format!(
                "view (size {size:?}, stride {stride:?}) expands a {}-byte storage to \
                 {out_bytes} bytes",
                storage.len()
            ));
        }
        // Contiguous (dims of size 1 may have any stride): one copy.
        let mut expected = 1usize;
        let mut contiguous = true;
        for (&d, &s) in size.iter().zip(stride).rev() {
            if d != 1 && s != expected {
                contiguous = false;
                break;
            }
            expected *= d;
        }
        let start = offset * elem;
        if contiguous {
            return Ok(storage[start..start + numel * elem].to_vec());
        }
        let mut out = Vec::with_capacity(numel * elem);
        let rank = size.len();
        let mut index = vec![0usize; rank];
        let mut pos = offset;
        for _ in 0..numel {
            let at = pos * elem;
            out.extend_from_slice(&storage[at..at + elem]);
            // Odometer increment, last dim fastest.
            // Wrapping arithmetic: only in-range positions (checked above) are ever read,
            // but absurd strides of size-1 dims must not overflow on the way.
            for dim in (0..rank).rev() {
                index[dim] += 1;
                pos = pos.wrapping_add(stride[dim]);
                if index[dim] < size[dim] {
                    break;
                }
                pos = pos.wrapping_sub(stride[dim].wrapping_mul(size[dim]));
                index[dim] = 0;
            }
        }
        Ok(out)
    }
}

/// The legacy (pre-zip) `torch.save` stream.
mod legacy {
    use super::pickle::{self, Obj};
    use super::rebuild;
    use super::WeightsError;
    use candle_core::Tensor;
    use std::collections::HashMap;
    use std::path::Path;

    /// `0x1950a86a20f9469cfc6c`, little-endian, as torch's MAGIC_NUMBER pickles.
    const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    const PROTOCOL_VERSION: i64 = 1001;

    pub fn read(path: &Path, data: &[u8]) -> Result<Vec<(String, Tensor)>, WeightsError> {
        let corrupt = |reason: String| WeightsError::Corrupt {
            path: path.to_path_buf(),
            format: "legacy pytorch_model.bin",
            reason,
        };
        let pk = |what: &str, e: pickle::PickleError| corrupt(format!("{what}: {e}"));
        let (magic, pos) = pickle::load(data, 0).map_err(|e| pk("magic number", e))?;
        if magic != Obj::BigInt(MAGIC.to_vec()) {
            return Err(corrupt(format!(
                "wrong magic number {magic:?} (not a torch.save file)"
            )));
        }
        let (version, pos) = pickle::load(data, pos).map_err(|e| pk("protocol version", e))?;
        if version.as_int() != Some(PROTOCOL_VERSION) {
            return Err(corrupt(format!("unsupported protocol version {version:?}")));
        }
        let (sys_info, pos) = pickle::load(data, pos).map_err(|e| pk("sys info", e))?;
        if let Obj::Dict(entries) = &sys_info {
            for (k, v) in entries {
                if k.as_key().as_deref() == Some("little_endian") && *v == Obj::Bool(false) {
                    return Err(corrupt(
                        "big-endian checkpoints are not supported".to_string(),
                    ));
                }
            }
        }
        let (root, pos) = pickle::load(data, pos).map_err(|e| pk("state dict", e))?;
        let refs = rebuild::state_dict_refs(&root).map_err(corrupt)?;
        let (keys, mut pos) = pickle::load(data, pos).map_err(|e| pk("storage key list", e))?;
        let Obj::List(keys) = keys else {
            return Err(corrupt(format!("storage key list is not a list: {keys:?}")));
        };

        // The first reference to each root storage gives its element type and size.
        let mut roots: HashMap<String, rebuild::StorageRef> = HashMap::new();
        rebuild::all_storages(&root, &mut roots, 0);
        let mut storages: HashMap<String, &[u8]> = HashMap::new();
        for key in &keys {
            let key = key
                .as_key()
                .ok_or_else(|| corrupt(format!("storage key {key:?} is not a string")))?;
            let header = data.get(pos..pos + 8).ok_or_else(|| {
                corrupt(format!(
                    "storage `{key}`: size header at byte {pos} is past the end of the file \
                     ({} bytes; truncated?)",
                    data.len()
                ))
            })?;
            let mut a = [0u8; 8];
            a.copy_from_slice(header);
            let count = u64::from_le_bytes(a);
            pos += 8;
            let root = roots.get(&key).ok_or_else(|| {
                corrupt(format!(
                    "storage `{key}` is listed but the pickle never names it"
                ))
            })?;
            let elem = root.dtype.size_in_bytes();
            let nbytes = usize::try_from(count)
                .ok()
                .and_then(|c| c.checked_mul(elem))
                .ok_or_else(|| corrupt(format!("storage `{key}`: absurd size {count}")))?;
            if count as usize != root.numel {
                return Err(corrupt(format!(
                    "storage `{key}`: the data section says {count} elements, the pickle {}",
                    root.numel
                )));
            }
            let end = pos
                .checked_add(nbytes)
                .filter(|e| *e <= data.len())
                .ok_or_else(|| {
                    corrupt(format!(
                        "storage `{key}` needs {nbytes} bytes at byte {pos} but the file has {} \
                     bytes (truncated?)",
                        data.len()
                    ))
                })?;
            storages.insert(key, &data[pos..end]);
            pos = end;
        }
        rebuild::build(path, &refs, &storages)
    }
}

/// The zip `torch.save` format (torch >= 1.6).
mod zipped {
    use super::pickle;
    use super::rebuild;
    use super::WeightsError;
    use candle_core::Tensor;
    use std::borrow::Cow;
    use std::collections::HashMap;
    use std::io::Read;
    use std::path::Path;

    pub fn read(path: &Path, data: &[u8]) -> Result<Vec<(String, Tensor)>, WeightsError> {
        let corrupt = |reason: String| WeightsError::Corrupt {
            path: path.to_path_buf(),
            format: "pytorch zip",
            reason,
        };
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(data))
            .map_err(|e| corrupt(format!("not a readable zip archive: {e}")))?;
        let pkl_name = zip
            .file_names()
            .filter_map(|n| n.ok())
            .find(|n| n.ends_with("data.pkl"))
            .map(|n| n.to_string())
            .ok_or_else(|| corrupt("no data.pkl in the archive".to_string()))?;
        let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
        if let Ok(order) = entry(&mut zip, data, &format!("{prefix}byteorder"), &corrupt) {
            if order.trim_ascii() == b"big" {
                return Err(corrupt(
                    "big-endian checkpoints are not supported".to_string(),
                ));
            }
        }
        let pkl = entry(&mut zip, data, &pkl_name, &corrupt)?;
        let (root, _) = pickle::load(&pkl, 0).map_err(|e| corrupt(format!("{pkl_name}: {e}")))?;
        let refs = rebuild::state_dict_refs(&root).map_err(corrupt)?;
        let mut stored: HashMap<String, Cow<[u8]>> = HashMap::new();
        for t in &refs {
            let key = &t.storage.key;
            if stored.contains_key(key) {
                continue;
            }
            let bytes = entry(&mut zip, data, &format!("{prefix}data/{key}"), &corrupt)?;
            let needed = t
                .storage
                .numel
                .saturating_mul(t.storage.dtype.size_in_bytes());
            if bytes.len() < needed {
                return Err(corrupt(format!(
                    "storage `{key}` has {} bytes, the pickle says {needed}",
                    bytes.len()
                )));
            }
            stored.insert(key.clone(), bytes);
        }
        let storages: HashMap<String, &[u8]> =
            stored.iter().map(|(k, v)| (k.clone(), &**v)).collect();
        rebuild::build(path, &refs, &storages)
    }

    /// The bytes of entry `name`. torch stores entries uncompressed, and those are borrowed
    /// from the mapped archive (after the CRC check that reading them would make), so the
    /// checkpoint is not held twice while its tensors are built: that was 290 MB of a 979 MB
    /// peak for opus-mt's shape. Compressed entries are read.
    fn entry<'d>(
        zip: &mut zip::ZipArchive<std::io::Cursor<&'d [u8]>>,
        data: &'d [u8],
        name: &str,
        corrupt: &dyn Fn(String) -> WeightsError,
    ) -> Result<Cow<'d, [u8]>, WeightsError> {
        let mut entry = zip
            .by_name(name)
            .map_err(|e| corrupt(format!("entry `{name}`: {e}")))?;
        let start = entry.data_start().and_then(|s| usize::try_from(s).ok());
        let len = usize::try_from(entry.size()).ok();
        if let (zip::CompressionMethod::Stored, false, Some(start), Some(len)) =
            (entry.compression(), entry.encrypted(), start, len)
        {
            if let Some(bytes) = start.checked_add(len).and_then(|end| data.get(start..end)) {
                if crc32fast::hash(bytes) != entry.crc32() {
                    return Err(corrupt(format!("entry `{name}`: invalid checksum")));
                }
                return Ok(Cow::Borrowed(bytes));
            }
        }
        // No entry is larger than the archive.
        let capacity = len.unwrap_or(0).min(data.len());
        let mut buf = Vec::with_capacity(capacity);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| corrupt(format!("entry `{name}`: {e}")))?;
        Ok(Cow::Owned(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::rebuild::gather;

    #[test]
    fn gather_transposed() {
        // storage 0..6 as 2x3; transposed view 3x2 with stride (1, 3).
        let storage: Vec<u8> = (0u8..6).collect();
        let out = gather(&storage, 1, 0, &[3, 2], &[1, 3]).unwrap_or_default();
        assert_eq!(out, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn gather_odd_strides() {
        let storage: Vec<u8> = (0u8..6).collect();
        // Broadcast (stride 0) and a size-1 dim with an absurd stride.
        assert_eq!(
            gather(&storage, 1, 1, &[3], &[0]).unwrap_or_default(),
            vec![1, 1, 1]
        );
        assert_eq!(
            gather(&storage, 1, 0, &[2, 1], &[1, usize::MAX]).unwrap_or_default(),
            vec![0, 1]
        );
        assert!(gather(&storage, 4, 0, &[1 << 40], &[0]).is_err());
    }

    #[test]
    fn gather_offset_and_bounds() {
        let storage: Vec<u8> = (0u8..6).collect();
        assert_eq!(
            gather(&storage, 1, 4, &[2], &[1]).unwrap_or_default(),
            vec![4, 5]
        );
        assert!(gather(&storage, 1, 5, &[2], &[1]).is_err());
        assert!(gather(&storage, 1, 0, &[usize::MAX, 2], &[1, 1]).is_err());
        assert_eq!(
            gather(&storage, 1, 0, &[0, 3], &[3, 1]).unwrap_or_default(),
            Vec::<u8>::new()
        );
    }
}
