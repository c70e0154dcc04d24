//! Any saved detector, loaded from its run directory by the run's kind:
//! what `score --run` and the notebooks' verdict cells judge new images
//! with, through the one contract [`ImageScorer`].

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::autoencoder::Trained;
use crate::backend::SelectedDevice;
use crate::classifier::{ClassifierFit, ClassifierScore, TrainedClassifier};
use crate::data::Prepared;
use crate::error::{Error, Result};
use crate::features::{
    AnomalyMap, DEFAULT_RIDGE, EfficientNetLite, FeatureRun, FeatureScore, PatchCoreRun, PatchScore,
};
use crate::geometric::TrainedGeometric;
use crate::scoring::{Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages};
use crate::training::RunKind;

/// A detector loaded from a run directory, owning what it scores with.
// Loaded once and kept in place: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum SavedDetector {
    /// An autoencoder run, scoring by its reconstruction error.
    Autoencoder(Trained),
    /// The label-aware classifier, with the detectors fitted on its
    /// features.
    Classifier {
        run: TrainedClassifier,
        fit: ClassifierFit,
        score: ClassifierScore,
    },
    /// Detectors on pretrained features, with the feature extractor.
    Features {
        run: FeatureRun,
        extractor: EfficientNetLite,
        score: FeatureScore,
    },
    /// PatchCore's memory bank, with the feature extractor.
    PatchCore {
        run: PatchCoreRun,
        extractor: EfficientNetLite,
        score: PatchScore,
    },
    /// The self-supervised transformation classifier, scoring by the
    /// negative mean log-probability of the true transformations.
    Geometric(TrainedGeometric),
}

impl SavedDetector {
    /// The run in `dir` as a detector: `detector` names its score (an
    /// autoencoder's `error`; the classifier's `mahalanobis` or `energy`;
    /// the features' `knn` or `mahalanobis`; PatchCore's `max`; the
    /// geometric run's `nll`), `None` takes the kind's default (the first
    /// of each).
    pub fn load(dir: &Path, detector: Option<&str>, selected: &SelectedDevice) -> Result<Self> {
        let device = &selected.device;
        match RunKind::of(dir)? {
            RunKind::Autoencoder => {
                if let Some(other) = detector.filter(|&d| d != "error") {
                    return Err(Error::InvalidParameter(format!(
                        "an autoencoder run scores by its `error`, not `{other}`"
                    )));
                }
                Ok(Self::Autoencoder(Trained::load(dir, selected)?))
            }
            RunKind::Classifier => {
                let score = detector.unwrap_or("mahalanobis").parse()?;
                let run = TrainedClassifier::load(dir, device)?;
                let fit = match ClassifierFit::saved(&run)? {
                    Some(fit) => fit,
                    None => ClassifierFit::of(&run, &Prepared::open(dir)?, DEFAULT_RIDGE, device)?,
                };
                Ok(Self::Classifier { run, fit, score })
            }
            RunKind::Features => {
                let run = FeatureRun::load(dir)?;
                Ok(Self::Features {
                    score: detector.unwrap_or("knn").parse()?,
                    extractor: EfficientNetLite::pretrained(run.backbone, device)?,
                    run,
                })
            }
            RunKind::PatchCore => {
                let run = PatchCoreRun::load(dir, device)?;
                Ok(Self::PatchCore {
                    score: detector.unwrap_or("max").parse()?,
                    extractor: EfficientNetLite::pretrained(run.backbone, device)?,
                    run,
                })
            }
            RunKind::Geometric => {
                if let Some(other) = detector.filter(|&d| d != "nll") {
                    return Err(Error::InvalidParameter(format!(
                        "a geometric run scores by the negative log-likelihood of its \
                         transformations (`nll`), not `{other}`"
                    )));
                }
                Ok(Self::Geometric(TrainedGeometric::load(dir, device)?))
            }
        }
    }

    /// The anomaly map of each image file and the side the maps were
    /// computed at, for a detector that has them (PatchCore).
    pub fn anomaly_maps(&self, paths: &[PathBuf]) -> Result<(Vec<AnomalyMap>, usize)> {
        match self {
            Self::PatchCore { run, extractor, .. } => {
                Ok((run.maps(extractor, paths, false)?, run.record.input_size))
            }
            _ => Err(Error::InvalidParameter(format!(
                "{} has no anomaly maps: a PatchCore run has them",
                self.id()
            ))),
        }
    }

    /// The contract, borrowed from what this detector owns.
    fn scorer(&self) -> Box<dyn ImageScorer + '_> {
        match self {
            Self::Autoencoder(run) => Box::new(run),
            Self::Classifier { run, fit, score } => Box::new(fit.scorer(run, *score)),
            Self::Features {
                run,
                extractor,
                score,
            } => Box::new(run.scorer(extractor, *score)),
            Self::PatchCore {
                run,
                extractor,
                score,
            } => Box::new(run.scorer(extractor, *score)),
            Self::Geometric(run) => Box::new(run),
        }
    }
}

impl ImageScorer for SavedDetector {
    fn id(&self) -> DetectorId {
        self.scorer().id()
    }

    fn pretrained(&self) -> bool {
        self.scorer().pretrained()
    }

    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        self.scorer().ladder_scores(images, device)
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        self.scorer().score_files(paths, device)
    }

    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        self.scorer().calibration(percentile, device)
    }
}
