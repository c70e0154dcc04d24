//! A two-component PCA (linfa) of latent codes, for the scatter figure.

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_reduction::Pca;
use ndarray::{Array2, Axis};

use crate::error::{Error, Result};

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
/// use caltech_anomaly::stats::pca_2d;
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
