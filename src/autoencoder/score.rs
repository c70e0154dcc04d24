//! Scoring: the per-image reconstruction error of every test image
//! (`scores.csv`), per-pixel error maps for the figures, latent codes,
//! scores for new images with a saved run, and scores for every Caltech-101
//! image the run never saw (`unseen_scores.csv`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};

use crate::autoencoder::{Autoencoder, per_image_mse};
use crate::data::image::Resize;
use crate::data::{Caltech101, ImageBatcher, ImageCache, Prepared, Split, files_batch};
use crate::error::{Error, Result};
use crate::io::{DEFAULT_BAR, Progress, Step};
use crate::scoring::{Calibration, ScoreRow, Scores, UnseenRow};

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
                score: error,
                held_out: prepared.manifest.is_held_out(row),
            }
        })
        .collect();
    Scores(scores)
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
                score: error,
            });
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(rows)
}

/// The `percentile`-th percentile of `model`'s errors on the validation
/// split of `prepared`.
pub fn calibrate(
    model: &Autoencoder,
    prepared: &Prepared,
    percentile: f64,
    batch_size: usize,
    device: &Device,
) -> Result<Calibration> {
    let validation = score_split(model, prepared, Split::Validation, batch_size, device);
    Calibration::of(&validation.scores(), percentile)
}
