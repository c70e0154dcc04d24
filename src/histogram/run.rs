//! A colour-histogram run: the train images' histograms, the validation
//! scores that calibrate its threshold, saved and recorded like any run;
//! and the run as a detector ([`ImageScorer`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::image::read_resized;
use crate::data::{Prepared, Resize, Split};
use crate::error::{Error, Result};
use crate::io::{read_f32s, write_f32s_atomic};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow,
    detector_scores, scored_detector, scored_images, split_images, timed,
};
use crate::stats::knn_distances;
use crate::training::{
    CRATE_VERSION, LoadedRun, RUN_FILE, Record, RunHeader, RunSlot, read_run_record, run_key_of,
    write_run_record,
};

/// The family's name in its detectors' labels.
pub const FAMILY: &str = "colour histogram";

/// The train images' histograms (square roots, little-endian `f32`, one
/// row of `bins³` per image), as a run saves them.
pub const TRAIN_HISTOGRAMS_FILE: &str = "train_histograms.f32";

/// `run.json` of a [`HistogramRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramRecord {
    /// Its device is `cpu`: histograms are counted on the host.
    #[serde(flatten)]
    pub header: RunHeader,
    /// Bins per channel.
    pub bins: usize,
    /// Neighbours of the score.
    pub k: usize,
    /// The side the images are resized to, and how: the split's cache's.
    pub image_size: usize,
    pub resize: Resize,
    pub train_images: usize,
    /// The score of each validation (normal) image.
    pub validation: Vec<f64>,
    /// Seconds of the fit: the train and validation histograms, the
    /// validation scores.
    pub fit_s: f64,
}

impl Record for HistogramRecord {
    const KIND: &'static str = "histogram";

    fn header(&self) -> &RunHeader {
        &self.header
    }
}

/// The square root of an image's joint colour histogram, normalised:
/// `bins³` values whose squares sum to 1 (HWC `u8` pixels; a pixel's bin
/// is `(r, g, b) · bins / 256`).
pub fn colour_histogram(pixels: &[u8], bins: usize) -> Vec<f32> {
    let mut counts = vec![0u32; bins * bins * bins];
    let bin = |v: u8| usize::from(v) * bins / 256;
    for rgb in pixels.chunks_exact(3) {
        counts[(bin(rgb[0]) * bins + bin(rgb[1])) * bins + bin(rgb[2])] += 1;
    }
    let total = (pixels.len() / 3).max(1) as f32;
    counts.iter().map(|&c| (c as f32 / total).sqrt()).collect()
}

/// [`colour_histogram`] of each image, one row each.
fn histogram_rows<'a>(images: impl ParallelIterator<Item = &'a [u8]>, bins: usize) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = images.map(|image| colour_histogram(image, bins)).collect();
    let n = rows.len();
    Array2::from_shape_vec((n, bins.pow(3)), rows.concat()).expect("bins³ values per image")
}

/// A colour-histogram detector fitted on a split's train images. Lives in
/// `runs/histogram-<key>/`, so `score --run` judges new images with it.
#[derive(Debug, Clone)]
pub struct HistogramRun {
    pub dir: PathBuf,
    pub record: HistogramRecord,
    /// `[train_images, bins³]`: the square roots of their histograms.
    train: Array2<f32>,
}

impl HistogramRun {
    /// The run of `bins` per channel and `k` neighbours on `prepared`'s
    /// split under `runs_dir`: loaded when one with the same key exists,
    /// else fitted (from the split's cache, no image decoded) and saved.
    pub fn fit(runs_dir: &Path, prepared: &Prepared, bins: usize, k: usize) -> Result<Self> {
        if !(1..=64).contains(&bins) {
            return Err(Error::InvalidParameter(format!(
                "{bins} bins per channel: from 1 to 64"
            )));
        }
        let (size, resize) = (prepared.cache.size(), prepared.config.preprocess.resize);
        let manifest = &prepared.manifest_sha256;
        let key = histogram_key(bins, k, size, resize, manifest, CRATE_VERSION)?;
        let slot = RunSlot {
            kind: HistogramRecord::KIND,
            dir: runs_dir.join(format!("histogram-{key}")),
            key,
        };
        slot.finished_or_made(Self::load, || Self::fitted(&slot, prepared, bins, k))
    }

