//! The ladder's one specification, [`LadderSpec`]: which families go on
//! the ladder after the autoencoders, each with its settings (a
//! [`LadderMember`]), and how `reproduce`'s section 9 and notebook 06
//! measure them; [`LadderSpec::fit`] fits every member alike
//! ([`FittedLadder`]), and [`Ladder::build`] makes the ladder of the
//! detectors' scores (the references found by their ids, the fusion, the
//! rows).
//!
//! Adding a family to the ladder is one [`LadderMember`] variant, its arm
//! in [`LadderMember::family`] and, to publish it, its entry in
//! [`LadderSpec::default`]: the family's folder does the rest.

use std::fmt;
use std::path::PathBuf;

use burn::tensor::Device;
use polars::prelude::{DataFrame, PolarsResult};
use serde_json::{Map, Value};

use crate::analysis::{
    Bootstrap, LadderRow, best_of, fused, ladder, ladder_summary, ladder_table, position,
};
use crate::classifier::ClassifierLadder;
use crate::error::{Error, Result};
use crate::features::{
    DEFAULT_CORESET_FRACTION, DEFAULT_RIDGE, FeatureLadder, FeatureScore, PatchCoreLadder,
};
use crate::geometric::GeometricLadder;
use crate::histogram::{DEFAULT_BINS, HistogramLadder};
use crate::io::{Markdown, Text};
use crate::scoring::{
    Architecture, Backbone, ClassifierScore, DetectorId, DetectorScores, FittedFamily, ImageScorer,
    LadderFamily, LadderFitting, PatchScore, REPORT_PERCENTILE, Verdict, merged_facts, verdicts,
};

/// Neighbours of the kNN score on pretrained features (PatchCore's
/// image-level score takes a few).
pub const DEFAULT_KNN_K: usize = 5;

/// A family on the ladder, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum LadderMember {
    /// The label-aware classifier trained from scratch.
    Classifier(ClassifierLadder),
    /// The self-supervised transformation classifier.
    Geometric(GeometricLadder),
    /// Detectors on one backbone's pooled features.
    Features(FeatureLadder),
    /// PatchCore on one backbone's patch features.
    PatchCore(PatchCoreLadder),
    /// Colour histograms, without a network.
    Histogram(HistogramLadder),
}

impl LadderMember {
    /// The member's family, which fits it: the one place a member meets
    /// its folder.
    pub fn family(&self) -> &dyn LadderFamily {
        match self {
            Self::Classifier(family) => family,
            Self::Geometric(family) => family,
            Self::Features(family) => family,
            Self::PatchCore(family) => family,
            Self::Histogram(family) => family,
        }
    }
}

impl fmt::Display for LadderMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.family().fmt(f)
    }
}

/// What the ladder fits, scores and measures; [`LadderSpec::default`] is
/// the published ladder's.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderSpec {
    /// The families after the autoencoders, in their order on the ladder.
    pub members: Vec<LadderMember>,
    /// The test percentile of each detector's confusion matrix and rates.
    pub percentile: f64,
    /// The resamples and seed of every interval.
    pub bootstrap: Bootstrap,
    /// The detector every gain is paired against, and fused (a rank
    /// average) with the pretrained detector of the highest test AUROC.
    pub reference: DetectorId,
    /// A second detector the gains are paired against. An id holds the
    /// settings its label shows, which must be a member's (a kNN's `k` is
    /// its [`FeatureLadder::k`]).
    pub second_reference: Option<DetectorId>,
}

