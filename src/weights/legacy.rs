//! The legacy (pre-1.6) `torch.save` stream, which 2020-era OPUS-MT conversions still are: a
//! magic-number pickle, a protocol-version pickle, a sys-info pickle, the state-dict pickle
//! whose persistent ids name storages, a pickle list of storage keys, then per storage an
//! 8-byte little-endian element count and the raw data.
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
