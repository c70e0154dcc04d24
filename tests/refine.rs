//! Report section 8: the comparison table, from hand-made runs.

mod common;

use std::path::Path;

use caltech_anomaly::Error;
use caltech_anomaly::analysis::Bootstrap;
use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::{
    ComparisonTable, UnseenComparisonTable, compare_runs, compare_unseen,
};
use caltech_anomaly::autoencoder::Architecture;
use caltech_anomaly::autoencoder::RunRecord;
use caltech_anomaly::backend::Precision;
use caltech_anomaly::data::Split;
use caltech_anomaly::scoring::{
    SCORES_FILE, ScoreRow, UNSEEN_SCORES_FILE, UnseenRow, write_scores, write_unseen_scores,
};
use caltech_anomaly::stats::{auprc, auroc};
use caltech_anomaly::training::MODEL_FILE;
use caltech_anomaly::training::{RUN_FILE, RunHeader, Timings};
use common::TempDir;

/// A run directory whose test errors are `errors`, the last `anomalies`
/// of them held out.
fn fake_run(dir: &Path, architecture: Architecture, errors: &[f64], anomalies: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let n = errors.len();
    let rows: Vec<ScoreRow> = errors
        .iter()
        .enumerate()
        .map(|(i, &error)| {
            let held_out = i >= n - anomalies;
            ScoreRow {
                path: format!("101_ObjectCategories/x/image_{i:04}.jpg"),
                class: if held_out { "background_google" } else { "ant" }.into(),
                label: if held_out { 4 } else { 3 },
                split: Split::Test,
                score: error,
                held_out,
            }
        })
        .collect();
    write_scores(&dir.join(SCORES_FILE), &rows).unwrap();
    let record = RunRecord {
        header: RunHeader {
            kind: RunKind::Autoencoder.tag().into(),
            key: "0".into(),
            manifest_sha256: "x".into(),
            crate_version: "0".into(),
            libtorch_version: "2.9.0".into(),
            device: "cpu".into(),
            git_commit: "x".into(),
            date: "2026-12-07".into(),
        },
        architecture,
        seed: 1,
        split_seed: 1,
        device_reason: "requested".into(),
        parameters: 1000,
        epochs_run: 1,
        best_epoch: 1,
        timings: Timings {
            prepare_s: 1.0,
            train_s: 12.0,
            score_s: 1.0,
        },
        test_images: n,
        mean_test_error: 0.0,
        test_auroc: 0.0,
        resize: Default::default(),
        calibration: None,
        precision: Precision::Fp32,
    };
    std::fs::write(dir.join(RUN_FILE), serde_json::to_vec(&record).unwrap()).unwrap();
}

#[test]
fn comparison_rows_are_recomputed_from_scores() {
    let tmp = TempDir::new().unwrap();
    // 20 object images with errors 1..=20, then 5 anomalies.
    let mut errors: Vec<f64> = (1..=20).map(f64::from).collect();
    errors.extend([25.0, 30.0, 3.5, 40.0, 18.5]);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    fake_run(&a, Architecture::Baseline, &errors, 5);
    let reversed: Vec<f64> = errors.iter().map(|e| 100.0 - e).collect();
    fake_run(&b, Architecture::Improved1, &reversed, 5);

    let rows = compare_runs(&[a.clone(), b], 80.0, bootstrap(3)).unwrap();
    let positive: Vec<bool> = (0..25).map(|i| i >= 20).collect();
    assert_eq!(rows[0].model, "baseline");
    assert_eq!(rows[0].auroc.estimate, auroc(&errors, &positive));
    assert!(rows[0].auroc.low <= rows[0].auroc.estimate);
    assert!(rows[0].auroc.estimate <= rows[0].auroc.high);
    assert_eq!(rows[0].auprc, auprc(&errors, &positive));
    approx::assert_relative_eq!(rows[0].mean_test_error, errors.iter().sum::<f64>() / 25.0);
    // numpy.percentile of the 25 errors at 80 is 18.6: above it lie the
    // anomalies 25, 30 and 40 (3 of 5) and the object images 19 and 20
    // (2 of 20).
    assert_eq!(rows[0].tpr, 3.0 / 5.0);
    assert_eq!(rows[0].fpr, 2.0 / 20.0);
    // Reversed errors reverse the ranking.
    approx::assert_relative_eq!(rows[1].auroc.estimate, 1.0 - rows[0].auroc.estimate);

    let table = ComparisonTable(&rows).to_string();
    assert!(table.contains("| baseline | 1000 | 12 |"), "{table}");
    assert_eq!(table.lines().count(), 4);

    assert!(compare_runs(&[], 80.0, bootstrap(1)).is_err());
    assert!(compare_runs(&[tmp.path().join("missing")], 80.0, bootstrap(1)).is_err());
}