impl Default for LadderSpec {
    /// Both classifier scores (ridge 0.01); the rotation classifier; kNN
    /// with 5 neighbours on EfficientNet-Lite0, -Lite1 and -Lite2, and the
    /// Gaussian (ridge 0.01) on Lite0; PatchCore (1 % coreset, both scores)
    /// on Lite0; kNN with 5 neighbours on colour histograms (8 bins per
    /// channel); p80, 2,000 resamples; gains over `improved3`'s error and
    /// over the kNN on Lite0.
    fn default() -> Self {
        let features = |backbone, scores: &[FeatureScore]| {
            LadderMember::Features(FeatureLadder {
                backbone,
                scores: scores.to_vec(),
                k: DEFAULT_KNN_K,
                ridge: DEFAULT_RIDGE,
            })
        };
        Self {
            members: vec![
                LadderMember::Classifier(ClassifierLadder {
                    scores: ClassifierScore::ALL.to_vec(),
                    ridge: DEFAULT_RIDGE,
                }),
                LadderMember::Geometric(GeometricLadder),
                features(Backbone::Lite0, &FeatureScore::ALL),
                features(Backbone::Lite1, &[FeatureScore::Knn]),
                features(Backbone::Lite2, &[FeatureScore::Knn]),
                LadderMember::PatchCore(PatchCoreLadder {
                    backbone: Backbone::Lite0,
                    scores: PatchScore::ALL.to_vec(),
                    coreset_fraction: DEFAULT_CORESET_FRACTION,
                }),
                LadderMember::Histogram(HistogramLadder {
                    bins: DEFAULT_BINS,
                    k: DEFAULT_KNN_K,
                }),
            ],
            percentile: REPORT_PERCENTILE,
            bootstrap: Bootstrap::default(),
            reference: DetectorId::Autoencoder(Architecture::Improved3),
            second_reference: Some(DetectorId::Knn {
                backbone: Backbone::Lite0,
                k: DEFAULT_KNN_K,
            }),
        }
    }
}

impl LadderSpec {
    /// Every member fitted as `fitting` lends (or loaded by key), in order.
    pub fn fit(&self, fitting: &LadderFitting) -> Result<FittedLadder> {
        let members = self.members.iter();
        Ok(FittedLadder(
            members
                .map(|m| m.family().fit(fitting))
                .collect::<Result<_>>()?,
        ))
    }

    /// Shows the settings as plain text in an evcxr notebook.
    pub fn evcxr_display(&self) {
        Text(self.to_string()).evcxr_display();
    }
}

/// One line per member, then how the ladder measures them.
impl fmt::Display for LadderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for member in &self.members {
            writeln!(f, "{member}")?;
        }
        writeln!(
            f,
            "measured at: p{}, {} bootstrap resamples (seed {})",
            self.percentile, self.bootstrap.resamples, self.bootstrap.seed
        )?;
        let second = self.second_reference.as_ref();
        write!(
            f,
            "gains over: {}{}",
            self.reference,
            second.map_or(String::new(), |s| format!("; {s}"))
        )
    }
}

/// The spec's members, fitted, in its order.
pub struct FittedLadder(pub Vec<Box<dyn FittedFamily>>);

impl FittedLadder {
    /// Every member's detectors, in their order on the ladder.
    pub fn scorers(&self) -> Vec<Box<dyn ImageScorer + '_>> {
        self.0.iter().flat_map(|family| family.scorers()).collect()
    }

    /// The detector `id`; an error names the ones there are.
    pub fn scorer(&self, id: &DetectorId) -> Result<Box<dyn ImageScorer + '_>> {
        let mut scorers = self.scorers();
        match scorers.iter().position(|s| s.id() == *id) {
            Some(i) => Ok(scorers.swap_remove(i)),
            None => {
                let there: Vec<String> = scorers.iter().map(|s| s.id().label()).collect();
                Err(Error::InvalidParameter(format!(
                    "no detector `{id}` among the fitted ones: {}",
                    there.join(", ")
                )))
            }
        }
    }

    /// The first detector that maps where in an image it finds the anomaly
    /// (PatchCore), if any.
    pub fn localising(&self) -> Option<Box<dyn ImageScorer + '_>> {
        self.scorers().into_iter().find(|s| s.localiser().is_some())
    }

    /// The detector `id`'s verdicts on image files, at its threshold: the
    /// `percentile`-th percentile of its validation scores.
    pub fn verdicts(
        &self,
        id: &DetectorId,
        percentile: f64,
        paths: &[PathBuf],
        device: &Device,
    ) -> Result<Vec<Verdict>> {
        let scorer = self.scorer(id)?;
        let calibration = scorer.calibration(percentile, device)?;
        verdicts(scorer.as_ref(), &calibration, paths, device)
    }

    /// Each member in words, as one clause each.
    pub fn described(&self) -> Vec<String> {
        self.0.iter().map(|family| family.described()).collect()
    }

    /// What `metrics.json` records of the fits ([`merged_facts`]).
    pub fn facts(&self) -> Map<String, Value> {
        merged_facts(self.0.iter().map(|family| family.as_ref()))
    }

    /// Shows each member in words, as a Markdown list, in an evcxr notebook.
    pub fn evcxr_display(&self) {
        let items: Vec<String> = self.described().iter().map(|d| format!("- {d}")).collect();
        Markdown(items.join("\n")).evcxr_display();
    }
}

