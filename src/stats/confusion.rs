//! The confusion matrix at a threshold and the rates read off it.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::stats::{check_labelled, is_flagged};

/// Counts at one threshold, an image being called anomalous when its score
/// lies strictly above the threshold (as in [`crate::analysis`]).
///
/// The rates are `NaN` when their denominator is zero (an undefined rate is
/// not reported as 0, unlike scikit-learn's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    pub tp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub tn: usize,
    pub fp: usize,
}

impl ConfusionMatrix {
    /// Counts `scores` against labels `positive` at `threshold`.
    ///
    /// Errors on empty input, a length mismatch, non-finite scores or a NaN
    /// threshold.
    ///
    /// ```
    /// use caltech_anomaly::stats::ConfusionMatrix;
    /// let cm = ConfusionMatrix::from_scores(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true], 0.5)?;
    /// assert_eq!((cm.tp, cm.fn_, cm.tn, cm.fp), (1, 1, 2, 0));
    /// assert_eq!(cm.precision(), 1.0);
    /// # Ok::<(), caltech_anomaly::Error>(())
    /// ```
    pub fn from_scores(scores: &[f64], positive: &[bool], threshold: f64) -> Result<Self> {
        check_labelled(scores, positive)?;
        if threshold.is_nan() {
            return Err(Error::InvalidParameter("threshold is NaN".into()));
        }
        let mut cm = ConfusionMatrix {
            tp: 0,
            fn_: 0,
            tn: 0,
            fp: 0,
        };
        for (&score, &is_positive) in scores.iter().zip(positive) {
            match (is_positive, is_flagged(score, threshold)) {
                (true, true) => cm.tp += 1,
                (true, false) => cm.fn_ += 1,
                (false, false) => cm.tn += 1,
                (false, true) => cm.fp += 1,
            }
        }
        Ok(cm)
    }

    pub fn total(&self) -> usize {
        self.tp + self.fn_ + self.tn + self.fp
    }

    /// `tp / (tp + fp)`.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn)`, the true-positive rate.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// `2 tp / (2 tp + fp + fn)`: the harmonic mean of precision and recall,
    /// written so that it is 0, not NaN, when `tp = 0` but some sample was
    /// misclassified.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// `fp / (fp + tn)`.
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }

    /// `(tp + tn) / total`.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }
}

/// `num / den`, NaN for `0 / 0`.
pub(crate) fn ratio(num: usize, den: usize) -> f64 {
    num as f64 / den as f64
}
