//! What the colour histogram offers the crate's registries: the loader of
//! its saved runs, which the kind enum (`crate::analysis::RunKind`) maps
//! the `histogram` kind to, and its place on the ladder
//! ([`HistogramLadder`]), which the ladder's specification lists.

use std::fmt;
use std::path::Path;

use crate::backend::SelectedDevice;
use crate::error::Result;
use crate::histogram::{HistogramRecord, HistogramRun};
use crate::scoring::{
    FittedFamily, ImageScorer, LadderFamily, LadderFitting, SavedFamily, SavedScorer,
};
use crate::training::Record;

/// Bins per channel of the ladder's histograms: 512 colours, coarse
/// enough that a few thousand pixels fill them.
pub const DEFAULT_BINS: usize = 8;

impl HistogramRun {
    /// The kind enum's entry: a colour-histogram run, scoring by its kNN
    /// distance.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: HistogramRecord::KIND,
        described: "a colour-histogram",
        scores: &["knn"],
        loader: load_saved,
    };
}

/// The histogram run in `dir` as a saved detector (by its one score, the
/// kNN distance).
fn load_saved(dir: &Path, _knn: &str, _: &SelectedDevice) -> Result<SavedScorer> {
    Ok(Box::new(HistogramRun::load(dir)?))
}

/// The colour histogram on the ladder: `bins` per channel of the study's
/// split (at its image side), the mean distance to the `k` nearest train
/// images.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramLadder {
    pub bins: usize,
    pub k: usize,
}

impl fmt::Display for HistogramLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bins, k) = (self.bins, self.k);
        write!(
            f,
            "colour histogram: {bins} bins per channel, kNN (k = {k})"
        )
    }
}

impl LadderFamily for HistogramLadder {
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>> {
        let run = HistogramRun::fit(&fitting.runs_dir, fitting.prepared, self.bins, self.k)?;
        Ok(Box::new(run))
    }
}

impl FittedFamily for HistogramRun {
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        vec![Box::new(self)]
    }

    fn described(&self) -> String {
        let (r, s) = (&self.record, self.record.image_size);
        format!(
            "each image's joint colour histogram ({} bins per channel at {s}×{s} px, no network) \
             scored by its distance (1 − the Bhattacharyya coefficient) to the {} nearest train \
             images'",
            r.bins, r.k,
        )
    }
}
