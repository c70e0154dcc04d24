//! Any saved detector, loaded from its run directory by the run's kind:
//! what `score --run` and the notebooks' verdict cells judge new images
//! with, through the one contract [`ImageScorer`].

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::analysis::RunKind;
use crate::backend::{SelectedDevice, device_name};
use crate::error::{Error, Result};
use crate::scoring::{
    AnomalyMap, Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Localiser,
    SavedScorer, no_maps,
};

/// A detector loaded from a run directory, owning what it scores with, on
/// the device it was loaded on: it scores there, and asked to score on
/// another device it refuses with an error naming both.
pub struct SavedDetector {
    kind: RunKind,
    scorer: SavedScorer,
    device: Device,
}

impl SavedDetector {
    /// The run in `dir` as a detector on `selected`'s device, by the kind
    /// its `run.json` names ([`RunKind::of`]), loaded by its family
    /// ([`RunKind::load`]): `detector` names one of the kind's scores
    /// ([`RunKind::scores`]), `None` takes the first.
    pub fn load(dir: &Path, detector: Option<&str>, selected: &SelectedDevice) -> Result<Self> {
        let kind = RunKind::of(dir)?;
        Ok(Self {
            kind,
            scorer: kind.load(dir, detector, selected)?,
            device: selected.device.clone(),
        })
    }

    /// Which kind of run it was loaded from.
    pub fn kind(&self) -> RunKind {
        self.kind
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
        match self.scorer.localiser() {
            Some(localiser) => localiser.anomaly_maps(paths),
            None => Err(no_maps(&self.id())),
        }
    }
}

impl ImageScorer for SavedDetector {
    fn id(&self) -> DetectorId {
        self.scorer.id()
    }

    fn pretrained(&self) -> bool {
        self.scorer.pretrained()
    }

    /// On the device it was loaded on; another is an error.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        self.on(device)?;
        self.scorer.ladder_scores(images, device)
    }

    /// On the device it was loaded on; another is an error.
    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        self.on(device)?;
        self.scorer.score_files(paths, device)
    }

    /// On the device it was loaded on; another is an error.
    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        self.on(device)?;
        self.scorer.calibration(percentile, device)
    }

    fn localiser(&self) -> Option<&dyn Localiser> {
        self.scorer.localiser()
    }
}
