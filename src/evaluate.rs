//! Report section 7: how well the reconstruction error separates the
//! held-out class (positive) from the object images (negative).

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
