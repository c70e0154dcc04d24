//! Report sections 4-8 end to end: `caltech-anomaly reproduce --profile
//! smoke` on the real Caltech-101's images (12 of each class, so that every
//! step runs in minutes), its files, and `metrics.json` and the ladder
//! against numbers recomputed here from the runs' `scores.csv` and the
//! published per-image `image_scores.csv`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use approx::assert_abs_diff_eq;
use caltech_anomaly::analysis::detection_table;
use caltech_anomaly::scoring::{DetectorId, SCORES_FILE, read_scores};
use caltech_anomaly::stats::percentile;
use caltech_anomaly::stats::{ConfusionMatrix, auprc, auroc};
use serde_json::Value;

/// Every file a reader of the report expects, relative to the study dir.
const EXPECTED: &[&str] = &[
    "metrics.json",
    "report.md",
    "report.html",
    "figures/class_overview.png",
    "figures/held_out_samples.png",
    "figures/loss_curves.png",
    "figures/loss_curves.svg",
    "figures/reconstructions.png",
    "figures/error_maps.png",
    "figures/outliers_p90.png",
    "figures/roc.png",
    "figures/roc.svg",
    "figures/pr.png",
    "figures/pr.svg",
    "figures/confusion_p80.png",
    "figures/confusion_p80.svg",
    "figures/kde.png",
    "figures/kde.svg",
    "figures/pca.png",
    "figures/pca.svg",
    "figures/sorted_errors.png",
    "figures/sorted_errors.svg",
    "figures/refinement_reconstructions.png",
    "figures/refinement_error.png",
    "figures/refinement_error.svg",
    "figures/refinement_auroc.png",
    "figures/refinement_auroc.svg",
    "tables/split_sizes.csv",
    "tables/classes.csv",
    "tables/test_class_counts.csv",
    "tables/thresholds.csv",
    "tables/outliers_p90.csv",
    "tables/per_class_p80.csv",
    "tables/missed_anomalies_p80.csv",
    "tables/score_aggregation.csv",
    "tables/trivial_baselines.csv",
    "tables/comparison.csv",
    "tables/comparison_unseen.csv",
    "tables/claims.csv",
    "tables/ladder.csv",
    "tables/ladder_false_positives.csv",
    "tables/image_scores.csv",
    "tables/resize_ablation.csv",
    "figures/ladder_roc.png",
    "figures/ladder_roc.svg",
    "figures/disagreements.png",
];

/// Files of every run, beside the study's own.
const RUN_FILES: [&str; 6] = [
    "scores.csv",
    "model.bpk",
    "history.csv",
    "run.json",
    "manifest.csv",
    "unseen_scores.csv",
];

fn reproduce(data: &Path, out: &Path, cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"))
        .args(["--data-dir".as_ref(), data.as_os_str()])
        .args(["reproduce", "--profile", "smoke", "--device", "cpu"])
        .args(["--resamples", "200", "--no-download"])
        .args(["--out".as_ref(), out.as_os_str()])
        .args(["--cache-dir".as_ref(), cache.as_os_str()])
        .output()
        .unwrap()
}

/// `tables/image_scores.csv`: each row's set and label, and each
/// detector's column.
struct ImageScores {
    sets: Vec<String>,
    held_out: Vec<bool>,
    columns: Vec<(String, Vec<Option<f64>>)>,
}

impl ImageScores {
    /// `detector`'s scores of the images of `set`, with their labels.
    fn of(&self, detector: &str, set: &str) -> (Vec<f64>, Vec<bool>) {
        let (_, values) = (self.columns.iter())
            .find(|(name, _)| name == detector)
            .unwrap_or_else(|| panic!("image_scores.csv has no column {detector:?}"));
        let rows = (0..self.sets.len()).filter(|&i| self.sets[i] == set);
        rows.map(|i| (values[i].expect("a score"), self.held_out[i]))
            .unzip()
    }
}

fn read_image_scores(path: &Path) -> ImageScores {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers[..4], ["set", "path", "class", "held_out"]);
    let mut table = ImageScores {
        sets: Vec::new(),
        held_out: Vec::new(),
        columns: headers[4..]
            .iter()
            .map(|h| (h.clone(), Vec::new()))
            .collect(),
    };
    for record in reader.records() {
        let record = record.unwrap();
        table.sets.push(record[0].to_string());
        table.held_out.push(&record[3] == "true");
        for (column, value) in table.columns.iter_mut().zip(record.iter().skip(4)) {
            column
                .1
                .push((!value.is_empty()).then(|| value.parse().unwrap()));
        }
    }
    table
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("metrics.json lacks a number at {pointer}"))
}

