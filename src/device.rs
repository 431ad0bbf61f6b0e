//! `--device` / `--dtype` turned into a candle `Device` and a [`Precision`], with clear errors.
//!
//! The choice is made once at the edge; models receive a `Device` and a `Precision` (a float
//! `DType`, or int8 projections on the CPU) and never look at flags. A request this build cannot serve (CUDA in a CPU-only build, a dtype a device
//! does not support) fails here with an error saying what to build or pass instead.
use std::str::FromStr;

use candle_core::{DType, Device};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when this build has it and a GPU is present, else Metal likewise, else CPU.
    Auto,
    Cpu,
    Cuda(usize),
    Metal(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DTypeChoice {
    F32,
    F16,
    Bf16,
    /// int8 projections with f32 elsewhere, on the CPU (the translation model; other models
    /// run in f32).
    Int8,
}

/// What a model computes in: one float dtype throughout, or int8 or bf16 weights in its
/// projections (converted at load, CPU only) with f32 for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Float(DType),
    Int8,
    /// `--dtype bf16` on the CPU: bf16 projections (`translate/bf16.rs`), f32 elsewhere.
    /// On a GPU bf16 is [`Precision::Float`].
    Bf16Cpu,
}

impl Precision {
    /// The dtype of the tensors: the float dtype, or f32 beside int8 projections.
    pub fn dtype(self) -> DType {
        match self {
            Precision::Float(dtype) => dtype,
            Precision::Int8 | Precision::Bf16Cpu => DType::F32,
        }
    }

    /// Whether the projections' weights are converted from f32 at load (int8, CPU bf16),
    /// so that the f32 copies are freed once loading is done.
    pub fn converts_weights(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Bf16Cpu)
    }

    /// What a CPU decoder stores its attention keys and values in: f16 under int8, the
    /// tensors' dtype otherwise. They are most of a beam search's peak memory (at beam 4,
    /// batch 32 of opus-mt's shape, 311 of int8's 446 MB of heap in f32), and f16's rounding
    /// (2⁻¹¹ of a value) is far below what int8's projections already change.
    pub fn kv_dtype(self) -> DType {
        match self {
            Precision::Int8 => DType::F16,
            other => other.dtype(),
        }
    }

    /// The name `--dtype` takes, recorded in run.json (the cache key takes
    /// [`Self::cache_name`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Float(dtype) => dtype.as_str(),
            Precision::Int8 => "int8",
            Precision::Bf16Cpu => "bf16",
        }
    }

    /// The name the translation cache keys entries by: [`Self::as_str`], but with CPU bf16
    /// and int8 apart from what computed differently under the same name: CPU bf16's
    /// projections from a GPU's (and from the candle bf16 of earlier versions), int8 with
    /// f16 keys and values ([`Self::kv_dtype`]) from the earlier int8's f32 ones.
    pub fn cache_name(self) -> &'static str {
        match self {
            Precision::Bf16Cpu => "bf16-cpu",
            Precision::Int8 => "int8-f16kv",
            other => other.as_str(),
        }
    }
}

impl From<DType> for Precision {
    fn from(dtype: DType) -> Self {
        Precision::Float(dtype)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device `{0}`: use auto, cpu, cuda, cuda:N, metal or metal:N")]
    UnknownDevice(String),
    #[error("unknown dtype `{0}`: use f32, f16, bf16 or int8")]
    UnknownDType(String),
    #[error(
        "this warta was built without {feature} support, so `--device {requested}` cannot run; \
         rebuild with `cargo install --path . --features {feature}` on a machine with the \
         {toolkit}, or pass `--device cpu`"
    )]
    NotBuilt {
        requested: String,
        feature: &'static str,
        toolkit: &'static str,
    },
    #[error("cannot open {device}: {message}; check the driver, or pass `--device cpu`")]
    Unavailable { device: String, message: String },
    #[error(
        "--dtype {dtype} is not supported on {device}: {why}; pass `--dtype f32`{alternative}"
    )]
    UnsupportedDType {
        dtype: String,
        device: String,
        why: &'static str,
        alternative: &'static str,
    },
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, ordinal) = match lower.split_once(':') {
            Some((n, o)) => match o.parse::<usize>() {
                Ok(o) => (n.to_string(), o),
                Err(_) => return Err(DeviceError::UnknownDevice(s.to_string())),
            },
            None => (lower.clone(), 0),
        };
        match name.as_str() {
            "auto" if !lower.contains(':') => Ok(DeviceChoice::Auto),
            "cpu" if !lower.contains(':') => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(ordinal)),
            "metal" | "mps" => Ok(DeviceChoice::Metal(ordinal)),
            _ => Err(DeviceError::UnknownDevice(s.to_string())),
        }
    }
}

impl FromStr for DTypeChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Ok(DTypeChoice::F32),
            "f16" | "float16" | "fp16" | "half" => Ok(DTypeChoice::F16),
            "bf16" | "bfloat16" => Ok(DTypeChoice::Bf16),
            "int8" | "i8" => Ok(DTypeChoice::Int8),
            _ => Err(DeviceError::UnknownDType(s.to_string())),
        }
    }
}

impl DTypeChoice {
    pub fn precision(self) -> Precision {
        match self {
            DTypeChoice::F32 => Precision::Float(DType::F32),
            DTypeChoice::F16 => Precision::Float(DType::F16),
            DTypeChoice::Bf16 => Precision::Float(DType::BF16),
            DTypeChoice::Int8 => Precision::Int8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            DTypeChoice::F32 => "f32",
            DTypeChoice::F16 => "f16",
            DTypeChoice::Bf16 => "bf16",
            DTypeChoice::Int8 => "int8",
        }
    }
}

