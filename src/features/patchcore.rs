//! PatchCore (Roth et al. 2022) on a lite network's patch features: the
//! train images' patches ([`EfficientNetLite::patch_features`]) thinned to a
//! greedy coreset form a memory bank; a patch's anomaly is its Euclidean
//! distance to the nearest patch in the bank, and the grid of patch
//! distances is the image's anomaly map: where it looks unlike any part of
//! any training object. An image's score is its farthest patch's distance
//! (PatchCore's, for a local defect) or the mean over its patches (for an
//! image unlike the training images everywhere, as a scene is).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::backend::device_name;
use crate::data::image::{Resize, read_resized};
use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::features::{Backbone, EfficientNetLite, FEATURE_BATCH, normalise};
use crate::io::{Progress, Step, read_f32s, write_f32s_atomic};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Localiser, Scores,
    UnseenRow, detector_scores, scored_detector, scored_images, timed,
};
use crate::stats::greedy_coreset;
use crate::training::{
    CRATE_VERSION, LoadedRun, RUN_FILE, Record, RunHeader, RunSlot, read_run_record, run_key_of,
    write_run_record,
};

pub use crate::scoring::{AnomalyMap, PatchScore};

/// The coreset's share of the train patches; PatchCore reports 1 % losing
/// little against 10 % or the full bank.
pub const DEFAULT_CORESET_FRACTION: f64 = 0.01;
/// Dimensions of the random projection the coreset is chosen in.
const CORESET_PROJECTION: usize = 64;
/// The memory bank's patches, as a run saves them.
pub const MEMORY_BANK_FILE: &str = "memory_bank.f32";
/// Query patches per distance matrix (against the whole bank).
const QUERY_CHUNK: usize = 4096;

/// `run.json` of a [`PatchCoreRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchCoreRecord {
    #[serde(flatten)]
    pub header: RunHeader,
    pub weights_sha256: String,
    /// The network's input side.
    pub input_size: usize,
    /// Side of the patch grid (`input_size / 16`).
    pub grid: usize,
    /// Width of a patch feature.
    pub patch_width: usize,
    pub coreset_fraction: f64,
    pub train_images: usize,
    pub train_patches: usize,
    /// Patches kept in the memory bank.
    pub bank_patches: usize,
    /// The farthest-patch score of each validation (normal) image.
    pub validation: Vec<f64>,
    /// The mean-patch score of each validation image.
    pub validation_mean: Vec<f64>,
    /// Seconds of the fit: extraction of the train patches, the coreset,
    /// the validation scores.
    pub fit_s: f64,
}

impl Record for PatchCoreRecord {
    const KIND: &'static str = "patchcore";

    fn header(&self) -> &RunHeader {
        &self.header
    }
}

/// The key of PatchCore on the patches of the weights of `weights_sha256`
/// at `input_size` px, the `coreset_fraction` kept, fitted on the split of
/// `manifest_sha256`: [`run_key_of`] the JSON array of those, the coreset's
/// projection and the crate version.
fn patchcore_key(
    weights_sha256: &str,
    input_size: usize,
    coreset_fraction: f64,
    manifest_sha256: &str,
    crate_version: &str,
) -> Result<String> {
    run_key_of(&(
        weights_sha256,
        input_size,
        coreset_fraction,
        CORESET_PROJECTION,
        manifest_sha256,
        crate_version,
    ))
}

/// How each score reads a map (the scores themselves are named in
/// [`crate::scoring`], where the detector ids can name them).
impl PatchScore {
    /// The score of `map`.
    pub fn of(self, map: &AnomalyMap) -> f64 {
        match self {
            Self::Max => map.score,
            Self::Mean => {
                map.values.iter().map(|&v| f64::from(v)).sum::<f64>() / map.values.len() as f64
            }
        }
    }
}

