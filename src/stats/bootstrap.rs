//! Bootstrap confidence intervals: per metric, and for the paired
//! difference of two detectors on the same images, both stratified by label.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::stats::{check_labelled, percentile};

/// Resamples drawn before a batch of them is evaluated in parallel.
const RESAMPLES_PER_BATCH: usize = 64;

/// A metric with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// The metric on the full sample.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// A bootstrap percentile interval of `metric` (such as
/// [`auroc`](crate::stats::auroc) or [`auprc`](crate::stats::auprc)) at
/// confidence `level` in `(0, 1)`.
///
/// Resampling is stratified: each resample draws, with replacement, as many
/// positives from the positives and as many negatives from the negatives as
/// the sample holds (pROC's default for ROC curves), so no resample lacks a
/// class. Resamples on which `metric` is not finite are skipped. The bounds
/// are the `(1 − level)/2` and `(1 + level)/2` quantiles of the resampled
/// values ([`percentile()`]'s definition). Draws come from a `ChaCha8Rng`
/// seeded with `seed`: the same input and seed give the same interval on
/// every platform.
///
/// Errors on a length mismatch, non-finite scores, a missing class,
/// `resamples == 0`, `level` outside `(0, 1)`, or a metric that is not
/// finite on the full sample or on every resample.
///
/// ```
/// use caltech_anomaly::stats::{auroc, bootstrap_ci};
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
/// use caltech_anomaly::stats::{auroc, paired_bootstrap_delta};
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
    statistic: impl Fn(&[usize], &[bool]) -> f64 + Sync,
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
    // Drawn in order from one generator, evaluated in parallel a batch at a
    // time: the values, and so the interval, do not depend on the threads.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || -> Vec<usize> {
        let pools =
            std::iter::repeat_n(&pos, pos.len()).chain(std::iter::repeat_n(&neg, neg.len()));
        pools
            .map(|pool| pool[rng.random_range(0..pool.len())])
            .collect()
    };
    let mut values = Vec::with_capacity(resamples);
    for start in (0..resamples).step_by(RESAMPLES_PER_BATCH) {
        let batch: Vec<Vec<usize>> = (start..resamples.min(start + RESAMPLES_PER_BATCH))
            .map(|_| draw())
            .collect();
        let evaluated: Vec<f64> = batch
            .par_iter()
            .map(|rows| statistic(rows, &labels))
            .collect();
        values.extend(evaluated.into_iter().filter(|v| v.is_finite()));
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
