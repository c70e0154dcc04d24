//! What the transformation classifier offers the crate's registries: the
//! loader of its saved runs, which the kind enum
//! (`crate::analysis::RunKind`) maps the `geometric` kind to, and its
//! place on the ladder ([`GeometricLadder`]), which the ladder's
//! specification lists.

use std::fmt;
use std::path::Path;

use crate::backend::SelectedDevice;
use crate::error::Result;
use crate::geometric::{
    GeometricRecord, GeometricTrainingConfig, TrainedGeometric, trained_geometric,
};
use crate::scoring::{
    FittedFamily, ImageScorer, LadderFamily, LadderFitting, SavedFamily, SavedScorer,
};
use crate::training::Record;

/// The most epochs of the transformation classifier on the ladder: minutes
/// on a CPU at 64 px (20 epochs of 32 images × 4 rotations).
const LADDER_EPOCHS: usize = 20;

/// The width of the `smoke` profile's network: seconds, not minutes.
const SMOKE_WIDTH: usize = 8;

impl TrainedGeometric {
    /// The kind enum's entry: a geometric (self-supervised) run, scoring by
    /// the negative log-likelihood of its transformations.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: GeometricRecord::KIND,
        described: "a geometric (self-supervised)",
        scores: &["nll"],
        loader: load_saved,
    };
}

/// The geometric run in `dir` as a saved detector (by its one score, the
/// negative log-likelihood of its transformations).
fn load_saved(dir: &Path, _nll: &str, on: &SelectedDevice) -> Result<SavedScorer> {
    Ok(Box::new(TrainedGeometric::load(dir, &on.device)?))
}

/// The transformation classifier on the ladder: the four quarter-turns
/// (translations did worse; [`GeometricTrainingConfig::translation`]),
/// trained from scratch on the study's split at the budget's side, width
/// 32, up to 20 epochs; at `smoke` a width-8 network for one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometricLadder;

impl fmt::Display for GeometricLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("transformation classifier trained here (self-supervised): 4 rotations")
    }
}

impl LadderFamily for GeometricLadder {
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>> {
        let budget = fitting.budget;
        let prepared = (fitting.split_at)(budget.scratch_size)?;
        let config = GeometricTrainingConfig::new(prepared.cache.size()).with_seed(budget.seed);
        let config = if budget.smoke {
            config.with_width(SMOKE_WIDTH).with_epochs(1)
        } else {
            config.with_epochs(budget.scratch_epochs.min(LADDER_EPOCHS))
        };
        let (device, show) = (&fitting.device, fitting.show_progress);
        let run = trained_geometric(&fitting.runs_dir, &prepared, &config, device, show)?;
        Ok(Box::new(run))
    }
}

impl FittedFamily for TrainedGeometric {
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        vec![Box::new(self)]
    }

    fn described(&self) -> String {
        format!(
            "a classifier of which of the {} transformations ({}) was applied to an image, \
             trained from scratch at {s}×{s} px (self-supervised, no labels; its score the mean \
             negative log-probability of the true transformation; validation accuracy {:.3})",
            self.record.transformations,
            self.transformations().describe(),
            self.record.validation_accuracy,
            s = self.config.image_size,
        )
    }
}
