//! The command line: every subcommand's arguments (clap), and the parser of
//! the library's named settings.

use std::path::PathBuf;

use caltech_anomaly::analysis::{Bootstrap, RunKind};
use caltech_anomaly::autoencoder::Architecture;
use caltech_anomaly::backend::{DeviceChoice, Precision};
use caltech_anomaly::data::Resize;
use caltech_anomaly::data::download::{self};
use caltech_anomaly::features::{Backbone, FEATURE_BATCH};
use caltech_anomaly::scoring::REPORT_PERCENTILE;
use caltech_anomaly::study::reproducibility::{DEFAULT_ABSOLUTE, DEFAULT_RELATIVE};
use caltech_anomaly::study::{ABLATION_MODELS, Profile, ReproduceConfig, StudyConfig};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

/// The parser of one of the library's named settings: its names are the
/// possible values (`--help` lists them), its `FromStr` makes the value.
pub(crate) fn named<T, const N: usize>(names: [&'static str; N]) -> impl TypedValueParser<Value = T>
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
pub(crate) struct Cli {
    /// Caltech-101 root (holding 101_ObjectCategories/). Default: $CALTECH101_DIR, else data/caltech101.
    #[arg(long, global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Compare a results folder (reproduce --out) with a published one (docs/results/quick or full), table by table and cell by cell; exit status 1 when anything differs beyond tolerance.
    Diff(DiffArgs),
    /// Write docs/results.md and README.md's headline block from the published docs/results/quick and full (--check: write nothing, list the pages that differ, exit status 1 when any does).
    Pages(PagesArgs),
}

#[derive(Args)]
pub(crate) struct PagesArgs {
    /// Write nothing: list the pages whose text differs from what the published data generates, and fail when any does.
    #[arg(long)]
    pub(crate) check: bool,
    /// The checkout holding README.md, docs/results.md and docs/results/.
    #[arg(long, default_value = ".")]
    pub(crate) root: PathBuf,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// The results folder to check: what `reproduce --out` wrote (tables/*.csv).
    #[arg(value_name = "RUN_DIR")]
    pub(crate) run: PathBuf,
    /// The published results it should reproduce, e.g. docs/results/quick.
    #[arg(value_name = "PUBLISHED_DIR")]
    pub(crate) published: PathBuf,
    /// Numbers match when |run - published| <= absolute + relative * |published|.
    #[arg(long, default_value_t = DEFAULT_ABSOLUTE)]
    pub(crate) absolute: f64,
    /// The tolerance's relative part (see --absolute).
    #[arg(long, default_value_t = DEFAULT_RELATIVE)]
    pub(crate) relative: f64,
    /// Hold every number to --absolute/--relative, also a model's numbers that the published run measured over several training seeds (by default those may move by 3 standard deviations over the seeds).
    #[arg(long)]
    pub(crate) no_seed_spread: bool,
    /// Also write the report (Markdown) to FILE, replacing it.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Architecture.
    #[arg(long, value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)), default_value = "baseline")]
    pub(crate) model: Architecture,
    /// Settings bundle; every value below overrides it.
    #[arg(long, value_parser = named::<Profile, _>(Profile::ALL.map(Profile::name)), default_value = "auto")]
    pub(crate) profile: Profile,
    /// Run directory.
    #[arg(long, default_value = "runs/baseline")]
    pub(crate) out: PathBuf,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// Convolutions' arithmetic: auto (bf16 where native, as the quality guard allows; else fp32), fp32 or bf16.
    #[arg(long, default_value = "auto")]
    pub(crate) precision: Precision,
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Image side S (profile: full 256, quick 64, smoke 32).
    #[arg(long)]
    pub(crate) size: Option<usize>,
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Code width: the baseline's dense code (default 256), the code
    /// channels of improved1-3 (default 16).
    #[arg(long)]
    pub(crate) encoding_dim: Option<usize>,
    /// Images per class in the pool (profile: 30; smoke 4).
    #[arg(long, conflicts_with = "all_images")]
    pub(crate) per_class: Option<usize>,
    /// Use every image instead of the per-class pool.
    #[arg(long)]
    pub(crate) all_images: bool,
    /// Stop after this many epochs without a better validation loss.
    #[arg(long)]
    pub(crate) early_stopping: Option<usize>,
    /// How images are shrunk: TF's bilinear (the report's) or antialiased.
    #[arg(long, value_parser = named::<Resize, _>(Resize::ALL.map(Resize::name)), default_value = "bilinear")]
    pub(crate) resize: Resize,
    /// Continue a run that was interrupted.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Discard an unfinished run in --out (its checkpoint, weights and an
    /// unreadable run.json; a finished run is kept) and train from scratch.
    #[arg(long, conflicts_with = "resume")]
    pub(crate) restart: bool,
    /// Warn about and leave out bad images and empty classes instead of failing.
    #[arg(long)]
    pub(crate) skip_bad: bool,
    #[arg(long, default_value = "data/cache")]
    pub(crate) cache_dir: PathBuf,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    pub(crate) no_download: bool,
}

#[derive(Args)]
pub(crate) struct StudyArgs {
    /// Settings bundle of every training run.
    #[arg(long, value_parser = named::<Profile, _>(Profile::ALL.map(Profile::name)), default_value = "auto")]
    pub(crate) profile: Profile,
    /// Study directory: runs/, figures/, tables/, metrics.json, report.md, report.html.
    #[arg(long, default_value = "runs/reproduce")]
    pub(crate) out: PathBuf,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// Convolutions' arithmetic: auto (bf16 where native, as the quality guard allows; else fp32), fp32 or bf16.
    #[arg(long, default_value = "auto")]
    pub(crate) precision: Precision,
    /// Seed of the split and of the first training run.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Training seeds of the refinement (seed, seed+1, ...): tables give mean ± std. Default: the profile's (quick 3, full 1, smoke 1).
    #[arg(long)]
    pub(crate) seeds: Option<usize>,
    /// Models of the refinement, comma-separated; the first one is the study's main model.
    #[arg(
        long,
        value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)),
        value_delimiter = ',',
        default_value = "baseline,improved1,improved2,improved3"
    )]
    pub(crate) models: Vec<Architecture>,
    /// Bootstrap resamples behind each confidence interval.
    #[arg(long, default_value_t = caltech_anomaly::stats::BOOTSTRAP_RESAMPLES)]
    pub(crate) resamples: usize,
    /// Skip the resize ablation (reproduce's section 10: baseline and
    /// improved3 trained again on antialiased images).
    #[arg(long)]
    pub(crate) no_resize_ablation: bool,
    #[arg(long, default_value = "data/cache")]
    pub(crate) cache_dir: PathBuf,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    pub(crate) no_download: bool,
}

