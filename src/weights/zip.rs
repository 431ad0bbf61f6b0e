//! The zip archive `torch.save` writes since torch 1.6: `<prefix>/data.pkl` (the state-dict
//! pickle), `<prefix>/data/<key>` (one entry per storage) and `<prefix>/byteorder`.
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
    let mut zip = ::zip::ZipArchive::new(std::io::Cursor::new(data))
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
    let storages: HashMap<String, &[u8]> = stored.iter().map(|(k, v)| (k.clone(), &**v)).collect();
    rebuild::build(path, &refs, &storages)
}

/// The bytes of entry `name`. torch stores entries uncompressed, and those are borrowed
/// from the mapped archive (after the CRC check that reading them would make), so the
/// checkpoint is not held twice while its tensors are built: that was 290 MB of a 979 MB
/// peak for opus-mt's shape. Compressed entries are read.
fn entry<'d>(
    zip: &mut ::zip::ZipArchive<std::io::Cursor<&'d [u8]>>,
    data: &'d [u8],
    name: &str,
    corrupt: &dyn Fn(String) -> WeightsError,
) -> Result<Cow<'d, [u8]>, WeightsError> {
    let mut entry = zip
        .by_name(name)
        .map_err(|e| corrupt(format!("entry `{name}`: {e}")))?;
    let start = entry.data_start().and_then(|s| usize::try_from(s).ok());
    let len = usize::try_from(entry.size()).ok();
    if let (::zip::CompressionMethod::Stored, false, Some(start), Some(len)) =
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
