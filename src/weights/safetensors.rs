//! safetensors files: memory-mapped (each checked alone first, so an error names the file)
//! and read one tensor at a time, the mapped bytes released once copied out.
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
    let tensor = if view.dtype() == ::safetensors::Dtype::BOOL {
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
