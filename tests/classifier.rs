//! The label-aware classifier: its scores' arithmetic, its run identity,
//! and its detectors on a synthetic dataset.

mod common;

use std::path::{Path, PathBuf};

use approx::assert_relative_eq;

use burn::tensor::{Device, Tensor, TensorData};
use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::autoencoder::TrainingConfig;
use caltech_anomaly::autoencoder::unseen_scores;
use caltech_anomaly::autoencoder::{Architecture, ModelConfig};
use caltech_anomaly::backend::DeviceChoice;
use caltech_anomaly::classifier::{
    ClassIndex, ClassifierConfig, ClassifierFit, ClassifierScore, ClassifierTrainingConfig,
    TrainedClassifier, classifier_detectors, energy,
};
use caltech_anomaly::data::{PoolSize, Split, SplitConfig};
use caltech_anomaly::features::DEFAULT_RIDGE;
use caltech_anomaly::scoring::verdicts;
use caltech_anomaly::scoring::{DETECTOR_SCORES_FILE, DetectorId, DetectorScores};
use caltech_anomaly::stats::{ClassGaussian, Gaussian};
use caltech_anomaly::study::Profile;
use caltech_anomaly::study::{Study, StudyConfig};
use common::{
    TempDir, assert_tagged, assert_verdicts_agree, score_command, scored, synthetic_dataset,
    write_legacy_record,
};
use ndarray::{Array2, array};

const CLASSES: [&str; 4] = ["accordion", "BACKGROUND_Google", "airplanes", "ant"];

#[allow(deprecated)] // the LibTorch backend, as the crate uses
fn cpu() -> Device {
    Device::libtorch()
}

fn study(root: &Path, tmp: &TempDir) -> Study {
    Study::open(StudyConfig {
        profile: Profile::Smoke,
        device: DeviceChoice::Cpu,
        cache_dir: tmp.path().join("cache"),
        download: false,
        show_progress: false,
        ..StudyConfig::new(root, tmp.path().join("study"))
    })
    .unwrap()
}

/// Six images per class in the pool, so the other four are unseen.
fn split() -> SplitConfig {
    SplitConfig {
        seed: 3,
        pool: PoolSize::PerClass(6),
        ..SplitConfig::default()
    }
}

#[test]
fn energy_is_the_negative_log_sum_exp() {
    let logits = array![[0.0f32, 0.0], [10.0, -10.0], [1.0, 2.0]];
    let e = energy(&logits);
    assert!((e[0] + 2f64.ln()).abs() < 1e-12, "{}", e[0]);
    assert!((e[1] + 10.0).abs() < 1e-8, "{}", e[1]);
    let expected = -(1f64.exp() + 2f64.exp()).ln();
    assert!((e[2] - expected).abs() < 1e-6, "{} vs {expected}", e[2]);
    // A confident image has lower energy than an unsure one.
    assert!(energy(&array![[8.0f32, 0.0]])[0] < energy(&array![[1.0f32, 1.0]])[0]);
}

/// Deterministic pseudo-random rows.
fn rows(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut state = seed;
    Array2::from_shape_fn((n, d), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    })
}

