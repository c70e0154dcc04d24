//! ROC and precision-recall curves and the areas under them, with ties
//! counted once.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::stats::check_finite;

/// Area under the ROC curve of `scores` (higher means more anomalous) for
/// labels `positive`: the probability that a random positive scores above a
/// random negative, ties counting one half (the Mann-Whitney U statistic).
/// `NaN` when either class is empty.
///
/// ```
/// use caltech_anomaly::stats::auroc;
/// assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
/// ```
pub fn auroc(scores: &[f64], positive: &[bool]) -> f64 {
    assert_eq!(scores.len(), positive.len(), "one label per score");
    // Pairs sorted in place: no lookups through an index, and no stable
    // order needed, since ties share their mean rank (the bootstrap calls
    // this thousands of times per detector).
    let mut sorted: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Average 1-based ranks over runs of ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += mean_rank * sorted[i..=j].iter().filter(|&&(_, p)| p).count() as f64;
        i = j + 1;
    }
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = scores.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Checks the input of the curve functions: one label per score, finite
/// scores; returns the numbers of positives and negatives.
pub(crate) fn check_labelled(scores: &[f64], positive: &[bool]) -> Result<(usize, usize)> {
    if scores.len() != positive.len() {
        return Err(Error::InvalidParameter(format!(
            "{} scores but {} labels",
            scores.len(),
            positive.len()
        )));
    }
    check_finite(scores, "scores")?;
    let n_pos = positive.iter().filter(|&&p| p).count();
    Ok((n_pos, scores.len() - n_pos))
}

/// `(threshold, tp, fp)` at each distinct score, highest first, where `tp`
/// and `fp` count the positives and negatives scoring at least `threshold`.
fn cumulative_counts(scores: &[f64], positive: &[bool]) -> Vec<(f64, usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut counts = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // One point per run of tied scores, after its last member: a
        // threshold cannot split a tie.
        if order
            .get(k + 1)
            .is_none_or(|&next| scores[next] != scores[i])
        {
            counts.push((scores[i], tp, fp));
        }
    }
    counts
}

/// A point of the ROC curve: the rates when scores `>= threshold` are
/// called positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    pub threshold: f64,
    pub fpr: f64,
    pub tpr: f64,
}

/// The ROC curve: `(0, 0)` at threshold `+∞`, then one point per distinct
/// score from the highest down, ending at `(1, 1)`. Tied scores move both
/// rates in one step, so the trapezoid area under the curve equals
/// [`auroc`] with ties counting one half.
///
/// Errors on empty input, a length mismatch, non-finite scores, or a
/// missing class.
///
/// ```
/// use caltech_anomaly::stats::roc_curve;
/// let roc = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])?;
/// let rates: Vec<(f64, f64)> = roc.iter().map(|p| (p.fpr, p.tpr)).collect();
/// assert_eq!(rates, [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Result<Vec<RocPoint>> {
    let (n_pos, n_neg) = check_labelled(scores, positive)?;
    if n_pos == 0 || n_neg == 0 {
        return Err(Error::InvalidParameter(
            "a ROC curve needs both positive and negative samples".into(),
        ));
    }
    let start = RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    };
    Ok(std::iter::once(start)
        .chain(
            cumulative_counts(scores, positive)
                .into_iter()
                .map(|(threshold, tp, fp)| RocPoint {
                    threshold,
                    fpr: fp as f64 / n_neg as f64,
                    tpr: tp as f64 / n_pos as f64,
                }),
        )
        .collect())
}

/// A point of the precision-recall curve: scores `>= threshold` are called
/// positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
}

/// The precision-recall curve: one point per distinct score, highest
/// threshold first (so recall rises to 1). Unlike scikit-learn's
/// `precision_recall_curve`, no artificial `(recall 0, precision 1)` point
/// is appended.
///
/// Errors on empty input, a length mismatch, non-finite scores, or no
/// positive sample.
pub fn pr_curve(scores: &[f64], positive: &[bool]) -> Result<Vec<PrPoint>> {
    let (n_pos, _) = check_labelled(scores, positive)?;
    if n_pos == 0 {
        return Err(Error::InvalidParameter(
            "a precision-recall curve needs a positive sample".into(),
        ));
    }
    Ok(cumulative_counts(scores, positive)
        .into_iter()
        .map(|(threshold, tp, fp)| PrPoint {
            threshold,
            precision: tp as f64 / (tp + fp) as f64,
            recall: tp as f64 / n_pos as f64,
        })
        .collect())
}

/// Average precision, as scikit-learn's `average_precision_score`: the sum
/// over distinct thresholds of `(R_n − R_{n−1}) · P_n`, a step-wise area
/// under the precision-recall curve (no interpolation). `NaN` when there is
/// no positive or a score is NaN.
///
/// ```
/// use caltech_anomaly::stats::auprc;
/// // Ranked: positive, negative, positive: (1/2)·1 + (1/2)·(2/3).
/// let ap = auprc(&[0.9, 0.5, 0.1, 0.3], &[true, false, false, true]);
/// assert!((ap - 5.0 / 6.0).abs() < 1e-12);
/// ```
pub fn auprc(scores: &[f64], positive: &[bool]) -> f64 {
    assert_eq!(scores.len(), positive.len(), "one label per score");
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 || scores.iter().any(|s| s.is_nan()) {
        return f64::NAN;
    }
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    for (_, tp, fp) in cumulative_counts(scores, positive) {
        let recall = tp as f64 / n_pos as f64;
        ap += (recall - previous_recall) * tp as f64 / (tp + fp) as f64;
        previous_recall = recall;
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// The definition, by counting pairs.
    fn auroc_by_pairs(scores: &[f64], positive: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if positive[i] && !positive[j] {
                    pairs += 1.0;
                    wins += f64::from(u8::from(si > sj)) + 0.5 * f64::from(u8::from(si == sj));
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn perfect_inverted_and_tied() {
        assert_eq!(auroc(&[1.0, 2.0, 3.0], &[false, false, true]), 1.0);
        assert_eq!(auroc(&[3.0, 2.0, 1.0], &[false, false, true]), 0.0);
        assert_eq!(
            auroc(&[1.0, 1.0, 1.0, 1.0], &[false, true, false, true]),
            0.5
        );
        // One positive tied with one of two negatives, above the other: (1 + 0.5) / 2.
        assert_eq!(auroc(&[0.2, 0.5, 0.5], &[false, false, true]), 0.75);
        assert!(auroc(&[1.0, 2.0], &[false, false]).is_nan());
    }

    #[test]
    fn cumulative_counts_step_once_per_tie() {
        let counts = cumulative_counts(
            &[0.3, 0.8, 0.5, 0.8, 0.3],
            &[false, true, true, false, true],
        );
        assert_eq!(counts, [(0.8, 1, 1), (0.5, 2, 1), (0.3, 3, 2)]);
    }

    #[test]
    fn equals_pair_counting_on_scores_with_ties() {
        let scores: Vec<f64> = (0..200).map(|i| ((i * 37 % 101) / 7) as f64).collect();
        let positive: Vec<bool> = (0..200).map(|i| (i * 13 % 17) < 5).collect();
        assert_abs_diff_eq!(
            auroc(&scores, &positive),
            auroc_by_pairs(&scores, &positive),
            epsilon = 1e-12
        );
    }
}
