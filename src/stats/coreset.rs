//! PatchCore's greedy coreset (Roth et al. 2022, after Sener & Savarese
//! 2018): a subset whose nearest-member distance to every point is kept
//! small, chosen on a random projection of the points.

use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Rows per parallel chunk of the distance update.
const CHUNK: usize = 4096;

/// `m` row indices of the `n × d` row-major `points`, chosen greedily: the
/// first at random, then each time the point farthest from those chosen
/// (k-centre). Distances are measured after a random ±1/√p projection to
/// `projection` dimensions (Johnson-Lindenstrauss), which keeps them
/// within a few per cent and makes each step `n × projection` work.
pub fn greedy_coreset(
    points: &[f32],
    d: usize,
    m: usize,
    projection: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    if d == 0 || !points.len().is_multiple_of(d) {
        return Err(Error::InvalidParameter(format!(
            "{} values are not rows of {d}",
            points.len()
        )));
    }
    let n = points.len() / d;
    if m == 0 || m > n {
        return Err(Error::InvalidParameter(format!(
            "a coreset of {m} of {n} points: give 1 to {n}"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = 1.0 / (projection as f32).sqrt();
    let matrix: Vec<f32> = (0..d * projection)
        .map(|_| if rng.random::<bool>() { scale } else { -scale })
        .collect();
    let points = ArrayView2::from_shape((n, d), points).expect("n rows of d");
    let matrix = ArrayView2::from_shape((d, projection), &matrix).expect("d × projection");
    let projected: Vec<f32> = points.dot(&matrix).into_iter().collect();
    let mut nearest = vec![f32::INFINITY; n];
    let mut chosen = Vec::with_capacity(m);
    let mut next = rng.random_range(0..n);
    for _ in 0..m {
        chosen.push(next);
        let centre = projected[next * projection..(next + 1) * projection].to_vec();
        next = nearest
            .par_chunks_mut(CHUNK)
            .zip(projected.par_chunks(CHUNK * projection))
            .enumerate()
            .map(|(c, (nearest, rows))| {
                let mut farthest = (f32::NEG_INFINITY, 0);
                for (i, (best, row)) in nearest.iter_mut().zip(rows.chunks(projection)).enumerate()
                {
                    let distance: f32 = row
                        .iter()
                        .zip(&centre)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    *best = best.min(distance);
                    if *best > farthest.0 {
                        farthest = (*best, c * CHUNK + i);
                    }
                }
                farthest
            })
            .reduce(
                || (f32::NEG_INFINITY, 0),
                |a, b| if b.0 > a.0 { b } else { a },
            )
            .1;
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_every_cluster_before_a_second_point_of_any() {
        // Four tight clusters far apart: a 4-point coreset holds one of each.
        let centres = [[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]];
        let mut points = Vec::new();
        for i in 0..200 {
            let c = centres[i % 4];
            let jitter = (i as f32 * 0.37).sin();
            points.extend([c[0] + jitter, c[1] - jitter]);
        }
        let chosen = greedy_coreset(&points, 2, 4, 2, 7).unwrap();
        let mut clusters: Vec<usize> = chosen.iter().map(|&i| i % 4).collect();
        clusters.sort_unstable();
        assert_eq!(clusters, [0, 1, 2, 3]);
    }

    #[test]
    fn distinct_indices_and_checked_sizes() {
        let points: Vec<f32> = (0..300).map(|i| (i as f32 * 0.91).cos()).collect();
        let chosen = greedy_coreset(&points, 3, 50, 8, 1).unwrap();
        let mut unique = chosen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 50);
        assert!(greedy_coreset(&points, 3, 0, 8, 1).is_err());
        assert!(greedy_coreset(&points, 3, 101, 8, 1).is_err());
        assert!(greedy_coreset(&points, 7, 1, 8, 1).is_err());
    }
}