/// `score --detector`'s help: each kind's scores, from the kind enum, so
/// that a new kind is listed without an edit here.
fn detector_help() -> String {
    let kinds = RunKind::ALL.map(|kind| {
        let scores: Vec<String> = kind.scores().iter().map(|s| format!("`{s}`")).collect();
        format!("{} ({} run)", scores.join(" or "), kind.described())
    });
    format!(
        "The run's score that judges: {}. Default: the first of the run's kind.",
        kinds.join(", ")
    )
}

/// How this process was invoked, as a reader would retype it.
fn command_line() -> String {
    let mut words = vec!["caltech-anomaly".to_string()];
    words.extend(std::env::args().skip(1));
    words.join(" ")
}

impl StudyArgs {
    pub(crate) fn into_config(self, data_dir: PathBuf) -> ReproduceConfig {
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
            command: Some(command_line()),
            ..ReproduceConfig::new(study)
        }
    }
}

#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// A run directory: an autoencoder's (`train`), or any detector's that
    /// `reproduce` or notebook 06 writes into its runs/, loaded by the kind
    /// its run.json names.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// A folder of images (JPEG, PNG; other files are named and skipped)
    /// or one image: prints and writes (--out) each image's error and
    /// verdict against the run's calibrated threshold.
    #[arg(long, required_unless_present = "unseen", conflicts_with = "unseen")]
    pub(crate) images: Option<PathBuf>,
    /// The threshold of the verdicts: this percentile of the run's
    /// validation errors (normal images only; expected false-alarm rate
    /// 1 - p/100).
    #[arg(long, default_value_t = REPORT_PERCENTILE)]
    pub(crate) percentile: f64,
    /// The run's score that judges: one of its kind's, as the kind enum
    /// lists them ([`detector_help`]). Default: the first of the run's kind.
    #[arg(long, help = detector_help())]
    pub(crate) detector: Option<String>,
    /// Where --images writes its verdicts (CSV); an existing file is
    /// replaced only with --force. Default: verdicts.csv in the current
    /// folder, or verdicts-1.csv, verdicts-2.csv, ... when that is taken.
    #[arg(long, conflicts_with = "unseen")]
    pub(crate) out: Option<PathBuf>,
    /// Also write each image's anomaly map (the image, the map, the map laid
    /// over it) as DIR/<image name>.png: where the image looks unlike any
    /// training image. A PatchCore run has maps.
    #[arg(long, value_name = "DIR", conflicts_with = "unseen")]
    pub(crate) maps: Option<PathBuf>,
    /// Replace the --out file if it exists (never a file of the run or an
    /// image being judged).
    #[arg(long, requires = "out")]
    pub(crate) force: bool,
    /// Leave out unreadable or undecodable images, naming each, instead of
    /// stopping at the first.
    #[arg(long, conflicts_with = "unseen")]
    pub(crate) skip_bad: bool,
    /// Score every image of the dataset (--data-dir) outside the run's pool
    /// into RUN/unseen_scores.csv and print the AUROC on them.
    #[arg(long)]
    pub(crate) unseen: bool,
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
}

