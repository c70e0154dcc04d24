//! What this folder's two families offer the crate's registries: the
//! loaders of their saved runs, which the kind enum
//! (`crate::analysis::RunKind`) maps the `features` and `patchcore` kinds
//! to.

use std::path::Path;

use crate::backend::SelectedDevice;
use crate::error::Result;
use crate::features::{
    EfficientNetLite, FeatureRecord, FeatureRun, FeatureScore, PatchCoreRecord, PatchCoreRun,
    PatchScore,
};
use crate::scoring::{OwnedScorer, SavedFamily, SavedScorer};
use crate::training::Record;

impl FeatureRun {
    /// The kind enum's entry: a run of detectors on pretrained features,
    /// scoring by `knn` (the default) or `mahalanobis`.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: FeatureRecord::KIND,
        described: "the pretrained features'",
        load: load_features,
    };
}

impl PatchCoreRun {
    /// The kind enum's entry: a PatchCore run, scoring by `max` (the
    /// default) or `mean`, with anomaly maps.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: PatchCoreRecord::KIND,
        described: "a PatchCore",
        load: load_patchcore,
    };
}

/// The feature run in `dir` as a saved detector, with its backbone.
fn load_features(dir: &Path, score: Option<&str>, on: &SelectedDevice) -> Result<SavedScorer> {
    let run = FeatureRun::load(dir)?;
    let score: FeatureScore = score.unwrap_or("knn").parse()?;
    let extractor = EfficientNetLite::pretrained(run.backbone, &on.device)?;
    Ok(OwnedScorer::saved(
        (run, extractor, score),
        |(run, extractor, score)| Box::new(run.scorer(extractor, *score)),
    ))
}

/// The PatchCore run in `dir` as a saved detector, its memory bank on
/// `on`'s device, with its backbone.
fn load_patchcore(dir: &Path, score: Option<&str>, on: &SelectedDevice) -> Result<SavedScorer> {
    let run = PatchCoreRun::load(dir, &on.device)?;
    let score: PatchScore = score.unwrap_or("max").parse()?;
    let extractor = EfficientNetLite::pretrained(run.backbone, &on.device)?;
    Ok(OwnedScorer::saved(
        (run, extractor, score),
        |(run, extractor, score)| Box::new(run.scorer(extractor, *score)),
    ))
}
