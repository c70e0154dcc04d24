//! Confidence intervals: the Wilson score interval of a rate, and the
//! number of bootstrap resamples behind the bootstrap intervals.

/// Bootstrap resamples behind each AUROC interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of a binomial rate `k / n` at 95 %.
///
/// ```
/// use caltech_anomaly::stats::wilson_interval;
/// let (low, high) = wilson_interval(15, 29);
/// assert!((low - 0.3443).abs() < 1e-4 && (high - 0.6861).abs() < 1e-4);
/// ```
pub fn wilson_interval(k: usize, n: usize) -> (f64, f64) {
    let (k, n, z2) = (k as f64, n as f64, Z95 * Z95);
    let center = (k + z2 / 2.0) / (n + z2);
    let half = Z95 / (n + z2) * (k * (n - k) / n + z2 / 4.0).sqrt();
    (center - half, center + half)
}
