//! What a family whose detectors are saved as runs tells the crate: its
//! [`SavedFamily`] (the tag its runs write, its kind in words, and how one
//! of its runs loads as a detector), which the kind enum above the
//! families (`crate::analysis::RunKind`) maps each kind to; and
//! [`OwnedScorer`], a detector that owns its parts and lends the contract
//! from them, which most families' loaders return.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::backend::SelectedDevice;
use crate::error::{Error, Result};
use crate::scoring::{
    AnomalyMap, Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Localiser,
};

/// A saved detector: any family's, owning what it scores with.
pub type SavedScorer = Box<dyn ImageScorer>;

/// Loads the run in a folder as a detector on a device, judging by
/// `score`, one of the family's [`SavedFamily::scores`].
pub type LoadSaved = fn(dir: &Path, score: &str, on: &SelectedDevice) -> Result<SavedScorer>;

/// One family of saved detectors, as the kind enum sees it.
#[derive(Debug, Clone, Copy)]
pub struct SavedFamily {
    /// The tag its runs write as `run.json`'s `kind` (its record's
    /// `crate::training::Record::KIND`).
    pub tag: &'static str,
    /// The kind in words, before "run": `the classifier's`, `a PatchCore`.
    pub described: &'static str,
    /// Its scores, by the names `score --detector` takes; the first is the
    /// default.
    pub scores: &'static [&'static str],
    /// Loads a run of the family, judging by one of its scores.
    pub loader: LoadSaved,
}

impl SavedFamily {
    /// The run in `dir` as a detector on `on`'s device, judging by `score`
    /// (`None`: the default); an error names the family's scores when
    /// `score` is none of them.
    pub fn load(
        &self,
        dir: &Path,
        score: Option<&str>,
        on: &SelectedDevice,
    ) -> Result<SavedScorer> {
        let score = score.unwrap_or(self.scores[0]);
        if !self.scores.contains(&score) {
            let scores: Vec<String> = self.scores.iter().map(|s| format!("`{s}`")).collect();
            return Err(Error::InvalidParameter(format!(
                "{} run scores by {}, not `{score}`",
                self.described,
                scores.join(" or ")
            )));
        }
        (self.loader)(dir, score, on)
    }
}

/// The contract, borrowed from a part list `P` that a detector owns.
pub type Lend<P> = for<'a> fn(&'a P) -> Box<dyn ImageScorer + 'a>;

/// A detector that owns its parts (a run, its fit, its feature extractor,
/// the chosen score) and lends the contract from them: what a family's
/// borrowing scorer (`FeatureScorer<'a>`, say) becomes once loaded.
pub struct OwnedScorer<P> {
    parts: P,
    lend: Lend<P>,
}

impl<P: 'static> OwnedScorer<P> {
    /// `parts`, scoring through `lend`, as a saved detector.
    pub fn saved(parts: P, lend: Lend<P>) -> SavedScorer {
        Box::new(Self { parts, lend })
    }
}

impl<P> OwnedScorer<P> {
    fn lent(&self) -> Box<dyn ImageScorer + '_> {
        (self.lend)(&self.parts)
    }
}

impl<P> ImageScorer for OwnedScorer<P> {
    fn id(&self) -> DetectorId {
        self.lent().id()
    }

    fn pretrained(&self) -> bool {
        self.lent().pretrained()
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        self.lent().score_files(paths, device)
    }

    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        self.lent().calibration(percentile, device)
    }

    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        self.lent().ladder_scores(images, device)
    }

    /// Itself, when the lent detector localises.
    fn localiser(&self) -> Option<&dyn Localiser> {
        let localises = self.lent().localiser().is_some();
        localises.then_some(self as &dyn Localiser)
    }
}

impl<P> Localiser for OwnedScorer<P> {
    fn anomaly_maps(&self, paths: &[PathBuf]) -> Result<(Vec<AnomalyMap>, usize)> {
        let lent = self.lent();
        match lent.localiser() {
            Some(localiser) => localiser.anomaly_maps(paths),
            None => Err(no_maps(&lent.id())),
        }
    }
}

/// The error of asking `id` for anomaly maps it does not make.
pub fn no_maps(id: &DetectorId) -> Error {
    Error::InvalidParameter(format!(
        "{id} has no anomaly maps: a detector that localises what it finds (PatchCore) has them"
    ))
}
