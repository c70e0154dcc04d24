//! A Gaussian kernel density estimate with Scott's bandwidth, for the
//! error-density figure.

use crate::error::{Error, Result};
use crate::stats::check_finite;

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
    /// use caltech_anomaly::stats::GaussianKde;
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
