//! `caltech-anomaly`: headless access to every step of the study.

use std::path::PathBuf;
use std::process::ExitCode;

use caltech_anomaly::analysis::{
    BF16_AUROC_TOLERANCE, Bootstrap, ComparisonTable, SavedDetector, UnseenComparisonTable,
    compare_runs, compare_unseen, comparison_table, refinement, same_images, seeds_table,
    unseen_auroc,
};
use caltech_anomaly::autoencoder::{Architecture, load_trained, score_unseen};
use caltech_anomaly::backend::{
    Bf16Support, DeviceChoice, Precision, SelectedDevice, select_device,
};
use caltech_anomaly::data::download::{self, DownloadConfig, DownloadOutcome};
use caltech_anomaly::data::{
    PoolSize, PrepareConfig, Prepared, PreprocessConfig, Resize, SplitConfig, describe_skipped,
    prepare, resolve_data_dir,
};
use caltech_anomaly::figures::plot;
use caltech_anomaly::io::{IfExists, WritePolicy, write_csv_with};
use caltech_anomaly::scoring::{
    Calibration, ImageScorer, Judged, REPORT_PERCENTILE, UNSEEN_SCORES_FILE,
    has_current_unseen_scores, list_images, verdicts, verdicts_skipping_bad, write_unseen_scores,
};
use caltech_anomaly::study::{
    ABLATION_MODELS, Measurement, PeerComparison, Profile, ReproduceConfig, RunSpec, Study,
    StudyConfig, Work, baseline_train_flops, bench_prepare, bench_train, cpu_peak,
    measured_conv_peak, precision_guard, reproduce, run as run_training, run_peer, venv_python,
};
use caltech_anomaly::training::RunKind;
use caltech_anomaly::{Error, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

/// The parser of one of the library's named settings: its names are the
/// possible values (`--help` lists them), its `FromStr` makes the value.
fn named<T, const N: usize>(names: [&'static str; N]) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    PossibleValuesParser::new(names).map(|name| {
        name.parse::<T>()
            .unwrap_or_else(|e| unreachable!("a possible value that does not parse: {e}"))
    })
}

