//! Report section 7 through the public API: ROC and precision-recall
//! curves, bootstrap intervals, the confusion matrix, the KDE, the PCA view
//! and per-class flag rates.

use approx::{assert_abs_diff_eq, assert_relative_eq};
use caltech_anomaly::Error;
use caltech_anomaly::analysis::{PerClassRow, per_class, per_class_dataframe};
use caltech_anomaly::data::Split;
use caltech_anomaly::scoring::ScoreRow;
use caltech_anomaly::stats::{
    ConfusionMatrix, GaussianKde, RocPoint, auprc, auroc, bootstrap_ci, paired_bootstrap_delta,
    pca_2d, pr_curve, roc_curve,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn invalid<T: std::fmt::Debug>(result: caltech_anomaly::Result<T>) -> bool {
    matches!(result, Err(Error::InvalidParameter(_)))
}

/// Trapezoid area under a ROC curve.
fn roc_area(points: &[RocPoint]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].fpr - w[0].fpr) * (w[0].tpr + w[1].tpr) / 2.0)
        .sum()
}

/// A hand-sized case with ties inside a class and across classes.
const TIED_SCORES: [f64; 6] = [0.9, 0.8, 0.8, 0.5, 0.3, 0.3];
const TIED_LABELS: [bool; 6] = [true, false, true, true, false, false];

/// Many ties: scores on a coarse grid, labels in an irregular pattern.
fn tied_sample(n: usize) -> (Vec<f64>, Vec<bool>) {
    let scores = (0..n).map(|i| ((i * 37 % 101) / 7) as f64).collect();
    let positive = (0..n).map(|i| (i * 13 % 17) < 5).collect();
    (scores, positive)
}

/// Negatives uniform on [0, 1), positives on [0.3, 1.3): AUROC ≈ 0.745.
fn overlapping_sample(n_neg: usize, n_pos: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scores: Vec<f64> = (0..n_neg).map(|_| rng.random::<f64>()).collect();
    scores.extend((0..n_pos).map(|_| 0.3 + rng.random::<f64>()));
    let positive = (0..n_neg + n_pos).map(|i| i >= n_neg).collect();
    (scores, positive)
}

#[test]
fn roc_curve_by_hand_with_ties() {
    let roc = roc_curve(&TIED_SCORES, &TIED_LABELS).unwrap();
    let got: Vec<(f64, f64, f64)> = roc.iter().map(|p| (p.threshold, p.fpr, p.tpr)).collect();
    let third = 1.0 / 3.0;
    let expected = [
        (f64::INFINITY, 0.0, 0.0),
        (0.9, 0.0, third),
        // The tie at 0.8 (one positive, one negative) moves both rates at once.
        (0.8, third, 2.0 * third),
        (0.5, third, 1.0),
        (0.3, 1.0, 1.0),
    ];
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.0, e.0);
        assert_abs_diff_eq!(g.1, e.1, epsilon = 1e-12);
        assert_abs_diff_eq!(g.2, e.2, epsilon = 1e-12);
    }
    // Pairs won: 0.9 → 3, 0.8 → 2.5, 0.5 → 2, out of 9.
    assert_abs_diff_eq!(roc_area(&roc), 7.5 / 9.0, epsilon = 1e-12);
    assert_abs_diff_eq!(
        auroc(&TIED_SCORES, &TIED_LABELS),
        7.5 / 9.0,
        epsilon = 1e-12
    );
}

#[test]
fn roc_area_equals_auroc_with_many_ties() {
    for n in [2, 17, 200, 1000] {
        let (mut scores, mut positive) = tied_sample(n);
        // Guarantee both classes for the smallest case.
        positive[0] = true;
        positive[n - 1] = false;
        scores[0] = scores[n - 1];
        let roc = roc_curve(&scores, &positive).unwrap();
        assert_abs_diff_eq!(roc_area(&roc), auroc(&scores, &positive), epsilon = 1e-12);
        assert_eq!((roc[0].fpr, roc[0].tpr), (0.0, 0.0));
        let last = roc.last().unwrap();
        assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
        // One point per distinct score, thresholds strictly decreasing.
        let mut distinct = scores.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert_eq!(roc.len(), distinct.len() + 1);
        assert!(roc.windows(2).all(|w| w[1].threshold < w[0].threshold));
        assert!(
            roc.windows(2)
                .all(|w| w[1].fpr >= w[0].fpr && w[1].tpr >= w[0].tpr)
        );
    }
}

