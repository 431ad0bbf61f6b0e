//! Tensors rebuilt from a state-dict pickle and the raw storages it names, the way
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` does.
//!
//! It exists apart from the two `.bin` formats because both describe tensors the same way and
//! differ only in where the storage bytes are: offset and stride are honoured (transposed and
//! other non-contiguous views are gathered), storages shared by tied weights are read once,
//! identical views share one candle tensor, and storage views (`view_metadata` of old files)
//! are supported.
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

fn collect(obj: &Obj, prefix: &str, out: &mut Vec<TensorRef>, depth: usize) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::gather;

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