#[derive(Parser)]
#[command(
    version,
    about = "Anomaly detection on Caltech-101 with convolutional autoencoders"
)]
struct Cli {
    /// Caltech-101 root (holding 101_ObjectCategories/). Default: $CALTECH101_DIR, else data/caltech101.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download and extract Caltech-101 into the data directory, if missing.
    Download(DownloadArgs),
    /// Report section 4: split the dataset, preprocess it into the cache, write manifest.csv.
    Prepare(PrepareArgs),
    /// Report section 5: prepare, train an autoencoder, score the test split.
    Train(TrainArgs),
    /// Score images with a trained run: a folder or one image, or (--unseen) every Caltech-101 image outside its pool.
    Score(ScoreArgs),
    /// Report sections 4-8 end to end: every figure, table, metrics.json and report.md/html in --out (resumable).
    Reproduce(StudyArgs),
    /// Report section 8: train the baseline and Improved1-3 on one split (for --seeds seeds) and compare them.
    Refine(StudyArgs),
    /// Report section 8: compare finished runs (error, AUROC with CI, AUPRC, rates at p80; and, once each run was scored with --unseen, AUROC on every unseen image with each model's paired gain).
    Compare {
        /// Run directories written by `train`.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Seed of the bootstrap.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Benchmarks against peers, measured in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args)]
struct TrainArgs {
    /// Architecture.
    #[arg(long, value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)), default_value = "baseline")]
    model: Architecture,
    /// Settings bundle; every value below overrides it.
    #[arg(long, value_parser = named::<Profile, _>(Profile::ALL.map(Profile::name)), default_value = "auto")]
    profile: Profile,
    /// Run directory.
    #[arg(long, default_value = "runs/baseline")]
    out: PathBuf,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Convolutions' arithmetic: auto (fp32 until bf16 passes `bench precision`), fp32 or bf16.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Image side S (profile: full 256, quick 64, smoke 32).
    #[arg(long)]
    size: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// Code width: the baseline's dense code (default 256), the code
    /// channels of improved1-3 (default 16).
    #[arg(long)]
    encoding_dim: Option<usize>,
    /// Images per class in the pool (profile: 30; smoke 4).
    #[arg(long, conflicts_with = "all_images")]
    per_class: Option<usize>,
    /// Use every image instead of the per-class pool.
    #[arg(long)]
    all_images: bool,
    /// Stop after this many epochs without a better validation loss.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// How images are shrunk: TF's bilinear (the report's) or antialiased.
    #[arg(long, value_parser = named::<Resize, _>(Resize::ALL.map(Resize::name)), default_value = "bilinear")]
    resize: Resize,
    /// Continue a run that was interrupted.
    #[arg(long)]
    resume: bool,
    /// Discard an unfinished run in --out (its checkpoint, weights and an
    /// unreadable run.json; a finished run is kept) and train from scratch.
    #[arg(long, conflicts_with = "resume")]
    restart: bool,
    /// Warn about and leave out bad images and empty classes instead of failing.
    #[arg(long)]
    skip_bad: bool,
    #[arg(long, default_value = "data/cache")]
    cache_dir: PathBuf,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    no_download: bool,
}

#[derive(Args)]
struct StudyArgs {
    /// Settings bundle of every training run.
    #[arg(long, value_parser = named::<Profile, _>(Profile::ALL.map(Profile::name)), default_value = "auto")]
    profile: Profile,
    /// Study directory: runs/, figures/, tables/, metrics.json, report.md, report.html.
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Convolutions' arithmetic: auto (fp32 until bf16 passes `bench precision`), fp32 or bf16.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Seed of the split and of the first training run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training seeds of the refinement (seed, seed+1, ...): tables give mean ± std.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Models of the refinement, comma-separated; the first one is the study's main model.
    #[arg(
        long,
        value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)),
        value_delimiter = ',',
        default_value = "baseline,improved1,improved2,improved3"
    )]
    models: Vec<Architecture>,
    /// Bootstrap resamples behind each confidence interval.
    #[arg(long, default_value_t = caltech_anomaly::stats::BOOTSTRAP_RESAMPLES)]
    resamples: usize,
    /// Skip the resize ablation (reproduce's section 10: baseline and
    /// improved3 trained again on antialiased images).
    #[arg(long)]
    no_resize_ablation: bool,
    #[arg(long, default_value = "data/cache")]
    cache_dir: PathBuf,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    no_download: bool,
}

impl StudyArgs {
    fn into_config(self, data_dir: PathBuf) -> ReproduceConfig {
        let ablation_models = if self.no_resize_ablation {
            Vec::new()
        } else {
            ABLATION_MODELS.to_vec()
        };
        let study = StudyConfig {
            profile: self.profile,
            device: self.device,
            precision: self.precision,
            cache_dir: self.cache_dir,
            download: !self.no_download,
            ..StudyConfig::new(data_dir, self.out)
        };
        ReproduceConfig {
            seed: self.seed,
            seeds: self.seeds,
            models: self.models,
            bootstrap: Bootstrap {
                resamples: self.resamples,
                seed: self.seed,
            },
            ablation_models,
            ..ReproduceConfig::new(study)
        }
    }
}

#[derive(Args)]
struct ScoreArgs {
    /// A run directory: an autoencoder's (`train`), or the classifier's or
    /// the pretrained features' that `reproduce` writes into its runs/.
    #[arg(long)]
    run: PathBuf,
    /// A folder of images (JPEG, PNG; other files are named and skipped)
    /// or one image: prints and writes (--out) each image's error and
    /// verdict against the run's calibrated threshold.
    #[arg(long, required_unless_present = "unseen", conflicts_with = "unseen")]
    images: Option<PathBuf>,
    /// The threshold of the verdicts: this percentile of the run's
    /// validation errors (normal images only; expected false-alarm rate
    /// 1 - p/100).
    #[arg(long, default_value_t = REPORT_PERCENTILE)]
    percentile: f64,
    /// The run's score that judges: `error` (an autoencoder run),
    /// `mahalanobis` or `energy` (a classifier run), `knn` or `mahalanobis`
    /// (a feature run). Default: the first of the run's kind.
    #[arg(long)]
    detector: Option<String>,
    /// Where --images writes its verdicts (CSV); an existing file is
    /// replaced only with --force. Default: verdicts.csv in the current
    /// folder, or verdicts-1.csv, verdicts-2.csv, ... when that is taken.
    #[arg(long, conflicts_with = "unseen")]
    out: Option<PathBuf>,
    /// Replace the --out file if it exists (never a file of the run or an
    /// image being judged).
    #[arg(long, requires = "out")]
    force: bool,
    /// Leave out unreadable or undecodable images, naming each, instead of
    /// stopping at the first.
    #[arg(long, conflicts_with = "unseen")]
    skip_bad: bool,
    /// Score every image of the dataset (--data-dir) outside the run's pool
    /// into RUN/unseen_scores.csv and print the AUROC on them.
    #[arg(long)]
    unseen: bool,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(Args)]
