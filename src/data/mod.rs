//! Report section 4, "Loading and preprocess dataset": find (or fetch)
//! Caltech-101, split it as the report does, and preprocess every image once
//! into an on-disk cache that training, scoring and the notebooks share.
//!
//! [`prepare`] runs the whole section and records it in a run directory
//! (`manifest.csv`, `prepare.json`); [`Prepared::open`] gets it back.

pub mod batcher;
pub mod cache;
pub mod caltech;
pub mod digest;
pub mod download;
pub mod image;
pub mod split;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::io::{column, read_json, write_bytes_atomic};

pub use batcher::{ImageBatcher, files_batch};
pub use cache::{ImageCache, PreprocessConfig, Preprocessed, preprocess};
pub use caltech::{
    BACKGROUND_CLASS, Caltech101, DATA_DIR_ENV, SkippedImage, describe_skipped, resolve_data_dir,
};
pub use image::Resize;
pub use split::{Manifest, ManifestEntry, PoolSize, Split, SplitConfig, SplitSummary};

/// File names inside a run directory.
pub const MANIFEST_FILE: &str = "manifest.csv";
pub const PREPARE_FILE: &str = "prepare.json";

/// Everything [`prepare`] needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareConfig {
    /// The dataset root (holding `101_ObjectCategories/`).
    pub data_dir: PathBuf,
    /// Where `manifest.csv` and `prepare.json` are written.
    pub run_dir: PathBuf,
    pub split: SplitConfig,
    pub preprocess: PreprocessConfig,
    /// Download the dataset into `data_dir` when it is missing.
    pub download: bool,
}

impl PrepareConfig {
    /// Defaults for a dataset root and a run directory.
    pub fn new(data_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            run_dir: run_dir.into(),
            split: SplitConfig::default(),
            preprocess: PreprocessConfig::default(),
            download: false,
        }
    }
}

/// What `prepare.json` records, so that later steps reopen the same data.
/// Its paths are absolute; older records hold paths relative to the
/// directory they were written from ([`PrepareRecord::resolve`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PrepareRecord {
    config: PrepareConfig,
    class_names: Vec<String>,
    manifest_sha256: String,
    cache_file: PathBuf,
    skipped_images: Vec<SkippedImage>,
    skipped_classes: Vec<PathBuf>,
    #[serde(default)]
    skipped_files: Vec<SkippedImage>,
}

impl PrepareRecord {
    /// The record of the run opened at `run_dir`, its paths resolved
    /// without the current directory: a relative one (older records) is
    /// taken from where the run was recorded when `run_dir` still ends
    /// with the recorded `run_dir`, else from `run_dir` itself.
    fn resolve(mut self, run_dir: &Path) -> Self {
        let base = recorded_base(run_dir, &self.config.run_dir);
        for path in [
            &mut self.config.data_dir,
            &mut self.config.preprocess.cache_dir,
            &mut self.cache_file,
        ] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        self.config.run_dir = run_dir.to_path_buf();
        self
    }
}

/// The folder a run's relative paths were recorded from: `run_dir` less
/// the `recorded` run directory (relative to it), when it ends with it.
fn recorded_base(run_dir: &Path, recorded: &Path) -> PathBuf {
    let opened = absolute(run_dir);
    if recorded.is_relative() && opened.ends_with(recorded) {
        let mut base = opened.as_path();
        for _ in recorded.components() {
            base = base.parent().unwrap_or(base);
        }
        return base.to_path_buf();
    }
    opened
}

/// `path` made absolute (lexically, against the current directory, where
/// the user's own arguments are relative to).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A prepared run: the split and the cache of preprocessed images.
#[derive(Debug)]
pub struct Prepared {
    pub config: PrepareConfig,
    /// Label names in label order (TFDS ids).
    pub class_names: Vec<String>,
    /// Row `i` is cache image `i`.
    pub manifest: Manifest,
    /// SHA-256 of `manifest.csv`.
    pub manifest_sha256: String,
    pub cache: ImageCache,
    /// Images left out with `skip_bad`.
    pub skipped_images: Vec<SkippedImage>,
    /// Empty class folders left out with `skip_bad`.
    pub skipped_classes: Vec<PathBuf>,
    /// Entries the dataset scan passed over ([`Caltech101::skipped_files`]).
    pub skipped_files: Vec<SkippedImage>,
    /// Whether the cache already existed.
    pub reused_cache: bool,
}

/// Runs report section 4: locate or download the dataset, scan, split,
/// preprocess into the cache, and write `manifest.csv` and `prepare.json`
/// into the run directory.
pub fn prepare(config: &PrepareConfig) -> Result<Prepared> {
    let prepared = prepare_split(config)?;
    prepared.record_in(&config.run_dir)?;
    Ok(prepared)
}

