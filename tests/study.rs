//! The study directory: runs are keyed by everything that determines them
//! (reused for the same settings, never for other ones, never overwritten),
//! locked while in use, and the whole study runs on a synthetic dataset.

mod common;

use std::path::Path;

use caltech_anomaly::analysis::Bootstrap;
use caltech_anomaly::autoencoder::TrainingConfig;
use caltech_anomaly::autoencoder::{Architecture, ModelConfig};
use caltech_anomaly::autoencoder::{Trained, run_key};
use caltech_anomaly::backend::DeviceChoice;
use caltech_anomaly::backend::Precision;
use caltech_anomaly::data::{PoolSize, Prepared, SplitConfig};
use caltech_anomaly::study::Profile;
use caltech_anomaly::study::{ReproduceConfig, reproduce};
use caltech_anomaly::study::{RunSpec, run};
use caltech_anomaly::study::{Study, StudyConfig};
use caltech_anomaly::training::MODEL_FILE;
use caltech_anomaly::training::RunLock;
use common::{TempDir, synthetic_dataset};

const CLASSES: [&str; 4] = ["accordion", "BACKGROUND_Google", "airplanes", "ant"];

/// A smoke-profile study on the CPU in `tmp`, quiet, with its own cache.
fn study_config(root: &Path, tmp: &TempDir) -> StudyConfig {
    StudyConfig {
        profile: Profile::Smoke,
        device: DeviceChoice::Cpu,
        cache_dir: tmp.path().join("cache"),
        download: false,
        show_progress: false,
        ..StudyConfig::new(root, tmp.path().join("study"))
    }
}

fn study(root: &Path, tmp: &TempDir) -> Study {
    Study::open(study_config(root, tmp)).unwrap()
}

fn split(seed: u64) -> SplitConfig {
    SplitConfig {
        seed,
        pool: PoolSize::All,
        ..SplitConfig::default()
    }
}

fn config(architecture: Architecture) -> TrainingConfig {
    config_of(ModelConfig::new(architecture, 16))
}

fn config_of(model: ModelConfig) -> TrainingConfig {
    TrainingConfig::new(model).with_epochs(1).with_batch_size(8)
}

fn model_time(run: &Trained) -> std::time::SystemTime {
    std::fs::metadata(run.dir.join(MODEL_FILE))
        .unwrap()
        .modified()
        .unwrap()
}

#[test]
fn the_run_key_changes_with_precision_and_needs_it_resolved() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 4, true);
    let prepared = study(&root, &tmp).prepare(split(42), 16).unwrap();
    let key = |precision| {
        let config = config(Architecture::Baseline).with_precision(precision);
        run_key(&prepared, &config.resolved())
    };
    let fp32 = key(Precision::Fp32).unwrap();
    let bf16 = key(Precision::Bf16).unwrap();
    assert_ne!(fp32, bf16);
    assert_eq!(fp32, key(Precision::Fp32).unwrap());
    let auto = key(Precision::Auto).unwrap_err().to_string();
    assert!(auto.contains("resolve"), "{auto}");
}

#[test]
fn a_run_is_reused_only_for_the_same_settings() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 10, true);
    let study = study(&root, &tmp);
    let prepared = study.prepare(split(42), 16).unwrap();
    let first = study
        .train(&prepared, &config(Architecture::Improved1))
        .unwrap();
    let name = first
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("improved1-seed42-"), "{name}");
    assert_eq!(
        first.record.header.key,
        run_key(&prepared, &first.config).unwrap()
    );

    // The same settings, the defaults spelled out: the same run, loaded.
    let explicit =
        config_of(ModelConfig::new(Architecture::Improved1, 16).with_encoding_dim(Some(16)))
            .with_ssim_weight(Some(0.0));
    let again = study.train(&prepared, &explicit).unwrap();
    assert_eq!(again.dir, first.dir);
    assert_eq!(model_time(&again), model_time(&first));
    assert_eq!(again.scores, first.scores);

    // Every other setting, and another split, trains a new run beside it.
    let narrow = ModelConfig::new(Architecture::Improved1, 16).with_encoding_dim(Some(4));
    let others = [
        config(Architecture::Improved1).with_epochs(2),
        config(Architecture::Improved1).with_seed(7),
        config(Architecture::Improved1).with_learning_rate(5e-4),
        config_of(narrow),
    ];
    let mut dirs = vec![first.dir.clone()];
    for other in &others {
        let run = study.train(&prepared, other).unwrap();
        assert!(!dirs.contains(&run.dir), "{:?} reused", run.dir);
        dirs.push(run.dir);
    }
    let other_split = study.prepare(split(43), 16).unwrap();
    assert_ne!(other_split.manifest_sha256, prepared.manifest_sha256);
    let on_other_split = study
        .train(&other_split, &config(Architecture::Improved1))
        .unwrap();
    assert!(!dirs.contains(&on_other_split.dir));
    assert_eq!(on_other_split.record.split_seed, 43);
    // The first run is untouched, and loads back with its own split.
    assert_eq!(
        model_time(
            &study
                .train(&prepared, &config(Architecture::Improved1))
                .unwrap()
        ),
        model_time(&first)
    );
    assert_eq!(
        Prepared::open(&first.dir).unwrap().manifest_sha256,
        prepared.manifest_sha256
    );
}