#[test]
fn one_class_gaussian_is_the_plain_gaussian() {
    let x = rows(40, 5, 1);
    let queries = rows(7, 5, 2);
    let single = ClassGaussian::fit(&x, &[0; 40], 0.01).unwrap();
    let plain = Gaussian::fit(&x, 0.01).unwrap();
    for (a, b) in single
        .distances(&queries)
        .iter()
        .zip(plain.distances(&queries))
    {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

#[test]
fn class_gaussian_measures_the_nearest_class_mean() {
    // Two clusters around (+3, 0, 0) and (−3, 0, 0).
    let mut x = rows(60, 3, 5);
    let classes: Vec<usize> = (0..60).map(|i| i % 2).collect();
    for (mut row, &c) in x.rows_mut().into_iter().zip(&classes) {
        row[0] += if c == 0 { 3.0 } else { -3.0 };
    }
    let gaussian = ClassGaussian::fit(&x, &classes, 0.01).unwrap();
    let queries = array![
        [3.0f32, 0.0, 0.0],
        [-3.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 4.0, 0.0]
    ];
    let d = gaussian.distances(&queries);
    assert!(d[0] < 0.5 && d[1] < 0.5, "at the means: {d:?}");
    assert!(
        d[2] > 5.0 && d[3] > 5.0,
        "between or beside the clusters: {d:?}"
    );
    // Bad input is refused.
    assert!(ClassGaussian::fit(&x, &classes[..10], 0.01).is_err());
    let three = x.slice(ndarray::s![..3, ..]).to_owned();
    assert!(
        ClassGaussian::fit(&three, &[0, 1, 2], 0.01).is_err(),
        "as many rows as classes"
    );
    // Class labels need not be contiguous: only those present count.
    let gapped: Vec<usize> = classes.iter().map(|&c| 5 * c + 1).collect();
    let same = ClassGaussian::fit(&x, &gapped, 0.01).unwrap();
    assert_eq!(same.distances(&queries), d);
    assert!(ClassGaussian::fit(&x, &classes, f64::NAN).is_err());
}

#[test]
fn classifier_shapes_and_checked_config() {
    let model = ClassifierConfig::new(16, 5)
        .with_width(4)
        .init(&cpu())
        .unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32; 2 * 3 * 16 * 16], [2, 3, 16, 16]),
        &cpu(),
    );
    assert_eq!(model.forward(x.clone()).dims(), [2, 5]);
    assert_eq!(model.features(x).dims(), [2, 16]);
    assert!(ClassifierConfig::new(20, 5).init(&cpu()).is_err());
    assert!(ClassifierConfig::new(16, 1).init(&cpu()).is_err());
    let config = ClassifierTrainingConfig::new(ClassifierConfig::new(16, 5));
    assert!(config.clone().with_learning_rate(0.0).check().is_err());
    assert!(
        config
            .clone()
            .with_early_stopping_patience(Some(0))
            .check()
            .is_err()
    );
    assert!(config.check().is_ok());
}

#[test]
fn a_classifier_run_is_keyed_reused_and_scores_test_and_unseen_images() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 10, true);
    let study = study(&root, &tmp);
    let prepared = study.prepare(split(), 16).unwrap();
    let classes = ClassIndex::of(&prepared);
    assert_eq!(
        classes.names,
        ["accordion", "airplanes", "ant"],
        "no held-out class"
    );
    let config = ClassifierTrainingConfig::new(ClassifierConfig::new(16, 3).with_width(4))
        .with_epochs(2)
        .with_batch_size(8);
    let run = study.train_classifier(&prepared, &config).unwrap();
    let name = run.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("classifier-seed42-"), "{name}");
    assert_eq!(run.history.len(), 2);
    assert!((0.0..=1.0).contains(&run.record.validation_accuracy));
    assert!(
        run.history
            .iter()
            .all(|e| e.train_loss.is_finite() && e.val_loss > 0.0)
    );

    // The same settings load the run; other settings train beside it.
    let again = study.train_classifier(&prepared, &config).unwrap();
    assert_eq!(
        (again.dir.clone(), again.record.clone()),
        (run.dir.clone(), run.record.clone())
    );
    let other = study
        .train_classifier(&prepared, &config.clone().with_epochs(1))
        .unwrap();
    assert_ne!(other.dir, run.dir);
    let wrong = ClassifierTrainingConfig {
        model: ClassifierConfig::new(16, 4),
        ..config.clone()
    };
    assert!(
        study.train_classifier(&prepared, &wrong).is_err(),
        "4 classes configured, 3 exist"
    );

    // Its detectors score the autoencoder's test rows and unseen images.
    let autoencoder = study
        .train(
            &prepared,
            &TrainingConfig::new(ModelConfig::new(Architecture::Improved1, 16))
                .with_epochs(1)
                .with_batch_size(8),
        )
        .unwrap();
    let unseen = unseen_scores(&autoencoder, &prepared, &cpu(), false).unwrap();
    assert_eq!(unseen.len(), 4 * 4);
    let fit = ClassifierFit::of(&run, &prepared, DEFAULT_RIDGE, &cpu()).unwrap();
    let scored = |run| {
        classifier_detectors(
            run,
            &fit,
            &prepared,
            &autoencoder.scores,
            &unseen,
            &cpu(),
            false,
        )
        .unwrap()
    };
    let detectors = scored(&run);
    assert_eq!(detectors.len(), 2);
    for d in &detectors {
        assert_eq!(d.test.len(), prepared.manifest.indices(Split::Test).len());
        assert!(!d.pretrained);
        let u = d.unseen.as_ref().unwrap();
        assert!(
            u.iter()
                .zip(&unseen)
                .all(|(a, b)| a.path == b.path && a.held_out == b.held_out)
        );
        assert!(d.test.iter().all(|r| r.score.is_finite()));
        assert!(u.iter().all(|r| r.score.is_finite()));
    }
    assert_ne!(detectors[0].test.scores(), detectors[1].test.scores());
    // Cached in the run: a second call reads the same values back.
    assert!(run.dir.join(DETECTOR_SCORES_FILE).exists());
    let cached = scored(&run);
    for (a, b) in detectors.iter().zip(&cached) {
        assert_eq!(a.test.scores(), b.test.scores());
        assert_eq!(a.unseen, b.unseen);
    }
    judges_new_images_as_it_scored_the_test_split(&run, &fit, &detectors, &root, &tmp);
}