/// A PatchCore memory bank fitted on a split's train images, with its
/// validation scores for calibration. Lives in `runs/patchcore-<key>/`, so
/// `score --run` judges new images with it.
#[derive(Debug, Clone)]
pub struct PatchCoreRun {
    pub dir: PathBuf,
    pub record: PatchCoreRecord,
    pub backbone: Backbone,
    /// `[bank_patches, patch_width]`.
    bank: Tensor<2>,
    /// Squared norm of each bank patch, `[1, bank_patches]`.
    bank_norms: Tensor<2>,
}

impl PatchCoreRun {
    /// The run of `extractor`'s patches at `input_size` px on `prepared`'s
    /// train split under `runs_dir`: loaded when one with the same key
    /// exists, else fitted and saved.
    pub fn fit(
        runs_dir: &Path,
        extractor: &EfficientNetLite,
        prepared: &Prepared,
        input_size: usize,
        coreset_fraction: f64,
        device: &Device,
        show_progress: bool,
    ) -> Result<Self> {
        if input_size < 32 || !input_size.is_multiple_of(16) {
            return Err(Error::InvalidParameter(format!(
                "input side {input_size} px: the patch grid needs a multiple of 16, at least 32"
            )));
        }
        if !(coreset_fraction > 0.0 && coreset_fraction <= 1.0) {
            return Err(Error::InvalidParameter(format!(
                "coreset fraction {coreset_fraction}: must be within (0, 1]"
            )));
        }
        let (manifest, fraction) = (&prepared.manifest_sha256, coreset_fraction);
        let weights = extractor.backbone().weights_sha256();
        let key = patchcore_key(weights, input_size, fraction, manifest, CRATE_VERSION)?;
        let slot = RunSlot {
            kind: PatchCoreRecord::KIND,
            dir: runs_dir.join(format!("patchcore-{key}")),
            key,
        };
        let (size, show) = (input_size, show_progress);
        let fitted = || Self::fitted(&slot, extractor, prepared, size, fraction, device, show);
        slot.finished_or_made(|dir| Self::load(dir, device), fitted)
    }

    /// Fits the memory bank into `slot`'s folder and records the run.
    fn fitted(
        slot: &RunSlot,
        extractor: &EfficientNetLite,
        prepared: &Prepared,
        input_size: usize,
        coreset_fraction: f64,
        device: &Device,
        show_progress: bool,
    ) -> Result<Self> {
        let started = Instant::now();
        let files = |split| split_files(prepared, split);
        let width = extractor.patch_width();
        let train_files = files(Split::Train);
        let patches = patch_rows(extractor, &train_files, input_size, device, show_progress)?;
        let train_patches = patches.len() / width;
        let bank = coreset_rows(&patches, width, coreset_fraction)?;
        drop(patches);
        let (grid, keep) = (input_size / 16, bank.len() / width);
        let record = PatchCoreRecord {
            header: slot.header(&prepared.manifest_sha256, device_name(device)),
            weights_sha256: extractor.backbone().weights_sha256().into(),
            input_size,
            grid,
            patch_width: width,
            coreset_fraction,
            train_images: train_files.len(),
            train_patches,
            bank_patches: keep,
            validation: Vec::new(),
            validation_mean: Vec::new(),
            fit_s: 0.0,
        };
        let mut run = Self::new(slot.dir.clone(), record, bank.clone(), device)?;
        let validation = run.maps(extractor, &files(Split::Validation), show_progress)?;
        let scores = |score: PatchScore| validation.iter().map(|m| score.of(m)).collect();
        run.record.validation = scores(PatchScore::Max);
        run.record.validation_mean = scores(PatchScore::Mean);
        run.record.fit_s = started.elapsed().as_secs_f64();
        prepared.record_in(&run.dir)?;
        write_f32s_atomic(&run.dir.join(MEMORY_BANK_FILE), &bank)?;
        write_run_record(&run.dir, &run.record)?;
        Ok(run)
    }