#[test]
fn roc_curve_rejects_bad_input() {
    assert!(invalid(roc_curve(&[], &[])));
    assert!(invalid(roc_curve(&[0.1, 0.2], &[true])));
    assert!(invalid(roc_curve(&[0.1, 0.2], &[true, true])));
    assert!(invalid(roc_curve(&[0.1, 0.2], &[false, false])));
    assert!(invalid(roc_curve(&[0.1, f64::NAN], &[true, false])));
}

#[test]
fn pr_curve_and_average_precision_by_hand_with_ties() {
    let pr = pr_curve(&TIED_SCORES, &TIED_LABELS).unwrap();
    let got: Vec<(f64, f64, f64)> = pr
        .iter()
        .map(|p| (p.threshold, p.precision, p.recall))
        .collect();
    let expected = [
        (0.9, 1.0, 1.0 / 3.0),
        (0.8, 2.0 / 3.0, 2.0 / 3.0),
        (0.5, 0.75, 1.0),
        (0.3, 0.5, 1.0),
    ];
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.0, e.0);
        assert_abs_diff_eq!(g.1, e.1, epsilon = 1e-12);
        assert_abs_diff_eq!(g.2, e.2, epsilon = 1e-12);
    }
    // (1/3)·1 + (1/3)·(2/3) + (1/3)·(3/4) + 0·(1/2) = 29/36.
    assert_abs_diff_eq!(
        auprc(&TIED_SCORES, &TIED_LABELS),
        29.0 / 36.0,
        epsilon = 1e-12
    );
}

#[test]
fn average_precision_edge_cases() {
    // Perfect ranking.
    assert_eq!(
        auprc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
        1.0
    );
    // All tied: one threshold, precision = prevalence.
    assert_abs_diff_eq!(
        auprc(&[0.5; 4], &[true, false, false, false]),
        0.25,
        epsilon = 1e-12
    );
    // Worst ranking: positives last, at precision 1/3 then 2/4.
    assert_abs_diff_eq!(
        auprc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
        0.5 * (1.0 / 3.0) + 0.5 * 0.5,
        epsilon = 1e-12
    );
    // No negative: precision 1 throughout.
    assert_eq!(auprc(&[0.1, 0.2], &[true, true]), 1.0);
    assert!(auprc(&[0.1, 0.2], &[false, false]).is_nan());
    assert!(auprc(&[0.1, f64::NAN], &[true, false]).is_nan());
}

#[test]
fn average_precision_is_the_step_area_of_the_pr_curve() {
    let (scores, positive) = tied_sample(300);
    let pr = pr_curve(&scores, &positive).unwrap();
    let mut previous = 0.0;
    let mut area = 0.0;
    for p in &pr {
        area += (p.recall - previous) * p.precision;
        previous = p.recall;
    }
    assert_abs_diff_eq!(auprc(&scores, &positive), area, epsilon = 1e-12);
    assert_eq!(pr.last().unwrap().recall, 1.0);
}

#[test]
fn pr_curve_rejects_bad_input() {
    assert!(invalid(pr_curve(&[0.1, 0.2], &[false, false])));
    assert!(invalid(pr_curve(&[0.1], &[true, false])));
    assert!(invalid(pr_curve(&[f64::INFINITY], &[true])));
    assert!(invalid(pr_curve(&[], &[])));
}

#[test]
fn bootstrap_is_reproducible_per_seed() {
    let (scores, positive) = overlapping_sample(60, 30, 1);
    let a = bootstrap_ci(&scores, &positive, auroc, 300, 42, 0.95).unwrap();
    let b = bootstrap_ci(&scores, &positive, auroc, 300, 42, 0.95).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_ci(&scores, &positive, auroc, 300, 43, 0.95).unwrap();
    assert_eq!(c.estimate, a.estimate);
    assert!((c.low, c.high) != (a.low, a.high));
}

