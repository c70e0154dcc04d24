//! What this folder's two families offer the crate's registries: the
//! loaders of their saved runs, which the kind enum
//! (`crate::analysis::RunKind`) maps the `features` and `patchcore` kinds
//! to, and their places on the ladder ([`FeatureLadder`],
//! [`PatchCoreLadder`]), which the ladder's specification lists.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::backend::SelectedDevice;
use crate::error::Result;
use crate::features::{
    Backbone, EfficientNetLite, FeatureBank, FeatureRecord, FeatureRun, FeatureScore,
    PatchCoreRecord, PatchCoreRun, PatchScore,
};
use crate::scoring::{
    FittedFamily, ImageScorer, LadderFamily, LadderFitting, OwnedScorer, SavedFamily, SavedScorer,
};
use crate::training::Record;

impl FeatureRun {
    /// The kind enum's entry: a run of detectors on pretrained features,
    /// scoring by `knn` (the default) or `mahalanobis`.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: FeatureRecord::KIND,
        described: "the pretrained features'",
        scores: &["knn", "mahalanobis"],
        loader: load_features,
    };
}

impl PatchCoreRun {
    /// The kind enum's entry: a PatchCore run, scoring by `max` (the
    /// default) or `mean`, with anomaly maps.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: PatchCoreRecord::KIND,
        described: "a PatchCore",
        scores: &["max", "mean"],
        loader: load_patchcore,
    };
}

/// The feature run in `dir` as a saved detector, with its backbone.
fn load_features(dir: &Path, score: &str, on: &SelectedDevice) -> Result<SavedScorer> {
    let run = FeatureRun::load(dir)?;
    let score: FeatureScore = score.parse()?;
    let extractor = EfficientNetLite::pretrained(run.backbone, &on.device)?;
    Ok(OwnedScorer::saved(
        (run, extractor, score),
        |(run, extractor, score)| Box::new(run.scorer(extractor, *score)),
    ))
}

/// The PatchCore run in `dir` as a saved detector, its memory bank on
/// `on`'s device, with its backbone.
fn load_patchcore(dir: &Path, score: &str, on: &SelectedDevice) -> Result<SavedScorer> {
    let run = PatchCoreRun::load(dir, &on.device)?;
    let score: PatchScore = score.parse()?;
    let extractor = EfficientNetLite::pretrained(run.backbone, &on.device)?;
    Ok(OwnedScorer::saved(
        (run, extractor, score),
        |(run, extractor, score)| Box::new(run.scorer(extractor, *score)),
    ))
}

/// Detectors on a backbone's pooled features on the ladder: its bank of
/// every image at the budget's side for it, the kNN with `k` neighbours
/// and the Gaussian with `ridge` fitted on the study's split, scored by
/// `scores`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureLadder {
    pub backbone: Backbone,
    pub scores: Vec<FeatureScore>,
    /// Neighbours of the kNN score.
    pub k: usize,
    /// The ridge added to the Gaussian's covariance (fitted, and keying
    /// the run, whichever scores are shown).
    pub ridge: f64,
}

impl fmt::Display for FeatureLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scores: Vec<String> = (self.scores.iter())
            .map(|score| match score {
                FeatureScore::Knn => format!("kNN (k = {})", self.k),
                FeatureScore::Mahalanobis => format!("Gaussian (ridge {})", self.ridge),
            })
            .collect();
        write!(
            f,
            "{}'s pooled features: {}",
            self.backbone,
            scores.join(", ")
        )
    }
}

impl LadderFamily for FeatureLadder {
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>> {
        let (device, show) = (&fitting.device, fitting.show_progress);
        let extractor = EfficientNetLite::pretrained(self.backbone, device)?;
        let side = self.backbone.side_at(fitting.budget.feature_size);
        let (data_dir, cache_dir) = (&fitting.data_dir, &fitting.cache_dir);
        let bank = FeatureBank::of_dataset(&extractor, data_dir, side, cache_dir, device, show)?;
        let run = FeatureRun::fit(
            &fitting.runs_dir,
            &bank,
            fitting.prepared,
            self.k,
            self.ridge,
        )?;
        let scores = self.scores.clone();
        Ok(Box::new(FittedFeatures {
            extractor,
            bank,
            run,
            scores,
        }))
    }
}

