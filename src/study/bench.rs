//! Benchmarks against named peers, measured in the same run.
//!
//! `bench prepare` preprocesses every image of the dataset into a fresh cache
//! and compares with `bench/tf_preprocess.py`, the report's TensorFlow loop
//! (`tf.io.decode_jpeg`, `tf.image.resize`, `/255`, `np.array`).
//!
//! `bench features` runs a pretrained network's inference on a fixed batch
//! both ways this crate can (its native convolutions, burn's modules) and
//! compares with `bench/torch_features.py`, the PyTorch reference network.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::autoencoder::{Architecture, ModelConfig, TrainingConfig, train_step};
use crate::backend::{Precision, autocast};
use crate::data::{Caltech101, Manifest, PoolSize, PreprocessConfig, SplitConfig, preprocess};
use crate::error::{Error, IoContext, Result};
use crate::features::{Backbone, EfficientNetLite};

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
    precision: Precision,
    device: &Device,
) -> Result<Measurement> {
    let _autocast = autocast(precision);
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
    sync(&device)?;
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
            "caltech_anomaly burn-tch {precision} ({architecture}, {})",
            if crate::backend::native_backward() {
                "libtorch's conv, batch norm and ReLU backward"
            } else {
                "burn's generic backward"
            }
        ),
        images: steps * batch,
        seconds: start.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
    })
}

/// Pooled features of `backbone` (its ImageNet weights) on one fixed random
/// batch of `batch` images at `size` px, `batches` times after `warmup`,
/// each batch's features read back: inference images/s, the decoding left
/// out. `native` runs each convolution through [`crate::backend::conv2d`]
/// (what extraction uses), else through burn's `Conv2d` modules.
pub fn bench_features(
    backbone: Backbone,
    size: usize,
    (batch, batches, warmup): (usize, usize, usize),
    native: bool,
    device: &Device,
) -> Result<Measurement> {
    let model = EfficientNetLite::pretrained(backbone, device)?;
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let was_native = crate::backend::native_backward();
    crate::backend::set_native_backward(native);
    let run = || {
        let _: f32 = model.features(x.clone()).sum().into_scalar();
    };
    (0..warmup).for_each(|_| run());
    let start = Instant::now();
    (0..batches).for_each(|_| run());
    let seconds = start.elapsed().as_secs_f64();
    crate::backend::set_native_backward(was_native);
    let path = if native {
        "libtorch's channels-last convolution and ReLU6 in one call"
    } else {
        "burn's Conv2d modules"
    };
    Ok(Measurement {
        name: format!("caltech_anomaly burn-tch ({backbone}, {path})"),
        images: batches * batch,
        seconds,
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
    })
}

/// Waits for `device`'s queued work, so that a timer around it measures it.
fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| Error::InvalidParameter(format!("device: {e:?}")))
}

/// Runs a peer script that prints one JSON [`Measurement`] as its last
/// line, under the allocator settings this process runs with (see
/// [`crate::backend::keep_freed_memory`]), so that the two compare like for
/// like.
pub fn run_peer(python: &Path, script: &Path, args: &[String]) -> Result<Measurement> {
    let mut command = Command::new(python);
    if crate::backend::freed_memory_kept() {
        command.env(
            "GLIBC_TUNABLES",
            crate::backend::keep_freed_memory_tunables(),
        );
    }
    let output = command.arg(script).args(args).output().at(python)?;
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

/// The arithmetic of one training image, for the share of the machine's
/// peak a benchmark reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// Floating-point operations of one image's training step.
    pub flops_per_image: f64,
    /// The references shown as shares, each in a column of its own.
    pub peaks: Vec<Peak>,
}

/// A reference fp32 speed of the machine, against which a benchmark's
/// GFLOP/s is shown as a share.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// Short, for the table's column header.
    pub name: String,
    pub gflops: f64,
    /// How it was derived.
    pub how: String,
}

/// Multiply-adds of the baseline's forward pass on one `size`² image: a
/// convolution costs its output pixels × Cin × Cout × 9, a stride-2
/// transposed convolution its input pixels × Cin × Cout × 9.
pub fn baseline_forward_macs(size: usize, encoding_dim: usize) -> f64 {
    let pixels = |side: usize| (side * side) as f64;
    let conv = |side, cin: usize, cout: usize| pixels(side) * (cin * cout * 9) as f64;
    let (s, side) = (size, size / 8);
    let flat = (128 * side * side) as f64;
    conv(s, 3, 32)
        + conv(s / 2, 32, 64)
        + conv(s / 4, 64, 128)
        + 2.0 * flat * encoding_dim as f64
        + conv(side, 128, 128)
        + conv(2 * side, 128, 64)
        + conv(4 * side, 64, 32)
        + conv(s, 32, 3)
}