/// Opens the requested device and checks the dtype is one it runs.
pub fn select(
    device: DeviceChoice,
    dtype: DTypeChoice,
) -> Result<(Device, Precision), DeviceError> {
    let dev = open(device)?;
    check_dtype(&dev, dtype)?;
    let precision = match (&dev, dtype) {
        (Device::Cpu, DTypeChoice::Bf16) => Precision::Bf16Cpu,
        _ => dtype.precision(),
    };
    Ok((dev, precision))
}

fn open(choice: DeviceChoice) -> Result<Device, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
        DeviceChoice::Cuda(n) => {
            if !candle_core::utils::cuda_is_available() {
                return Err(DeviceError::NotBuilt {
                    requested: format!("cuda:{n}"),
                    feature: "cuda",
                    toolkit: "CUDA toolkit",
                });
            }
            Device::new_cuda(n).map_err(|e| DeviceError::Unavailable {
                device: format!("cuda:{n}"),
                message: e.to_string(),
            })
        }
        DeviceChoice::Metal(n) => {
            if !candle_core::utils::metal_is_available() {
                return Err(DeviceError::NotBuilt {
                    requested: format!("metal:{n}"),
                    feature: "metal",
                    toolkit: "Xcode command-line tools (macOS only)",
                });
            }
            Device::new_metal(n).map_err(|e| DeviceError::Unavailable {
                device: format!("metal:{n}"),
                message: e.to_string(),
            })
        }
    }
}

/// The dtypes each device runs. On CPU candle computes f16 with slow emulated kernels and
/// most processors have no fast half-precision matmul, so only f32 and bf16 are offered.
fn check_dtype(device: &Device, dtype: DTypeChoice) -> Result<(), DeviceError> {
    match (device, dtype) {
        (_, DTypeChoice::F32) => Ok(()),
        (Device::Cpu, DTypeChoice::F16) => Err(DeviceError::UnsupportedDType {
            dtype: dtype.name().into(),
            device: "cpu".into(),
            why: "the CPU kernels have no fast half-precision path",
            alternative: " (or `--dtype bf16`)",
        }),
        (Device::Cpu, DTypeChoice::Int8) => Ok(()),
        (_, DTypeChoice::Int8) => Err(DeviceError::UnsupportedDType {
            dtype: dtype.name().into(),
            device: describe(device),
            why: "the int8 kernels are the CPU's",
            alternative: " or `--dtype f16`/`bf16` on a GPU, or `--device cpu`",
        }),
        _ => Ok(()),
    }
}

/// A short name for logs and provenance: `cpu`, `cuda` or `metal`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() {
        assert_eq!("auto".parse::<DeviceChoice>(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse::<DeviceChoice>(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda:1".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(1)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cpu:1".parse::<DeviceChoice>().is_err());
        assert_eq!("bf16".parse::<DTypeChoice>(), Ok(DTypeChoice::Bf16));
        assert!("f64".parse::<DTypeChoice>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_says_what_to_build() {
        let err = select(DeviceChoice::Cuda(0), DTypeChoice::F32).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--features cuda"), "{msg}");
        assert!(msg.contains("--device cpu"), "{msg}");
    }

    #[test]
    fn f16_on_cpu_is_refused_with_the_alternative() {
        let err = select(DeviceChoice::Cpu, DTypeChoice::F16).unwrap_err();
        assert!(err.to_string().contains("--dtype f32"), "{err}");
        assert!(select(DeviceChoice::Cpu, DTypeChoice::F32).is_ok());
    }

    #[test]
    fn int8_is_a_cpu_precision_with_f32_beside_it() {
        assert_eq!("INT8".parse::<DTypeChoice>(), Ok(DTypeChoice::Int8));
        let (_, p) = select(DeviceChoice::Cpu, DTypeChoice::Int8).unwrap();
        assert_eq!(p, Precision::Int8);
        assert_eq!((p.dtype(), p.as_str()), (DType::F32, "int8"));
        assert_eq!(Precision::from(DType::BF16).as_str(), "bf16");
    }

    #[test]
    fn bf16_on_the_cpu_is_bf16_projections_with_f32_beside_them() {
        let (_, p) = select(DeviceChoice::Cpu, DTypeChoice::Bf16).unwrap();
        assert_eq!(p, Precision::Bf16Cpu);
        assert_eq!((p.dtype(), p.as_str()), (DType::F32, "bf16"));
        assert!(p.converts_weights() && Precision::Int8.converts_weights());
        assert!(!Precision::Float(DType::BF16).converts_weights());
        // Cached translations of CPU bf16 and of a GPU's bf16 never mix.
        assert_ne!(p.cache_name(), Precision::Float(DType::BF16).cache_name());
        assert_eq!(Precision::Int8.cache_name(), "int8-f16kv");
        assert_eq!(Precision::Int8.as_str(), "int8");
        // int8 keeps its keys and values in f16; every other precision in its own dtype.
        assert_eq!(Precision::Int8.kv_dtype(), DType::F16);
        assert_eq!(Precision::Bf16Cpu.kv_dtype(), DType::F32);
        assert_eq!(Precision::Float(DType::F32).kv_dtype(), DType::F32);
    }
}
