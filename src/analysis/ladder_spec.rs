//! The ladder's one specification, [`LadderSpec`]: every setting with
//! which `reproduce`'s section 9 and notebook 06 fit, score and measure the
//! detectors, and [`Ladder::build`], which both call to make the ladder of
//! the detectors' scores (the references found by their ids, the fusion,
//! the rows).

use std::fmt;

use polars::prelude::{DataFrame, PolarsResult};

use crate::analysis::{
    Bootstrap, LadderRow, best_of, fused, ladder, ladder_summary, ladder_table, position,
};
use crate::error::Result;
use crate::features::{DEFAULT_CORESET_FRACTION, DEFAULT_RIDGE};
use crate::io::{Markdown, Text};
use crate::scoring::{
    Architecture, Backbone, ClassifierScore, DetectorId, DetectorScores, FeatureScore, PatchScore,
    REPORT_PERCENTILE,
};

/// Neighbours of the kNN score on pretrained features (PatchCore's
/// image-level score takes a few).
pub const DEFAULT_KNN_K: usize = 5;

/// What the ladder fits, scores and measures; [`LadderSpec::default`] is
/// the published ladder's.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderSpec {
    /// Neighbours of the kNN score on each backbone's pooled features.
    pub knn_k: usize,
    /// The ridge added to every Gaussian's covariance: the classifier's
    /// class Gaussian and the Gaussian on pretrained features.
    pub ridge: f64,
    /// PatchCore's memory bank: this share of the train patches.
    pub coreset_fraction: f64,
    /// The pretrained backbones, each scored by the kNN on its pooled
    /// features; the first also by the Gaussian, and by PatchCore on its
    /// patches.
    pub backbones: Vec<Backbone>,
    /// The label-aware classifier's scores on the ladder.
    pub classifier_scores: Vec<ClassifierScore>,
    /// PatchCore's scores on the ladder.
    pub patch_scores: Vec<PatchScore>,
    /// The test percentile of each detector's confusion matrix and rates.
    pub percentile: f64,
    /// The resamples and seed of every interval.
    pub bootstrap: Bootstrap,
    /// The detector every gain is paired against, and fused (a rank
    /// average) with the pretrained detector of the highest test AUROC.
    pub reference: DetectorId,
    /// A second detector the gains are paired against. An id holds the
    /// settings its label shows, which must be this spec's (a kNN's `k` is
    /// [`Self::knn_k`]).
    pub second_reference: Option<DetectorId>,
}

impl Default for LadderSpec {
    /// kNN with 5 neighbours on EfficientNet-Lite0, -Lite1 and -Lite2, the
    /// Gaussian and PatchCore (1 % coreset, both scores) on Lite0, ridge
    /// 0.01, both classifier scores, p80, 2,000 resamples; gains over
    /// `improved3`'s error and over the kNN on Lite0.
    fn default() -> Self {
        Self {
            knn_k: DEFAULT_KNN_K,
            ridge: DEFAULT_RIDGE,
            coreset_fraction: DEFAULT_CORESET_FRACTION,
            backbones: Backbone::ALL.to_vec(),
            classifier_scores: ClassifierScore::ALL.to_vec(),
            patch_scores: PatchScore::ALL.to_vec(),
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
    /// The scores of `backbone`'s pooled features on the ladder: the kNN,
    /// and the Gaussian's too on the first backbone.
    pub fn feature_scores(&self, backbone: Backbone) -> Vec<FeatureScore> {
        if self.backbones.first() == Some(&backbone) {
            FeatureScore::ALL.to_vec()
        } else {
            vec![FeatureScore::Knn]
        }
    }

    /// Shows the settings as plain text in an evcxr notebook.
    pub fn evcxr_display(&self) {
        Text(self.to_string()).evcxr_display();
    }
}

impl fmt::Display for LadderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |labels: Vec<String>| labels.join(", ");
        let backbones = list(self.backbones.iter().map(|b| b.to_string()).collect());
        let first = self
            .backbones
            .first()
            .map_or("none".into(), |b| b.to_string());
        let classifier = self.classifier_scores.iter();
        let patch = self.patch_scores.iter();
        let second = self.second_reference.as_ref();
        writeln!(f, "kNN (k = {}) on: {backbones}", self.knn_k)?;
        writeln!(f, "Gaussian on: {first}; ridge {}", self.ridge)?;
        writeln!(
            f,
            "PatchCore on: {first}, {} % coreset; scores {}",
            100.0 * self.coreset_fraction,
            list(patch.map(|s| format!("{s:?}").to_lowercase()).collect())
        )?;
        let classifier = classifier.map(|&s| DetectorId::Classifier(s).label());
        writeln!(f, "classifier: {}", list(classifier.collect()))?;
        writeln!(
            f,
            "measured at: p{}, {} bootstrap resamples (seed {})",
            self.percentile, self.bootstrap.resamples, self.bootstrap.seed
        )?;
        write!(
            f,
            "gains over: {}{}",
            self.reference,
            second.map_or(String::new(), |s| format!("; {s}"))
        )
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
        assert_eq!(
            (
                spec.knn_k,
                spec.ridge,
                spec.coreset_fraction,
                spec.percentile
            ),
            (5, 0.01, 0.01, 80.0)
        );
        assert_eq!(spec.bootstrap.resamples, 2000);
        assert_eq!(spec.feature_scores(Backbone::Lite0).len(), 2);
        assert_eq!(spec.feature_scores(Backbone::Lite2), [FeatureScore::Knn]);
        let text = spec.to_string();
        assert!(text.contains("1 % coreset"), "{text}");
        assert!(
            text.ends_with("gains over: improved3 error; kNN, EfficientNet-Lite0 (k = 5)"),
            "{text}"
        );
    }
}