/// The ladder of a set of detectors, built by [`Ladder::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// Every detector's scores, the fusion last.
    pub detectors: Vec<DetectorScores>,
    /// Each detector's row, in the same order.
    pub rows: Vec<LadderRow>,
    /// The position of the spec's reference.
    pub reference: usize,
    /// The position of the spec's second reference, if it has one.
    pub second_reference: Option<usize>,
    /// The pretrained detector of the highest test AUROC, fused with the
    /// reference.
    pub best_pretrained: usize,
}

impl Ladder {
    /// The ladder of `detectors` as `spec` measures it: the references
    /// found by their ids (an error names one that is missing), the
    /// reference's rank average with the best pretrained detector added
    /// last ([`fused`]), and every detector's row ([`ladder`]).
    pub fn build(spec: &LadderSpec, mut detectors: Vec<DetectorScores>) -> Result<Self> {
        let reference = position(&detectors, &spec.reference)?;
        let pretrained: Vec<usize> = (0..detectors.len())
            .filter(|&i| detectors[i].pretrained)
            .collect();
        let best_pretrained = best_of(&detectors, &pretrained)?;
        detectors.push(fused(&detectors[reference], &detectors[best_pretrained])?);
        let second_reference = (spec.second_reference.as_ref())
            .map(|id| position(&detectors, id))
            .transpose()?;
        let references = (reference, second_reference);
        let rows = ladder(&detectors, references, spec.percentile, spec.bootstrap)?;
        Ok(Self {
            detectors,
            rows,
            reference,
            second_reference,
            best_pretrained,
        })
    }

    /// The scores of the detector `id`.
    pub fn detector(&self, id: &DetectorId) -> Result<&DetectorScores> {
        Ok(&self.detectors[position(&self.detectors, id)?])
    }

    /// The ladder as a table ([`ladder_table`]).
    pub fn table(&self) -> PolarsResult<DataFrame> {
        ladder_table(&self.rows)
    }