#[test]
fn bootstrap_interval_contains_the_estimate() {
    let (scores, positive) = overlapping_sample(200, 100, 2);
    for metric in [auroc as fn(&[f64], &[bool]) -> f64, auprc] {
        let ci = bootstrap_ci(&scores, &positive, metric, 500, 9, 0.95).unwrap();
        assert_eq!(ci.estimate, metric(&scores, &positive));
        assert!(ci.low < ci.estimate && ci.estimate < ci.high, "{ci:?}");
        assert!(ci.high - ci.low < 0.3);
    }
    // A lower level gives a nested, narrower interval.
    let wide = bootstrap_ci(&scores, &positive, auroc, 500, 9, 0.95).unwrap();
    let narrow = bootstrap_ci(&scores, &positive, auroc, 500, 9, 0.5).unwrap();
    assert!(wide.low <= narrow.low && narrow.high <= wide.high);
}

#[test]
fn bootstrap_interval_narrows_with_more_data() {
    let (small_s, small_p) = overlapping_sample(40, 20, 3);
    let (large_s, large_p) = overlapping_sample(4000, 2000, 3);
    let small = bootstrap_ci(&small_s, &small_p, auroc, 400, 5, 0.95).unwrap();
    let large = bootstrap_ci(&large_s, &large_p, auroc, 400, 5, 0.95).unwrap();
    // The width shrinks like 1/√n: a factor of 10 here.
    assert!(
        (large.high - large.low) * 4.0 < small.high - small.low,
        "{small:?} vs {large:?}"
    );
    assert_abs_diff_eq!(large.estimate, 0.745, epsilon = 0.02);
}

#[test]
fn paired_delta_is_zero_for_one_score_and_antisymmetric() {
    let (scores, positive) = overlapping_sample(300, 60, 6);
    let same = paired_bootstrap_delta(&scores, &scores, &positive, auroc, 300, 1, 0.95).unwrap();
    assert_eq!((same.estimate, same.low, same.high), (0.0, 0.0, 0.0));

    // A noisier copy of the scores ranks worse, and swapping the two
    // negates the estimate and mirrors the interval (same resamples).
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let noisy: Vec<f64> = scores.iter().map(|s| s + rng.random::<f64>()).collect();
    let worse = paired_bootstrap_delta(&scores, &noisy, &positive, auroc, 400, 3, 0.95).unwrap();
    let better = paired_bootstrap_delta(&noisy, &scores, &positive, auroc, 400, 3, 0.95).unwrap();
    assert_relative_eq!(
        worse.estimate,
        auroc(&noisy, &positive) - auroc(&scores, &positive)
    );
    assert!(worse.high < 0.0, "{worse:?}");
    assert_relative_eq!(better.estimate, -worse.estimate);
    assert_relative_eq!(better.low, -worse.high, epsilon = 1e-12);
    assert_relative_eq!(better.high, -worse.low, epsilon = 1e-12);
}

