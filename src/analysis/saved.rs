//! Any saved detector, loaded from its run directory by the run's kind:
//! what `score --run` and the notebooks' verdict cells judge new images
//! with, through the one contract [`ImageScorer`].

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::autoencoder::Trained;
use crate::backend::{SelectedDevice, device_name};
use crate::classifier::{ClassifierFit, ClassifierScore, TrainedClassifier};
use crate::data::Prepared;
use crate::error::{Error, Result};
use crate::features::{
    AnomalyMap, DEFAULT_RIDGE, EfficientNetLite, FeatureRun, FeatureScore, PatchCoreRun, PatchScore,
};
use crate::geometric::TrainedGeometric;
use crate::scoring::{Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages};
use crate::training::RunKind;

/// A detector loaded from a run directory, owning what it scores with, on
/// the device it was loaded on: it scores there, and asked to score on
/// another device it refuses with an error naming both.
pub struct SavedDetector {
    loaded: Loaded,
    device: Device,
}

/// What each kind of run loads.
// Loaded once and kept in place: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Loaded {
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
    /// The run in `dir` as a detector on `selected`'s device, by the kind
    /// its `run.json` names ([`RunKind::of`]): `detector` names its score
    /// (an autoencoder's `error`; the classifier's `mahalanobis` or
    /// `energy`; the features' `knn` or `mahalanobis`; PatchCore's `max`;
    /// the geometric run's `nll`), `None` takes the kind's default (the
    /// first of each).
    pub fn load(dir: &Path, detector: Option<&str>, selected: &SelectedDevice) -> Result<Self> {
        let device = &selected.device;
        let loaded = match RunKind::of(dir)? {
            RunKind::Autoencoder => {
                if let Some(other) = detector.filter(|&d| d != "error") {
                    return Err(Error::InvalidParameter(format!(
                        "an autoencoder run scores by its `error`, not `{other}`"
                    )));
                }
                Loaded::Autoencoder(Trained::load(dir, selected)?)
            }
            RunKind::Classifier => {
                let score = detector.unwrap_or("mahalanobis").parse()?;
                let run = TrainedClassifier::load(dir, device)?;
                let fit = match ClassifierFit::saved(&run)? {
                    Some(fit) => fit,
                    None => ClassifierFit::of(&run, &Prepared::open(dir)?, DEFAULT_RIDGE, device)?,
                };
                Loaded::Classifier { run, fit, score }
            }
            RunKind::Features => {
                let run = FeatureRun::load(dir)?;
                Loaded::Features {
                    score: detector.unwrap_or("knn").parse()?,
                    extractor: EfficientNetLite::pretrained(run.backbone, device)?,
                    run,
                }
            }
            RunKind::PatchCore => {
                let run = PatchCoreRun::load(dir, device)?;
                Loaded::PatchCore {
                    score: detector.unwrap_or("max").parse()?,
                    extractor: EfficientNetLite::pretrained(run.backbone, device)?,
                    run,
                }
            }
            RunKind::Geometric => {
                if let Some(other) = detector.filter(|&d| d != "nll") {
                    return Err(Error::InvalidParameter(format!(
                        "a geometric run scores by the negative log-likelihood of its \
                         transformations (`nll`), not `{other}`"
                    )));
                }
                Loaded::Geometric(TrainedGeometric::load(dir, device)?)
            }
        };
        let device = device.clone();
        Ok(Self { loaded, device })
    }

    /// Which kind of run it was loaded from.
    pub fn kind(&self) -> RunKind {
        match &self.loaded {
            Loaded::Autoencoder(_) => RunKind::Autoencoder,
            Loaded::Classifier { .. } => RunKind::Classifier,
            Loaded::Features { .. } => RunKind::Features,
            Loaded::PatchCore { .. } => RunKind::PatchCore,
            Loaded::Geometric(_) => RunKind::Geometric,
        }
    }

    /// The device it was loaded on, the one it scores on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `Ok` when `device` is the one it was loaded on.
    fn on(&self, device: &Device) -> Result<()> {
        if *device == self.device {
            return Ok(());
        }
        Err(Error::InvalidParameter(format!(
            "{} was loaded on {} and cannot score on {}: load it on the device it is to score on",
            self.id(),
            device_name(&self.device),
            device_name(device)
        )))
    }

    /// The anomaly map of each image file and the side the maps were
    /// computed at, for a detector that has them (PatchCore).
    pub fn anomaly_maps(&self, paths: &[PathBuf]) -> Result<(Vec<AnomalyMap>, usize)> {
        match &self.loaded {
            Loaded::PatchCore { run, extractor, .. } => {
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
        match &self.loaded {
            Loaded::Autoencoder(run) => Box::new(run),
            Loaded::Classifier { run, fit, score } => Box::new(fit.scorer(run, *score)),
            Loaded::Features {
                run,
                extractor,
                score,
            } => Box::new(run.scorer(extractor, *score)),
            Loaded::PatchCore {
                run,
                extractor,
                score,
            } => Box::new(run.scorer(extractor, *score)),
            Loaded::Geometric(run) => Box::new(run),
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

    /// On the device it was loaded on; another is an error.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        self.on(device)?;
        self.scorer().ladder_scores(images, device)
    }

    /// On the device it was loaded on; another is an error.
    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        self.on(device)?;
        self.scorer().score_files(paths, device)
    }

    /// On the device it was loaded on; another is an error.
    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        self.on(device)?;
        self.scorer().calibration(percentile, device)
    }
}
