//! The feature-based scores, their fusion and the ladder, on small
//! matrices whose answers are known.

mod common;

use std::time::{Duration, SystemTime};

use approx::assert_abs_diff_eq;
use caltech_anomaly::analysis::{Bootstrap, Ladder, LadderSpec, ladder, position};
use caltech_anomaly::data::Split;
use caltech_anomaly::scoring::{Architecture, Backbone, DetectorId, DetectorScores, rescored};
use caltech_anomaly::scoring::{ScoreRow, Scores, UnseenRow};
use caltech_anomaly::scoring::{
    UNSEEN_SCORES_FILE, read_seconds, seconds_file, unseen_scores_seconds, write_seconds,
    write_unseen_scores,
};
use caltech_anomaly::stats::auroc;
use caltech_anomaly::stats::{Gaussian, knn_distances, rank_average, spd_inverse};
use ndarray::{Array2, array};

#[test]
fn a_query_in_the_bank_is_at_distance_zero_and_scale_does_not_matter() {
    let bank = array![[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let queries = array![[2.0f32, 0.0, 0.0], [1.0, 1.0, 0.0]];
    let d1 = knn_distances(&bank, &queries, 1).unwrap();
    assert_abs_diff_eq!(d1[0], 0.0, epsilon = 1e-6);
    // cos 45° to both of its two nearest neighbours.
    assert_abs_diff_eq!(d1[1], 1.0 - 0.5f64.sqrt(), epsilon = 1e-6);
    let d2 = knn_distances(&bank, &queries, 2).unwrap();
    assert_abs_diff_eq!(d2[0], 0.5, epsilon = 1e-6);
    assert!(knn_distances(&bank, &queries, 0).is_err());
    assert!(knn_distances(&bank, &queries, 4).is_err());
}

#[test]
fn the_mahalanobis_distance_of_an_axis_aligned_gaussian_is_in_standard_deviations() {
    // x has standard deviation 2, y 0.5 (sample variances 4 and 0.25).
    let x = array![[2.0f32, 0.5], [-2.0, -0.5], [2.0, -0.5], [-2.0, 0.5]];
    let scale = (4.0f64 / 3.0).sqrt(); // sample (n - 1) variance of ±2 is 16/3
    let gaussian = Gaussian::fit(&x, 0.0).unwrap();
    let d = gaussian.distances(&array![[0.0f32, 0.0], [2.0, 0.0], [0.0, 0.5]]);
    assert_abs_diff_eq!(d[0], 0.0, epsilon = 1e-9);
    assert_abs_diff_eq!(d[1], 2.0 / (2.0 * scale), epsilon = 1e-6);
    assert_abs_diff_eq!(d[2], 0.5 / (0.5 * scale), epsilon = 1e-6);
    // Rank-deficient data needs the ridge.
    let flat = Array2::from_shape_vec((3, 2), vec![1.0f32, 1.0, 2.0, 2.0, 3.0, 3.0]).unwrap();
    assert!(Gaussian::fit(&flat, 0.0).is_err());
    assert!(Gaussian::fit(&flat, 0.01).is_ok());
}

#[test]
fn rank_average_keeps_an_order_both_scores_agree_on() {
    let a = [0.1, 0.5, 0.3, 0.9];
    let b = [10.0, 30.0, 20.0, 40.0];
    let fused = rank_average(&a, &b).unwrap();
    assert_eq!(fused, vec![0.25, 0.75, 0.5, 1.0]);
    // Ties share their mean rank.
    assert_eq!(
        rank_average(&[1.0, 1.0], &[1.0, 1.0]).unwrap(),
        vec![0.75, 0.75]
    );
    assert!(rank_average(&a, &b[..3]).is_err());
}

fn rows(errors: &[f64], held_out: &[bool]) -> Scores {
    Scores(
        errors
            .iter()
            .zip(held_out)
            .enumerate()
            .map(|(i, (&error, &held_out))| ScoreRow {
                path: format!("c/{i}.jpg"),
                class: if held_out { "background_google" } else { "c" }.into(),
                label: 0,
                split: Split::Test,
                score: error,
                held_out,
            })
            .collect(),
    )
}

fn unseen(values: &[f64], held_out: &[bool]) -> Vec<UnseenRow> {
    values
        .iter()
        .zip(held_out)
        .enumerate()
        .map(|(i, (&error, &held_out))| UnseenRow {
            path: format!("u/{i}.jpg"),
            class: "c".into(),
            score: error,
            held_out,
        })
        .collect()
}

#[test]
fn the_ladder_measures_every_detector_against_the_reference() {
    let labels = [false, false, true, false, true, false, false, true];
    let test = rows(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], &labels);
    let perfect = [0.0, 0.1, 0.9, 0.2, 0.8, 0.3, 0.1, 0.95];
    let detector = |id: DetectorId, values: &[f64]| DetectorScores {
        id,
        pretrained: false,
        test: rescored(&test, values),
        unseen: Some(unseen(values, &labels)),
        seconds: 1.0,
        bank_bytes: None,
    };
    let (improved3, knn) = (
        DetectorId::Autoencoder(Architecture::Improved3),
        DetectorId::Knn {
            backbone: Backbone::Lite0,
            k: 5,
        },
    );
    let detectors = [
        detector(improved3.clone(), &test.scores()),
        detector(knn.clone(), &perfect),
    ];
    let bootstrap = Bootstrap {
        resamples: 200,
        seed: 3,
    };
    let references = (
        position(&detectors, &improved3).unwrap(),
        Some(position(&detectors, &knn).unwrap()),
    );
    assert_eq!(references, (0, Some(1)));
    let table = ladder(&detectors, references, 80.0, bootstrap).unwrap();
    assert_eq!(table[1].detector, "kNN, EfficientNet-Lite0 (k = 5)");
    assert_eq!(table.len(), 2);
    let reference_auroc = auroc(&test.scores(), &labels);
    assert_abs_diff_eq!(table[0].test_auroc.estimate, reference_auroc);
    assert_abs_diff_eq!(table[1].test_auroc.estimate, 1.0);
    // The reference's gain over itself is exactly 0; the other's is the
    // difference of the two AUROCs.
    let own = table[0].gain_over_reference.unwrap();
    assert_eq!((own.estimate, own.low, own.high), (0.0, 0.0, 0.0));
    let gain = table[1].gain_over_reference.unwrap();
    assert_abs_diff_eq!(gain.estimate, 1.0 - reference_auroc, epsilon = 1e-12);
    assert!(gain.low <= gain.estimate && gain.estimate <= gain.high);
    // Against the second reference, the perfect score: the signs swap.
    let back = table[0].gain_over_second.unwrap();
    assert_abs_diff_eq!(back.estimate, reference_auroc - 1.0, epsilon = 1e-12);
    let itself = table[1].gain_over_second.unwrap();
    assert_eq!((itself.estimate, itself.low, itself.high), (0.0, 0.0, 0.0));
    let without = ladder(&detectors, (0, None), 80.0, bootstrap).unwrap();
    assert!(without.iter().all(|r| r.gain_over_second.is_none()));
    // At p80 the perfect score flags 2 of the 3 anomalies and nothing else.
    assert_abs_diff_eq!(table[1].tpr, 2.0 / 3.0);
    assert_abs_diff_eq!(table[1].fpr, 0.0);
}

#[test]
fn a_detector_is_found_by_its_id_and_a_missing_one_is_an_error_naming_it() {
    let test = rows(&[0.1, 0.9, 0.2, 0.8], &[false, true, false, true]);
    let detector = |id: DetectorId, pretrained: bool| DetectorScores {
        id,
        pretrained,
        test: test.clone(),
        unseen: Some(unseen(&[0.1, 0.9, 0.2, 0.8], &[false, true, false, true])),
        seconds: 2.0,
        bank_bytes: None,
    };
    let spec = LadderSpec::default();
    let detectors = vec![
        detector(DetectorId::Autoencoder(Architecture::Improved2), false),
        detector(spec.reference.clone(), false),
        detector(spec.second_reference.clone().unwrap(), true),
    ];
    assert_eq!(position(&detectors, &spec.reference).unwrap(), 1);
    // No fallback to a neighbour: the error names the missing id.
    let baseline = DetectorId::Autoencoder(Architecture::Baseline);
    let error = position(&detectors, &baseline).unwrap_err().to_string();
    assert!(error.contains("`baseline error`"), "{error}");
    let elsewhere = LadderSpec {
        reference: baseline,
        ..LadderSpec::default()
    };
    assert!(Ladder::build(&elsewhere, detectors.clone()).is_err());
    // The spec's ladder: the reference fused with the only pretrained
    // detector, last, its seconds both of theirs.
    let built = Ladder::build(&spec, detectors).unwrap();
    assert_eq!((built.reference, built.second_reference), (1, Some(2)));
    assert_eq!(
        built.rows.last().unwrap().detector,
        "improved3 error + kNN, EfficientNet-Lite0 (k = 5) (ranks)"
    );
    assert_eq!(built.detectors.last().unwrap().seconds, 4.0);
}

#[test]
fn a_cached_files_seconds_are_read_back_only_with_it() {
    let tmp = common::TempDir::new().unwrap();
    let dir = tmp.path();
    let rows = unseen(&[0.1, 0.9], &[false, true]);
    write_unseen_scores(&dir.join(UNSEEN_SCORES_FILE), &rows, 12.5).unwrap();
    let companion = dir.join(seconds_file(UNSEEN_SCORES_FILE));
    assert!(companion.ends_with("unseen_scores.seconds.json"));
    assert_eq!(unseen_scores_seconds(dir, 2), Some(12.5));
    // Not for other rows, nor for a file written again after its seconds.
    assert_eq!(unseen_scores_seconds(dir, 3), None);
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(UNSEEN_SCORES_FILE))
        .unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    assert_eq!(unseen_scores_seconds(dir, 2), None);
    // Any shape of seconds, e.g. one per score; none without the file.
    std::fs::write(dir.join("scores.csv"), "a\n1\n").unwrap();
    write_seconds(dir, "scores.csv", 1, &[1.5, 0.25]).unwrap();
    assert_eq!(read_seconds(dir, "scores.csv", 1), Some([1.5, 0.25]));
    assert_eq!(read_seconds::<f64>(dir, "other.csv", 1), None);
}