struct DownloadArgs {
    /// Archive URL.
    #[arg(long, default_value = download::CALTECH101_URL)]
    url: String,
    /// Expected MD5 of the archive.
    #[arg(long, default_value = download::CALTECH101_MD5)]
    md5: String,
}

#[derive(Args)]
struct PrepareArgs {
    /// Run directory that receives manifest.csv and prepare.json.
    #[arg(long, default_value = "runs/default")]
    out: PathBuf,
    /// Seed of the pool draw and the shuffle.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Images per class in the pool (TFDS's train split: 30).
    #[arg(long, default_value_t = 30, conflicts_with = "all_images")]
    per_class: usize,
    /// Use every image instead of the per-class pool.
    #[arg(long)]
    all_images: bool,
    /// Classes moved out of train and validation into test (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "background_google")]
    held_out: Vec<String>,
    /// Side length S of the preprocessed S×S images.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Folder of the preprocessed-image cache.
    #[arg(long, default_value = "data/cache")]
    cache_dir: PathBuf,
    /// Warn about and leave out bad images and empty classes instead of failing.
    #[arg(long)]
    skip_bad: bool,
    /// Largest accepted image side, in pixels.
    #[arg(long, default_value_t = 8192)]
    max_side: usize,
    /// How images are shrunk: TF's bilinear (the report's) or antialiased.
    #[arg(long, value_parser = named::<Resize, _>(Resize::ALL.map(Resize::name)), default_value = "bilinear")]
    resize: Resize,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    no_download: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Preprocess every image at S×S; compare with the report's TensorFlow loop.
    Prepare {
        #[arg(long, default_value_t = 256)]
        size: usize,
        /// Skip the TensorFlow peer.
        #[arg(long)]
        no_peer: bool,
        /// Python interpreter for the peer (default: .venv/bin/python, else python3).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Training images/s of a model; compare with the same model in PyTorch eager.
    Train(BenchTrainArgs),
    /// Mixed precision's quality guard: the four autoencoders in fp32 and bf16, paired unseen AUROC.
    Precision(StudyArgs),
}

#[derive(Args)]
struct BenchTrainArgs {
    #[arg(long, value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)), default_value = "baseline")]
    model: Architecture,
    #[arg(long, default_value_t = 64)]
    size: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 20)]
    steps: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// fp32 or bf16; by default fp32, and bf16 too where the device computes it natively.
    #[arg(long)]
    precision: Option<Precision>,
    /// Skip the peers, PyTorch eager and (on a CPU) Keras on TensorFlow
    /// (they exist for the baseline only; `make bench-deps` installs
    /// TensorFlow).
    #[arg(long)]
    no_peer: bool,
    /// Differentiate convolutions with burn's generic formulas instead
    /// of libtorch's own backward (src/conv.rs), to measure the gain.
    #[arg(long)]
    generic_conv: bool,
    #[arg(long)]
    python: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = resolve_data_dir(cli.data_dir.as_deref());
    match cli.command {
        Command::Download(args) => run_download(data_dir, args),
        Command::Prepare(args) => run_prepare(data_dir, args),
        Command::Train(args) => run_train(data_dir, args),
        Command::Reproduce(args) => run_reproduce(args.into_config(data_dir)),
        Command::Refine(args) => run_refine(args.into_config(data_dir)),
        Command::Compare { runs, seed } => run_compare(&runs, seed),
        Command::Score(args) if args.unseen => run_score_unseen(data_dir, args),
        Command::Score(args) => run_score_images(args),
        Command::Bench(BenchCommand::Train(args)) => run_bench_train(args),
        Command::Bench(BenchCommand::Precision(args)) => run_bench_precision(data_dir, args),
        Command::Bench(BenchCommand::Prepare {
            size,
            no_peer,
            python,
        }) => run_bench_prepare(data_dir, size, no_peer, python),
    }
}

