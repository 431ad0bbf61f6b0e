//! safetensors files: memory-mapped (each checked alone first, so an error names the file)
//! and read one tensor at a time (a large one a chunk at a time), the mapped bytes released
//! once copied out.
//!
//! It exists so the one unsafe mapping of safetensors files, and the page release that keeps
//! a loaded checkpoint from staying resident beside the model, live in one place.
use std::path::{Path, PathBuf};

use candle_core::safetensors::{Load, MmapedSafetensors};
use candle_core::{DType, Device, Tensor};

use super::WeightsError;

/// Maps `path` alone, to check it, so an error names the file.
pub fn check(path: &Path) -> Result<(), WeightsError> {
    // SAFETY: the file is mapped read-only; like every mmap user we rely on nobody truncating
    // the file while it is mapped.
    unsafe { MmapedSafetensors::new(path) }.map_err(|e| corrupt(path, e))?;
    Ok(())
}

/// Maps every file in `files` (each [`check`]ed already) as one set of tensors.
pub fn map(files: &[PathBuf]) -> Result<MmapedSafetensors, WeightsError> {
    // SAFETY: as in `check`.
    unsafe { MmapedSafetensors::multi(files) }
        .map_err(|e| corrupt(files.first().map_or(Path::new(""), |p| p), e))
}

fn corrupt(path: &Path, e: candle_core::Error) -> WeightsError {
    WeightsError::Corrupt {
        path: path.to_path_buf(),
        format: "safetensors",
        reason: e.to_string(),
    }
}

/// One safetensors tensor; `BOOL` (which candle does not read) becomes `U8` 0/1.
pub fn load(st: &MmapedSafetensors, name: &str, device: &Device) -> candle_core::Result<Tensor> {
    let view = st.get(name)?;
    if device.is_cpu() && view.data().len() > CHUNK {
        if let Some(t) = load_in_chunks(&view, device)? {
            return Ok(t);
        }
    }
    let tensor = if view.dtype() == ::safetensors::Dtype::BOOL {
        Tensor::from_raw_buffer(view.data(), DType::U8, view.shape(), device)?
    } else {
        view.load(device)?
    };
    release_mapped(view.data());
    Ok(tensor)
}

/// Bytes of a large tensor copied out of the mapping before they are released.
const CHUNK: usize = 4 << 20;

/// A large f32, f16 or bf16 tensor copied out a chunk at a time, each chunk's mapped pages
/// released as soon as it is copied: the whole mapped tensor never sits resident beside its
/// copy. For opus-mt's 112 MB embedding that was the peak of an int8 load (mapped bytes,
/// their f32 copy, and the int8 weights made from it). `None` for another dtype.
fn load_in_chunks(
    view: &::safetensors::tensor::TensorView<'_>,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    use ::safetensors::Dtype;
    let (bytes, shape) = (view.data(), view.shape());
    Ok(Some(match view.dtype() {
        Dtype::F32 => Tensor::from_vec(read(bytes, f32::from_le_bytes), shape, device)?,
        Dtype::F16 => Tensor::from_vec(read(bytes, half::f16::from_le_bytes), shape, device)?,
        Dtype::BF16 => Tensor::from_vec(read(bytes, half::bf16::from_le_bytes), shape, device)?,
        _ => return Ok(None),
    }))
}

/// The little-endian values of `bytes`, read [`CHUNK`] bytes at a time, each chunk's mapped
/// pages released once read.
fn read<T, const N: usize>(bytes: &[u8], from_le: fn([u8; N]) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(bytes.len() / N);
    // CHUNK is a multiple of every N, so no value straddles two chunks.
    for chunk in bytes.chunks(CHUNK) {
        out.extend(chunk.chunks_exact(N).map(|b| {
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            from_le(a)
        }));
        release_mapped(chunk);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Tensors larger than a chunk (read a chunk at a time, pages released as they go) load
    /// with every value in place, in each dtype that takes that path, beside a small one.
    #[test]
    fn large_tensors_read_in_chunks_keep_every_value() {
        let n = CHUNK / 2 + 3; // f32: 2 chunks and a bit; f16/bf16: just over one chunk
        let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let f16: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
        let bf16: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
        let small = vec![1.5f32, -2.0, 3.25];
        let tensors = [
            (
                "f32",
                ::safetensors::Dtype::F32,
                vec![n],
                values
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
            (
                "f16",
                ::safetensors::Dtype::F16,
                vec![n],
                f16.iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
            (
                "bf16",
                ::safetensors::Dtype::BF16,
                vec![n],
                bf16.iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
            (
                "small",
                ::safetensors::Dtype::F32,
                vec![3],
                small
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
        ];
        let views: Vec<(&str, ::safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view = ::safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                    .expect("view");
                (*name, view)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        ::safetensors::serialize_to_file(views, None, &path).unwrap();
        let st = map(&[path]).unwrap();
        let dev = Device::Cpu;
        let got = load(&st, "f32", &dev).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, values);
        let got = load(&st, "f16", &dev)
            .unwrap()
            .to_vec1::<half::f16>()
            .unwrap();
        assert_eq!(got, f16);
        let got = load(&st, "bf16", &dev)
            .unwrap()
            .to_vec1::<half::bf16>()
            .unwrap();
        assert_eq!(got, bf16);
        let got = load(&st, "small", &dev).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, small);
        // A tensor read twice (tied weights) reads the same values again.
        let again = load(&st, "f32", &dev).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(again, values);
    }
}
