//! Scoring: the per-image reconstruction error of every test image
//! (`scores.csv`), per-pixel error maps for the figures, latent codes,
//! scores for new images with a saved run, and scores for every Caltech-101
//! image the run never saw (`unseen_scores.csv`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::files_batch;
use crate::data::image::{self, Resize};
use crate::data::{
    Caltech101, ImageBatcher, ImageCache, Prepared, SkippedImage, Split, describe_skipped,
};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_csv, write_csv_atomic};
use crate::model::Autoencoder;
use crate::progress::{DEFAULT_BAR, Progress, Step, status};
use crate::train::{MODEL_FILE, per_image_mse};

pub const SCORES_FILE: &str = "scores.csv";
/// The validation split's scores, kept so that a run calibrates a
/// threshold at any percentile without its images.
pub const VALIDATION_SCORES_FILE: &str = "validation_scores.csv";
pub const UNSEEN_SCORES_FILE: &str = "unseen_scores.csv";

/// One row of `scores.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub path: String,
    pub class: String,
    pub label: u32,
    pub split: Split,
    /// Per-image MSE over pixels and channels, images scaled to [0, 1].
    pub error: f64,
    /// Whether the image belongs to a held-out class (a true anomaly).
    pub held_out: bool,
}

/// The scores of one split, one row per image in manifest order: what
/// thresholds, curves and tables are computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores(pub Vec<ScoreRow>);

impl std::ops::Deref for Scores {
    type Target = [ScoreRow];
    fn deref(&self) -> &[ScoreRow] {
        &self.0
    }
}

impl Scores {
    pub fn errors(&self) -> Vec<f64> {
        self.iter().map(|r| r.error).collect()
    }

    /// Whether each image is a true anomaly.
    pub fn labels(&self) -> Vec<bool> {
        self.iter().map(|r| r.held_out).collect()
    }

    /// The held-out images' errors.
    pub fn held_out_errors(&self) -> Vec<f64> {
        self.iter()
            .filter(|r| r.held_out)
            .map(|r| r.error)
            .collect()
    }

    pub fn mean_error(&self) -> f64 {
        self.iter().map(|r| r.error).sum::<f64>() / self.len().max(1) as f64
    }

    /// The `p`-th percentile of the errors: the report's threshold.
    pub fn threshold(&self, p: f64) -> Result<f64> {
        crate::stats::percentile(&self.errors(), p)
    }

    /// Positions of the `n` highest errors, highest first.
    pub fn highest(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self[b].error.total_cmp(&self[a].error));
        order.truncate(n);
        order
    }

    /// The rows at `positions`.
    pub fn pick(&self, positions: &[usize]) -> Vec<ScoreRow> {
        positions.iter().map(|&i| self[i].clone()).collect()
    }

    /// `scores.csv` as a table.
    pub fn to_dataframe(&self) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        use crate::table::column;
        polars::prelude::DataFrame::new_infer_height(vec![
            column("class", &self.0, |r| r.class.as_str()),
            column("error", &self.0, |r| r.error),
            column("held_out", &self.0, |r| r.held_out),
            column("path", &self.0, |r| r.path.as_str()),
        ])
    }
}

/// Per-image errors of cache rows `rows`, in bounded batches.
pub fn reconstruction_errors(
    model: &Autoencoder,
    cache: &ImageCache,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> Vec<f64> {
    let mut errors = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size.max(1)) {
        let x = ImageBatcher::new(cache).batch(chunk, device);
        let e = per_image_mse(x.clone(), model.forward(x));
        errors.extend(e.into_data().iter::<f32>().map(f64::from));
    }
    errors
}

/// Scores every image of `split`.
pub fn score_split(
    model: &Autoencoder,
    prepared: &Prepared,
    split: Split,
    batch_size: usize,
    device: &Device,
) -> Scores {
    let rows = prepared.manifest.indices(split);
    let errors = reconstruction_errors(model, &prepared.cache, &rows, batch_size, device);
    let scores = rows
        .iter()
        .zip(errors)
        .map(|(&row, error)| {
            let entry = &prepared.manifest.entries[row];
            ScoreRow {
                path: entry.path.clone(),
                class: entry.class.clone(),
                label: entry.label,
                split: entry.split,
                error,
                held_out: prepared.manifest.is_held_out(row),
            }
        })
        .collect();
    Scores(scores)
}

/// Writes `scores.csv` atomically.
pub fn write_scores(path: &Path, rows: &[ScoreRow]) -> Result<()> {
    write_csv_atomic(path, rows)
}

