//! Every AUROC the published results state, recomputed from the per-image
//! scores published beside them (`tables/image_scores.csv`): the ladder's
//! test and unseen AUROCs with their intervals and gains, the model
//! comparisons' (`comparison.csv`, `comparison_unseen.csv`), and the
//! report's AUROC claim (`claims.csv`), for every published folder that
//! carries them: each one `reproduce` wrote since it records its
//! provenance. The point estimates by this file's own pair count, the
//! intervals and gains by the crate's bootstrap at the published seed. No
//! dataset needed.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use caltech_anomaly::analysis::Bootstrap;
use caltech_anomaly::scoring::{Architecture, DetectorId};
use caltech_anomaly::stats::{auroc, paired_bootstrap_delta};
use common::csv_rows;

/// The tables print six significant digits: a recomputed value must round
/// to the published one.
const PRINTED: f64 = 1e-6;

/// Every published folder (`docs/results/<profile>/`).
fn published_folders() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("metrics.json").is_file())
        .collect();
    folders.sort();
    folders
}

fn metrics(folder: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(folder.join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The published folders that carry per-image scores: every one that
/// today's `reproduce` wrote (see the next test); at least `quick`.
fn published_profiles() -> Vec<PathBuf> {
    let profiles: Vec<PathBuf> = published_folders()
        .into_iter()
        .filter(|f| f.join("tables/image_scores.csv").is_file())
        .collect();
    assert!(
        profiles.iter().any(|p| p.ends_with("quick")),
        "docs/results/quick/tables/image_scores.csv is not published"
    );
    profiles
}

#[test]
fn every_folder_that_records_its_provenance_publishes_its_image_scores() {
    for folder in published_folders() {
        if metrics(&folder).get("provenance").is_some() {
            let scores = folder.join("tables/image_scores.csv");
            assert!(scores.is_file(), "{} is missing", scores.display());
        }
    }
}

fn number(row: &HashMap<String, String>, column: &str) -> Option<f64> {
    let cell = row
        .get(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    (!cell.is_empty()).then(|| cell.parse().unwrap())
}

/// The AUROC as the Mann-Whitney statistic: the share of (anomaly, normal)
/// pairs the score orders right, ties counting one half.
fn mann_whitney(scores: &[f64], anomaly: &[bool]) -> f64 {
    let (mut right, mut pairs) = (0.0, 0.0);
    let of = |wanted: bool| (scores.iter().zip(anomaly)).filter(move |(_, y)| **y == wanted);
    for (a, _) in of(true) {
        for (n, _) in of(false) {
            pairs += 1.0;
            right += match a.partial_cmp(n).unwrap() {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    right / pairs
}

/// One set of images (`test` or `unseen`): whether each is an anomaly, and
/// each detector's scores of them.
struct ImageSet {
    anomaly: Vec<bool>,
    scores: HashMap<String, Vec<f64>>,
}

impl ImageSet {
    fn scores(&self, detector: &str) -> &[f64] {
        self.scores
            .get(detector)
            .unwrap_or_else(|| panic!("image_scores.csv has no scores of {detector:?}"))
    }

    fn auroc(&self, detector: &str) -> f64 {
        mann_whitney(self.scores(detector), &self.anomaly)
    }
}

/// A profile's `image_scores.csv`, split into its test and unseen images.
/// A detector without unseen scores (empty cells) has none in the unseen
/// set.
fn image_sets(profile: &Path) -> (ImageSet, ImageSet) {
    let path = profile.join("tables/image_scores.csv");
    assert!(path.is_file(), "{} is not published", path.display());
    let rows = csv_rows(&path);
    let fixed = ["set", "path", "class", "held_out"];
    let detectors: Vec<String> = (rows[0].keys())
        .filter(|c| !fixed.contains(&c.as_str()))
        .cloned()
        .collect();
    let set = |name: &str| {
        let rows: Vec<_> = rows.iter().filter(|r| r["set"] == name).collect();
        assert!(!rows.is_empty(), "{}: no {name} images", path.display());
        let scores = (detectors.iter())
            .filter(|d| rows.iter().all(|r| !r[d.as_str()].is_empty()))
            .map(|d| {
                (
                    d.clone(),
                    rows.iter().map(|r| r[d].parse().unwrap()).collect(),
                )
            })
            .collect();
        let anomaly = rows.iter().map(|r| r["held_out"] == "true").collect();
        ImageSet { anomaly, scores }
    };
    (set("test"), set("unseen"))
}

fn bootstrap(profile: &Path) -> Bootstrap {
    let metrics = std::fs::read_to_string(profile.join("metrics.json")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    Bootstrap {
        seed: metrics["seed"]
            .as_u64()
            .expect("metrics.json names its seed"),
        ..Bootstrap::default()
    }
}

#[track_caller]
fn assert_printed(what: &str, published: f64, recomputed: f64) {
    assert!(
        (published - recomputed).abs() <= PRINTED,
        "{what}: published {published}, recomputed {recomputed}"
    );
}

/// As [`assert_printed`], for a cell printed to fewer digits: equal to
/// `recomputed` rounded to the cell's decimals.
#[track_caller]
fn assert_rounded(what: &str, cell: &str, recomputed: f64) {
    let decimals = cell.split_once('.').map_or(0, |(_, d)| d.len());
    let published: f64 = cell.parse().unwrap();
    let half_unit = 0.5 * 10f64.powi(-(decimals as i32));
    assert!(
        (published - recomputed).abs() <= half_unit + 1e-12,
        "{what}: published {cell}, recomputed {recomputed}"
    );
}

fn autoencoder(model: &str) -> String {
    let architecture: Architecture = model.parse().unwrap();
    DetectorId::Autoencoder(architecture).label()
}

#[test]
fn every_ladder_auroc_interval_and_gain_recomputes_from_the_published_scores() {
    for profile in published_profiles() {
        let (test, unseen) = image_sets(&profile);
        let bootstrap = bootstrap(&profile);
        let ladder = csv_rows(&profile.join("tables/ladder.csv"));
        let reference = |gain: &str| {
            let zero = |r: &&HashMap<String, String>| {
                [gain, &format!("{gain}_low"), &format!("{gain}_high")]
                    .iter()
                    .all(|c| number(r, c) == Some(0.0))
            };
            ladder.iter().find(zero).map(|r| r["detector"].clone())
        };
        let references = [
            ("gain", reference("gain")),
            ("gain_second", reference("gain_second")),
        ];
        assert!(
            references[0].1.is_some(),
            "{}: no reference",
            profile.display()
        );
        for row in &ladder {
            let detector = row["detector"].as_str();
            let what = |c: &str| format!("{}: {detector} {c}", profile.display());
            let ci = bootstrap.interval(test.scores(detector), &test.anomaly, auroc);
            let ci = ci.unwrap();
            assert_printed(
                &what("test_auroc"),
                number(row, "test_auroc").unwrap(),
                test.auroc(detector),
            );
            assert_printed(
                &what("test_auroc_low"),
                number(row, "test_auroc_low").unwrap(),
                ci.low,
            );
            assert_printed(
                &what("test_auroc_high"),
                number(row, "test_auroc_high").unwrap(),
                ci.high,
            );
            let Some(published) = number(row, "unseen_auroc") else {
                assert!(
                    !unseen.scores.contains_key(detector),
                    "{}",
                    what("unseen_auroc")
                );
                continue;
            };
            assert_printed(&what("unseen_auroc"), published, unseen.auroc(detector));
            for (gain, over) in &references {
                let (Some(over), Some(estimate)) = (over, number(row, gain)) else {
                    continue;
                };
                let delta = paired_bootstrap_delta(
                    unseen.scores(over),
                    unseen.scores(detector),
                    &unseen.anomaly,
                    auroc,
                    bootstrap.resamples,
                    bootstrap.seed,
                    0.95,
                )
                .unwrap();
                assert_printed(&what(gain), estimate, delta.estimate);
                assert_printed(
                    &what(&format!("{gain}_low")),
                    number(row, &format!("{gain}_low")).unwrap(),
                    delta.low,
                );
                assert_printed(
                    &what(&format!("{gain}_high")),
                    number(row, &format!("{gain}_high")).unwrap(),
                    delta.high,
                );
            }
        }
    }
}

#[test]
fn every_model_comparison_auroc_recomputes_from_the_published_scores() {
    for profile in published_profiles() {
        let (test, unseen) = image_sets(&profile);
        let bootstrap = bootstrap(&profile);
        for row in csv_rows(&profile.join("tables/comparison.csv")) {
            let detector = autoencoder(&row["model"]);
            let what = |c: &str| format!("{}: comparison {} {c}", profile.display(), row["model"]);
            let ci = bootstrap.interval(test.scores(&detector), &test.anomaly, auroc);
            let ci = ci.unwrap();
            assert_printed(
                &what("auroc"),
                number(&row, "auroc").unwrap(),
                test.auroc(&detector),
            );
            assert_printed(
                &what("auroc_low"),
                number(&row, "auroc_low").unwrap(),
                ci.low,
            );
            assert_printed(
                &what("auroc_high"),
                number(&row, "auroc_high").unwrap(),
                ci.high,
            );
        }
        let unseen_rows = csv_rows(&profile.join("tables/comparison_unseen.csv"));
        // Each model's gain is paired against the model listed before it.
        let before = (unseen_rows.iter()).map(|row| autoencoder(&row["model"]));
        let before: Vec<String> = before.collect();
        for (i, row) in unseen_rows.iter().enumerate() {
            let detector = autoencoder(&row["model"]);
            let what = |c: &str| {
                format!(
                    "{}: comparison_unseen {} {c}",
                    profile.display(),
                    row["model"]
                )
            };
            let scores = unseen.scores(&detector);
            let ci = bootstrap.interval(scores, &unseen.anomaly, auroc).unwrap();
            assert_printed(
                &what("auroc"),
                number(row, "auroc").unwrap(),
                unseen.auroc(&detector),
            );
            assert_printed(
                &what("auroc_low"),
                number(row, "auroc_low").unwrap(),
                ci.low,
            );
            assert_printed(
                &what("auroc_high"),
                number(row, "auroc_high").unwrap(),
                ci.high,
            );
            let gain = number(row, "auroc_gain");
            assert_eq!(gain.is_some(), i > 0, "{}", what("auroc_gain"));
            if let Some(gain) = gain {
                let previous = &before[i.checked_sub(1).expect("the first model has no gain")];
                let delta = paired_bootstrap_delta(
                    unseen.scores(previous),
                    scores,
                    &unseen.anomaly,
                    auroc,
                    bootstrap.resamples,
                    bootstrap.seed,
                    0.95,
                )
                .unwrap();
                assert_printed(&what("auroc_gain"), gain, delta.estimate);
                assert_printed(
                    &what("auroc_gain_low"),
                    number(row, "auroc_gain_low").unwrap(),
                    delta.low,
                );
                assert_printed(
                    &what("auroc_gain_high"),
                    number(row, "auroc_gain_high").unwrap(),
                    delta.high,
                );
            }
        }
    }
}

/// The statements of the report's AUROC claims (`docs/report_claims.csv`).
fn auroc_claims() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report_claims.csv");
    let claims = csv_rows(&path);
    let statements: Vec<String> = (claims.iter())
        .filter(|c| c["quantity"] == "auroc")
        .map(|c| c["statement"].clone())
        .collect();
    assert!(!statements.is_empty(), "the report claims no AUROC");
    statements
}

#[test]
fn the_auroc_claims_recompute_from_the_published_scores() {
    let statements = auroc_claims();
    for profile in published_profiles() {
        let (test, _) = image_sets(&profile);
        let bootstrap = bootstrap(&profile);
        // The claims grade the study's main model: the comparison's first.
        let main = csv_rows(&profile.join("tables/comparison.csv"))[0]["model"].clone();
        let detector = autoencoder(&main);
        let claims = csv_rows(&profile.join("tables/claims.csv"));
        for statement in &statements {
            let row = (claims.iter())
                .find(|r| &r["claim"] == statement)
                .unwrap_or_else(|| panic!("{}: claim {statement:?} ungraded", profile.display()));
            let what = |c: &str| format!("{}: claim {statement:?} {c}", profile.display());
            let ci = bootstrap.interval(test.scores(&detector), &test.anomaly, auroc);
            let ci = ci.unwrap();
            assert_rounded(&what("ours"), &row["ours"], test.auroc(&detector));
            assert_rounded(&what("low"), &row["low"], ci.low);
            assert_rounded(&what("high"), &row["high"], ci.high);
        }
    }
}

#[test]
fn the_rank_statistic_counts_ties_as_one_half() {
    let anomaly = [true, false, true, false];
    assert_eq!(mann_whitney(&[0.9, 0.1, 0.8, 0.2], &anomaly), 1.0);
    assert_eq!(mann_whitney(&[0.1, 0.9, 0.2, 0.8], &anomaly), 0.0);
    assert_eq!(mann_whitney(&[0.5, 0.5, 0.5, 0.5], &anomaly), 0.5);
    assert_eq!(mann_whitney(&[0.5, 0.5, 0.9, 0.1], &anomaly), 0.875);
}