#[test]
fn a_run_in_use_by_another_process_is_refused() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 8, true);
    let study = study(&root, &tmp);
    let prepared = study.prepare(split(42), 16).unwrap();
    let config = config(Architecture::Baseline);
    let run = study.train(&prepared, &config).unwrap();
    let lock = RunLock::acquire(&run.dir).unwrap();
    let err = study.train(&prepared, &config).unwrap_err().to_string();
    assert!(err.contains("in use by another process"), "{err}");
    drop(lock);
    assert_eq!(study.train(&prepared, &config).unwrap().dir, run.dir);
}

#[test]
fn the_train_command_never_overwrites_a_finished_run() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 8, true);
    let spec = RunSpec {
        profile: Profile::Smoke,
        device: DeviceChoice::Cpu,
        pool: Some(PoolSize::All),
        epochs: Some(1),
        image_size: Some(16),
        batch_size: Some(8),
        cache_dir: tmp.path().join("cache"),
        download: false,
        show_progress: false,
        ..RunSpec::new(&root, tmp.path().join("run"))
    };
    let first = run(&spec).unwrap();
    let manifest = std::fs::read(spec.out.join("manifest.csv")).unwrap();
    // The same settings load it; other settings are refused, and nothing
    // of the finished run changes.
    assert_eq!(run(&spec).unwrap().scores, first.scores);
    let other = RunSpec {
        split_seed: Some(9),
        ..spec.clone()
    };
    let err = run(&other).unwrap_err().to_string();
    assert!(
        err.contains("holds a finished run of other settings"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(spec.out.join("manifest.csv")).unwrap(),
        manifest
    );
    assert_eq!(
        model_time(&Trained::load(&spec.out, &cpu()).unwrap()),
        model_time(&first)
    );
}

fn cpu() -> caltech_anomaly::backend::SelectedDevice {
    caltech_anomaly::backend::select_device(DeviceChoice::Cpu).unwrap()
}

#[test]
fn the_whole_study_runs_on_a_synthetic_dataset() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 10, true);
    let study = study_config(&root, &tmp);
    let config = ReproduceConfig {
        bootstrap: Bootstrap {
            resamples: 50,
            seed: 1,
        },
        ..ReproduceConfig::new(study)
    };
    let outcome = reproduce(config.clone()).unwrap();
    let metrics = &outcome.metrics;
    assert_eq!(metrics.refinement.len(), 4);
    assert_eq!(metrics.split.test_held_out, 4);
    for file in &outcome.files {
        assert!(file.is_file(), "{} is missing", file.display());
    }
    let report = std::fs::read_to_string(&outcome.report_md).unwrap();
    assert!(report.contains("## 8. Model refinement"));
    // Section 9's families record their fits beside the ladder, as before
    // the ladder fitted them alike.
    let beyond = &metrics.beyond_reconstruction.families;
    for fact in [
        "feature_size",
        "classifier_size",
        "classifier_validation_accuracy",
    ] {
        assert!(beyond.contains_key(fact), "{fact} missing: {beyond:?}");
    }
    assert_eq!(beyond["banks"].as_array().map(Vec::len), Some(3));
    // Run again: every run is loaded, and the numbers agree.
    let again = reproduce(config).unwrap();
    assert_eq!(again.metrics.refinement, metrics.refinement);
    assert_eq!(again.metrics.baseline.auroc, metrics.baseline.auroc);
}
