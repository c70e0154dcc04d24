//! What the classifier offers the crate's registries: the loader of its
//! saved runs, which the kind enum (`crate::analysis::RunKind`) maps the
//! `classifier` kind to, and its place on the ladder
//! ([`ClassifierLadder`]), which the ladder's specification lists.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::backend::SelectedDevice;
use crate::classifier::{
    ClassIndex, ClassifierConfig, ClassifierFit, ClassifierRecord, ClassifierScore,
    ClassifierTrainingConfig, TrainedClassifier, trained_classifier,
};
use crate::data::Prepared;
use crate::error::Result;
use crate::features::DEFAULT_RIDGE;
use crate::scoring::{
    DetectorId, FittedFamily, ImageScorer, LadderFamily, LadderFitting, OwnedScorer, SavedFamily,
    SavedScorer,
};
use crate::training::Record;

impl TrainedClassifier {
    /// The kind enum's entry: the label-aware classifier's run, scoring by
    /// `mahalanobis` (the default) or `energy`.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: ClassifierRecord::KIND,
        described: "the classifier's",
        scores: &["mahalanobis", "energy"],
        loader: load_saved,
    };
}

/// The classifier run in `dir` as a saved detector: with its saved fit, or
/// one fitted now on the run's split (at the default ridge).
fn load_saved(dir: &Path, score: &str, on: &SelectedDevice) -> Result<SavedScorer> {
    let score: ClassifierScore = score.parse()?;
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

/// The label-aware classifier on the ladder: trained from scratch on the
/// study's split at the budget's side, its class Gaussians fitted with
/// `ridge`, scored by `scores`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierLadder {
    pub scores: Vec<ClassifierScore>,
    /// The ridge added to each class Gaussian's covariance.
    pub ridge: f64,
}

impl fmt::Display for ClassifierLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scores = self
            .scores
            .iter()
            .map(|&s| DetectorId::Classifier(s).label());
        let scores: Vec<String> = scores.collect();
        let ridge = self.ridge;
        write!(
            f,
            "classifier trained here: {}; ridge {ridge}",
            scores.join(", ")
        )
    }
}

impl LadderFamily for ClassifierLadder {
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>> {
        let budget = fitting.budget;
        let prepared = (fitting.split_at)(budget.scratch_size)?;
        let classes = ClassIndex::of(&prepared).names.len();
        let model = ClassifierConfig::new(budget.scratch_size, classes);
        let config = ClassifierTrainingConfig::new(model)
            .with_epochs(budget.scratch_epochs)
            .with_batch_size(budget.batch_size)
            .with_seed(budget.seed);
        let (device, show) = (&fitting.device, fitting.show_progress);
        let run = trained_classifier(&fitting.runs_dir, &prepared, &config, device, show)?;
        let fit = ClassifierFit::of(&run, &prepared, self.ridge, device)?;
        let scores = self.scores.clone();
        Ok(Box::new(FittedClassifier { run, fit, scores }))
    }
}

/// The classifier's run and fit on the ladder.
struct FittedClassifier {
    run: TrainedClassifier,
    fit: ClassifierFit,
    scores: Vec<ClassifierScore>,
}

impl FittedFamily for FittedClassifier {
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        let scorer = |&score| Box::new(self.fit.scorer(&self.run, score)) as Box<dyn ImageScorer>;
        self.scores.iter().map(scorer).collect()
    }

    fn described(&self) -> String {
        let (model, record) = (&self.run.config.model, &self.run.record);
        let scores: Vec<&str> = (self.scores.iter())
            .map(|score| match score {
                ClassifierScore::Energy => "its energy",
                ClassifierScore::Mahalanobis => {
                    "the Mahalanobis distance of its penultimate features to the nearest class mean"
                }
            })
            .collect();
        format!(
            "a classifier of the {} normal classes trained from scratch on the train split at \
             {s}×{s} px ({}; validation accuracy {:.3})",
            model.classes,
            scores.join(" and "),
            record.validation_accuracy,
            s = model.image_size,
        )
    }

    fn facts(&self) -> Map<String, Value> {
        let record = &self.run.record;
        let facts = json!({
            "classifier_size": self.run.config.model.image_size,
            "classifier_validation_accuracy": record.validation_accuracy,
            "classifier_train_seconds": record.train_s,
        });
        facts.as_object().cloned().unwrap_or_default()
    }
}
