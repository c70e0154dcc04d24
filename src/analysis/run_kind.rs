//! The kind enum, [`RunKind`]: every family whose detectors are saved as
//! runs, each mapped here, and only here, to its family's
//! [`SavedFamily`] (the tag its runs write, its loader). It sits above the
//! families so that it can name them; below them, a kind is its tag
//! (`crate::training::Record::KIND`).

use std::fmt;
use std::path::Path;

use crate::autoencoder::Trained;
use crate::backend::SelectedDevice;
use crate::classifier::TrainedClassifier;
use crate::error::{Error, Result};
use crate::features::{FeatureRun, PatchCoreRun};
use crate::geometric::TrainedGeometric;
use crate::histogram::HistogramRun;
use crate::scoring::{SavedFamily, SavedScorer};
use crate::training::{RUN_FILE, recorded_kind};

/// Which family of detector a run directory holds: `run.json`'s `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// An autoencoder ([`crate::autoencoder::Trained`]).
    Autoencoder,
    /// The label-aware classifier ([`crate::classifier::TrainedClassifier`]).
    Classifier,
    /// The self-supervised transformation classifier
    /// ([`crate::geometric::TrainedGeometric`]).
    Geometric,
    /// Detectors on pretrained features ([`crate::features::FeatureRun`]).
    Features,
    /// PatchCore's memory bank ([`crate::features::PatchCoreRun`]).
    PatchCore,
    /// Colour histograms ([`crate::histogram::HistogramRun`]).
    Histogram,
}

impl RunKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Autoencoder,
        Self::Classifier,
        Self::Geometric,
        Self::Features,
        Self::PatchCore,
        Self::Histogram,
    ];

    /// The kind's family: its tag, its words and its loader.
    fn family(self) -> SavedFamily {
        match self {
            Self::Autoencoder => Trained::SAVED,
            Self::Classifier => TrainedClassifier::SAVED,
            Self::Geometric => TrainedGeometric::SAVED,
            Self::Features => FeatureRun::SAVED,
            Self::PatchCore => PatchCoreRun::SAVED,
            Self::Histogram => HistogramRun::SAVED,
        }
    }

    /// The tag `run.json` writes.
    pub fn tag(self) -> &'static str {
        self.family().tag
    }

    /// The kind in words, before "run": `the classifier's`, `a PatchCore`.
    pub fn described(self) -> &'static str {
        self.family().described
    }

    /// Its detectors' scores, by the names `score --detector` takes; the
    /// first is the default.
    pub fn scores(self) -> &'static [&'static str] {
        self.family().scores
    }

    /// The kind of the run in `run_dir`: its record's `kind`; for a record
    /// written before the tag, the legacy guess
    /// ([`crate::training::legacy_kind`]). An error names a tag this crate
    /// does not know, and the ones it does.
    pub fn of(run_dir: &Path) -> Result<Self> {
        let tag = recorded_kind(run_dir)?;
        tag.parse().map_err(|e: Error| {
            let path = run_dir.join(RUN_FILE);
            Error::InvalidParameter(format!("{}: {e}", path.display()))
        })
    }

    /// The run in `dir`, of this kind, as a detector on `on`'s device:
    /// `score` names one of [`Self::scores`], `None` the first.
    pub fn load(self, dir: &Path, score: Option<&str>, on: &SelectedDevice) -> Result<SavedScorer> {
        self.family().load(dir, score, on)
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl std::str::FromStr for RunKind {
    type Err = Error;

    /// The kind tagged `tag`.
    fn from_str(tag: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.tag() == tag)
            .ok_or_else(|| {
                let tags = Self::ALL.map(Self::tag).join(", ");
                Error::InvalidParameter(format!("`kind` {tag:?} is none of this crate's ({tags})"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_snake_case_tag_which_parses_back() {
        for kind in RunKind::ALL {
            let tag = kind.tag();
            assert!(
                tag.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{tag}"
            );
            assert_eq!(tag.parse::<RunKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), tag);
        }
        let unknown = "svm".parse::<RunKind>().unwrap_err().to_string();
        assert!(
            unknown.contains("\"svm\"") && unknown.contains("patchcore"),
            "{unknown}"
        );
    }

    /// Runs written before the enum moved here keep their tags.
    #[test]
    fn the_tags_are_the_ones_runs_were_written_with() {
        let tags = RunKind::ALL.map(RunKind::tag);
        let written = [
            "autoencoder",
            "classifier",
            "geometric",
            "features",
            "patchcore",
        ];
        assert_eq!(&tags[..written.len()], written);
    }
}