#[test]
fn pairing_narrows_the_interval_of_a_difference() {
    // Two scores that share most of their per-image variation: the paired
    // interval of their difference is far narrower than either one's own.
    let (scores, positive) = overlapping_sample(300, 40, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let shifted: Vec<f64> = scores
        .iter()
        .zip(&positive)
        .map(|(s, &p)| s + 0.05 * rng.random::<f64>() + if p { 0.05 } else { 0.0 })
        .collect();
    let own = bootstrap_ci(&shifted, &positive, auroc, 400, 2, 0.95).unwrap();
    let delta = paired_bootstrap_delta(&scores, &shifted, &positive, auroc, 400, 2, 0.95).unwrap();
    assert!(delta.low > 0.0, "{delta:?}");
    assert!(
        (delta.high - delta.low) * 3.0 < own.high - own.low,
        "{delta:?} vs {own:?}"
    );
}

#[test]
fn paired_delta_rejects_bad_input() {
    let (scores, positive) = overlapping_sample(10, 10, 4);
    assert!(invalid(paired_bootstrap_delta(
        &scores,
        &scores[..19],
        &positive,
        auroc,
        10,
        1,
        0.95
    )));
    assert!(invalid(paired_bootstrap_delta(
        &scores, &scores, &positive, auroc, 0, 1, 0.95
    )));
    assert!(invalid(paired_bootstrap_delta(
        &scores,
        &scores,
        &[false; 20],
        auroc,
        10,
        1,
        0.95
    )));
}

#[test]
fn bootstrap_rejects_bad_input() {
    let (scores, positive) = overlapping_sample(10, 10, 4);
    assert!(invalid(bootstrap_ci(&scores, &positive, auroc, 0, 1, 0.95)));
    for level in [0.0, 1.0, -0.5, f64::NAN] {
        assert!(invalid(bootstrap_ci(
            &scores, &positive, auroc, 10, 1, level
        )));
    }
    assert!(invalid(bootstrap_ci(
        &scores,
        &[true; 20],
        auroc,
        10,
        1,
        0.95
    )));
    assert!(invalid(bootstrap_ci(
        &scores[..5],
        &positive,
        auroc,
        10,
        1,
        0.95
    )));
    fn never_finite(_: &[f64], _: &[bool]) -> f64 {
        f64::NAN
    }
    assert!(invalid(bootstrap_ci(
        &scores,
        &positive,
        never_finite,
        10,
        1,
        0.95
    )));
}

#[test]
fn confusion_matrix_by_hand() {
    let scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
    let labels = [false, false, true, false, true, false, true, true];
    // Above 0.45: 0.5 (+), 0.6 (−), 0.7 (+), 0.8 (+).
    let cm = ConfusionMatrix::from_scores(&scores, &labels, 0.45).unwrap();
    assert_eq!(
        cm,
        ConfusionMatrix {
            tp: 3,
            fn_: 1,
            tn: 3,
            fp: 1
        }
    );
    assert_eq!(cm.total(), 8);
    assert_abs_diff_eq!(cm.precision(), 0.75, epsilon = 1e-12);
    assert_abs_diff_eq!(cm.recall(), 0.75, epsilon = 1e-12);
    assert_abs_diff_eq!(cm.f1(), 0.75, epsilon = 1e-12);
    assert_abs_diff_eq!(cm.fpr(), 0.25, epsilon = 1e-12);
    assert_abs_diff_eq!(cm.accuracy(), 0.75, epsilon = 1e-12);

    // A score equal to the threshold is not flagged.
    let at = ConfusionMatrix::from_scores(&scores, &labels, 0.5).unwrap();
    assert_eq!((at.tp, at.fn_, at.tn, at.fp), (2, 2, 3, 1));
    assert_abs_diff_eq!(at.precision(), 2.0 / 3.0, epsilon = 1e-12);
    assert_abs_diff_eq!(at.f1(), 4.0 / 7.0, epsilon = 1e-12);
}

#[test]
fn confusion_matrix_zero_divisions_are_nan() {
    // Threshold above everything: nothing flagged, precision undefined.
    let none = ConfusionMatrix::from_scores(&[0.1, 0.9], &[false, true], 1.0).unwrap();
    assert_eq!((none.tp, none.fn_, none.tn, none.fp), (0, 1, 1, 0));
    assert!(none.precision().is_nan());
    assert_eq!(none.recall(), 0.0);
    assert_eq!(none.f1(), 0.0);
    assert_eq!(none.fpr(), 0.0);
    assert_eq!(none.accuracy(), 0.5);

    // Negatives only: recall undefined.
    let neg = ConfusionMatrix::from_scores(&[0.1, 0.9], &[false, false], 0.5).unwrap();
    assert!(neg.recall().is_nan());
    assert_eq!(neg.precision(), 0.0);
    assert_eq!(neg.fpr(), 0.5);

    // Positives only: the false-positive rate is undefined.
    let pos = ConfusionMatrix::from_scores(&[0.1], &[true], 0.5).unwrap();
    assert!(pos.fpr().is_nan());

    // An all-zero matrix (not constructible from scores, which must not be
    // empty): every rate is undefined.
    let zero = ConfusionMatrix {
        tp: 0,
        fn_: 0,
        tn: 0,
        fp: 0,
    };
    assert!(zero.f1().is_nan() && zero.accuracy().is_nan());
}

#[test]
fn confusion_matrix_rejects_bad_input() {
    assert!(matches!(
        ConfusionMatrix::from_scores(&[0.1, 0.2], &[true], 0.5),
        Err(Error::InvalidParameter(_))
    ));
    assert!(ConfusionMatrix::from_scores(&[], &[], 0.5).is_err());
    assert!(ConfusionMatrix::from_scores(&[0.1, f64::NAN], &[true, false], 0.5).is_err());
    assert!(ConfusionMatrix::from_scores(&[0.1], &[true], f64::NAN).is_err());
}

#[test]
fn kde_matches_scipy_by_hand() {
    // Sample [0, 1, 3]: mean 4/3, variance (ddof = 1) 7/3, Scott's factor
    // 3^(−1/5). Densities are the Gaussian mixture written out with numpy,
    // which is what scipy.stats.gaussian_kde evaluates.
    let kde = GaussianKde::new(&[0.0, 1.0, 3.0]).unwrap();
    assert_relative_eq!(kde.bandwidth(), 1.226_207_990_084_442, max_relative = 1e-12);
    assert_relative_eq!(
        kde.bandwidth(),
        (7.0f64 / 3.0).sqrt() * 3f64.powf(-0.2),
        max_relative = 1e-14
    );
    for (x, density) in [
        (0.0, 0.191_655_644_637_354_02),
        (1.0, 0.214_895_365_337_513_8),
        (2.5, 0.164_687_522_102_091_64),
        (-1.0, 0.106_976_873_472_002_53),
    ] {
        assert_relative_eq!(kde.evaluate(x), density, max_relative = 1e-12);
    }
}

#[test]
fn kde_integrates_to_one() {
    let samples = [0.011, 0.012, 0.0125, 0.013, 0.02, 0.021, 0.035, 0.05];
    let kde = GaussianKde::new(&samples).unwrap();
    let h = kde.bandwidth();
    let (lo, hi) = (0.011 - 10.0 * h, 0.05 + 10.0 * h);
    let steps = 4000;
    let dx = (hi - lo) / steps as f64;
    let values: Vec<f64> = (0..=steps)
        .map(|i| kde.evaluate(lo + i as f64 * dx))
        .collect();
    let integral: f64 = values.windows(2).map(|w| (w[0] + w[1]) / 2.0 * dx).sum();
    assert_abs_diff_eq!(integral, 1.0, epsilon = 1e-3);
    assert!(values.iter().all(|&v| v >= 0.0));
}

#[test]
fn kde_rejects_bad_input() {
    assert!(invalid(GaussianKde::new(&[])));
    assert!(invalid(GaussianKde::new(&[1.0])));
    assert!(invalid(GaussianKde::new(&[2.0, 2.0, 2.0])));
    assert!(invalid(GaussianKde::new(&[1.0, f64::NAN])));
}

/// Sample variance (ddof = 1) of one coordinate.
fn variance(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
}

#[test]
fn pca_on_a_noisy_line() {
    // y = 2x plus a small deterministic wiggle.
    let rows: Vec<Vec<f32>> = (0..40)
        .map(|i| {
            let x = i as f32 * 0.5;
            let noise = ((i * 7 % 5) as f32 - 2.0) * 0.01;
            vec![x, 2.0 * x + noise]
        })
        .collect();
    let (points, ratio) = pca_2d(&rows).unwrap();
    assert_eq!(points.len(), rows.len());

    // The covariance's eigenvalues, in closed form for 2×2.
    let xs = rows.iter().map(|r| f64::from(r[0]));
    let ys = rows.iter().map(|r| f64::from(r[1]));
    let (a, c) = (variance(xs.clone()), variance(ys.clone()));
    let n = rows.len() as f64;
    let (mx, my) = (xs.clone().sum::<f64>() / n, ys.clone().sum::<f64>() / n);
    let b = xs.zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / (n - 1.0);
    let root = (((a - c) / 2.0).powi(2) + b * b).sqrt();
    let (l1, l2) = ((a + c) / 2.0 + root, (a + c) / 2.0 - root);

    assert_relative_eq!(
        variance(points.iter().map(|p| p[0])),
        l1,
        max_relative = 1e-6
    );
    assert_abs_diff_eq!(variance(points.iter().map(|p| p[1])), l2, epsilon = 1e-6);
    assert!(ratio[0] > 0.9999, "{ratio:?}");
    assert_relative_eq!(ratio[0], l1 / (l1 + l2), max_relative = 1e-9);
    assert_abs_diff_eq!(ratio[0] + ratio[1], 1.0, epsilon = 1e-9);
    // Centred coordinates.
    assert_abs_diff_eq!(
        points.iter().map(|p| p[0]).sum::<f64>(),
        0.0,
        epsilon = 1e-6
    );
}

#[test]
fn pca_explained_variance_is_a_share_of_the_total() {
    // The 8 corners of a 6 × 4 × 2 box: axis variances in ratio 9 : 4 : 1.
    let mut rows = Vec::new();
    for x in [-3.0f32, 3.0] {
        for y in [-2.0f32, 2.0] {
            for z in [-1.0f32, 1.0] {
                rows.push(vec![z, x, y]);
            }
        }
    }
    let (points, ratio) = pca_2d(&rows).unwrap();
    assert_relative_eq!(ratio[0], 9.0 / 14.0, max_relative = 1e-6);
    assert_relative_eq!(ratio[1], 4.0 / 14.0, max_relative = 1e-6);
    // The first component is the x axis (up to sign).
    for (point, row) in points.iter().zip(&rows) {
        assert_abs_diff_eq!(point[0].abs(), f64::from(row[1]).abs(), epsilon = 1e-6);
        assert_abs_diff_eq!(point[1].abs(), f64::from(row[2]).abs(), epsilon = 1e-6);
    }
}

#[test]
fn pca_of_rank_one_data() {
    let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 2.0 * i as f32]).collect();
    let (points, ratio) = pca_2d(&rows).unwrap();
    assert_abs_diff_eq!(ratio[0], 1.0, epsilon = 1e-9);
    assert_abs_diff_eq!(ratio[1], 0.0, epsilon = 1e-9);
    for (i, p) in points.iter().enumerate() {
        // Distance from the mean point (4.5, 9) along the line.
        assert_abs_diff_eq!(
            p[0].abs(),
            (i as f64 - 4.5).abs() * 5f64.sqrt(),
            epsilon = 1e-6
        );
        assert_abs_diff_eq!(p[1], 0.0, epsilon = 1e-6);
    }
}