/// Writes `unseen_scores.csv` into a run (after a stand-in model file, as
/// `score --unseen` would): errors as given, the last `anomalies` held out.
fn fake_unseen(dir: &Path, errors: &[f64], anomalies: usize) {
    std::fs::write(dir.join(MODEL_FILE), b"").unwrap();
    let n = errors.len();
    let rows: Vec<UnseenRow> = errors
        .iter()
        .enumerate()
        .map(|(i, &error)| {
            let held_out = i >= n - anomalies;
            UnseenRow {
                path: format!("101_ObjectCategories/x/image_{i:04}.jpg"),
                class: if held_out { "background_google" } else { "ant" }.into(),
                score: error,
                held_out,
            }
        })
        .collect();
    write_unseen_scores(&dir.join(UNSEEN_SCORES_FILE), &rows, 1.0).unwrap();
}

#[test]
fn unseen_comparison_gives_each_model_its_paired_gain() {
    let tmp = TempDir::new().unwrap();
    let runs: Vec<_> = ["a", "b", "c"].iter().map(|n| tmp.path().join(n)).collect();
    // 40 object images, then 10 anomalies; b separates better than a, c
    // equals b.
    let a: Vec<f64> = (0..50).map(|i| f64::from((i * 37) % 50)).collect();
    let b: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, e)| if i >= 40 { e + 20.0 } else { *e })
        .collect();
    for (run, errors) in runs.iter().zip([&a, &b, &b]) {
        fake_run(run, Architecture::Improved2, errors, 10);
        fake_unseen(run, errors, 10);
    }
    let resampling = Bootstrap {
        resamples: 500,
        seed: 5,
    };
    let rows = compare_unseen(&runs, resampling).unwrap();
    let positive: Vec<bool> = (0..50).map(|i| i >= 40).collect();
    assert_eq!(rows[0].auroc.estimate, auroc(&a, &positive));
    assert_eq!((rows[0].images, rows[0].anomalies), (50, 10));
    assert!(rows[0].auroc_gain.is_none());
    let gain = rows[1].auroc_gain.unwrap();
    assert_eq!(gain.estimate, auroc(&b, &positive) - auroc(&a, &positive));
    assert!(gain.low > 0.0, "{gain:?}");
    assert_eq!(rows[2].auroc_gain.unwrap().estimate, 0.0);
    let table = UnseenComparisonTable(&rows).to_string();
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.contains("| 50 (10) |"), "{table}");

    // Runs that scored other images cannot be paired.
    fake_unseen(&runs[2], &b[..49], 9);
    assert!(compare_unseen(&runs, resampling).is_err());
    // A run without the file, or whose model is newer than it, is an error
    // that says how to make it.
    fake_unseen(&runs[2], &b, 10);
    assert!(compare_unseen(&runs, resampling).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(runs[1].join(MODEL_FILE), b"retrained").unwrap();
    let error = compare_unseen(&runs, resampling).unwrap_err();
    assert!(
        matches!(&error, Error::UnseenScoresMissing { run, .. } if run == &runs[1]),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("unseen_scores"), "{message}");
    assert!(!message.contains("--"), "{message}");
    std::fs::remove_file(runs[0].join(UNSEEN_SCORES_FILE)).unwrap();
    assert!(compare_unseen(&runs, resampling).is_err());
}

fn bootstrap(seed: u64) -> Bootstrap {
    Bootstrap {
        resamples: caltech_anomaly::stats::BOOTSTRAP_RESAMPLES,
        seed,
    }
}