    /// What the ladder shows, in words ([`ladder_summary`]).
    pub fn summary(&self) -> Result<Markdown> {
        ladder_summary(&self.rows, self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use crate::scoring::{ScoreRow, Scores, TrivialKind, UnseenRow};

    fn detector(id: DetectorId, pretrained: bool, values: &[f64]) -> DetectorScores {
        let held_out = |i: usize| i.is_multiple_of(3);
        DetectorScores {
            id,
            pretrained,
            test: Scores(
                (values.iter().enumerate())
                    .map(|(i, &error)| ScoreRow {
                        path: format!("t/{i}.jpg"),
                        class: "c".into(),
                        label: 0,
                        split: Split::Test,
                        score: error,
                        held_out: held_out(i),
                    })
                    .collect(),
            ),
            unseen: Some(
                (values.iter().enumerate())
                    .map(|(i, &error)| UnseenRow {
                        path: format!("u/{i}.jpg"),
                        class: "c".into(),
                        score: error,
                        held_out: held_out(i),
                    })
                    .collect(),
            ),
            seconds: 1.0,
            bank_bytes: None,
        }
    }

    fn detectors() -> Vec<DetectorScores> {
        let spec = LadderSpec::default();
        vec![
            detector(
                DetectorId::Trivial(TrivialKind::DeflateBytes),
                false,
                &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            ),
            detector(
                spec.reference.clone(),
                false,
                &[0.9, 0.2, 0.3, 0.4, 0.5, 0.6],
            ),
            detector(
                spec.second_reference.unwrap(),
                true,
                &[0.9, 0.2, 0.3, 0.8, 0.1, 0.6],
            ),
            detector(
                DetectorId::Mahalanobis(Backbone::Lite0),
                true,
                &[0.9, 0.2, 0.3, 0.4, 0.5, 0.6],
            ),
        ]
    }

    #[test]
    fn the_ladder_finds_its_references_by_id_and_fuses_the_best_pretrained() {
        let spec = LadderSpec::default();
        let ladder = Ladder::build(&spec, detectors()).unwrap();
        assert_eq!((ladder.reference, ladder.second_reference), (1, Some(2)));
        assert_eq!(ladder.rows.len(), 5);
        let fusion = &ladder.detectors[4];
        let best = ladder.detectors[ladder.best_pretrained].id.clone();
        assert_eq!(fusion.id, DetectorId::fusion(spec.reference.clone(), best));
        assert_eq!(fusion.seconds, 2.0);
        assert_eq!(ladder.rows[4].detector, fusion.id.label());
        let own = ladder.rows[1].gain_over_reference.unwrap();
        assert_eq!((own.estimate, own.low, own.high), (0.0, 0.0, 0.0));
        assert!(ladder.detector(&spec.reference).is_ok());
    }

    #[test]
    fn a_missing_reference_is_an_error_naming_its_id() {
        let missing = DetectorId::Knn {
            backbone: Backbone::Lite0,
            k: 10,
        };
        let error = position(&detectors(), &missing).unwrap_err().to_string();
        assert!(
            error.contains("no detector `kNN, EfficientNet-Lite0 (k = 10)`"),
            "{error}"
        );
        assert!(error.contains("kNN, EfficientNet-Lite0 (k = 5)"), "{error}");
        let spec = LadderSpec {
            second_reference: Some(missing),
            ..LadderSpec::default()
        };
        let error = Ladder::build(&spec, detectors()).unwrap_err().to_string();
        assert!(error.contains("(k = 10)"), "{error}");
        let spec = LadderSpec {
            reference: DetectorId::Autoencoder(Architecture::Baseline),
            ..LadderSpec::default()
        };
        let error = Ladder::build(&spec, detectors()).unwrap_err().to_string();
        assert!(error.contains("no detector `baseline error`"), "{error}");
    }

    #[test]
    fn the_default_spec_is_the_published_ladders() {
        let spec = LadderSpec::default();
        assert_eq!((spec.percentile, spec.bootstrap.resamples), (80.0, 2000));
        let text = spec.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..7],
            [
                "classifier trained here: classifier energy, classifier Mahalanobis; ridge 0.01",
                "transformation classifier trained here (self-supervised): 4 rotations",
                "EfficientNet-Lite0's pooled features: kNN (k = 5), Gaussian (ridge 0.01)",
                "EfficientNet-Lite1's pooled features: kNN (k = 5)",
                "EfficientNet-Lite2's pooled features: kNN (k = 5)",
                "PatchCore on EfficientNet-Lite0's patches, 1 % coreset: max, mean",
                "colour histogram: 8 bins per channel, kNN (k = 5)",
            ]
        );
        assert!(
            text.ends_with("gains over: improved3 error; kNN, EfficientNet-Lite0 (k = 5)"),
            "{text}"
        );
    }
}
