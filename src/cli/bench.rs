//! `bench`: preprocessing and training speed against named peers, and the
//! bf16 quality guard.

use std::path::PathBuf;

use caltech_anomaly::Result;
use caltech_anomaly::analysis::UnseenComparisonTable;
use caltech_anomaly::autoencoder::Architecture;
use caltech_anomaly::backend::{Bf16Support, Precision, SelectedDevice, select_device};
use caltech_anomaly::study::{
    Measurement, PeerComparison, Work, baseline_train_flops, bench_features, bench_prepare,
    bench_train, cpu_peak, measured_conv_peak, precision_guard, run_peer, venv_python,
};

use crate::cli::{BenchFeaturesArgs, BenchTrainArgs, StudyArgs};

pub(crate) fn run_bench_train(args: BenchTrainArgs) -> Result<()> {
    let device = select_device(args.device)?;
    println!("device: {} ({})", device.choice, device.reason);
    caltech_anomaly::backend::set_native_backward(!args.generic_conv);
    let precisions = match args.precision {
        Some(precision) => vec![precision.resolve(&device.device).0],
        None if Bf16Support::of(&device.device).native => vec![Precision::Fp32, Precision::Bf16],
        None => vec![Precision::Fp32],
    };
    for precision in precisions {
        println!("{}", bench_train_in(&args, &device, precision)?);
    }
    Ok(())
}

/// `bench train` in one precision: ours, the peers in the same precision,
/// and the references of that precision.
fn bench_train_in(
    args: &BenchTrainArgs,
    device: &SelectedDevice,
    precision: Precision,
) -> Result<PeerComparison> {
    let ours = bench_train(
        args.model,
        args.size,
        args.batch,
        args.steps,
        args.warmup,
        precision,
        &device.device,
    )?;
    let baseline = args.model == Architecture::Baseline;
    let peers = if args.no_peer || !baseline {
        Vec::new()
    } else {
        train_peers(args, device, precision)?
    };
    let work = if baseline {
        let mut peaks = Vec::new();
        if !device.is_cuda() {
            // The cpuinfo estimate counts fp32 lanes: no bound for bf16.
            if precision == Precision::Fp32 {
                peaks.extend(cpu_peak());
            }
            peaks.push(measured_conv_peak(16, 64, 10, precision, &device.device)?);
        }
        Some(Work {
            flops_per_image: baseline_train_flops(args.size),
            peaks,
        })
    } else {
        None
    };
    Ok(PeerComparison {
        ours,
        peers,
        data_bytes: None,
        work,
    })
}

/// PyTorch eager and (on a CPU) Keras on TensorFlow, training the baseline
/// as `bench train` does, in `precision`.
fn train_peers(
    args: &BenchTrainArgs,
    device: &SelectedDevice,
    precision: Precision,
) -> Result<Vec<Measurement>> {
    let peer_args = [
        ("--size", args.size.to_string()),
        ("--batch", args.batch.to_string()),
        ("--steps", args.steps.to_string()),
        ("--warmup", args.warmup.to_string()),
        ("--device", device.choice.to_string()),
        ("--precision", precision.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect::<Vec<_>>();
    let python = args.python.clone().unwrap_or_else(venv_python);
    let mut scripts = vec!["bench/torch_train.py"];
    if !device.is_cuda() {
        scripts.push("bench/keras_train.py");
    }
    scripts
        .into_iter()
        .map(|script| run_peer(&python, script.as_ref(), &peer_args))
        .collect()
}

pub(crate) fn run_bench_precision(data_dir: PathBuf, args: StudyArgs) -> Result<()> {
    let guard = precision_guard(&args.into_config(data_dir))?;
    println!("{}", UnseenComparisonTable(&guard.rows));
    println!("{}", guard.verdict);
    Ok(())
}

pub(crate) fn run_bench_prepare(
    data_dir: PathBuf,
    size: usize,
    no_peer: bool,
    python: Option<PathBuf>,
) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("caltech-bench-{}", std::process::id()));
    let ours = bench_prepare(&data_dir, size, &scratch)?;
    let data_bytes = Some((ours.images * size * size * 3) as u64);
    let peer = if no_peer {
        None
    } else {
        let python = python.unwrap_or_else(venv_python);
        let args = vec![
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--size".into(),
            size.to_string(),
        ];
        let script = PathBuf::from("bench/tf_preprocess.py");
        Some(run_peer(&python, &script, &args)?)
    };
    println!(
        "{}",
        PeerComparison {
            ours,
            peers: peer.into_iter().collect(),
            data_bytes,
            work: None,
        }
    );
    Ok(())
}

pub(crate) fn run_bench_features(args: BenchFeaturesArgs) -> Result<()> {
    let device = select_device(args.device)?;
    println!("device: {} ({})", device.choice, device.reason);
    let size = args.size.unwrap_or(args.backbone.native_size());
    let counts = (args.batch, args.batches, args.warmup);
    let ours = bench_features(args.backbone, size, counts, true, &device.device)?;
    let mut peers = vec![bench_features(
        args.backbone,
        size,
        counts,
        false,
        &device.device,
    )?];
    if !args.no_peer {
        let backbone = args.backbone.name()["EfficientNet-".len()..].to_lowercase();
        let peer_args = [
            ("--backbone", backbone),
            ("--size", size.to_string()),
            ("--batch", args.batch.to_string()),
            ("--batches", args.batches.to_string()),
            ("--warmup", args.warmup.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect::<Vec<_>>();
        let python = args.python.unwrap_or_else(venv_python);
        peers.push(run_peer(
            &python,
            "bench/torch_features.py".as_ref(),
            &peer_args,
        )?);
    }
    println!(
        "{}",
        PeerComparison {
            ours,
            peers,
            data_bytes: None,
            work: None,
        }
    );
    Ok(())
}
