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
