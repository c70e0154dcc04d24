//! Benchmarks against named peers, measured in the same run.
//!
//! `bench prepare` preprocesses every image of the dataset into a fresh cache
//! and compares with `bench/tf_preprocess.py`, the report's TensorFlow loop
//! (`tf.io.decode_jpeg`, `tf.image.resize`, `/255`, `np.array`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use burn::tensor::{Device, Distribution, Tensor};

use crate::data::{Caltech101, Manifest, PoolSize, PreprocessConfig, SplitConfig, preprocess};
use crate::error::{Error, IoContext, Result};
use crate::model::{Architecture, ModelConfig};
use crate::train::{TrainingConfig, train_step};

/// One side of a benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub images: usize,
    pub seconds: f64,
    /// Peak resident set size of the measuring process.
    pub peak_rss_bytes: u64,
}

impl Measurement {
    pub fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds
    }
}

/// The peak resident set size of this process so far (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Preprocesses all images under `data_dir` at `size` into a fresh cache in
/// `scratch` (deleted afterwards). Run it in a fresh process: the peak RSS is
/// the process's.
pub fn bench_prepare(data_dir: &Path, size: usize, scratch: &Path) -> Result<Measurement> {
    let dataset = Caltech101::scan(data_dir, false)?;
    let manifest = Manifest::split(
        &dataset,
        &SplitConfig {
            pool: PoolSize::All,
            ..SplitConfig::default()
        },
    )?;
    let config = PreprocessConfig {
        size,
        cache_dir: scratch.to_path_buf(),
        ..PreprocessConfig::default()
    };
    let start = Instant::now();
    let done = preprocess(data_dir, &manifest, &config)?;
    let seconds = start.elapsed().as_secs_f64();
    let images = done.cache.len();
    drop(done);
    std::fs::remove_dir_all(scratch).at(scratch)?;
    Ok(Measurement {
        name: "caltech_anomaly prepare".into(),
        images,
        seconds,
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
    })
}

/// Training throughput: `steps` Adam steps (after `warmup`) of
/// `architecture` on one fixed random `[batch, 3, size, size]` batch, the
/// loss read back once at the end. `bench/torch_train.py` does the same.
pub fn bench_train(
    architecture: Architecture,
    size: usize,
    batch: usize,
    steps: usize,
    warmup: usize,
    device: &Device,
) -> Result<Measurement> {
    let device = device.clone().autodiff();
    device.seed(0);
    // The training defaults (Adam, lr 1e-3, eps 1e-7) and the training step.
    let config = TrainingConfig::new(ModelConfig::new(architecture, size));
    let mut model = config.model.init(&device)?;
    let mut optimizer = config.optimizer();
    let x = Tensor::<4>::random([batch, 3, size, size], Distribution::Default, &device);
    let mut step = |model| {
        train_step(
            model,
            &mut optimizer,
            x.clone(),
            config.ssim_weight(),
            config.learning_rate,
        )
    };
    for _ in 0..warmup {
        model = step(model).0;
    }
    device
        .sync()
        .map_err(|e| Error::InvalidParameter(format!("device: {e:?}")))?;
    let start = Instant::now();
    let mut total: Option<Tensor<1>> = None;
    for _ in 0..steps {
        let (next, loss) = step(model);
        model = next;
        total = Some(total.map_or(loss.clone(), |t| t + loss));
    }
    let _: f32 = total.map_or(0.0, |t| t.into_scalar());
    Ok(Measurement {
        name: format!(
            "caltech_anomaly burn-tch ({architecture}, {} conv backward)",
            if crate::conv::native_backward() {
                "libtorch's"
            } else {
                "burn's generic"
            }
        ),
        images: steps * batch,
        seconds: start.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
    })
}