#[test]
#[ignore = "needs CALTECH101_DIR"]
fn reproduce_smoke_writes_every_file_and_true_metrics() {
    let tmp = common::TempDir::new().unwrap();
    let data = common::small_dataset(&common::real_dataset(), tmp.path(), 12);
    let out = tmp.path().join("study");
    let cache = tmp.path().join("cache");
    let first = reproduce(&data, &out, &cache);
    assert!(
        first.status.success(),
        "reproduce failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    for file in EXPECTED {
        let path = out.join(file);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|_| panic!("{file} is missing"))
            .len();
        assert!(len > 0, "{file} is empty");
    }
    // It says where everything is.
    assert!(stdout.contains(&out.join("report.html").display().to_string()));
    assert!(stdout.contains(&out.join("figures/roc.png").display().to_string()));

    // metrics.json against numbers recomputed from scores.csv.
    let metrics: Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let run_dir = |row: &Value| PathBuf::from(row["run"].as_str().unwrap());
    let baseline = run_dir(&metrics["baseline"]);
    // Each run is named by model, seed and the key of its settings.
    let name = baseline.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("baseline-seed42-"), "{name}");
    assert_eq!(baseline.parent(), Some(out.join("runs").as_path()));
    for row in metrics["refinement"].as_array().unwrap() {
        for file in RUN_FILES {
            assert!(
                run_dir(row).join(file).is_file(),
                "{:?} lacks {file}",
                row["run"]
            );
        }
    }
    let scores = read_scores(&baseline.join(SCORES_FILE)).unwrap();
    let errors: Vec<f64> = scores.iter().map(|r| r.score).collect();
    let labels: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    assert_eq!(
        metrics["baseline"]["test_images"].as_u64(),
        Some(scores.len() as u64)
    );
    assert_eq!(
        metrics["split"]["test_held_out"].as_u64(),
        Some(labels.iter().filter(|&&l| l).count() as u64)
    );
    assert_abs_diff_eq!(
        number(&metrics, "/baseline/mean_test_error"),
        mean,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        number(&metrics, "/baseline/auroc/estimate"),
        auroc(&errors, &labels),
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        number(&metrics, "/baseline/auprc/estimate"),
        auprc(&errors, &labels),
        epsilon = 1e-12
    );
    let low = number(&metrics, "/baseline/auroc/low");
    let high = number(&metrics, "/baseline/auroc/high");
    assert!(low <= number(&metrics, "/baseline/auroc/estimate") && low <= high);

    let p80 = percentile(&errors, 80.0).unwrap();
    let cm = ConfusionMatrix::from_scores(&errors, &labels, p80).unwrap();
    assert_abs_diff_eq!(number(&metrics, "/baseline/confusion/threshold"), p80);
    for (key, value) in [("tp", cm.tp), ("fn", cm.fn_), ("tn", cm.tn), ("fp", cm.fp)] {
        assert_eq!(
            metrics["baseline"]["confusion"][key].as_u64(),
            Some(value as u64),
            "confusion {key}"
        );
    }
    let expected = detection_table(&scores, None, &[75.0, 80.0, 85.0, 90.0, 95.0]).unwrap();
    let detection: Vec<&Value> = metrics["baseline"]["detection"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "test_percentile")
        .collect();
    assert_eq!(detection.len(), expected.len());
    for (got, want) in detection.iter().zip(&expected) {
        assert_eq!(got["flagged"].as_u64(), Some(want.flagged as u64));
        assert_eq!(
            got["held_out_flagged"].as_u64(),
            Some(want.held_out_flagged as u64)
        );
        assert_abs_diff_eq!(got["threshold"].as_f64().unwrap(), want.threshold);
    }
    // The refinement rows come from each model's own scores.
    let rows = metrics["refinement"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for (row, model) in rows
        .iter()
        .zip(["baseline", "improved1", "improved2", "improved3"])
    {
        assert_eq!(row["model"], model);
        let s = read_scores(&run_dir(row).join(SCORES_FILE)).unwrap();
        let e: Vec<f64> = s.iter().map(|r| r.score).collect();
        let l: Vec<bool> = s.iter().map(|r| r.held_out).collect();
        assert_abs_diff_eq!(
            row["auroc"]["estimate"].as_f64().unwrap(),
            auroc(&e, &l),
            epsilon = 1e-12
        );
    }

    // The ladder: 2 trivial scores, 4 autoencoders, 2 classifier scores, the
    // transformation classifier, 2 scores on Lite0's features, the kNN on
    // Lite1's and on Lite2's, PatchCore's 2 scores, the colour histograms'
    // kNN and the fusion; the autoencoders' rows are their own scores, and
    // each reference's gain over itself is 0.
    let ladder = metrics["beyond_reconstruction"]["ladder"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = ladder
        .iter()
        .map(|r| r["detector"].as_str().unwrap())
        .collect();
    assert_eq!(ladder.len(), 17, "{names:?}");
    // Every name is a detector id's label.
    for name in &names {
        let id: DetectorId = name.parse().unwrap();
        assert_eq!(id.label(), *name);
    }
    assert_eq!(names[6], "classifier energy");
    assert_eq!(names[7], "classifier Mahalanobis");
    assert!(names[8].starts_with("geometric"), "{}", names[8]);
    for (name, prefix) in names[9..16].iter().zip([
        "kNN, EfficientNet-Lite0",
        "Mahalanobis, EfficientNet-Lite0",
        "kNN, EfficientNet-Lite1",
        "kNN, EfficientNet-Lite2",
        "PatchCore, EfficientNet-Lite0",
        "PatchCore mean, EfficientNet-Lite0",
        "colour histogram: kNN",
    ]) {
        assert!(name.starts_with(prefix), "{name} is not {prefix}");
    }
    assert!(names[16].contains("(ranks)"), "{}", names[16]);
    // Pretrained: the detectors on EfficientNet features and the fusion
    // with one of them.
    let pretrained: Vec<bool> = ladder.iter().map(|r| r["pretrained"] == true).collect();
    let expected: Vec<bool> = (0..17).map(|i| (9..15).contains(&i) || i == 16).collect();
    assert_eq!(pretrained, expected, "{names:?}");
    assert_eq!(ladder[9]["gain_over_second"]["estimate"], 0.0);
    assert!(
        ladder[2..]
            .iter()
            .all(|r| r["gain_over_second"].is_object())
    );
    // A memory bank for each nearest-neighbour detector (and the fusion,
    // which keeps its pretrained member's), none for the rest.
    let banked: Vec<bool> = ladder.iter().map(|r| r["bank_mib"].is_number()).collect();
    let expected: Vec<bool> = (0..17)
        .map(|i| [9, 11, 12, 13, 14, 15, 16].contains(&i))
        .collect();
    assert_eq!(banked, expected, "{names:?}");
    let banks = metrics["beyond_reconstruction"]["banks"]
        .as_array()
        .unwrap();
    let sides: Vec<u64> = banks.iter().map(|b| b["size"].as_u64().unwrap()).collect();
    assert_eq!(sides, [64, 69, 75]);
    assert!(out.join("figures/anomaly_maps.png").is_file());
    let accuracy = number(
        &metrics,
        "/beyond_reconstruction/classifier_validation_accuracy",
    );
    assert!((0.0..=1.0).contains(&accuracy));
    assert_eq!(metrics["beyond_reconstruction"]["feature_size"], 64);
    assert_eq!(metrics["beyond_reconstruction"]["classifier_size"], 32);
    for (row, refined) in ladder[2..6].iter().zip(rows) {
        assert_eq!(row["test_auroc"]["estimate"], refined["auroc"]["estimate"]);
    }
    let reference = &ladder[5];
    assert!(
        reference["detector"]
            .as_str()
            .unwrap()
            .starts_with("improved3")
    );
    assert_eq!(reference["gain_over_reference"]["estimate"], 0.0);
    assert!(ladder[..2].iter().all(|r| r["unseen_auroc"].is_null()));
    assert!(
        ladder[2..]
            .iter()
            .all(|r| r["unseen_auroc"]["estimate"].is_number())
    );

    // Every AUROC of the ladder, recomputed from the per-image scores.
    let image_scores = read_image_scores(&out.join("tables/image_scores.csv"));
    for row in ladder {
        let name = row["detector"].as_str().unwrap();
        for (set, key) in [("test", "test_auroc"), ("unseen", "unseen_auroc")] {
            let Some(published) = row[key]["estimate"].as_f64() else {
                continue;
            };
            let (scores, labels) = image_scores.of(name, set);
            assert_abs_diff_eq!(auroc(&scores, &labels), published, epsilon = 1e-9);
        }
    }
    assert!(!metrics["provenance"]["date"].as_str().unwrap().is_empty());
    assert!(
        metrics["provenance"]["command"]
            .as_str()
            .unwrap()
            .starts_with("caltech-anomaly ")
    );

    // The runs of section 9 keep their fits, and judge new images from
    // their directories alone.
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for (prefix, fit, detector) in [
        ("classifier-", "detector_fit.json", "energy"),
        ("features-", "train_features.f32", "mahalanobis"),
        ("geometric-", "model.bpk", "nll"),
        ("patchcore-", "memory_bank.f32", "mean"),
    ] {
        let dir = runs
            .iter()
            .find(|d| d.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} run in {runs:?}"));
        assert!(dir.join(fit).is_file(), "{dir:?} lacks {fit}");
        let image = data.join("101_ObjectCategories/BACKGROUND_Google/image_0001.jpg");
        let out = tmp.path().join(format!("{prefix}verdicts.csv"));
        let (csv, _) = common::scored(dir, &image, &out, Some(detector));
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(csv.starts_with("path,score,anomaly"), "{csv}");
    }

    // The resize ablation: baseline and improved3 under each resize, the
    // antialiased row of each pair with its paired gain over TF's.
    let ablation = metrics["resize_ablation"].as_array().unwrap();
    let models: Vec<&str> = ablation
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        [
            "baseline, bilinear resize",
            "baseline, antialiased resize",
            "improved3, bilinear resize",
            "improved3, antialiased resize"
        ]
    );
    for (i, row) in ablation.iter().enumerate() {
        assert_eq!(row["auroc_gain"].is_null(), i % 2 == 0, "row {i}");
    }
    // The TF rows are the refinement's own unseen AUROCs.
    assert_eq!(ablation[0]["auroc"], ladder[2]["unseen_auroc"]);
    assert_eq!(ablation[2]["auroc"], ladder[5]["unseen_auroc"]);

    // The report links what it shows, the report's claims first.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let first_heading = report.lines().find(|l| l.starts_with("## "));
    assert_eq!(
        first_heading,
        Some("## Reproducibility: the report's claims beside ours")
    );
    let claims = metrics["claims"].as_array().unwrap();
    assert!(claims.iter().all(|c| c["profile"] == "smoke"));
    // The report's contradictions stand beside the comparisons' verdicts.
    let inconsistent = claims
        .iter()
        .filter(|c| c["report_consistency"].is_string())
        .count();
    assert_eq!(inconsistent, 5);
    assert!(claims.iter().all(|c| c["verdict"] != "inconsistent"));
    for link in ["figures/roc.png", "tables/thresholds.csv", "metrics.json"] {
        assert!(report.contains(link), "report.md does not link {link}");
    }

    // A second call reuses the finished runs (no training) and agrees.
    let model_time = std::fs::metadata(baseline.join("model.bpk"))
        .unwrap()
        .modified()
        .unwrap();
    let second = reproduce(&data, &out, &cache);
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!stderr.contains("epoch 1/"), "retrained: {stderr}");
    assert_eq!(
        std::fs::metadata(baseline.join("model.bpk"))
            .unwrap()
            .modified()
            .unwrap(),
        model_time
    );
    let again: Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    // Numbers from scores.csv agree exactly (PCA and validation errors are
    // recomputed by the model, so they are not compared bit for bit).
    for key in ["mean_test_error", "auroc", "auprc", "confusion"] {
        assert_eq!(again["baseline"][key], metrics["baseline"][key], "{key}");
    }
    // Each detector's seconds are its own fit and scoring, read back with
    // its caches: the same again (but the trivial scores', computed anew).
    let seconds = |m: &Value| -> Vec<f64> {
        let rows = m["beyond_reconstruction"]["ladder"].as_array().unwrap();
        rows[2..]
            .iter()
            .map(|r| r["seconds"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(seconds(&again), seconds(&metrics));
}