/// FLOPs of one image's training step of the baseline: the forward pass
/// and a backward pass of twice its cost (input and weight gradients),
/// 2 FLOPs per multiply-add.
pub fn baseline_train_flops(size: usize) -> f64 {
    3.0 * 2.0 * baseline_forward_macs(size, 256)
}

/// This CPU's fp32 peak from `/proc/cpuinfo`: threads × 2 FMA pipes ×
/// SIMD lanes (16 with AVX-512, 8 with AVX2 + FMA, else 4) × 2 FLOPs × the
/// clock it reports. An estimate, not a bound: SMT threads share their
/// core's pipes, and under a hypervisor the reported clock is nominal (here
/// [`measured_conv_peak`] exceeded it).
pub fn cpu_peak() -> Option<Peak> {
    let flags = cpuinfo("flags")?;
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let mhz: f64 = cpuinfo("cpu MHz")?.parse().ok()?;
    let threads = std::thread::available_parallelism().ok()?.get();
    let (lanes, isa) = if flags.contains(&"avx512f") {
        (16, "AVX-512")
    } else if flags.contains(&"avx2") && flags.contains(&"fma") {
        (8, "AVX2 + FMA")
    } else {
        (4, "SSE")
    };
    let gflops = threads as f64 * 2.0 * lanes as f64 * 2.0 * mhz / 1000.0;
    Some(Peak {
        name: "cpuinfo peak".into(),
        gflops,
        how: format!(
            "{threads} threads × 2 FMA pipes × {lanes} fp32 lanes ({isa}) × 2 FLOPs × {:.2} GHz",
            mhz / 1000.0
        ),
    })
}

/// The speed of a layer of the network's kind at its best shape, measured
/// here: a 3×3 convolution of 128 to 128 channels (the widest the baseline
/// has) on a `[batch, 128, side, side]` input, forward, through the same
/// libtorch (oneDNN) path as the models' layers, best of `repeats` after one untimed, at 2 · 9 · 128² FLOPs per
/// output pixel. A network's step mixes in layers of 3 channels, pooling,
/// dense layers and elementwise passes, so it stays below this. The
/// cpuinfo estimate is the hardware's nominal figure.
pub fn measured_conv_peak(
    batch: usize,
    side: usize,
    repeats: usize,
    precision: Precision,
    device: &Device,
) -> Result<Peak> {
    let _autocast = autocast(precision);
    let channels = 128;
    let conv = crate::autoencoder::conv3x3(channels, channels, 1, device);
    let x = Tensor::<4>::random([batch, channels, side, side], Distribution::Default, device);
    let mut best = f64::INFINITY;
    for round in 0..=repeats {
        sync(device)?;
        let start = Instant::now();
        let y = crate::backend::conv2d(&conv, x.clone(), crate::backend::Activation::Identity);
        sync(device)?;
        let seconds = start.elapsed().as_secs_f64();
        drop(y);
        if round > 0 {
            best = best.min(seconds);
        }
    }
    let flops = 2.0 * 9.0 * (channels * channels * batch * side * side) as f64;
    Ok(Peak {
        name: format!("conv 128→128 {precision}"),
        gflops: flops / best / 1e9,
        how: format!(
            "libtorch's 3×3 convolution in {precision}, {channels}→{channels} channels, batch \
             {batch} at {side}×{side}, forward, best of {repeats}"
        ),
    })
}

/// The first CPU's `name` field in `/proc/cpuinfo`.
pub(crate) fn cpuinfo(name: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with(name))?;
    Some(line.split(':').nth(1)?.trim().to_string())
}

/// Ours against peers, as printed and put in the README.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerComparison {
    pub ours: Measurement,
    pub peers: Vec<Measurement>,
    /// Size of the preprocessed data as `u8`, when memory is compared to it.
    pub data_bytes: Option<u64>,
    /// When known, the achieved GFLOP/s and share of peak are shown.
    pub work: Option<Work>,
}

impl PeerComparison {
    /// The peer with the most images/s.
    pub fn fastest_peer(&self) -> Option<&Measurement> {
        self.peers
            .iter()
            .max_by(|a, b| a.images_per_sec().total_cmp(&b.images_per_sec()))
    }
}

