//! What the transformation classifier offers the crate's registries: the
//! loader of its saved runs, which the kind enum
//! (`crate::analysis::RunKind`) maps the `geometric` kind to.

use std::path::Path;

use crate::backend::SelectedDevice;
use crate::error::Result;
use crate::geometric::{GeometricRecord, TrainedGeometric};
use crate::scoring::{SavedFamily, SavedScorer, only_score};
use crate::training::Record;

impl TrainedGeometric {
    /// The kind enum's entry: a geometric (self-supervised) run, scoring by
    /// the negative log-likelihood of its transformations.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: GeometricRecord::KIND,
        described: "a geometric (self-supervised)",
        load: load_saved,
    };
}

/// The geometric run in `dir` as a saved detector.
fn load_saved(dir: &Path, score: Option<&str>, on: &SelectedDevice) -> Result<SavedScorer> {
    only_score(
        score,
        "nll",
        "a geometric run scores by the negative log-likelihood of its transformations (`nll`)",
    )?;
    Ok(Box::new(TrainedGeometric::load(dir, &on.device)?))
}
