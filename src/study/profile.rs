//! Run profiles: the report's settings, a CPU-friendly variant, and a tiny
//! one for tests. Every value can be overridden on the command line.

use std::fmt;
use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::autoencoder::Architecture;
use crate::backend::{Precision, SelectedDevice, freed_memory_kept, libtorch_version};
use crate::data::PoolSize;
use crate::error::{Error, Result, parse_choice};
use crate::io::{read_json, write_bytes_atomic};
use crate::stats::hex;
use crate::study::{bench_train, cpuinfo};

/// `--profile auto|full|quick|smoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    /// smoke profile's 64 keeps CI's extraction of 9,144 images short); the
    /// larger backbones scale it ([`crate::features::Backbone::side_at`]).
    pub feature_size: usize,
    /// Input side of the label-aware classifier: 64 px at `full` too, where
    /// 256 px (16× the pixels) would cost about as much as another
    /// autoencoder for a detector the pretrained features far outrank.
    pub classifier_size: usize,
    /// Epochs of the label-aware classifier (early stopping ends it sooner).
    pub classifier_epochs: usize,
    /// Training seeds of the refinement: the spread of every model's
    /// numbers over them is published, `diff` tolerates it, and a claim's
    /// verdict is settled only where it holds at each. Three at `quick`
    /// (a minute or two per model and seed); one at `full`, where each
    /// more seed trains the four models again at 256 px (about half an hour
    /// in bf16 on 2 cores).
    pub seeds: usize,
    /// Whether the resize ablation runs (baseline and improved3 trained
    /// again on antialiased images): not at `full`, whose 256 px images are
    /// downscaled too little from Caltech-101's (about 300 px) for the
    /// resize filter's aliasing to matter; the ablation measures it at
    /// 64 px.
    pub resize_ablation: bool,
}

impl ProfileSettings {
    /// [`Self::seeds`] training seeds from `first` on (`first`, `first + 1`,
    /// …).
    pub fn training_seeds(&self, first: u64) -> Vec<u64> {
        (first..).take(self.seeds).collect()
    }
}

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::Auto, Profile::Full, Profile::Quick, Profile::Smoke];

    /// Replaces `auto` by a concrete profile for `device`, saying why.
    pub fn resolve(self, device: &SelectedDevice) -> (Profile, String) {
        match self {
            Profile::Auto if device.is_cuda() => (Profile::Full, "auto: CUDA → full".into()),
            Profile::Auto => (
                Profile::Quick,
                "auto: no GPU → quick (64 px; profile full gives the report's 256 px)".into(),
            ),
            other => (other, "requested".into()),
        }
    }

    /// [`Self::resolve`], and when `auto` picks `quick` on a CPU, what
    /// `full` would cost here in `precision`: measured once per machine
    /// (seconds), cached in `cache_dir`.
    pub fn resolve_projected(
        self,
        device: &SelectedDevice,
        precision: Precision,
        cache_dir: &Path,
    ) -> (Profile, String) {
        let (profile, reason) = self.resolve(device);
        if self != Profile::Auto || profile != Profile::Quick {
            return (profile, reason);
        }
        let measured =
            full_projection(cache_dir, &format!("{} {precision}", device.choice), || {
                measure_full_speed(precision, &device.device)
            });
        match measured {
            Ok(projection) => (
                profile,
                format!("auto: no GPU → quick (64 px); {projection} in {precision}"),
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
                classifier_size: 64,
                classifier_epochs: 40,
                seeds: 1,
                resize_ablation: false,
            },
            Profile::Quick | Profile::Auto => ProfileSettings {
                image_size: 64,
                epochs: 10,
                batch_size: 64,
                pool: PoolSize::PerClass(30),
                feature_size: 224,
                classifier_size: 64,
                classifier_epochs: 40,
                seeds: 3,
                resize_ablation: true,
            },
            Profile::Smoke => ProfileSettings {
                image_size: 32,
                epochs: 1,
                batch_size: 32,
                pool: PoolSize::PerClass(4),
                feature_size: 64,
                classifier_size: 32,
                classifier_epochs: 1,
                seeds: 1,
                resize_ablation: true,
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

impl std::str::FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_choice("profile", s, &Self::ALL, Self::name)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Train and validation images of the `full` (and `quick`) profile's split:
/// 30 images of each of the 101 object classes, cut 70 / 15 / 15.
const FULL_SPLIT_IMAGES: (usize, usize) = (2122, 455);
/// Autoencoder trainings of `reproduce --profile full`: section 8's four
/// models (the resize ablation does not run at `full`).
const REPRODUCE_TRAININGS: usize = 4;

/// What the `full` profile would cost on this machine, projected from the
/// baseline's training speed at 256 px measured here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FullProjection {
    /// Training images per second of the baseline at 256 px, batch 16.
    pub images_per_sec: f64,
}

impl FullProjection {
    /// Seconds of one epoch: a training step per train image and a
    /// forward pass (about a third of a step) per validation image.
    pub fn epoch_s(&self) -> f64 {
        let (train, validation) = FULL_SPLIT_IMAGES;
        (train as f64 + validation as f64 / 3.0) / self.images_per_sec
    }

    /// Seconds of one model's training, every epoch of `full`.
    pub fn model_s(&self) -> f64 {
        self.epoch_s() * Profile::Full.settings().epochs as f64
    }
}

impl fmt::Display for FullProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = |s: f64| s / 3600.0;
        write!(
            f,
            "profile full (the report's 256 px) would take about {:.1} h per model here ({:.0} \
             min per epoch, {:.0} h for reproduce's {REPRODUCE_TRAININGS} trainings; measured \
             {:.2} training images/s at 256 px)",
            hours(self.model_s()),
            self.epoch_s() / 60.0,
            hours(self.model_s() * REPRODUCE_TRAININGS as f64),
            self.images_per_sec
        )
    }
}