/// The saved fit judges image files with the scores its detectors gave
/// the same images, in the library and through `score --run`.
fn judges_new_images_as_it_scored_the_test_split(
    run: &TrainedClassifier,
    fit: &ClassifierFit,
    detectors: &[DetectorScores],
    root: &Path,
    tmp: &TempDir,
) {
    assert_eq!(ClassifierFit::saved(run).unwrap().as_ref(), Some(fit));
    let test = &detectors[0].test;
    let paths: Vec<PathBuf> = test.iter().map(|r| root.join(&r.path)).collect();
    let scores = [ClassifierScore::Energy, ClassifierScore::Mahalanobis];
    for (score, detector) in scores.into_iter().zip(detectors) {
        assert_eq!(DetectorId::Classifier(score), detector.id);
        let calibration = fit.calibration(score, 80.0).unwrap();
        let judged = verdicts(&fit.scorer(run, score), &calibration, &paths, &cpu()).unwrap();
        assert_verdicts_agree(&judged, &detector.test, calibration.threshold);
        let strictest = fit.calibration(score, 100.0).unwrap().threshold;
        assert!(calibration.threshold <= strictest);
    }

    let out = tmp.path().join("classifier_verdicts.csv");
    scored(&run.dir, &paths[0], &out, Some("energy"));
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().next(), Some("path,score,anomaly"));
    let fields: Vec<&str> = written.lines().nth(1).unwrap().split(',').collect();
    let energy_score: f64 = fields[1].parse().unwrap();
    assert_relative_eq!(energy_score, test[0].score, max_relative = 1e-4);
    let threshold = fit
        .calibration(ClassifierScore::Energy, 80.0)
        .unwrap()
        .threshold;
    assert_eq!(fields[2], (energy_score > threshold).to_string());
    // A score the run does not have is refused, naming those it has.
    let fresh_out = tmp.path().join("refused_verdicts.csv");
    let refused = score_command(&run.dir, &paths[0], &fresh_out, Some("knn"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("`mahalanobis` or `energy`"));
    a_record_from_before_the_header_still_loads(run, &paths[0], &written, tmp);
}

/// `score --run` found the run by its tag. The same run recorded as a
/// version before the run header wrote it (a fixture of that shape) is
/// read by its fields and judges the file alike; a record whose fields
/// tell no kind is refused, saying how to re-create the run.
fn a_record_from_before_the_header_still_loads(
    run: &TrainedClassifier,
    image: &Path,
    written: &str,
    tmp: &TempDir,
) {
    assert_tagged(&run.dir, RunKind::Classifier);
    let (r, header) = (&run.record, &run.record.header);
    let legacy = serde_json::json!({
        "key": header.key,
        "seed": r.seed,
        "classes": { "names": r.classes.names },
        "parameters": r.parameters,
        "epochs_run": r.epochs_run,
        "best_epoch": r.best_epoch,
        "train_s": r.train_s,
        "validation_accuracy": r.validation_accuracy,
        "resize": "bilinear",
        "manifest_sha256": header.manifest_sha256,
        "crate_version": env!("CARGO_PKG_VERSION"),
    });
    write_legacy_record(&run.dir, &legacy);
    assert_eq!(RunKind::of(&run.dir).unwrap(), RunKind::Classifier);
    let loaded = TrainedClassifier::load(&run.dir, &cpu()).unwrap();
    assert_eq!(loaded.record.header.key, header.key);
    assert_eq!(loaded.record.header.date, "unknown");
    let out = tmp.path().join("legacy_verdicts.csv");
    scored(&run.dir, image, &out, Some("energy"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);

    write_legacy_record(&run.dir, &serde_json::json!({ "key": header.key }));
    let out = tmp.path().join("untold_verdicts.csv");
    let refused = score_command(&run.dir, image, &out, None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("re-create"), "{stderr}");
}