    fn new(dir: PathBuf, record: PatchCoreRecord, bank: Vec<f32>, device: &Device) -> Result<Self> {
        let shape = [record.bank_patches, record.patch_width];
        let bank = Tensor::<2>::from_data(TensorData::new(bank, shape), device);
        let bank_norms = bank.clone().powi_scalar(2).sum_dim(1).transpose();
        Ok(Self {
            dir,
            backbone: Backbone::of_sha256(&record.weights_sha256)?,
            record,
            bank,
            bank_norms,
        })
    }

    /// Loads the run in `dir`, its memory bank on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let record: PatchCoreRecord = read_run_record(dir)?;
        let n = record.bank_patches * record.patch_width;
        let bank = read_f32s(&dir.join(MEMORY_BANK_FILE), n)?;
        Self::new(dir.to_path_buf(), record, bank, device)
    }

    /// Which detector `score` makes of this run.
    pub fn id(&self, score: PatchScore) -> DetectorId {
        DetectorId::PatchCore {
            backbone: self.backbone,
            score,
            coreset_fraction: self.record.coreset_fraction,
        }
    }

    /// The distance of each row of `patches` (`[n, patch_width]`) to its
    /// nearest bank patch.
    fn nearest(&self, patches: Tensor<2>) -> Tensor<1> {
        let norms = patches.clone().powi_scalar(2).sum_dim(1);
        let cross = patches.matmul(self.bank.clone().transpose());
        let squared = norms + self.bank_norms.clone() - cross.mul_scalar(2.0);
        let n = squared.dims()[0];
        squared.min_dim(1).clamp_min(0.0).sqrt().reshape([n])
    }

    /// The anomaly map of each image file, in order.
    pub fn maps(
        &self,
        extractor: &EfficientNetLite,
        paths: &[PathBuf],
        show_progress: bool,
    ) -> Result<Vec<AnomalyMap>> {
        if extractor.backbone() != self.backbone {
            return Err(Error::InvalidParameter(format!(
                "the memory bank holds {} patches, the extractor is {}",
                self.backbone,
                extractor.backbone()
            )));
        }
        let (size, grid) = (self.record.input_size, self.record.grid);
        let mut maps = Vec::with_capacity(paths.len());
        let progress = Progress::new(show_progress, MAPS_STEP, paths.len() as u64);
        for chunk in paths.chunks(FEATURE_BATCH) {
            let patches = patch_batch(extractor, chunk, size, &self.bank.device())?;
            let width = patches.dims()[1];
            let rows = patches.permute([0, 2, 3, 1]).reshape([-1, width as i32]);
            let n = rows.dims()[0];
            let mut distances = Vec::with_capacity(n);
            for start in (0..n).step_by(QUERY_CHUNK) {
                let part = rows
                    .clone()
                    .slice([start..n.min(start + QUERY_CHUNK), 0..width]);
                distances.extend(self.nearest(part).into_data().iter::<f32>());
            }
            maps.extend(
                distances
                    .chunks(grid * grid)
                    .map(|values| AnomalyMap::of(grid, values.to_vec())),
            );
            progress.inc(chunk.len() as u64);
        }
        progress.finish();
        Ok(maps)
    }

    /// The threshold of `score` at the `percentile`-th percentile of its
    /// validation scores.
    pub fn calibration(&self, score: PatchScore, percentile: f64) -> Result<Calibration> {
        match score {
            PatchScore::Max => Calibration::of(&self.record.validation, percentile),
            PatchScore::Mean => Calibration::of(&self.record.validation_mean, percentile),
        }
    }

    /// Both detectors (farthest patch, mean patch) on the test split
    /// (`test`'s rows) and on `unseen`, the files under `data_dir`; scores
    /// cached in the run directory ([`crate::scoring::DETECTOR_SCORES_FILE`])
    /// for the same images, with the seconds scoring them took. Their
    /// seconds are the fit (the train patches' extraction included) and
    /// that scoring, which extracts the scored images' patches.
    pub fn detectors(
        &self,
        extractor: &EfficientNetLite,
        data_dir: &Path,
        (test, unseen): (&Scores, &[UnseenRow]),
        show_progress: bool,
    ) -> Result<Vec<DetectorScores>> {
        let wanted = scored_images(test, unseen);
        let (scored, scored_s) = detector_scores(
            &self.dir,
            RUN_FILE,
            &wanted,
            |r: &PatchScoredImage| (r.set.as_str(), r.path.as_str()),
            || {
                timed(|| {
                    let files: Vec<PathBuf> =
                        wanted.iter().map(|(_, p)| data_dir.join(p)).collect();
                    let maps = self.maps(extractor, &files, show_progress)?;
                    Ok(wanted
                        .iter()
                        .zip(maps)
                        .map(|(&(set, path), map)| PatchScoredImage {
                            path: path.into(),
                            set: set.into(),
                            max: PatchScore::Max.of(&map),
                            mean: PatchScore::Mean.of(&map),
                        })
                        .collect())
                })
            },
        )?;
        let seconds = self.record.fit_s + scored_s;
        let bank = self.record.bank_patches * self.record.patch_width * size_of::<f32>();
        let detector = |score: PatchScore, value: fn(&PatchScoredImage) -> f64| DetectorScores {
            bank_bytes: Some(bank as u64),
            ..scored_detector(
                self.id(score),
                true,
                (test, unseen),
                &scored,
                value,
                seconds,
            )
        };
        Ok(vec![
            detector(PatchScore::Max, |r| r.max),
            detector(PatchScore::Mean, |r| r.mean),
        ])
    }

    /// The run judging image files by `score`, with `extractor` (the run's
    /// backbone).
    pub fn scorer<'a>(
        &'a self,
        extractor: &'a EfficientNetLite,
        score: PatchScore,
    ) -> PatchCoreScorer<'a> {
        PatchCoreScorer {
            run: self,
            extractor,
            score,
        }
    }
}