/// [`prepare`] without writing the run directory's files.
pub fn prepare_split(config: &PrepareConfig) -> Result<Prepared> {
    config.split.check()?;
    config.preprocess.check()?;
    let root = &config.data_dir;
    if config.download && !caltech::is_present(root) {
        download::download_dataset(root, &download::DownloadConfig::default())?;
    }
    let dataset = Caltech101::scan(root, config.preprocess.skip_bad)?;
    let candidate = Manifest::split(&dataset, &config.split)?;
    let Preprocessed {
        manifest,
        cache,
        skipped,
        reused,
    } = preprocess(root, &candidate, &config.preprocess)?;
    Ok(Prepared {
        config: config.clone(),
        class_names: dataset.class_names(),
        manifest_sha256: manifest.hash()?,
        manifest,
        cache,
        skipped_images: skipped,
        skipped_classes: dataset.skipped_classes().to_vec(),
        skipped_files: dataset.skipped_files().to_vec(),
        reused_cache: reused,
    })
}

impl Prepared {
    /// Reopens a run prepared earlier. If its cache file is gone (say, the
    /// cache folder was cleaned), the split is prepared again into the
    /// recorded cache folder.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let record = read_json::<PrepareRecord>(&run_dir.join(PREPARE_FILE))?.resolve(run_dir);
        if !record.cache_file.is_file() {
            return Self::rebuild(run_dir, &record);
        }
        let manifest_path = run_dir.join(MANIFEST_FILE);
        let manifest = Manifest::load(&manifest_path, &record.config.split.held_out)?;
        if manifest.hash()? != record.manifest_sha256 {
            return Err(Error::Corrupt {
                path: manifest_path,
                reason: format!("does not match the hash recorded in {PREPARE_FILE}"),
            });
        }
        let cache = ImageCache::open(&record.cache_file)?;
        if cache.len() != manifest.len() {
            return Err(Error::Corrupt {
                path: record.cache_file,
                reason: format!(
                    "{} images for a manifest of {}",
                    cache.len(),
                    manifest.len()
                ),
            });
        }
        Ok(Self::from_record(record, manifest, cache, true))
    }

    /// The recorded split prepared again from the dataset, into the
    /// recorded cache folder and nowhere else: nothing is downloaded and
    /// the run's own files stay as they are, so the split must come out
    /// as recorded.
    fn rebuild(run_dir: &Path, record: &PrepareRecord) -> Result<Self> {
        let config = PrepareConfig {
            download: false,
            ..record.config.clone()
        };
        let prepared = prepare_split(&config)?;
        if prepared.manifest_sha256 != record.manifest_sha256 {
            return Err(Error::Corrupt {
                path: run_dir.join(MANIFEST_FILE),
                reason: format!(
                    "the run's image cache {} is gone, and the dataset at {} no longer gives the \
                     recorded split (its manifest differs), so it cannot be rebuilt",
                    record.cache_file.display(),
                    config.data_dir.display()
                ),
            });
        }
        Ok(prepared)
    }

    fn from_record(
        record: PrepareRecord,
        manifest: Manifest,
        cache: ImageCache,
        reused_cache: bool,
    ) -> Self {
        Self {
            config: record.config,
            class_names: record.class_names,
            manifest,
            manifest_sha256: record.manifest_sha256,
            cache,
            skipped_images: record.skipped_images,
            skipped_classes: record.skipped_classes,
            skipped_files: record.skipped_files,
            reused_cache,
        }
    }

    /// Counts per split and of the held-out classes.
    pub fn summary(&self) -> SplitSummary {
        self.manifest.summary()
    }

    /// Writes `manifest.csv` and `prepare.json` into `dir`, so that
    /// [`Prepared::open`] finds this split there.
    pub fn record_in(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).at(dir)?;
        let config = &self.config;
        let record = PrepareRecord {
            config: PrepareConfig {
                run_dir: absolute(dir),
                data_dir: absolute(&config.data_dir),
                preprocess: PreprocessConfig {
                    cache_dir: absolute(&config.preprocess.cache_dir),
                    ..config.preprocess.clone()
                },
                ..config.clone()
            },
            class_names: self.class_names.clone(),
            manifest_sha256: self.manifest.save(&dir.join(MANIFEST_FILE))?,
            cache_file: absolute(self.cache.path()),
            skipped_images: self.skipped_images.clone(),
            skipped_classes: self.skipped_classes.clone(),
            skipped_files: self.skipped_files.clone(),
        };
        write_bytes_atomic(
            &dir.join(PREPARE_FILE),
            &serde_json::to_vec_pretty(&record)?,
        )
    }

    /// The cache rows of the images at `positions` of `split` (positions as
    /// in that split's scores).
    pub fn rows_of(&self, split: Split, positions: &[usize]) -> Vec<usize> {
        let rows = self.manifest.indices(split);
        positions.iter().map(|&i| rows[i]).collect()
    }

    /// The held-out classes, comma-separated, for captions.
    pub fn held_out_name(&self) -> String {
        self.manifest.held_out.join(", ")
    }

    /// Every class: its TFDS label and its images per split.
    pub fn classes(&self) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        let names = &self.class_names;
        let mut counts = vec![[0u64; 3]; names.len()];
        for entry in &self.manifest.entries {
            counts[entry.label as usize][entry.split as usize] += 1;
        }
        let labels: Vec<usize> = (0..names.len()).collect();
        polars::prelude::DataFrame::new_infer_height(vec![
            column("label", &labels, |&l| l as u64),
            column("class", &labels, |&l| names[l].as_str()),
            column("train", &labels, |&l| counts[l][0]),
            column("validation", &labels, |&l| counts[l][1]),
            column("test", &labels, |&l| counts[l][2]),
        ])
    }
}