/// Reads `scores.csv`.
pub fn read_scores(path: &Path) -> Result<Scores> {
    read_csv(path).map(Scores)
}

/// An image, its reconstruction and the per-pixel squared error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorMap {
    pub size: usize,
    /// S×S×3 `u8`, as in the cache.
    pub original: Vec<u8>,
    pub reconstruction: Vec<u8>,
    /// S×S squared error averaged over channels, in [0, 1].
    pub error: Vec<f32>,
}

/// Error maps of cache rows `rows` (for the section-5 figures).
pub fn error_maps(
    model: &Autoencoder,
    cache: &ImageCache,
    rows: &[usize],
    device: &Device,
) -> Vec<ErrorMap> {
    let s = cache.size();
    let plane = s * s;
    let mut maps = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(32) {
        let x = ImageBatcher::new(cache).batch(chunk, device);
        let y: Vec<f32> = model.forward(x).into_data().iter::<f32>().collect();
        for (i, &row) in chunk.iter().enumerate() {
            let original = cache.image(row).to_vec();
            let recon = &y[i * 3 * plane..(i + 1) * 3 * plane];
            let mut reconstruction = vec![0u8; 3 * plane];
            let mut error = vec![0f32; plane];
            for p in 0..plane {
                for c in 0..3 {
                    let v = recon[c * plane + p];
                    reconstruction[p * 3 + c] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
                    let d = v - f32::from(original[p * 3 + c]) / 255.0;
                    error[p] += d * d / 3.0;
                }
            }
            maps.push(ErrorMap {
                size: s,
                original,
                reconstruction,
                error,
            });
        }
    }
    maps
}

/// Latent codes of cache rows `rows`, one row per image.
pub fn latent_codes(
    model: &Autoencoder,
    cache: &ImageCache,
    rows: &[usize],
    device: &Device,
) -> Vec<Vec<f32>> {
    let mut codes = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(64) {
        let code: Tensor<2> = model.encode(ImageBatcher::new(cache).batch(chunk, device));
        let width = code.dims()[1];
        let values: Vec<f32> = code.into_data().iter::<f32>().collect();
        codes.extend(values.chunks(width).map(<[f32]>::to_vec));
    }
    codes
}

/// The images of a folder or the one file given, and what a folder scan
/// passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageListing {
    /// Sorted by name.
    pub images: Vec<PathBuf>,
    /// Files of the folder that are no image this build reads, named by
    /// file name.
    pub skipped: Vec<SkippedImage>,
}

/// The images in `input`: the file itself (any format the decoder reads,
/// told by its content), or every file of the folder whose extension
/// names a format the decoder reads (JPEG, PNG). Other entries are listed
/// in [`ImageListing::skipped`] with the reason.
///
/// Errors if `input` cannot be read or the folder holds no image.
pub fn list_images(input: &Path) -> Result<ImageListing> {
    let meta = std::fs::metadata(input).at(input)?;
    if !meta.is_dir() {
        return Ok(ImageListing {
            images: vec![input.to_path_buf()],
            skipped: Vec::new(),
        });
    }
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    for entry in std::fs::read_dir(input).at(input)? {
        let path = entry.at(input)?.path();
        match not_an_image(&path) {
            None => images.push(path),
            Some(reason) => skipped.push(SkippedImage {
                path: path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                reason,
            }),
        }
    }
    images.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if images.is_empty() {
        let also = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped {}", describe_skipped(&skipped))
        };
        return Err(Error::InvalidParameter(format!(
            "{} holds no image ({}){also}",
            input.display(),
            image::READ_FORMATS
        )));
    }
    Ok(ImageListing { images, skipped })
}

/// Why a folder entry is not taken as an image, or `None` if it is.
fn not_an_image(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) => return Some(format!("unreadable: {e}")),
        Ok(meta) if meta.is_dir() => return Some("a folder".into()),
        Ok(meta) if !meta.is_file() => return Some("not a regular file".into()),
        Ok(_) => {}
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ::image::ImageFormat::from_extension(extension) {
        Some(format) if format.reading_enabled() => None,
        Some(format) => Some(format!(
            "{format:?} is not a format this build reads ({})",
            image::READ_FORMATS
        )),
        None => Some("not an image".into()),
    }
}

