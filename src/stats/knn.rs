//! Nearest neighbours among feature vectors, by cosine distance.

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};

/// Rows scaled to unit length.
fn unit_rows(mut x: Array2<f32>) -> Array2<f32> {
    for mut row in x.rows_mut() {
        let norm = row.dot(&row).sqrt().max(1e-12);
        row /= norm;
    }
    x
}

/// The mean cosine distance of each query to its `k` nearest rows of
/// `bank` (PatchCore's nearest-neighbour score, at image level).
pub fn knn_distances(bank: &Array2<f32>, queries: &Array2<f32>, k: usize) -> Result<Vec<f64>> {
    if k == 0 || k > bank.nrows() {
        return Err(Error::InvalidParameter(format!(
            "k = {k} nearest neighbours of a bank of {}",
            bank.nrows()
        )));
    }
    let bank = unit_rows(bank.clone());
    let queries = unit_rows(queries.clone());
    let mut scores = Vec::with_capacity(queries.nrows());
    for chunk in queries.axis_chunks_iter(Axis(0), 512) {
        let similarity = chunk.dot(&bank.t());
        for row in similarity.rows() {
            let mut distances: Vec<f32> = row.iter().map(|s| 1.0 - s).collect();
            distances.select_nth_unstable_by(k - 1, f32::total_cmp);
            scores.push(distances[..k].iter().map(|&d| f64::from(d)).sum::<f64>() / k as f64);
        }
    }
    Ok(scores)
}