    /// Fits the detector into `slot`'s folder and records the run.
    fn fitted(slot: &RunSlot, prepared: &Prepared, bins: usize, k: usize) -> Result<Self> {
        let started = Instant::now();
        let cached = |split| {
            let rows = prepared.manifest.indices(split);
            histogram_rows(rows.par_iter().map(|&r| prepared.cache.image(r)), bins)
        };
        let train = cached(Split::Train);
        let validation = knn_distances(&train, &cached(Split::Validation), k)?;
        let record = HistogramRecord {
            header: slot.header(&prepared.manifest_sha256, "cpu".into()),
            bins,
            k,
            image_size: prepared.cache.size(),
            resize: prepared.config.preprocess.resize,
            train_images: train.nrows(),
            validation,
            fit_s: started.elapsed().as_secs_f64(),
        };
        let dir = &slot.dir;
        prepared.record_in(dir)?;
        let values: Vec<f32> = train.iter().copied().collect();
        write_f32s_atomic(&dir.join(TRAIN_HISTOGRAMS_FILE), &values)?;
        write_run_record(dir, &record)?;
        Ok(Self {
            dir: dir.clone(),
            record,
            train,
        })
    }

    /// Loads the run in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let record: HistogramRecord = read_run_record(dir)?;
        let (n, width) = (record.train_images, record.bins.pow(3));
        let values = read_f32s(&dir.join(TRAIN_HISTOGRAMS_FILE), n * width)?;
        let train = Array2::from_shape_vec((n, width), values).expect("n·bins³ values");
        Ok(Self {
            dir: dir.to_path_buf(),
            record,
            train,
        })
    }

    /// Which detector: `colour histogram: kNN, 8 bins per channel (k = 5)`.
    pub fn id(&self) -> DetectorId {
        let (bins, k) = (self.record.bins, self.record.k);
        DetectorId::of_family(FAMILY, format!("kNN, {bins} bins per channel (k = {k})"))
    }

    /// The score of each image (HWC `u8` at the run's side).
    fn scores<'a>(&self, images: impl ParallelIterator<Item = &'a [u8]>) -> Result<Vec<f64>> {
        let histograms = histogram_rows(images, self.record.bins);
        knn_distances(&self.train, &histograms, self.record.k)
    }

    /// Image files decoded and resized as the split's cache was.
    fn decoded(&self, paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
        let (size, resize) = (self.record.image_size, self.record.resize);
        paths
            .par_iter()
            .map(|p| read_resized(p, size, resize))
            .collect()
    }

    /// The detector on the test split (`test`'s rows, from the run's
    /// split's cache) and the unseen images (`unseen`'s, decoded once),
    /// cached in the run's `detector_scores.csv` with the seconds scoring
    /// them took; its seconds are the fit and that scoring.
    fn detector(&self, test: &Scores, unseen: &[UnseenRow]) -> Result<DetectorScores> {
        let wanted = scored_images(test, unseen);
        let (scored, scored_s) = detector_scores(
            &self.dir,
            RUN_FILE,
            &wanted,
            |r: &ScoredImage| (r.set.as_str(), r.path.as_str()),
            || timed(|| self.score_images(&wanted)),
        )?;
        let seconds = self.record.fit_s + scored_s;
        let (id, scored_sets) = (self.id(), (test, unseen));
        Ok(DetectorScores {
            bank_bytes: Some((self.train.len() * size_of::<f32>()) as u64),
            ..scored_detector(id, false, scored_sets, &scored, |r| r.score, seconds)
        })
    }

    /// Scores `wanted` (set, path).
    fn score_images(&self, wanted: &[(&str, &str)]) -> Result<Vec<ScoredImage>> {
        let prepared = Prepared::open(&self.dir)?;
        let (test_rows, files) = split_images(&prepared, wanted)?;
        let test = self.scores(test_rows.par_iter().map(|&r| prepared.cache.image(r)))?;
        let decoded = self.decoded(&files)?;
        let unseen = self.scores(decoded.par_iter().map(Vec::as_slice))?;
        let rows = wanted.iter().zip(test.into_iter().chain(unseen));
        let scored = rows.map(|(&(set, path), score)| ScoredImage {
            path: path.into(),
            set: set.into(),
            score,
        });
        Ok(scored.collect())
    }
}

impl LoadedRun for HistogramRun {
    fn header(&self) -> &RunHeader {
        &self.record.header
    }
}