/// The images of a folder (sorted), or the one file given: the images of
/// [`list_images`]. A folder's other files are named (on stderr, or below
/// the cell in a notebook: [`crate::progress::status`]), so that none is
/// passed over silently; [`list_images`] returns them instead.
pub fn image_paths(input: &Path) -> Result<Vec<PathBuf>> {
    let listing = list_images(input)?;
    if !listing.skipped.is_empty() {
        let skipped = describe_skipped(&listing.skipped);
        status(true, &format!("{}: skipped {skipped}", input.display()));
    }
    Ok(listing.images)
}

/// Scores image files with a trained model: decoded and resized exactly as
/// the training images were.
pub fn score_files(
    model: &Autoencoder,
    image_size: usize,
    resize: Resize,
    paths: &[PathBuf],
    device: &Device,
) -> Result<Vec<(PathBuf, f64)>> {
    let mut results = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(32) {
        let x = files_batch(chunk, image_size, resize, device)?;
        let errors = per_image_mse(x.clone(), model.forward(x));
        results.extend(
            chunk
                .iter()
                .cloned()
                .zip(errors.into_data().iter::<f32>().map(f64::from)),
        );
    }
    Ok(results)
}

/// One row of `unseen_scores.csv`: an image outside the run's pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnseenRow {
    /// Relative to the dataset root, `/`-separated.
    pub path: String,
    pub class: String,
    /// Per-image MSE, as in [`ScoreRow::error`].
    pub error: f64,
    /// Whether the image belongs to a held-out class (a true anomaly).
    pub held_out: bool,
}

/// Scores every image of the Caltech-101 copy at `data_dir` that is not in
/// the run's manifest, in the dataset's order: Caltech-101 beyond TFDS's 30-per-class pool holds
/// 5,647 more object images and 437 more `background_google` images, so the
/// AUROC interval measured on them is about a third as wide as on the
/// report's 483-image test split (30 anomalies).
///
/// Errors if the dataset cannot be scanned (with the run's `skip_bad`) or
/// every image of it is in the manifest.
pub fn score_unseen(
    model: &Autoencoder,
    prepared: &Prepared,
    data_dir: &Path,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<UnseenRow>> {
    let dataset = Caltech101::scan(data_dir, prepared.config.preprocess.skip_bad)?;
    let pool: HashSet<&str> = prepared
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    let unseen: Vec<_> = dataset
        .images()
        .iter()
        .filter(|image| !pool.contains(image.path.as_str()))
        .collect();
    if unseen.is_empty() {
        return Err(Error::InvalidParameter(
            "the run's pool holds every image of the dataset: none is unseen".into(),
        ));
    }
    let class_names = dataset.class_names();
    let held_out = &prepared.config.split.held_out;
    let image_size = prepared.cache.size();
    let step = Step {
        name: "score unseen",
        unit: "images",
        bar: DEFAULT_BAR,
    };
    let progress = Progress::new(show_progress, step, unseen.len() as u64);
    let mut rows = Vec::with_capacity(unseen.len());
    for chunk in unseen.chunks(256) {
        let paths: Vec<PathBuf> = chunk.iter().map(|i| dataset.root().join(&i.path)).collect();
        let scored = score_files(
            model,
            image_size,
            prepared.config.preprocess.resize,
            &paths,
            device,
        )?;
        for (image, (_, error)) in chunk.iter().zip(scored) {
            let class = class_names[image.label as usize].clone();
            rows.push(UnseenRow {
                path: image.path.clone(),
                held_out: held_out.contains(&class),
                class,
                error,
            });
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(rows)
}

/// Whether `run_dir` holds an `unseen_scores.csv` written after its model
/// (a retrained run's old scores are stale).
pub fn has_current_unseen_scores(run_dir: &Path) -> bool {
    newer_than_model(run_dir, UNSEEN_SCORES_FILE)
}

/// Whether `run_dir/name` exists and was written after the run's weights.
pub fn newer_than_model(run_dir: &Path, name: &str) -> bool {
    newer_than(run_dir, name, MODEL_FILE)
}

/// Whether `dir/name` and `dir/than` exist and `name` was written no
/// earlier than `than` (a result derived from `than` is stale otherwise).
pub fn newer_than(dir: &Path, name: &str, than: &str) -> bool {
    let modified = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified());
    match (modified(name), modified(than)) {
        (Ok(derived), Ok(source)) => derived >= source,
        _ => false,
    }
}

/// Writes `unseen_scores.csv` atomically.
pub fn write_unseen_scores(path: &Path, rows: &[UnseenRow]) -> Result<()> {
    write_csv_atomic(path, rows)
}

/// Reads `unseen_scores.csv`.
pub fn read_unseen_scores(path: &Path) -> Result<Vec<UnseenRow>> {
    read_csv(path)
}