#[test]
fn pca_rejects_bad_input() {
    assert!(invalid(pca_2d(&[])));
    assert!(invalid(pca_2d(&[vec![1.0, 2.0]])));
    assert!(invalid(pca_2d(&[vec![1.0], vec![2.0]])));
    assert!(invalid(pca_2d(&[vec![1.0, 2.0], vec![2.0]])));
    assert!(invalid(pca_2d(&[vec![1.0, 2.0], vec![2.0, f32::NAN]])));
    assert!(invalid(pca_2d(&[vec![1.0, 2.0], vec![1.0, 2.0]])));
}

fn score(class: &str, error: f64, held_out: bool) -> ScoreRow {
    ScoreRow {
        path: format!("{class}/x.jpg"),
        class: class.into(),
        label: 0,
        split: Split::Test,
        score: error,
        held_out,
    }
}

#[test]
fn per_class_by_hand() {
    let test = vec![
        score("ant", 0.1, false),
        score("pizza", 0.6, false),
        score("ant", 0.3, false),
        score("BACKGROUND_Google", 0.9, true),
        score("pizza", 0.2, false),
        score("accordion", 0.55, false),
        score("ant", 0.7, false),
        score("Faces", 0.05, false),
        score("accordion", 0.45, false),
    ];
    let rows = per_class(&test, 0.5);
    let row = |class: &str, images, mean_error, flagged, flag_rate| PerClassRow {
        class: class.into(),
        images,
        mean_error,
        flagged,
        flag_rate,
    };
    let expected = [
        // accordion and pizza tie at 1/2: accordion's mean 0.5 > pizza's 0.4.
        row("accordion", 2, 0.5, 1, 0.5),
        row("pizza", 2, 0.4, 1, 0.5),
        row("ant", 3, 1.1 / 3.0, 1, 1.0 / 3.0),
        row("Faces", 1, 0.05, 0, 0.0),
    ];
    assert_eq!(rows.len(), expected.len(), "held-out class left out");
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(
            (&got.class, got.images, got.flagged),
            (&want.class, want.images, want.flagged)
        );
        assert_abs_diff_eq!(got.mean_error, want.mean_error, epsilon = 1e-12);
        assert_abs_diff_eq!(got.flag_rate, want.flag_rate, epsilon = 1e-12);
    }
    assert!(per_class(&[], 0.5).is_empty());

    let df = per_class_dataframe(&rows).unwrap();
    assert_eq!(df.shape(), (4, 5));
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        ["class", "images", "mean_error", "flagged", "flag_rate"]
    );
    assert_eq!(
        df.column("class").unwrap().str().unwrap().get(2),
        Some("ant")
    );
    assert_eq!(df.column("flagged").unwrap().u64().unwrap().get(3), Some(0));
}
