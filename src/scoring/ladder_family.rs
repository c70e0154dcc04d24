//! What every family on the ladder implements, so that the ladder's
//! specification (`crate::analysis::LadderSpec`) fits them all alike:
//! a [`LadderFamily`] (the family's settings, one line of the spec) fits
//! its detectors from a [`LadderFitting`] (what the study lends it) into a
//! [`FittedFamily`] (what scores).

use std::fmt;
use std::path::PathBuf;

use burn::tensor::Device;
use serde_json::{Map, Value};

use crate::data::Prepared;
use crate::error::Result;
use crate::scoring::ImageScorer;

/// How large the ladder's fits are, the study's profile in numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LadderBudget {
    /// The side of the networks trained from scratch, px.
    pub scratch_size: usize,
    /// Their most epochs (early stopping ends them sooner).
    pub scratch_epochs: usize,
    pub batch_size: usize,
    /// The pretrained backbones' input side for Lite0, px; the others
    /// scale it as their native sides are to Lite0's.
    pub feature_size: usize,
    /// The seed of every network trained from scratch.
    pub seed: u64,
    /// A run that only checks the pipeline (the `smoke` profile): the
    /// families take their smallest settings.
    pub smoke: bool,
}

/// What the study lends each family to fit (or load by key) its
/// detectors.
pub struct LadderFitting<'a> {
    /// Where the runs go: each is found again by its key.
    pub runs_dir: PathBuf,
    /// The dataset root.
    pub data_dir: PathBuf,
    /// Where caches over the whole dataset go (feature banks).
    pub cache_dir: PathBuf,
    pub device: Device,
    pub show_progress: bool,
    /// The study's split at its image size: what the detectors are fitted
    /// on, its test split what the ladder compares them on.
    pub prepared: &'a Prepared,
    /// The same split at another side (prepared once, then found again).
    pub split_at: Box<dyn Fn(usize) -> Result<Prepared> + 'a>,
    pub budget: LadderBudget,
}

/// A family's place on the ladder: its settings, shown as one line of the
/// spec, which fit its detectors.
pub trait LadderFamily: fmt::Display {
    /// The family's detectors fitted as `fitting` lends, or loaded when a
    /// run of the same key is on disk.
    fn fit(&self, fitting: &LadderFitting) -> Result<Box<dyn FittedFamily>>;
}

/// A family's detectors, fitted, owning what they score with.
pub trait FittedFamily {
    /// Its detectors, in their order on the ladder.
    fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>>;

    /// What it is, with the facts of this fit, as a clause of the ladder's
    /// text: `a classifier of the 101 normal classes ... (validation
    /// accuracy 0.341)`.
    fn described(&self) -> String;

    /// What `metrics.json` records of this fit beside the ladder (the
    /// classifier's validation accuracy, a feature bank's seconds);
    /// nothing by default. Merged across families by [`merged_facts`].
    fn facts(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// Every family's [`FittedFamily::facts`], in order, as one object: lists
/// under one name joined (each backbone's bank in `banks`), and of any
/// other value the first family's kept.
pub fn merged_facts<'a>(
    families: impl IntoIterator<Item = &'a dyn FittedFamily>,
) -> Map<String, Value> {
    let mut merged = Map::new();
    for (name, value) in families.into_iter().flat_map(|f| f.facts()) {
        match (merged.get_mut(&name), value) {
            (Some(Value::Array(list)), Value::Array(more)) => list.extend(more),
            (Some(_), _) => {}
            (None, value) => {
                merged.insert(name, value);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Facts(Value);

    impl FittedFamily for Facts {
        fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
            Vec::new()
        }

        fn described(&self) -> String {
            String::new()
        }

        fn facts(&self) -> Map<String, Value> {
            self.0.as_object().cloned().unwrap_or_default()
        }
    }

    #[test]
    fn facts_merge_lists_and_keep_the_first_of_anything_else() {
        let families = [
            Facts(json!({"accuracy": 0.3})),
            Facts(json!({"size": 224, "banks": [{"backbone": "Lite0"}]})),
            Facts(json!({"size": 240, "banks": [{"backbone": "Lite1"}]})),
        ];
        let merged = merged_facts(families.iter().map(|f| f as &dyn FittedFamily));
        assert_eq!(
            Value::Object(merged),
            json!({"accuracy": 0.3, "size": 224,
                   "banks": [{"backbone": "Lite0"}, {"backbone": "Lite1"}]})
        );
    }
}
