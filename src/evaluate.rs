//! Report section 7: how well the reconstruction error separates the
//! held-out class (positive) from the object images (negative): ROC and
//! precision-recall curves, bootstrap intervals, the confusion matrix, the
//! error densities, the PCA view of the latent codes and per-class rates.

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_reduction::Pca;
use ndarray::{Array2, Axis};
use polars::prelude::{DataFrame, PolarsResult};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::Markdown;
use crate::score::{ScoreRow, Scores};
use crate::stats::{BOOTSTRAP_RESAMPLES, check_finite, is_flagged, percentile};
use crate::table::column;

/// Area under the ROC curve of `scores` (higher means more anomalous) for
/// labels `positive`: the probability that a random positive scores above a
/// random negative, ties counting one half (the Mann-Whitney U statistic).
/// `NaN` when either class is empty.
///
/// ```
/// use caltech_anomaly::evaluate::auroc;
/// assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
/// ```
pub fn auroc(scores: &[f64], positive: &[bool]) -> f64 {
    assert_eq!(scores.len(), positive.len(), "one label per score");
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average 1-based ranks over runs of ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += mean_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
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
fn check_labelled(scores: &[f64], positive: &[bool]) -> Result<(usize, usize)> {
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
/// use caltech_anomaly::evaluate::roc_curve;
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
/// use caltech_anomaly::evaluate::auprc;
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

/// A metric with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// The metric on the full sample.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// A bootstrap percentile interval of `metric` (such as [`auroc`] or
/// [`auprc`]) at confidence `level` in `(0, 1)`.
///
/// Resampling is stratified: each resample draws, with replacement, as many
/// positives from the positives and as many negatives from the negatives as
/// the sample holds (pROC's default for ROC curves), so no resample lacks a
/// class. Resamples on which `metric` is not finite are skipped. The bounds
/// are the `(1 − level)/2` and `(1 + level)/2` quantiles of the resampled
/// values ([`percentile`]'s definition). Draws come from a `ChaCha8Rng`
/// seeded with `seed`: the same input and seed give the same interval on
/// every platform.
///
/// Errors on a length mismatch, non-finite scores, a missing class,
/// `resamples == 0`, `level` outside `(0, 1)`, or a metric that is not
/// finite on the full sample or on every resample.
///
/// ```
/// use caltech_anomaly::evaluate::{auroc, bootstrap_ci};
/// let scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// let positive = [false, false, true, false, true, false, true, true];
/// let ci = bootstrap_ci(&scores, &positive, auroc, 200, 7, 0.95)?;
/// assert_eq!(ci.estimate, 0.8125);
/// assert!(ci.low <= ci.estimate && ci.estimate <= ci.high);
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn bootstrap_ci(
    scores: &[f64],
    positive: &[bool],
    metric: fn(&[f64], &[bool]) -> f64,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<ConfidenceInterval> {
    check_labelled(scores, positive)?;
    stratified_bootstrap(positive, resamples, seed, level, |rows, labels| {
        let sample: Vec<f64> = rows.iter().map(|&i| scores[i]).collect();
        metric(&sample, labels)
    })
}

/// A paired bootstrap interval of `metric(candidate) − metric(reference)`,
/// two scores of the same images: each stratified resample (as in
/// [`bootstrap_ci`]) draws one set of images and evaluates both scores on
/// it, so the variation the two share (which images happen to be sampled)
/// cancels. An interval that excludes 0 says the difference is not an
/// accident of the sample, even where the two unpaired intervals overlap.
///
/// Errors as [`bootstrap_ci`] does, and when the two scores differ in
/// length.
///
/// ```
/// use caltech_anomaly::evaluate::{auroc, paired_bootstrap_delta};
/// let positive = [false, false, true, false, true, false, true, true];
/// let reference = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// let candidate = [0.1, 0.2, 0.9, 0.4, 0.8, 0.3, 0.7, 0.6];
/// let delta = paired_bootstrap_delta(&reference, &candidate, &positive, auroc, 200, 7, 0.95)?;
/// assert_eq!(delta.estimate, 1.0 - 0.8125);
/// assert!(delta.low <= delta.estimate && delta.estimate <= delta.high);
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn paired_bootstrap_delta(
    reference: &[f64],
    candidate: &[f64],
    positive: &[bool],
    metric: fn(&[f64], &[bool]) -> f64,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<ConfidenceInterval> {
    check_labelled(reference, positive)?;
    check_labelled(candidate, positive)?;
    stratified_bootstrap(positive, resamples, seed, level, |rows, labels| {
        let pick = |scores: &[f64]| rows.iter().map(|&i| scores[i]).collect::<Vec<_>>();
        metric(&pick(candidate), labels) - metric(&pick(reference), labels)
    })
}

/// The stratified bootstrap behind [`bootstrap_ci`] and
/// [`paired_bootstrap_delta`]: `statistic` gets the row indices of the
/// sample (all rows, then each resample: positives first, then negatives)
/// and their labels.
pub(crate) fn stratified_bootstrap(
    positive: &[bool],
    resamples: usize,
    seed: u64,
    level: f64,
    statistic: impl Fn(&[usize], &[bool]) -> f64,
) -> Result<ConfidenceInterval> {
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..positive.len()).partition(|&i| positive[i]);
    if pos.is_empty() || neg.is_empty() {
        return Err(Error::InvalidParameter(
            "the bootstrap needs both positive and negative samples".into(),
        ));
    }
    if resamples == 0 {
        return Err(Error::InvalidParameter(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidParameter(format!(
            "confidence level {level} is outside (0, 1)"
        )));
    }
    let all: Vec<usize> = (0..positive.len()).collect();
    let estimate = statistic(&all, positive);
    if !estimate.is_finite() {
        return Err(Error::InvalidParameter(format!(
            "the metric is {estimate} on the full sample"
        )));
    }

    let labels: Vec<bool> = std::iter::repeat_n(true, pos.len())
        .chain(std::iter::repeat_n(false, neg.len()))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = vec![0; positive.len()];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for (k, slot) in rows.iter_mut().enumerate() {
            let pool = if k < pos.len() { &pos } else { &neg };
            *slot = pool[rng.random_range(0..pool.len())];
        }
        let value = statistic(&rows, &labels);
        if value.is_finite() {
            values.push(value);
        }
    }
    if values.is_empty() {
        return Err(Error::InvalidParameter(
            "the metric is not finite on any resample".into(),
        ));
    }
    let tail = (1.0 - level) / 2.0 * 100.0;
    Ok(ConfidenceInterval {
        estimate,
        low: percentile(&values, tail)?,
        high: percentile(&values, 100.0 - tail)?,
    })
}

/// Counts at one threshold, an image being called anomalous when its score
/// lies strictly above the threshold (as in [`crate::detect`]).
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
    /// use caltech_anomaly::evaluate::ConfusionMatrix;
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
fn ratio(num: usize, den: usize) -> f64 {
    num as f64 / den as f64
}

/// A one-dimensional Gaussian kernel density estimate with Scott's rule, as
/// `scipy.stats.gaussian_kde` computes it by default.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianKde {
    samples: Vec<f64>,
    bandwidth: f64,
}

impl GaussianKde {
    /// Fits the estimate to `samples`.
    ///
    /// Errors on fewer than two samples, non-finite samples, or samples that
    /// are all equal (zero spread: scipy rejects them as singular too).
    ///
    /// ```
    /// use caltech_anomaly::evaluate::GaussianKde;
    /// let kde = GaussianKde::new(&[0.0, 1.0, 3.0])?;
    /// assert!((kde.evaluate(1.0) - 0.214_895_365_337_513_8).abs() < 1e-12);
    /// # Ok::<(), caltech_anomaly::Error>(())
    /// ```
    pub fn new(samples: &[f64]) -> Result<Self> {
        check_finite(samples, "KDE samples")?;
        let n = samples.len();
        if n < 2 {
            return Err(Error::InvalidParameter(
                "a KDE needs at least two samples".into(),
            ));
        }
        let mean = samples.iter().sum::<f64>() / n as f64;
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        if variance <= 0.0 {
            return Err(Error::InvalidParameter(
                "KDE samples are all equal: no spread to scale the kernel by".into(),
            ));
        }
        Ok(GaussianKde {
            samples: samples.to_vec(),
            bandwidth: variance.sqrt() * (n as f64).powf(-0.2),
        })
    }

    /// The kernel's standard deviation: `σ · n^(−1/5)` with `σ` the sample
    /// standard deviation (ddof = 1); scipy calls `n^(−1/5)` the factor.
    pub fn bandwidth(&self) -> f64 {
        self.bandwidth
    }

    /// The density at `x`.
    pub fn evaluate(&self, x: f64) -> f64 {
        let h = self.bandwidth;
        let sum: f64 = self
            .samples
            .iter()
            .map(|s| (-0.5 * ((x - s) / h).powi(2)).exp())
            .sum();
        sum / (self.samples.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt())
    }
}

/// Projects `rows` (latent codes, one per image) onto their first two
/// principal components, with linfa-reduction's PCA.
///
/// Returns the coordinates and each component's share of the total
/// variance. The share is computed here, as scikit-learn's
/// `explained_variance_ratio_`, because linfa's `explained_variance_ratio`
/// is normalised over the kept components only (two components would always
/// sum to 1). Data of rank one yields a zero second coordinate and share.
/// Component signs are arbitrary.
///
/// Errors on fewer than two rows, rows shorter than two or of unequal
/// lengths, non-finite values, identical rows, or a failed decomposition.
///
/// ```
/// use caltech_anomaly::evaluate::pca_2d;
/// let rows = vec![vec![0.0, 0.0, 1.0], vec![1.0, 2.0, 1.0], vec![2.0, 4.1, 1.0], vec![3.0, 5.9, 1.0]];
/// let (points, ratio) = pca_2d(&rows)?;
/// assert_eq!(points.len(), 4);
/// assert!(ratio[0] > 0.99 && ratio[0] + ratio[1] <= 1.0 + 1e-9);
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn pca_2d(rows: &[Vec<f32>]) -> Result<(Vec<[f64; 2]>, [f64; 2])> {
    let n = rows.len();
    if n < 2 {
        return Err(Error::InvalidParameter(
            "PCA needs at least two rows".into(),
        ));
    }
    let d = rows[0].len();
    if d < 2 {
        return Err(Error::InvalidParameter(format!(
            "PCA to two components needs at least two features, rows have {d}"
        )));
    }
    if let Some(i) = rows.iter().position(|r| r.len() != d) {
        return Err(Error::InvalidParameter(format!(
            "row {i} has {} values, row 0 has {d}",
            rows[i].len()
        )));
    }
    if let Some(i) = rows.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::InvalidParameter(format!(
            "row {i} holds a non-finite value"
        )));
    }
    let x = Array2::from_shape_fn((n, d), |(i, j)| f64::from(rows[i][j]));
    let total: f64 = match x.mean_axis(Axis(0)) {
        Some(mean) => (&x - &mean).mapv(|v| v * v).sum(),
        None => 0.0,
    };
    if total <= 0.0 {
        return Err(Error::InvalidParameter(
            "PCA input rows are all identical".into(),
        ));
    }
    let dataset = DatasetBase::from(x);
    let pca = Pca::params(2)
        .fit(&dataset)
        .map_err(|e| Error::InvalidParameter(format!("PCA failed: {e}")))?;
    let projected: Array2<f64> = pca.predict(&dataset);
    // linfa drops components whose singular value is negligible.
    let kept = projected.ncols().min(2);
    let mut ratio = [0.0; 2];
    for (r, sigma) in ratio
        .iter_mut()
        .zip(pca.singular_values().iter())
        .take(kept)
    {
        *r = sigma * sigma / total;
    }
    let points = projected
        .rows()
        .into_iter()
        .map(|row| {
            let mut point = [0.0; 2];
            for (p, v) in point.iter_mut().zip(row.iter()).take(kept) {
                *p = *v;
            }
            point
        })
        .collect();
    Ok((points, ratio))
}

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
        row.mean_error += score.error;
        row.flagged += usize::from(is_flagged(score.error, threshold));
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
    let (errors, labels) = (scores.errors(), scores.labels());
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
    let (errors, labels) = (scores.errors(), scores.labels());
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
        matrix: ConfusionMatrix::from_scores(&scores.errors(), &scores.labels(), threshold)?,
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
        all: GaussianKde::new(&scores.errors())?,
        held_out: GaussianKde::new(&scores.held_out_errors())?,
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