/// Runs a peer script that prints one JSON [`Measurement`] as its last line.
pub fn run_peer(python: &Path, script: &Path, args: &[String]) -> Result<Measurement> {
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .at(python)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(Error::InvalidParameter(format!(
            "peer {} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    let last = stdout.lines().last().unwrap_or("");
    Ok(serde_json::from_str(last)?)
}

/// The project's Python: the venv's when present.
pub fn venv_python() -> PathBuf {
    let venv = PathBuf::from(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Ours against a peer, as printed and put in the README.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub ours: Measurement,
    pub peer: Option<Measurement>,
    /// Size of the preprocessed data as `u8`, when memory is compared to it.
    pub data_bytes: Option<u64>,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        write!(
            f,
            "| implementation | images | seconds | images/s | peak RSS (GiB) |"
        )?;
        if self.data_bytes.is_some() {
            write!(f, " RSS / u8 data |")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "|---|---:|---:|---:|---:|{}",
            if self.data_bytes.is_some() {
                "---:|"
            } else {
                ""
            }
        )?;
        for m in std::iter::once(&self.ours).chain(&self.peer) {
            write!(
                f,
                "| {} | {} | {:.1} | {:.1} | {:.2} |",
                m.name,
                m.images,
                m.seconds,
                m.images_per_sec(),
                gib(m.peak_rss_bytes),
            )?;
            if let Some(data) = self.data_bytes {
                write!(f, " {:.2} |", m.peak_rss_bytes as f64 / data as f64)?;
            }
            writeln!(f)?;
        }
        if let Some(data) = self.data_bytes {
            writeln!(f, "u8 data: {:.2} GiB", gib(data))?;
        }
        if let Some(peer) = &self.peer {
            write!(
                f,
                "ratio: {:.2}x the images/s of {}, {:.2}x its peak RSS",
                self.ours.images_per_sec() / peer.images_per_sec(),
                peer.name,
                self.ours.peak_rss_bytes as f64 / peer.peak_rss_bytes as f64
            )?;
        }
        Ok(())
    }
}

/// Train and validation images of the `full` (and `quick`) profile's split:
/// 30 images of each of the 101 object classes, cut 70 / 15 / 15.
const FULL_SPLIT_IMAGES: (usize, usize) = (2122, 455);
/// Autoencoder trainings of `reproduce`: section 8's four models and
/// section 10's two.
const REPRODUCE_TRAININGS: usize = 6;

/// What the `full` profile would cost on this machine, projected from the
/// baseline's training speed at 256 px measured here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FullProjection {
    /// Training images per second of the baseline at 256 px, batch 8.
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
        self.epoch_s() * crate::profile::Profile::Full.settings().epochs as f64
    }
}

impl fmt::Display for FullProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = |s: f64| s / 3600.0;
        write!(
            f,
            "--profile full, the report's 256 px, would take about {:.1} h per model here ({:.0} \
             min per epoch; {:.0} h for reproduce's {REPRODUCE_TRAININGS} trainings), from a \
             measured {:.2} training images/s at 256 px",
            hours(self.model_s()),
            self.epoch_s() / 60.0,
            hours(self.model_s() * REPRODUCE_TRAININGS as f64),
            self.images_per_sec
        )
    }
}

/// [`FullProjection`] measured by `measure` (training images/s at 256 px)
/// once per machine and software: cached in `cache_dir` under a key of the
/// CPU, its threads, the device and the crate and libtorch versions.
pub fn full_projection(
    cache_dir: &Path,
    device_name: &str,
    measure: impl FnOnce() -> Result<f64>,
) -> Result<FullProjection> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    let identity = format!(
        "{cpu} {threads} {device_name} {} {}",
        env!("CARGO_PKG_VERSION"),
        crate::run::libtorch_version()
    );
    let key: String = sha2::Sha256::digest(identity.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache_dir.join(format!("full-projection-{key}.json"));
    if let Some(saved) = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    {
        return Ok(saved);
    }
    let projection = FullProjection {
        images_per_sec: measure()?,
    };
    crate::fsutil::write_bytes_atomic(&path, &serde_json::to_vec_pretty(&projection)?)?;
    Ok(projection)
}

/// The baseline's training images/s at 256 px on `device` (one warm-up
/// and two timed steps of batch 8: about 10 s on 2 CPU cores).
pub fn measure_full_speed(device: &Device) -> Result<f64> {
    Ok(bench_train(Architecture::Baseline, 256, 8, 2, 1, device)?.images_per_sec())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(text.contains("24 h for reproduce's 6 trainings"), "{text}");

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
