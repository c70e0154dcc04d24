//! Report section 7: how well the reconstruction error separates the
//! held-out class (positive) from the object images (negative): ROC and
//! precision-recall curves, bootstrap intervals, the confusion matrix, the
//! error densities, the PCA view of the latent codes and per-class rates.

use polars::prelude::{DataFrame, PolarsResult};
use serde::Serialize;

use crate::error::Result;
use crate::io::{Markdown, column};
use crate::scoring::{ScoreRow, Scores};
use crate::stats::{
    BOOTSTRAP_RESAMPLES, ConfidenceInterval, ConfusionMatrix, GaussianKde, PrPoint, RocPoint,
    auprc, auroc, bootstrap_ci, is_flagged, pca_2d, pr_curve, roc_curve,
};

/// How often the images of one normal class are flagged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerClassRow {
    pub class: String,
    pub images: usize,
    pub mean_error: f64,
    pub flagged: usize,
    /// `flagged / images`: the class's false-positive rate.
    pub flag_rate: f64,
}

/// Flag rates of the normal (not held-out) classes at `threshold`, highest
/// rate first; ties by higher mean error, then by class name.
pub fn per_class(test: &[ScoreRow], threshold: f64) -> Vec<PerClassRow> {
    let mut rows: Vec<PerClassRow> = Vec::new();
    for score in test.iter().filter(|r| !r.held_out) {
        let index = match rows.iter().position(|r| r.class == score.class) {
            Some(index) => index,
            None => {
                rows.push(PerClassRow {
                    class: score.class.clone(),
                    images: 0,
                    mean_error: 0.0,
                    flagged: 0,
                    flag_rate: 0.0,
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[index];
        row.images += 1;
        // Running sum; divided below.
        row.mean_error += score.score;
        row.flagged += usize::from(is_flagged(score.score, threshold));
    }
    for row in &mut rows {
        row.mean_error /= row.images as f64;
        row.flag_rate = row.flagged as f64 / row.images as f64;
    }
    rows.sort_by(|a, b| {
        b.flag_rate
            .total_cmp(&a.flag_rate)
            .then_with(|| b.mean_error.total_cmp(&a.mean_error))
            .then_with(|| a.class.cmp(&b.class))
    });
    rows
}

/// [`per_class`] as a polars DataFrame, for notebooks.
pub fn per_class_dataframe(rows: &[PerClassRow]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("class", rows, |r| r.class.as_str()),
        column("images", rows, |r| r.images as u64),
        column("mean_error", rows, |r| r.mean_error),
        column("flagged", rows, |r| r.flagged as u64),
        column("flag_rate", rows, |r| r.flag_rate),
    ])
}

/// How intervals are drawn: resamples and the seed of the stratified
/// bootstrap (95 % percentile intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 2,000 resamples, seed 42.
    fn default() -> Self {
        Self {
            resamples: BOOTSTRAP_RESAMPLES,
            seed: 42,
        }
    }
}

impl Bootstrap {
    /// `metric` of `scores` with its 95 % interval.
    pub fn interval(
        &self,
        scores: &[f64],
        positive: &[bool],
        metric: fn(&[f64], &[bool]) -> f64,
    ) -> Result<ConfidenceInterval> {
        bootstrap_ci(scores, positive, metric, self.resamples, self.seed, 0.95)
    }
}

/// The ROC curve of the error for the held-out class, with its AUROC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roc {
    pub points: Vec<RocPoint>,
    pub auroc: ConfidenceInterval,
}

/// The ROC curve of `scores` and the bootstrap interval of its area.
pub fn roc(scores: &Scores, bootstrap: Bootstrap) -> Result<Roc> {
    let (errors, labels) = (scores.scores(), scores.held_out_flags());
    Ok(Roc {
        points: roc_curve(&errors, &labels)?,
        auroc: bootstrap.interval(&errors, &labels, auroc)?,
    })
}

/// The precision-recall curve, its area and the prevalence (a random
/// detector's precision).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pr {
    pub points: Vec<PrPoint>,
    pub auprc: ConfidenceInterval,
    pub prevalence: f64,
}

/// The precision-recall curve of `scores` and the interval of its area.
pub fn pr(scores: &Scores, bootstrap: Bootstrap) -> Result<Pr> {
    let (errors, labels) = (scores.scores(), scores.held_out_flags());
    Ok(Pr {
        points: pr_curve(&errors, &labels)?,
        auprc: bootstrap.interval(&errors, &labels, auprc)?,
        prevalence: labels.iter().filter(|&&l| l).count() as f64 / labels.len().max(1) as f64,
    })
}

/// The confusion matrix at the `p`-th percentile of the errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub percentile: f64,
    pub threshold: f64,
    #[serde(flatten)]
    pub matrix: ConfusionMatrix,
}

/// Flags the images above the `p`-th percentile of `scores`' errors.
pub fn operating_point(scores: &Scores, p: f64) -> Result<OperatingPoint> {
    let threshold = scores.threshold(p)?;
    Ok(OperatingPoint {
        percentile: p,
        threshold,
        matrix: ConfusionMatrix::from_scores(
            &scores.scores(),
            &scores.held_out_flags(),
            threshold,
        )?,
    })
}

/// Kernel density estimates of the error: all test images, and the
/// held-out ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDensity {
    pub all: GaussianKde,
    pub held_out: GaussianKde,
}

pub fn error_density(scores: &Scores) -> Result<ErrorDensity> {
    Ok(ErrorDensity {
        all: GaussianKde::new(&scores.scores())?,
        held_out: GaussianKde::new(&scores.held_out_scores())?,
    })
}

/// The latent codes projected on their first two principal components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatentPca {
    pub points: Vec<[f64; 2]>,
    /// Share of the codes' variance on PC1 and PC2.
    pub explained: [f64; 2],
    /// Width of the codes.
    pub dims: usize,
}

pub fn latent_pca(codes: &[Vec<f32>]) -> Result<LatentPca> {
    let (points, explained) = pca_2d(codes)?;
    Ok(LatentPca {
        points,
        explained,
        dims: codes.first().map_or(0, Vec::len),
    })
}

/// The headline numbers of section 7, in words.
pub fn summary(roc: &Roc, pr: &Pr, point: &OperatingPoint, held_out: &str) -> Markdown {
    let (a, b, cm) = (roc.auroc, pr.auprc, point.matrix);
    Markdown(format!(
        "Positive class: {held_out}; score: the reconstruction error. **AUROC {:.3}** (95% \
         bootstrap CI {:.3}-{:.3}), **AUPRC {:.3}** ({:.3}-{:.3}). At p{} (threshold {:.4}): {} \
         of {} anomalies found (recall {:.2}), {} false alarms among {} normal images (FPR \
         {:.2}).",
        a.estimate,
        a.low,
        a.high,
        b.estimate,
        b.low,
        b.high,
        point.percentile,
        point.threshold,
        cm.tp,
        cm.tp + cm.fn_,
        cm.recall(),
        cm.fp,
        cm.fp + cm.tn,
        cm.fpr(),
    ))
}
