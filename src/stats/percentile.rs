//! Percentiles as numpy computes them, the checks on their inputs, and the
//! one definition of "flagged".

use crate::error::{Error, Result};

/// The one definition of "flagged" used by every table of sections 6 and 7.
pub(crate) fn is_flagged(error: f64, threshold: f64) -> bool {
    error > threshold
}

/// Rejects an empty slice or one holding NaN or an infinity.
pub(crate) fn check_finite(values: &[f64], what: &str) -> Result<()> {
    if values.is_empty() {
        return Err(Error::InvalidParameter(format!("{what} are empty")));
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::InvalidParameter(format!(
            "{what} must be finite, entry {i} is {v}"
        )));
    }
    Ok(())
}

pub(crate) fn check_percentile(p: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&p) {
        return Err(Error::InvalidParameter(format!(
            "percentile {p} is outside 0..=100"
        )));
    }
    Ok(())
}

/// The `p`-th percentile of `values`, as `numpy.percentile` computes it by
/// default: linear interpolation between the closest ranks, at rank
/// `p / 100 · (n − 1)` of the sorted values.
///
/// Errors on empty or non-finite `values` and on `p` outside `0..=100`.
///
/// ```
/// use caltech_anomaly::stats::percentile;
/// assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 75.0)?, 3.25);
/// assert!(percentile(&[1.0], 101.0).is_err());
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn percentile(values: &[f64], p: f64) -> Result<f64> {
    check_finite(values, "percentile input values")?;
    check_percentile(p)?;
    Ok(percentile_of_sorted(&sorted(values), p))
}

/// A sorted copy of `values` (total order).
pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// [`percentile`] of already sorted, checked values. The arithmetic follows
/// numpy's (`(n − 1) · q` and its two-sided lerp) so that results agree to
/// the last bit.
pub(crate) fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    let last = sorted.len() - 1;
    let rank = last as f64 * (p / 100.0);
    let below = rank.floor();
    // `rank` lies in 0..=last, so the cast is exact.
    let i = below as usize;
    if i >= last {
        return sorted[last];
    }
    let (a, b, t) = (sorted[i], sorted[i + 1], rank - below);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn percentile_matches_numpy() {
        // Expected values from numpy.percentile (numpy 2.4, method="linear").
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 75.0).unwrap(), 3.25);
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_abs_diff_eq!(percentile(&v, 40.0).unwrap(), 29.0, epsilon = 1e-12);
        assert_abs_diff_eq!(percentile(&v, 5.0).unwrap(), 16.0, epsilon = 1e-12);
        assert_abs_diff_eq!(percentile(&v, 30.0).unwrap(), 23.0, epsilon = 1e-12);
        assert_eq!(percentile(&v, 0.0).unwrap(), 15.0);
        assert_eq!(percentile(&v, 50.0).unwrap(), 35.0);
        assert_eq!(percentile(&v, 100.0).unwrap(), 50.0);
        assert_abs_diff_eq!(
            percentile(&[10.0, 1.0, 7.0, 3.0], 33.3).unwrap(),
            2.998,
            epsilon = 1e-12
        );
        assert_eq!(percentile(&[3.0], 37.0).unwrap(), 3.0);
    }

    #[test]
    fn percentile_rejects_bad_input() {
        for bad in [-0.1, 100.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                percentile(&[1.0, 2.0], bad),
                Err(Error::InvalidParameter(_))
            ));
        }
        assert!(matches!(
            percentile(&[], 50.0),
            Err(Error::InvalidParameter(_))
        ));
        assert!(matches!(
            percentile(&[1.0, f64::NAN], 50.0),
            Err(Error::InvalidParameter(_))
        ));
    }

    #[test]
    fn flagging_is_strictly_above() {
        assert!(!is_flagged(1.0, 1.0));
        assert!(is_flagged(1.0 + 1e-12, 1.0));
        assert!(!is_flagged(1.0, f64::NAN));
    }
}