/// [`FullProjection`] measured by `measure` (training images/s at 256 px)
/// once per machine and software: cached in `cache_dir` under a key of the
/// CPU, its threads, the device, the crate and libtorch versions and the
/// allocator setting.
pub fn full_projection(
    cache_dir: &Path,
    device_name: &str,
    measure: impl FnOnce() -> Result<f64>,
) -> Result<FullProjection> {
    let cpu = cpuinfo("model name").unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    let identity = format!(
        "{cpu} {threads} {device_name} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        libtorch_version(),
        freed_memory_kept()
    );
    let key = hex(&Sha256::digest(identity.as_bytes())[..8]);
    let path = cache_dir.join(format!("full-projection-{key}.json"));
    if let Ok(saved) = read_json(&path) {
        return Ok(saved);
    }
    let projection = FullProjection {
        images_per_sec: measure()?,
    };
    write_bytes_atomic(&path, &serde_json::to_vec_pretty(&projection)?)?;
    Ok(projection)
}

/// The baseline's training images/s at 256 px on `device`: three timed
/// steps of batch 16 after two warm-up steps (which grow the heap to its
/// working size), seconds on a CPU. A whole `full` baseline (batch 64) runs
/// somewhat slower than this projects (a training step per train image, a
/// third of one per validation image): the check, dated, is in
/// `docs/results.md`.
pub fn measure_full_speed(precision: Precision, device: &Device) -> Result<f64> {
    Ok(bench_train(Architecture::Baseline, 256, 16, 3, 2, precision, device)?.images_per_sec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use approx::assert_relative_eq;

    #[test]
    fn the_projection_is_measured_once_per_machine_and_scales_with_the_speed() {
        let dir = std::env::temp_dir().join(format!("full-projection-{}", std::process::id()));
        let first = full_projection(&dir, "cpu", || Ok(3.2)).unwrap();
        let again = full_projection(&dir, "cpu", || panic!("measured a second time")).unwrap();
        assert_eq!(first, again);
        let elsewhere = full_projection(&dir, "cuda:0", || Ok(64.0)).unwrap();
        assert_eq!(elsewhere.images_per_sec, 64.0);

        assert_relative_eq!(first.epoch_s(), (2122.0 + 455.0 / 3.0) / 3.2);
        assert_relative_eq!(first.model_s(), 20.0 * first.epoch_s());
        assert_relative_eq!(elsewhere.model_s() * 20.0, first.model_s());
        let text = first.to_string();
        assert!(text.contains("about 3.9 h per model"), "{text}");
        assert!(text.contains("16 h for reproduce's 4 trainings"), "{text}");

        // A failed measurement is an error, and leaves nothing cached.
        let failed = std::env::temp_dir().join(format!("no-projection-{}", std::process::id()));
        let refused = full_projection(&failed, "cpu", || {
            Err(Error::InvalidParameter("no device".into()))
        });
        assert!(refused.is_err());
        assert!(!failed.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