impl fmt::Display for PeerComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let mut header =
            "| implementation | images | seconds | images/s | peak RSS (GiB) |".to_string();
        let mut rule = "|---|---:|---:|---:|---:|".to_string();
        if self.data_bytes.is_some() {
            header.push_str(" RSS / u8 data |");
            rule.push_str("---:|");
        }
        if let Some(work) = &self.work {
            header.push_str(" GFLOP/s |");
            rule.push_str("---:|");
            for peak in &work.peaks {
                header.push_str(&format!(" share of {} |", peak.name));
                rule.push_str("---:|");
            }
        }
        writeln!(f, "{header}\n{rule}")?;
        for m in std::iter::once(&self.ours).chain(&self.peers) {
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
            if let Some(work) = &self.work {
                let gflops = m.images_per_sec() * work.flops_per_image / 1e9;
                write!(f, " {gflops:.1} |")?;
                for peak in &work.peaks {
                    write!(f, " {:.1} % |", 100.0 * gflops / peak.gflops)?;
                }
            }
            writeln!(f)?;
        }
        if let Some(data) = self.data_bytes {
            writeln!(f, "u8 data: {:.2} GiB", gib(data))?;
        }
        if let Some(work) = &self.work {
            writeln!(
                f,
                "work: {:.2} GFLOP per training image",
                work.flops_per_image / 1e9
            )?;
            for peak in &work.peaks {
                writeln!(
                    f,
                    "{}: {:.0} GFLOP/s ({})",
                    peak.name, peak.gflops, peak.how
                )?;
            }
        }
        for peer in &self.peers {
            writeln!(
                f,
                "ratio: {:.2}x the images/s of {}, {:.2}x its peak RSS",
                self.ours.images_per_sec() / peer.images_per_sec(),
                peer.name,
                self.ours.peak_rss_bytes as f64 / peer.peak_rss_bytes as f64
            )?;
        }
        if let (true, Some(fastest)) = (self.peers.len() > 1, self.fastest_peer()) {
            writeln!(
                f,
                "against the faster peer ({}): {:.2}x",
                fastest.name,
                self.ours.images_per_sec() / fastest.images_per_sec()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn the_baseline_costs_what_its_layers_add_up_to() {
        // At 256 px: 1.54 G multiply-adds forward (the count: 3.1
        // GFLOP forward, about 9 per training step).
        let macs = baseline_forward_macs(256, 256);
        assert_relative_eq!(macs, 1_539_309_568.0);
        assert_relative_eq!(baseline_train_flops(256), 6.0 * macs);
        // Every layer but the two dense ones scales with the pixels.
        let dense = |s: usize| 2.0 * (128 * (s / 8) * (s / 8) * 256) as f64;
        let conv = |s| baseline_forward_macs(s, 256) - dense(s);
        assert_relative_eq!(conv(256), 16.0 * conv(64), max_relative = 1e-12);
    }

    #[test]
    fn the_comparison_names_the_faster_peer_and_the_share_of_peak() {
        let m = |name: &str, seconds| Measurement {
            name: name.into(),
            images: 100,
            seconds,
            peak_rss_bytes: 1 << 30,
        };
        let comparison = PeerComparison {
            ours: m("ours", 10.0),
            peers: vec![m("slow", 20.0), m("fast", 12.5)],
            data_bytes: None,
            work: Some(Work {
                flops_per_image: 1e9,
                peaks: vec![
                    Peak {
                        name: "estimate".into(),
                        gflops: 100.0,
                        how: "test".into(),
                    },
                    Peak {
                        name: "layer".into(),
                        gflops: 40.0,
                        how: "test".into(),
                    },
                ],
            }),
        };
        assert_eq!(comparison.fastest_peer().unwrap().name, "fast");
        let text = comparison.to_string();
        // 10 images/s × 1 GFLOP = 10 GFLOP/s: 10 % of a 100 GFLOP/s peak,
        // 25 % of a 40 GFLOP/s one.
        assert!(
            text.contains("| share of estimate | share of layer |"),
            "{text}"
        );
        assert!(
            text.contains("| ours | 100 | 10.0 | 10.0 | 1.00 | 10.0 | 10.0 % | 25.0 % |"),
            "{text}"
        );
        assert!(
            text.contains("against the faster peer (fast): 1.25x"),
            "{text}"
        );
        assert!(text.contains("ratio: 2.00x the images/s of slow"), "{text}");
    }

    #[test]
    fn the_convolution_reference_is_a_positive_speed_and_names_its_shape() {
        // Not select_device: it tunes this process's allocator, which the
        // projection test (in profile.rs) reads into its cache key.
        #[allow(deprecated)]
        let device = Device::libtorch();
        let peak = measured_conv_peak(1, 8, 2, Precision::Fp32, &device).unwrap();
        assert!(peak.gflops.is_finite() && peak.gflops > 0.0, "{peak:?}");
        assert!(peak.how.contains("batch 1 at 8×8"), "{}", peak.how);
        assert!(peak.how.contains("best of 2"), "{}", peak.how);
    }
}
