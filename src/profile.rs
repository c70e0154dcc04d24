//! Run profiles: the report's settings, a CPU-friendly variant, and a tiny
//! one for tests. Every value can be overridden on the command line.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bench::{full_projection, measure_full_speed};
use crate::data::PoolSize;
use crate::device::SelectedDevice;

/// `--profile auto|full|quick|smoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `full` on CUDA, `quick` on CPU.
    #[default]
    Auto,
    /// The report's settings: 256 px, 20 epochs, the 30-per-class pool.
    Full,
    /// 64 px and 10 epochs on the full pool: the baseline in minutes on 2 cores.
    Quick,
    /// 32 px, 1 epoch, 4 images per class: tests and CI.
    Smoke,
}

/// The values a profile sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSettings {
    pub image_size: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub pool: PoolSize,
    /// Input side of the pretrained feature extractor (ImageNet's 224; the
    /// smoke profile's 64 keeps CI's extraction of 9,144 images short).
    pub feature_size: usize,
    /// Epochs of the label-aware classifier (early stopping ends it sooner).
    pub classifier_epochs: usize,
}

impl Profile {
    /// Replaces `auto` by a concrete profile for `device`, saying why.
    pub fn resolve(self, device: &SelectedDevice) -> (Profile, String) {
        match self {
            Profile::Auto if device.is_cuda() => (Profile::Full, "auto: CUDA → full".into()),
            Profile::Auto => (
                Profile::Quick,
                "auto: no GPU → quick (64 px; use --profile full for the report's 256 px)".into(),
            ),
            other => (other, "requested".into()),
        }
    }

    /// [`Self::resolve`], and when `auto` picks `quick` on a CPU, what
    /// `full` would cost here: measured once per machine (about 10 s),
    /// cached in `cache_dir`.
    pub fn resolve_projected(self, device: &SelectedDevice, cache_dir: &Path) -> (Profile, String) {
        let (profile, reason) = self.resolve(device);
        if self != Profile::Auto || profile != Profile::Quick {
            return (profile, reason);
        }
        let measured = full_projection(cache_dir, &device.choice.to_string(), || {
            measure_full_speed(&device.device)
        });
        match measured {
            Ok(projection) => (
                profile,
                format!("auto: no GPU → quick (64 px); {projection}"),
            ),
            Err(e) => (
                profile,
                format!("{reason}; full's cost could not be measured: {e}"),
            ),
        }
    }

    /// The settings of a concrete profile (`auto` resolves as on CPU).
    pub fn settings(self) -> ProfileSettings {
        match self {
            Profile::Full => ProfileSettings {
                image_size: 256,
                epochs: 20,
                batch_size: 64,
                pool: PoolSize::PerClass(30),
                feature_size: 224,
                classifier_epochs: 40,
            },
            Profile::Quick | Profile::Auto => ProfileSettings {
                image_size: 64,
                epochs: 10,
                batch_size: 64,
                pool: PoolSize::PerClass(30),
                feature_size: 224,
                classifier_epochs: 40,
            },
            Profile::Smoke => ProfileSettings {
                image_size: 32,
                epochs: 1,
                batch_size: 32,
                pool: PoolSize::PerClass(4),
                feature_size: 64,
                classifier_epochs: 1,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Auto => "auto",
            Profile::Full => "full",
            Profile::Quick => "quick",
            Profile::Smoke => "smoke",
        }
    }
}
