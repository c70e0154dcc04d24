//! What the classifier offers the crate's registries: the loader of its
//! saved runs, which the kind enum (`crate::analysis::RunKind`) maps the
//! `classifier` kind to.

use std::path::Path;

use crate::backend::SelectedDevice;
use crate::classifier::{ClassifierFit, ClassifierRecord, ClassifierScore, TrainedClassifier};
use crate::data::Prepared;
use crate::error::Result;
use crate::features::DEFAULT_RIDGE;
use crate::scoring::{OwnedScorer, SavedFamily, SavedScorer};
use crate::training::Record;

impl TrainedClassifier {
    /// The kind enum's entry: the label-aware classifier's run, scoring by
    /// `mahalanobis` (the default) or `energy`.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: ClassifierRecord::KIND,
        described: "the classifier's",
        load: load_saved,
    };
}

/// The classifier run in `dir` as a saved detector: with its saved fit, or
/// one fitted now on the run's split (at the default ridge).
fn load_saved(dir: &Path, score: Option<&str>, on: &SelectedDevice) -> Result<SavedScorer> {
    let score: ClassifierScore = score.unwrap_or("mahalanobis").parse()?;
    let run = TrainedClassifier::load(dir, &on.device)?;
    let fit = match ClassifierFit::saved(&run)? {
        Some(fit) => fit,
        None => ClassifierFit::of(&run, &Prepared::open(dir)?, DEFAULT_RIDGE, &on.device)?,
    };
    Ok(OwnedScorer::saved(
        (run, fit, score),
        |(run, fit, score)| Box::new(fit.scorer(run, *score)),
    ))
}