impl LoadedRun for PatchCoreRun {
    fn header(&self) -> &RunHeader {
        &self.record.header
    }
}

/// One image's score by a [`PatchCoreRun`], as its detector-scores file
/// keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PatchScoredImage {
    path: String,
    /// `test` or `unseen`.
    set: String,
    max: f64,
    mean: f64,
}

/// A [`PatchCoreRun`] scoring image files by one score.
#[derive(Debug)]
pub struct PatchCoreScorer<'a> {
    run: &'a PatchCoreRun,
    extractor: &'a EfficientNetLite,
    score: PatchScore,
}

impl ImageScorer for PatchCoreScorer<'_> {
    fn id(&self) -> DetectorId {
        self.run.id(self.score)
    }

    fn pretrained(&self) -> bool {
        true
    }

    /// [`PatchCoreRun::detectors`], cached in the run directory.
    fn ladder_scores(&self, images: &LadderImages, _: &Device) -> Result<DetectorScores> {
        let scored = (&images.test, images.unseen.as_slice());
        let (data_dir, show) = (&images.data_dir, images.show_progress);
        let mut both = self.run.detectors(self.extractor, data_dir, scored, show)?;
        Ok(both.swap_remove(match self.score {
            PatchScore::Max => 0,
            PatchScore::Mean => 1,
        }))
    }

    fn score_files(&self, paths: &[PathBuf], _: &Device) -> Result<Vec<f64>> {
        let maps = self.run.maps(self.extractor, paths, false)?;
        Ok(maps.iter().map(|m| self.score.of(m)).collect())
    }

    fn calibration(&self, percentile: f64, _: &Device) -> Result<Calibration> {
        self.run.calibration(self.score, percentile)
    }

    fn localiser(&self) -> Option<&dyn Localiser> {
        Some(self)
    }
}

/// Each patch's distance to the memory bank, at the run's input side.
impl Localiser for PatchCoreScorer<'_> {
    fn anomaly_maps(&self, paths: &[PathBuf]) -> Result<(Vec<AnomalyMap>, usize)> {
        let maps = self.run.maps(self.extractor, paths, false)?;
        Ok((maps, self.run.record.input_size))
    }
}

