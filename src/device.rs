// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where the model runs, chosen once from `auto`, `cpu`, `cuda` or `cuda:N`, and in which precision.

use std::fmt;
use std::str::FromStr;

use tch::{Cuda, Device, Kind};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The first CUDA device when one is usable, the CPU otherwise.
    #[default]
    Auto,
    Cpu,
    /// A CUDA device; `None` means the first one.
    Cuda(Option<usize>),
}

impl DeviceSpec {
    /// Resolves the spec against the machine. Asking for CUDA where there is none is an error, never a
    /// silent fallback: a station configured for a GPU must not quietly run ten times slower.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceSpec::Auto => Ok(Device::cuda_if_available()),
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(index) => {
                let index = index.unwrap_or(0);
                if !Cuda::is_available() {
                    return Err(Error::Device(format!(
                        "device {self} requested but CUDA is not available on this machine \
                         (no NVIDIA GPU or driver, or a CPU-only libtorch); use --device cpu or auto"
                    )));
                }
                let count = Cuda::device_count() as usize;
                if index >= count {
                    return Err(Error::Device(format!(
                        "device cuda:{index} requested but this machine has {count} CUDA device(s)"
                    )));
                }
                Ok(Device::Cuda(index))
            }
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(|index| DeviceSpec::Cuda(Some(index)))
                .ok_or_else(|| {
                    Error::Device(format!(
                        "unknown device '{s}': expected auto, cpu, cuda or cuda:N"
                    ))
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(None) => f.write_str("cuda"),
            DeviceSpec::Cuda(Some(index)) => write!(f, "cuda:{index}"),
        }
    }
}

/// The number format the network computes in. The maps are fused and scored in fp32 whatever it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    #[default]
    Fp32,
    /// IEEE half precision: fast on GPUs, emulated (slowly) on most CPUs.
    Fp16,
    /// bfloat16: fp32's range with half its bytes; fast on recent GPUs and on CPUs with AVX-512 BF16 or AMX.
    Bf16,
}

impl Precision {
    pub fn kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Fp16 => Kind::Half,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "fp16" | "float16" | "half" => Ok(Precision::Fp16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::Device(format!(
                "unknown precision '{s}': expected fp32, fp16 or bf16"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        })
    }
}

/// The name a device is reported under (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(index) => format!("cuda:{index}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        Device::Cpu => "cpu".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for text in ["auto", "cpu", "cuda", "cuda:1"] {
            let spec: DeviceSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        for text in ["fp32", "fp16", "bf16"] {
            let precision: Precision = text.parse().unwrap();
            assert_eq!(precision.to_string(), text);
        }
        assert!("int8".parse::<Precision>().is_err());
    }

    #[test]
    fn cuda_without_a_gpu_is_an_error_and_auto_falls_back() {
        if Cuda::is_available() {
            return;
        }
        let err = DeviceSpec::Cuda(None).resolve().unwrap_err().to_string();
        assert!(err.contains("CUDA is not available"), "{err}");
        assert_eq!(DeviceSpec::Auto.resolve().unwrap(), Device::Cpu);
    }
}