/// The key of `bins` per channel and `k` neighbours on the split of
/// `manifest_sha256`, its images at `image_size` px by `resize`:
/// [`run_key_of`] the JSON array of those and the crate version.
fn histogram_key(
    bins: usize,
    k: usize,
    image_size: usize,
    resize: Resize,
    manifest_sha256: &str,
    crate_version: &str,
) -> Result<String> {
    let identity = (bins, k, image_size, resize.description());
    run_key_of(&(identity, manifest_sha256, crate_version))
}

/// One image's score, as `detector_scores.csv` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ScoredImage {
    path: String,
    /// `test` or `unseen`.
    set: String,
    score: f64,
}

impl ImageScorer for HistogramRun {
    fn id(&self) -> DetectorId {
        HistogramRun::id(self)
    }

    fn pretrained(&self) -> bool {
        false
    }

    /// Cached in the run directory: the test images from its split's
    /// cache, the unseen ones decoded once.
    fn ladder_scores(&self, images: &LadderImages, _: &Device) -> Result<DetectorScores> {
        self.detector(&images.test, &images.unseen)
    }

    fn score_files(&self, paths: &[PathBuf], _: &Device) -> Result<Vec<f64>> {
        let decoded = self.decoded(paths)?;
        self.scores(decoded.par_iter().map(Vec::as_slice))
    }

    fn calibration(&self, percentile: f64, _: &Device) -> Result<Calibration> {
        Calibration::of(&self.record.validation, percentile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `side × side` image of `rgb`, each pixel moved by a little noise.
    fn image(side: usize, rgb: [u8; 3], seed: usize) -> Vec<u8> {
        (0..side * side * 3)
            .map(|i| rgb[i % 3].saturating_add(((i * 7 + seed * 13) % 11) as u8))
            .collect()
    }

    /// Finished runs are found by their key.
    #[test]
    fn the_run_key_is_pinned() {
        let manifest = "0123456789abcdef".repeat(4);
        let key = histogram_key(8, 5, 64, Resize::Bilinear, &manifest, "0.2.0").unwrap();
        assert_eq!(key, "25683472d542bb0b");
    }

    #[test]
    fn a_histogram_counts_each_pixel_in_its_colour_bin() {
        let red = image(4, [250, 0, 0], 0);
        let histogram = colour_histogram(&red, 2);
        // Every pixel is (≥ 128, < 128, < 128): bin (1, 0, 0) = 4.
        assert_eq!(histogram[4], 1.0);
        assert_eq!(histogram.iter().filter(|&&v| v > 0.0).count(), 1);
        let half: Vec<u8> = [[0, 0, 0], [255, 255, 255]].repeat(8).concat();
        let histogram = colour_histogram(&half, 4);
        let squares: f32 = histogram.iter().map(|v| v * v).sum();
        assert!((squares - 1.0).abs() < 1e-6);
        assert_eq!(
            (histogram[0], histogram[63]),
            (0.5f32.sqrt(), 0.5f32.sqrt())
        );
    }

    #[test]
    fn an_image_of_other_colours_scores_above_ones_like_the_train_images() {
        let train: Vec<Vec<u8>> = (0..12)
            .map(|i| image(8, [200, 60 + 10 * (i % 3) as u8, 40], i))
            .collect();
        let run = HistogramRun {
            dir: PathBuf::new(),
            record: HistogramRecord {
                header: RunHeader::now("histogram", "k".into(), "m", "cpu".into()),
                bins: 8,
                k: 3,
                image_size: 8,
                resize: Resize::Bilinear,
                train_images: train.len(),
                validation: Vec::new(),
                fit_s: 0.0,
            },
            train: histogram_rows(train.par_iter().map(Vec::as_slice), 8),
        };
        let (alike, blue) = (image(8, [200, 70, 40], 99), image(8, [20, 60, 220], 99));
        let scores = run
            .scores([alike.as_slice(), blue.as_slice()].into_par_iter())
            .unwrap();
        assert!(scores[0] < 0.05, "{scores:?}");
        assert!(scores[1] > 0.9, "{scores:?}");
        let label = run.id().label();
        assert_eq!(label, "colour histogram: kNN, 8 bins per channel (k = 3)");
        assert_eq!(label.parse::<DetectorId>().unwrap(), run.id());
    }
}
