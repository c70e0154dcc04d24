//! What the study measured, as the claims' checks read it.

use std::path::Path;

use crate::analysis::Bootstrap;
use crate::autoencoder::Trained;
use crate::data::{BACKGROUND_CLASS, Caltech101, PoolSize, Prepared};
use crate::error::Result;
use crate::scoring::ScoreRow;
use crate::stats::{ConfidenceInterval, auroc};
use crate::study::Profile;

/// The settings our numbers were measured at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredAt {
    pub profile: Profile,
    pub image_size: usize,
    pub pool: PoolSize,
}

impl MeasuredAt {
    /// The settings of `prepared`, with `profile` for display.
    pub fn of(profile: Profile, prepared: &Prepared) -> Self {
        Self {
            profile,
            image_size: prepared.cache.size(),
            pool: prepared.config.split.pool,
        }
    }
}

/// Counts from a scan of the dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetCounts {
    pub images: usize,
    pub object_classes: usize,
    pub background_classes: usize,
}

/// One model's test scores (section 8).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelScores {
    pub model: String,
    pub errors: Vec<f64>,
    pub held_out: Vec<bool>,
    pub auroc: f64,
}

/// Counts the images and classes of the Caltech-101 copy at `data_dir`.
pub fn dataset_counts(data_dir: &Path) -> Result<DatasetCounts> {
    let dataset = Caltech101::scan(data_dir, true)?;
    let background = dataset
        .classes()
        .iter()
        .filter(|c| c.name == BACKGROUND_CLASS)
        .count();
    Ok(DatasetCounts {
        images: dataset.images().len(),
        object_classes: dataset.classes().len() - background,
        background_classes: background,
    })
}

impl ModelScores {
    /// A finished run's test scores.
    pub fn of(run: &Trained) -> Self {
        let (errors, held_out) = (run.scores.scores(), run.scores.held_out_flags());
        Self {
            model: run.record.architecture.to_string(),
            auroc: auroc(&errors, &held_out),
            errors,
            held_out,
        }
    }

    pub(crate) fn mean_error(&self) -> f64 {
        self.errors.iter().sum::<f64>() / self.errors.len() as f64
    }
}

/// What this study measured; a claim whose evidence is missing is
/// reported as not measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub measured_at: MeasuredAt,
    pub dataset: Option<DatasetCounts>,
    /// The baseline's test scores (sections 6-7).
    pub baseline: Option<Vec<ScoreRow>>,
    /// The baseline's AUROC with its bootstrap interval.
    pub baseline_auroc: Option<ConfidenceInterval>,
    /// Every model of section 8.
    pub models: Vec<ModelScores>,
    /// Bootstrap resamples and seed of any interval computed here.
    pub resamples: usize,
    pub seed: u64,
}

impl Evidence {
    /// No evidence yet, for settings `measured_at`: fill in what a section
    /// measured.
    pub fn at(measured_at: MeasuredAt, bootstrap: Bootstrap) -> Self {
        Self {
            measured_at,
            dataset: None,
            baseline: None,
            baseline_auroc: None,
            models: Vec::new(),
            resamples: bootstrap.resamples,
            seed: bootstrap.seed,
        }
    }
}