#[test]
fn every_published_ladder_name_is_a_detector_id() {
    for profile in ["quick", "full"] {
        let path = format!("docs/results/{profile}/tables/ladder.csv");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        for record in reader.records() {
            let name = record.unwrap()[0].to_string();
            let id: DetectorId = name.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(id.label(), name);
        }
    }
}

#[test]
fn the_cholesky_inverse_inverts_and_refuses_an_indefinite_matrix() {
    let mut state = 7u64;
    let b = Array2::from_shape_fn((40, 30), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    });
    // BᵀB + 0.01·I: positive definite, condition number in the thousands.
    let mut a = b.t().dot(&b);
    a.diag_mut().mapv_inplace(|v| v + 0.01);
    let inverse = spd_inverse(&a).unwrap();
    let identity = a.dot(&inverse);
    for ((i, j), &v) in identity.indexed_iter() {
        let expected = if i == j { 1.0 } else { 0.0 };
        assert_abs_diff_eq!(v, expected, epsilon = 1e-8);
    }
    // Symmetric as the matrix is.
    assert_abs_diff_eq!(inverse[[3, 17]], inverse[[17, 3]], epsilon = 1e-10);
    let indefinite = array![[1.0, 2.0], [2.0, 1.0]];
    assert!(spd_inverse(&indefinite).is_err());
}