/// The progress of extracting the memory bank's patches.
const BANK_STEP: Step = Step {
    name: "memory bank",
    unit: "images",
    bar: "memory bank {bar:40} {pos}/{len} images {per_sec} ETA {eta}",
};
/// The progress of scoring images against the memory bank.
const MAPS_STEP: Step = Step {
    name: "anomaly maps",
    unit: "images",
    bar: "anomaly maps {bar:40} {pos}/{len} images {per_sec} ETA {eta}",
};

/// The `fraction` of `patches` (rows of `width` values) that the greedy
/// coreset keeps, at least one, row-major.
fn coreset_rows(patches: &[f32], width: usize, fraction: f64) -> Result<Vec<f32>> {
    let keep = ((patches.len() / width) as f64 * fraction).ceil().max(1.0) as usize;
    let chosen = greedy_coreset(patches, width, keep, CORESET_PROJECTION, 0)?;
    Ok(chosen
        .iter()
        .flat_map(|&i| patches[i * width..(i + 1) * width].iter().copied())
        .collect())
}

/// The files of `prepared`'s `split`, in manifest order.
fn split_files(prepared: &Prepared, split: Split) -> Vec<PathBuf> {
    let manifest = &prepared.manifest;
    manifest
        .indices(split)
        .iter()
        .map(|&r| prepared.config.data_dir.join(&manifest.entries[r].path))
        .collect()
}

/// The patch features of image files decoded and resized to `size`.
///
/// # Shapes
/// - output: `[paths.len(), patch_width, size / 16, size / 16]`
fn patch_batch(
    extractor: &EfficientNetLite,
    paths: &[PathBuf],
    size: usize,
    device: &Device,
) -> Result<Tensor<4>> {
    let resized = paths
        .par_iter()
        .map(|path| read_resized(path, size, Resize::Bilinear))
        .collect::<Result<Vec<_>>>()?;
    let images: Vec<&[u8]> = resized.iter().map(Vec::as_slice).collect();
    Ok(extractor.patch_features(normalise(&images, size, device)))
}

/// Every patch of every file as rows of `patch_width` values, row-major.
fn patch_rows(
    extractor: &EfficientNetLite,
    paths: &[PathBuf],
    size: usize,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<f32>> {
    let progress = Progress::new(show_progress, BANK_STEP, paths.len() as u64);
    let mut rows = Vec::new();
    for chunk in paths.chunks(FEATURE_BATCH) {
        let patches = patch_batch(extractor, chunk, size, device)?;
        rows.extend(patches.permute([0, 2, 3, 1]).into_data().iter::<f32>());
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finished runs are found by their key: fixed settings key as they
    /// did before the run header (which never enters the key).
    #[test]
    fn the_run_key_is_pinned() {
        let (manifest, weights) = ("0123456789abcdef".repeat(4), "fedcba9876543210".repeat(4));
        let key = patchcore_key(&weights, 224, 0.01, &manifest, "0.2.0").unwrap();
        assert_eq!(key, "f220203c89c356a8");
    }

    #[test]
    fn upsampling_keeps_a_constant_map_and_the_corners() {
        let constant = AnomalyMap::of(3, vec![2.0; 9]);
        assert!(
            constant
                .upsampled(12)
                .iter()
                .all(|&v| (v - 2.0).abs() < 1e-6)
        );
        let ramp = AnomalyMap::of(2, vec![0.0, 1.0, 2.0, 3.0]);
        let up = ramp.upsampled(8);
        // Half-pixel centres: the outer quarter of each side is clamped.
        assert_eq!(up[0], 0.0);
        assert_eq!(up[63], 3.0);
        assert_eq!(ramp.peak(), (1, 1));
        assert_eq!(ramp.score, 3.0);
        assert_eq!(PatchScore::Max.of(&ramp), 3.0);
        assert_eq!(PatchScore::Mean.of(&ramp), 1.5);
        // Rows increase by 2 per grid step, columns by 1.
        assert!((up[8 * 4 + 4] - up[8 * 3 + 4] - 2.0 / 4.0).abs() < 1e-6);
    }
}