/// A backbone's feature bank and the detectors fitted on it, on the
/// ladder.
struct FittedFeatures {
    extractor: EfficientNetLite,
    bank: FeatureBank,
    run: FeatureRun,
    scores: Vec<FeatureScore>,
}

impl FittedFamily for FittedFeatures {
    /// Each score read from the bank (the run caches its scores).
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        let scorer = |&score| {
            let scorer = self.run.scorer(&self.extractor, score);
            Box::new(scorer.with_bank(&self.bank)) as Box<dyn ImageScorer>
        };
        self.scores.iter().map(scorer).collect()
    }

    fn described(&self) -> String {
        let bank = &self.bank;
        let scores: Vec<String> = (self.scores.iter())
            .map(|score| match score {
                FeatureScore::Knn => format!(
                    "the mean cosine distance to the {} nearest train images",
                    self.run.record.k
                ),
                FeatureScore::Mahalanobis => {
                    "the Mahalanobis distance to a Gaussian fitted on them".into()
                }
            })
            .collect();
        format!(
            "ImageNet-pretrained {} features ((x − 127) / 128; at {} px, all {} images in {:.0} \
             s) scored by {}",
            bank.backbone,
            bank.input_size,
            bank.paths.len(),
            bank.seconds,
            scores.join(" and by "),
        )
    }

    /// The bank's side and seconds (`feature_size` and `feature_seconds`
    /// are the first backbone's), and the bank in `banks`.
    fn facts(&self) -> Map<String, Value> {
        let bank = &self.bank;
        let facts = json!({
            "feature_size": bank.input_size,
            "feature_seconds": bank.seconds,
            "banks": [{
                "backbone": bank.backbone,
                "size": bank.input_size,
                "images": bank.paths.len(),
                "seconds": bank.seconds,
            }],
        });
        facts.as_object().cloned().unwrap_or_default()
    }
}

/// PatchCore on a backbone's patch features on the ladder: its memory bank
/// the `coreset_fraction` of the study's train patches, at the budget's
/// side for the backbone, scored by `scores`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchCoreLadder {
    pub backbone: Backbone,
    pub scores: Vec<PatchScore>,
    pub coreset_fraction: f64,
}

impl fmt::Display for PatchCoreLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scores: Vec<&str> = (self.scores.iter())
            .map(|score| match score {
                PatchScore::Max => "max",
                PatchScore::Mean => "mean",
            })
            .collect();
        write!(
            f,
            "PatchCore on {}'s patches, {} % coreset: {}",
            self.backbone,
            100.0 * self.coreset_fraction,
            scores.join(", ")
        )
    }
}

impl LadderFamily for PatchCoreLadder {
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>> {
        let (device, show) = (&fitting.device, fitting.show_progress);
        let extractor = EfficientNetLite::pretrained(self.backbone, device)?;
        let side = self.backbone.side_at(fitting.budget.feature_size);
        let (prepared, fraction) = (fitting.prepared, self.coreset_fraction);
        let runs = &fitting.runs_dir;
        let run = PatchCoreRun::fit(runs, &extractor, prepared, side, fraction, device, show)?;
        let scores = self.scores.clone();
        Ok(Box::new(FittedPatchCore {
            extractor,
            run,
            scores,
        }))
    }
}

/// A PatchCore memory bank and its backbone, on the ladder.
struct FittedPatchCore {
    extractor: EfficientNetLite,
    run: PatchCoreRun,
    scores: Vec<PatchScore>,
}

impl FittedFamily for FittedPatchCore {
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        let scorer =
            |&score| Box::new(self.run.scorer(&self.extractor, score)) as Box<dyn ImageScorer>;
        self.scores.iter().map(scorer).collect()
    }

    fn described(&self) -> String {
        let mean = if self.scores.contains(&PatchScore::Mean) {
            " or the mean"
        } else {
            ""
        };
        format!(
            "PatchCore on {}'s patch features at {} px (a memory bank of {} % of the train \
             patches; an image's score its farthest patch's distance{mean})",
            self.run.backbone,
            self.run.record.input_size,
            100.0 * self.run.record.coreset_fraction,
        )
    }
}
