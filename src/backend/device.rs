//! Choosing where tensors live: `--device auto|cpu|cuda[:N]`.
//!
//! The LibTorch backend is the `tch` feature. burn 0.22 marks it deprecated
//! in favour of its CubeCL backends; moving there is this module's job alone:
//! enable burn's `cuda` or `cpu` feature instead and construct
//! `Device::cuda(index)` / `Device::cpu()` below. No model code changes.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// The `--device` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA if libtorch sees a GPU, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "device {s:?}: expected auto, cpu, cuda or cuda:N"
                    ))
                }),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The version of the libtorch this binary was built against.
pub fn libtorch_version() -> &'static str {
    option_env!("CALTECH_ANOMALY_LIBTORCH_VERSION").unwrap_or("unknown")
}

/// Number of CUDA devices libtorch can use.
pub fn cuda_device_count() -> usize {
    if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    }
}

/// The LibTorch device behind `device`, if it is one (the native
/// convolutions and the fused Adam run on these only).
#[allow(deprecated)] // burn-tch is deprecated upstream; see the module docs
pub fn libtorch_device(device: &Device) -> Option<burn::backend::libtorch::LibTorchDevice> {
    match device.as_dispatch().clone().inner() {
        burn::backend::DispatchDevice::LibTorch(device) => Some(device),
        _ => None,
    }
}

/// `device` as a run records it: `cpu` or `cuda:N` as `--device` spells
/// it, another backend's device as it prints itself.
#[allow(deprecated)] // burn-tch is deprecated upstream; see the module docs
pub fn device_name(device: &Device) -> String {
    use burn::backend::libtorch::LibTorchDevice;
    match libtorch_device(device) {
        Some(LibTorchDevice::Cpu) => DeviceChoice::Cpu.to_string(),
        Some(LibTorchDevice::Cuda(n)) => DeviceChoice::Cuda(n).to_string(),
        _ => format!("{device:?}"),
    }
}

/// A resolved device and a sentence saying why it was chosen.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub device: Device,
    /// `cpu` or `cuda:N`.
    pub choice: DeviceChoice,
    pub reason: String,
}

impl SelectedDevice {
    pub fn is_cuda(&self) -> bool {
        matches!(self.choice, DeviceChoice::Cuda(_))
    }
}

/// Resolves `choice` to a device, failing if CUDA is asked for and absent.
#[allow(deprecated)] // burn-tch is deprecated upstream; see the module docs
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice> {
    let count = cuda_device_count();
    let (choice, reason) = match choice {
        DeviceChoice::Auto if count > 0 => (
            DeviceChoice::Cuda(0),
            format!("auto: libtorch sees {count} CUDA device(s)"),
        ),
        DeviceChoice::Auto => (
            DeviceChoice::Cpu,
            "auto: libtorch sees no CUDA device".into(),
        ),
        DeviceChoice::Cpu => (DeviceChoice::Cpu, "requested".into()),
        DeviceChoice::Cuda(n) if n < count => (DeviceChoice::Cuda(n), "requested".into()),
        DeviceChoice::Cuda(n) => {
            return Err(Error::InvalidParameter(format!(
                "cuda:{n} requested but libtorch sees {count} CUDA device(s)"
            )));
        }
    };
    let (device, reason) = match choice {
        DeviceChoice::Cuda(n) => (Device::libtorch_cuda(n), reason),
        _ if keep_freed_memory() => (
            Device::libtorch(),
            format!("{reason}; freed memory stays in the heap"),
        ),
        _ => (Device::libtorch(), reason),
    };
    Ok(SelectedDevice {
        device,
        choice,
        reason,
    })
}

/// Makes glibc keep freed memory in the heap for reuse, once per process:
/// whether it does. On the CPU, libtorch allocates every activation and
/// gradient afresh each step; above glibc's mmap threshold (at most 32 MiB
/// by default) each is a fresh mapping, page-faulted in and unmapped again,
/// and at 256 px the kernel time spent on that exceeded the arithmetic.
/// Keeping it trades a higher peak RSS (now held) for a faster training
/// step; the measurements, with their dates, are in `docs/benchmarks.md`.
pub fn keep_freed_memory() -> bool {
    *FREED_MEMORY_KEPT.get_or_init(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets glibc's allocator parameters; it is
        // called once, and allocations in flight stay valid under them.
        unsafe {
            let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, KEPT_BELOW);
            let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_BELOW);
            mmap == 1 && trim == 1
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        false
    })
}

static FREED_MEMORY_KEPT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether [`keep_freed_memory`] was called in this process and took effect.
pub fn freed_memory_kept() -> bool {
    FREED_MEMORY_KEPT.get() == Some(&true)
}

/// The mmap and trim thresholds [`keep_freed_memory`] sets, in bytes.
const KEPT_BELOW: i32 = i32::MAX;

/// The `GLIBC_TUNABLES` value with [`keep_freed_memory`]'s settings, for a
/// peer process that should run under the same allocator.
pub fn keep_freed_memory_tunables() -> String {
    format!("glibc.malloc.mmap_threshold={KEPT_BELOW}:glibc.malloc.trim_threshold={KEPT_BELOW}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_allocator_settings_once() {
        assert!(keep_freed_memory(), "glibc refused the mallopt settings");
        assert!(freed_memory_kept());
        assert!(keep_freed_memory(), "a second call reports the first");
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(3)
        );
        assert!("gpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_and_cpu_always_resolve() {
        let auto = select_device(DeviceChoice::Auto).unwrap();
        assert_eq!(auto.is_cuda(), cuda_device_count() > 0);
        assert!(!select_device(DeviceChoice::Cpu).unwrap().is_cuda());
        let missing = DeviceChoice::Cuda(cuda_device_count());
        assert!(select_device(missing).is_err());
    }
}