fn run_download(data_dir: PathBuf, args: DownloadArgs) -> Result<()> {
    let config = DownloadConfig {
        url: args.url,
        md5: args.md5,
        ..DownloadConfig::default()
    };
    match download::download_dataset(&data_dir, &config)? {
        DownloadOutcome::AlreadyPresent => {
            println!("Caltech-101 is already at {}", data_dir.display())
        }
        DownloadOutcome::Downloaded { .. } => {
            println!("Caltech-101 extracted to {}", data_dir.display())
        }
    }
    Ok(())
}

fn run_reproduce(config: ReproduceConfig) -> Result<()> {
    let outcome = reproduce(config)?;
    let m = &outcome.metrics.baseline;
    println!(
        "{}: mean test error {:.5}, AUROC {:.3} [{:.3}, {:.3}], AUPRC {:.3}",
        m.model, m.mean_test_error, m.auroc.estimate, m.auroc.low, m.auroc.high, m.auprc.estimate
    );
    print!("{}", ComparisonTable(&outcome.metrics.refinement));
    println!("files:");
    for file in &outcome.files {
        println!("  {}", file.display());
    }
    println!("metrics: {}", outcome.metrics_path.display());
    println!("report:  {}", outcome.report_md.display());
    println!("         {}", outcome.report_html.display());
    Ok(())
}

/// Section 8 alone: the models on one split for each seed, their tables
/// and figures.
fn run_refine(config: ReproduceConfig) -> Result<()> {
    config.check()?;
    let study = Study::open(config.study.clone())?;
    let size = study.profile.settings().image_size;
    let prepared = study.prepare(config.split(study.profile), size)?;
    let configs = config.training_configs(study.profile);
    let runs = study.train_seeds(&prepared, &configs, &config.training_seeds())?;
    let refined = refinement(&runs, config.percentile, config.bootstrap)?;
    study.table("comparison", comparison_table(&refined.rows)?)?;
    print!("{}", ComparisonTable(&refined.rows));
    if config.seeds > 1 {
        study.table("comparison_seeds", seeds_table(&refined.over_seeds)?)?;
        println!("over {} seeds (mean ± std):", config.seeds);
        for s in &refined.over_seeds {
            println!(
                "  {:<10} error {:.5} ± {:.5}, AUROC {:.3} ± {:.3}, AUPRC {:.3} ± {:.3}",
                s.model,
                s.mean_test_error.mean,
                s.mean_test_error.std,
                s.auroc.mean,
                s.auroc.std,
                s.auprc.mean,
                s.auprc.std
            );
        }
    }
    let device = &study.device.device;
    let (chosen, maps) = same_images(&runs[0], &prepared, 6, device)?;
    let stem = study.figure("refinement_reconstructions");
    for figure in [
        plot::same_images(&prepared, &runs[0], &chosen, &maps, &stem)?,
        plot::error_bars(&refined, &study.figure("refinement_error"))?,
        plot::auroc_bars(&refined, &study.figure("refinement_auroc"))?,
    ] {
        println!("figure: {}", figure.png.display());
    }
    println!("tables: {}", study.table_path("comparison").display());
    Ok(())
}

fn run_compare(runs: &[PathBuf], seed: u64) -> Result<()> {
    for run in runs {
        let kind = match RunKind::of(run)? {
            RunKind::Autoencoder => continue,
            RunKind::Classifier => "the classifier's",
            RunKind::Features => "the pretrained features'",
        };
        return Err(Error::InvalidParameter(format!(
            "compare compares autoencoder runs (`train`'s, or reproduce's runs/<model>-*); {} is \
             {kind} run (reproduce's section 9 compares it)",
            run.display()
        )));
    }
    let bootstrap = Bootstrap {
        seed,
        ..Bootstrap::default()
    };
    print!(
        "{}",
        ComparisonTable(&compare_runs(runs, REPORT_PERCENTILE, bootstrap)?)
    );
    if runs.iter().all(|r| has_current_unseen_scores(r)) {
        println!("\nOn every image outside the pool (`score --unseen`):\n");
        print!(
            "{}",
            UnseenComparisonTable(&compare_unseen(runs, bootstrap)?)
        );
    } else {
        println!(
            "\n(`score --run RUN --unseen` for each run adds the comparison on every unseen image)"
        );
    }
    Ok(())
}