#[derive(Args)]
pub(crate) struct DownloadArgs {
    /// Archive URL.
    #[arg(long, default_value = download::CALTECH101_URL)]
    pub(crate) url: String,
    /// Expected MD5 of the archive.
    #[arg(long, default_value = download::CALTECH101_MD5)]
    pub(crate) md5: String,
}

#[derive(Args)]
pub(crate) struct PrepareArgs {
    /// Run directory that receives manifest.csv and prepare.json.
    #[arg(long, default_value = "runs/default")]
    pub(crate) out: PathBuf,
    /// Seed of the pool draw and the shuffle.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Images per class in the pool (TFDS's train split: 30).
    #[arg(long, default_value_t = 30, conflicts_with = "all_images")]
    pub(crate) per_class: usize,
    /// Use every image instead of the per-class pool.
    #[arg(long)]
    pub(crate) all_images: bool,
    /// Classes moved out of train and validation into test (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "background_google")]
    pub(crate) held_out: Vec<String>,
    /// Side length S of the preprocessed S×S images.
    #[arg(long, default_value_t = 256)]
    pub(crate) size: usize,
    /// Folder of the preprocessed-image cache.
    #[arg(long, default_value = "data/cache")]
    pub(crate) cache_dir: PathBuf,
    /// Warn about and leave out bad images and empty classes instead of failing.
    #[arg(long)]
    pub(crate) skip_bad: bool,
    /// Largest accepted image side, in pixels.
    #[arg(long, default_value_t = 8192)]
    pub(crate) max_side: usize,
    /// How images are shrunk: TF's bilinear (the report's) or antialiased.
    #[arg(long, value_parser = named::<Resize, _>(Resize::ALL.map(Resize::name)), default_value = "bilinear")]
    pub(crate) resize: Resize,
    /// Fail instead of downloading when the dataset is missing.
    #[arg(long)]
    pub(crate) no_download: bool,
}

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
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
    /// Inference images/s of a pretrained backbone; compare with burn's modules and PyTorch eager.
    Features(BenchFeaturesArgs),
}

#[derive(Args)]
pub(crate) struct BenchFeaturesArgs {
    #[arg(long, value_parser = named::<Backbone, _>(["lite0", "lite1", "lite2"]), default_value = "lite0")]
    pub(crate) backbone: Backbone,
    /// Input side; by default the backbone's own (224, 240, 260 px).
    #[arg(long)]
    pub(crate) size: Option<usize>,
    /// Images per forward pass; by default the extraction's own.
    #[arg(long, default_value_t = FEATURE_BATCH)]
    pub(crate) batch: usize,
    /// Timed batches, after the warm-up ones.
    #[arg(long, default_value_t = 32)]
    pub(crate) batches: usize,
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: usize,
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// Skip the peer, PyTorch eager on the reference network (bench/torch_features.py).
    #[arg(long)]
    pub(crate) no_peer: bool,
    #[arg(long)]
    pub(crate) python: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct BenchTrainArgs {
    #[arg(long, value_parser = named::<Architecture, _>(Architecture::ALL.map(Architecture::name)), default_value = "baseline")]
    pub(crate) model: Architecture,
    #[arg(long, default_value_t = 64)]
    pub(crate) size: usize,
    #[arg(long, default_value_t = 64)]
    pub(crate) batch: usize,
    #[arg(long, default_value_t = 20)]
    pub(crate) steps: usize,
    #[arg(long, default_value_t = 3)]
    pub(crate) warmup: usize,
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// fp32 or bf16; by default fp32, and bf16 too where the device computes it natively.
    #[arg(long)]
    pub(crate) precision: Option<Precision>,
    /// Skip the peers, PyTorch eager and (on a CPU) Keras on TensorFlow
    /// (they exist for the baseline only; `make bench-deps` installs
    /// TensorFlow).
    #[arg(long)]
    pub(crate) no_peer: bool,
    /// Differentiate convolutions, batch norm and ReLU with burn's generic
    /// formulas instead of libtorch's own backward (src/backend/), to
    /// measure the gain.
    #[arg(long)]
    pub(crate) generic_conv: bool,
    #[arg(long)]
    pub(crate) python: Option<PathBuf>,
}
