//! Gaussians fitted on feature vectors, scored by the Mahalanobis
//! distance: one for all normal images, or one mean per class with a shared
//! covariance.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array1, Array2, Axis};

use super::linalg::spd_inverse;
use crate::error::{Error, Result};

/// A Gaussian fitted on normal features: the Mahalanobis distance of a
/// new one is its score (PaDiM's, at image level).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    mean: Array1<f64>,
    precision: Array2<f64>,
}

impl Gaussian {
    /// Mean and covariance of the rows of `x`, the covariance regularised
    /// by `ridge · I` (PaDiM uses 0.01) so that it can be inverted.
    pub fn fit(x: &Array2<f32>, ridge: f64) -> Result<Self> {
        if x.nrows() < 2 || !(ridge >= 0.0 && ridge.is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "a Gaussian needs at least 2 rows and a finite ridge >= 0 (got {} rows, ridge {ridge})",
                x.nrows()
            )));
        }
        let x = x.mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).expect("rows");
        let centred = &x - &mean;
        let mut covariance = centred.t().dot(&centred) / (x.nrows() - 1) as f64;
        covariance.diag_mut().mapv_inplace(|v| v + ridge);
        let precision = spd_inverse(&covariance)?;
        Ok(Self { mean, precision })
    }

    /// The Mahalanobis distance of each row of `x`.
    pub fn distances(&self, x: &Array2<f32>) -> Vec<f64> {
        let centred = &x.mapv(f64::from) - &self.mean;
        let projected = centred.dot(&self.precision);
        (&projected * &centred)
            .sum_axis(Axis(1))
            .iter()
            .map(|d| d.max(0.0).sqrt())
            .collect()
    }
}

/// Gaussians with one mean per class and a covariance they share, fitted
/// on labelled normal features: the distance to the nearest class mean is
/// the score (Lee et al. 2018's Mahalanobis detector).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassGaussian {
    /// `classes × features`.
    means: Array2<f64>,
    precision: Array2<f64>,
}

impl ClassGaussian {
    /// Class means of the rows of `x` (class `classes[i]` for row `i`;
    /// only the classes that occur count) and the pooled within-class
    /// covariance plus `ridge · I`.
    pub fn fit(x: &Array2<f32>, classes: &[usize], ridge: f64) -> Result<Self> {
        let present: BTreeMap<usize, usize> = classes
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        let k = present.len();
        if classes.len() != x.nrows() || x.nrows() <= k || !(ridge >= 0.0 && ridge.is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "a class Gaussian needs one class per row, more rows than classes and a finite \
                 ridge >= 0 (got {} rows, {} classes given, {k} classes, ridge {ridge})",
                x.nrows(),
                classes.len()
            )));
        }
        let classes: Vec<usize> = classes.iter().map(|c| present[c]).collect();
        let x = x.mapv(f64::from);
        let mut means = Array2::<f64>::zeros((k, x.ncols()));
        let mut counts = vec![0usize; k];
        for (row, &c) in x.rows().into_iter().zip(&classes) {
            means.row_mut(c).scaled_add(1.0, &row);
            counts[c] += 1;
        }
        for (mut mean, &n) in means.rows_mut().into_iter().zip(&counts) {
            mean /= n as f64;
        }
        let mut centred = x;
        for (mut row, &c) in centred.rows_mut().into_iter().zip(&classes) {
            row -= &means.row(c);
        }
        let mut covariance = centred.t().dot(&centred) / (centred.nrows() - k) as f64;
        covariance.diag_mut().mapv_inplace(|v| v + ridge);
        let precision = spd_inverse(&covariance)?;
        Ok(Self { means, precision })
    }

    /// The Mahalanobis distance of each row of `x` to its nearest class
    /// mean: `min_c sqrt((x − μ_c)ᵀ P (x − μ_c))`, expanded as
    /// `xᵀPx − 2 μ_cᵀPx + μ_cᵀPμ_c` for all classes at once.
    pub fn distances(&self, x: &Array2<f32>) -> Vec<f64> {
        let x = x.mapv(f64::from);
        let projected = x.dot(&self.precision);
        let own = (&projected * &x).sum_axis(Axis(1));
        let cross = projected.dot(&self.means.t());
        let mean_terms = (&self.means.dot(&self.precision) * &self.means).sum_axis(Axis(1));
        cross
            .rows()
            .into_iter()
            .zip(&own)
            .map(|(row, &o)| {
                let nearest = row
                    .iter()
                    .zip(&mean_terms)
                    .map(|(&c, &m)| o - 2.0 * c + m)
                    .fold(f64::INFINITY, f64::min);
                nearest.max(0.0).sqrt()
            })
            .collect()
    }
}