fn run_score_unseen(data_dir: PathBuf, args: ScoreArgs) -> Result<()> {
    if RunKind::of(&args.run)? != RunKind::Autoencoder {
        return Err(Error::InvalidParameter(format!(
            "--unseen scores autoencoder runs; {} is not one (reproduce's section 9 scores the \
             classifier and the pretrained features on the unseen images)",
            args.run.display()
        )));
    }
    let device = select_device(args.device)?;
    let (_, model) = load_trained(&args.run, &device.device)?;
    let prepared = Prepared::open(&args.run)?;
    let rows = score_unseen(&model, &prepared, &data_dir, &device.device, true)?;
    let path = args.run.join(UNSEEN_SCORES_FILE);
    write_unseen_scores(&path, &rows)?;
    // The bootstrap `compare` uses by default.
    let ci = unseen_auroc(&rows, Bootstrap::default())?;
    println!(
        "{} unseen images ({} held out): AUROC {:.4} [{:.4}, {:.4}]; wrote {}",
        rows.len(),
        rows.iter().filter(|r| r.held_out).count(),
        ci.estimate,
        ci.low,
        ci.high,
        path.display()
    );
    Ok(())
}

fn run_score_images(args: ScoreArgs) -> Result<()> {
    let images = args
        .images
        .as_ref()
        .expect("clap requires --images without --unseen");
    let listing = list_images(images)?;
    if !listing.skipped.is_empty() {
        let skipped = describe_skipped(&listing.skipped);
        eprintln!("warning: {}: skipped {skipped}", images.display());
    }
    let out = args.out.clone().unwrap_or_else(|| DEFAULT_VERDICTS.into());
    let policy = verdicts_policy(&args, &listing.images);
    // Refused before the work rather than after it.
    policy.check(&out)?;
    let device = select_device(args.device)?;
    let (name, calibration, judged) = judge(&args, &listing.images, &device)?;
    for file in &judged.skipped {
        eprintln!("warning: skipped {}: {}", file.path, file.reason);
    }
    if !judged.skipped.is_empty() {
        eprintln!("warning: {} bad images skipped", judged.skipped.len());
    }
    let rows = judged.verdicts;
    eprintln!(
        "{name}, threshold {:.6}: the p{} of its validation scores; {} of {} images flagged",
        calibration.threshold,
        calibration.percentile,
        rows.iter().filter(|r| r.anomaly).count(),
        rows.len()
    );
    let written = write_csv_with(&policy, &out, &rows)?;
    eprintln!("verdicts: {}", written.display());
    let mut out = csv::Writer::from_writer(std::io::stdout());
    for row in &rows {
        out.serialize(row)?;
    }
    out.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Where `score` writes without `--out`.
const DEFAULT_VERDICTS: &str = "verdicts.csv";

/// How `score` writes its verdicts: never over a file of the run or an
/// image being judged; over an existing `--out` only with `--force`; the
/// default name moved aside when taken.
fn verdicts_policy(args: &ScoreArgs, images: &[PathBuf]) -> WritePolicy {
    let if_exists = match (&args.out, args.force) {
        (None, _) => IfExists::NewName,
        (Some(_), true) => IfExists::Replace,
        (Some(_), false) => IfExists::Refuse,
    };
    let run = format!("a file of the run being scored ({})", args.run.display());
    images.iter().fold(
        WritePolicy::new(if_exists).protecting(&args.run, run),
        |policy, image| policy.protecting(image, "an image being judged"),
    )
}

/// The verdicts on `paths` of the run's detector (`--detector`, else its
/// kind's default), the detector's name and its threshold.
fn judge(
    args: &ScoreArgs,
    paths: &[PathBuf],
    device: &SelectedDevice,
) -> Result<(String, Calibration, Judged)> {
    let detector = SavedDetector::load(&args.run, args.detector.as_deref(), device)?;
    let calibration = detector.calibration(args.percentile, &device.device)?;
    let judged = if args.skip_bad {
        verdicts_skipping_bad(&detector, &calibration, paths, &device.device)?
    } else {
        Judged {
            verdicts: verdicts(&detector, &calibration, paths, &device.device)?,
            skipped: Vec::new(),
        }
    };
    Ok((detector.name(), calibration, judged))
}

fn run_bench_train(args: BenchTrainArgs) -> Result<()> {
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

fn run_bench_precision(data_dir: PathBuf, args: StudyArgs) -> Result<()> {
    let guard = precision_guard(&args.into_config(data_dir))?;
    println!("{}", UnseenComparisonTable(&guard.rows));
    println!(
        "bf16 {} the quality guard, which asks of every model a paired AUROC difference within \
         ±{BF16_AUROC_TOLERANCE} whose 95 % interval holds 0",
        if guard.passes { "passes" } else { "fails" }
    );
    Ok(())
}

fn run_bench_prepare(
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

fn run_prepare(data_dir: PathBuf, args: PrepareArgs) -> Result<()> {
    let config = PrepareConfig {
        data_dir,
        run_dir: args.out,
        split: SplitConfig {
            seed: args.seed,
            pool: if args.all_images {
                PoolSize::All
            } else {
                PoolSize::PerClass(args.per_class)
            },
            held_out: args.held_out,
            ..SplitConfig::default()
        },
        preprocess: PreprocessConfig {
            size: args.size,
            cache_dir: args.cache_dir,
            skip_bad: args.skip_bad,
            max_side: args.max_side,
            show_progress: true,
            resize: args.resize,
        },
        download: !args.no_download,
    };
    let prepared = prepare(&config)?;
    for class in &prepared.skipped_classes {
        eprintln!("warning: skipped empty class folder {}", class.display());
    }
    for image in &prepared.skipped_images {
        eprintln!("warning: skipped {}: {}", image.path, image.reason);
    }
    if !prepared.skipped_files.is_empty() {
        let files = describe_skipped(&prepared.skipped_files);
        eprintln!("note: the dataset scan passed over {files}");
    }
    let skipped = prepared.skipped_images.len() + prepared.skipped_classes.len();
    if skipped > 0 {
        eprintln!(
            "warning: {} bad images and {} empty classes skipped",
            prepared.skipped_images.len(),
            prepared.skipped_classes.len()
        );
    }
    println!("{}", prepared.summary());
    println!(
        "{} images at {s}x{s}: cache {} ({})",
        prepared.cache.len(),
        prepared.cache.path().display(),
        if prepared.reused_cache {
            "reused"
        } else {
            "built"
        },
        s = prepared.cache.size(),
    );
    println!(
        "manifest: {}",
        config
            .run_dir
            .join(caltech_anomaly::data::MANIFEST_FILE)
            .display()
    );
    if prepared.manifest.is_empty() {
        return Err(Error::InvalidParameter("no image left to work on".into()));
    }
    Ok(())
}

fn run_train(data_dir: PathBuf, args: TrainArgs) -> Result<()> {
    let spec = RunSpec {
        architecture: args.model,
        profile: args.profile,
        device: args.device,
        precision: args.precision,
        seed: args.seed,
        image_size: args.size,
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        encoding_dim: args.encoding_dim,
        pool: if args.all_images {
            Some(PoolSize::All)
        } else {
            args.per_class.map(PoolSize::PerClass)
        },
        early_stopping_patience: args.early_stopping,
        resize: args.resize,
        cache_dir: args.cache_dir,
        download: !args.no_download,
        skip_bad: args.skip_bad,
        resume: args.resume,
        restart: args.restart,
        show_progress: true,
        ..RunSpec::new(data_dir, args.out)
    };
    let run = run_training(&spec)?;
    let r = &run.record;
    println!(
        "{}: {} parameters, {} epochs (best {}), {:.1} s training",
        r.architecture, r.parameters, r.epochs_run, r.best_epoch, r.timings.train_s
    );
    println!(
        "test: {} images, mean error {:.6}, AUROC (held out vs rest) {:.3}",
        r.test_images, r.mean_test_error, r.test_auroc
    );
    println!("run: {}", spec.out.display());
    Ok(())
}
