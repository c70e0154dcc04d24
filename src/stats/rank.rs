//! Ranks, and the fusion of two scores by their ranks.

use crate::error::{Error, Result};

/// Ranks in 1..=n (ties share their mean rank), scaled to (0, 1].
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            out[o] = rank / values.len() as f64;
        }
        i = j + 1;
    }
    out
}

/// The mean of the two scores' ranks: a fusion that needs no scale.
pub fn rank_average(a: &[f64], b: &[f64]) -> Result<Vec<f64>> {
    if a.len() != b.len() {
        return Err(Error::InvalidParameter(format!(
            "{} and {} scores cannot be fused",
            a.len(),
            b.len()
        )));
    }
    Ok(ranks(a)
        .iter()
        .zip(ranks(b))
        .map(|(x, y)| (x + y) / 2.0)
        .collect())
}
