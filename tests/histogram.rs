//! The colour-histogram detector's run: fitted through its place on the
//! ladder, keyed and found again, calibrated on its validation scores, its
//! ladder scores cached and equal to its scores of the files, and loaded
//! by its tag, as `score --run` loads it.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use caltech_anomaly::analysis::{RunKind, SavedDetector};
use caltech_anomaly::backend::{DeviceChoice, select_device};
use caltech_anomaly::data::{Caltech101, PoolSize, Prepared, Split, SplitConfig};
use caltech_anomaly::histogram::{HistogramLadder, HistogramRun};
use caltech_anomaly::scoring::{
    Calibration, DETECTOR_SCORES_FILE, ImageScorer, LadderFamily, LadderImages, ScoreRow, Scores,
    UnseenRow,
};
use caltech_anomaly::study::{Profile, Study, StudyConfig};
use caltech_anomaly::training::RUN_FILE;
use common::{TempDir, assert_tagged, scored, synthetic_dataset};

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

/// The ladder's images: the test split's rows and every image outside the
/// pool (scores zero: only their paths and labels are used).
fn ladder_images(prepared: &Prepared) -> LadderImages {
    let manifest = &prepared.manifest;
    let held_out = |class: &String| manifest.held_out.contains(class);
    let test = (manifest.indices(Split::Test).into_iter()).map(|r| {
        let e = &manifest.entries[r];
        ScoreRow {
            path: e.path.clone(),
            class: e.class.clone(),
            label: e.label,
            split: e.split,
            score: 0.0,
            held_out: held_out(&e.class),
        }
    });
    let dataset = Caltech101::scan(&prepared.config.data_dir, false).unwrap();
    let pool: HashSet<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    let names = dataset.class_names();
    let unseen = (dataset.images().iter())
        .filter(|i| !pool.contains(i.path.as_str()))
        .map(|i| UnseenRow {
            path: i.path.clone(),
            class: names[i.label as usize].clone(),
            score: 0.0,
            held_out: held_out(&names[i.label as usize]),
        });
    LadderImages {
        data_dir: prepared.config.data_dir.clone(),
        test: Scores(test.collect()),
        unseen: unseen.collect(),
        show_progress: false,
    }
}

#[test]
fn a_histogram_run_is_keyed_calibrated_cached_and_judges_files_by_its_tag() {
    let tmp = TempDir::new().unwrap();
    let classes = ["accordion", "BACKGROUND_Google", "airplanes", "ant"];
    let root = synthetic_dataset(tmp.path(), &classes, 12, true);
    let study = study(&root, &tmp);
    let split = SplitConfig {
        seed: 3,
        pool: PoolSize::PerClass(8),
        ..SplitConfig::default()
    };
    let prepared = study.prepare(split, 32).unwrap();

    // Fitted as the ladder fits it, then found again by its key.
    let family = HistogramLadder { bins: 4, k: 3 };
    let fitted = family.fit(&study.ladder_fitting(&prepared, 42)).unwrap();
    let id = fitted.scorers()[0].id();
    let run = HistogramRun::fit(&study.runs_dir(), &prepared, 4, 3).unwrap();
    assert_eq!(run.id(), id);
    assert_eq!(
        id.label(),
        "colour histogram: kNN, 4 bins per channel (k = 3)"
    );
    let written = |dir: &Path| {
        std::fs::metadata(dir.join(RUN_FILE))
            .unwrap()
            .modified()
            .unwrap()
    };
    let again = HistogramRun::fit(&study.runs_dir(), &prepared, 4, 3).unwrap();
    assert_eq!(
        written(&again.dir),
        written(&run.dir),
        "loaded, not fitted again"
    );
    let other = HistogramRun::fit(&study.runs_dir(), &prepared, 2, 3).unwrap();
    assert_ne!(other.dir, run.dir);
    assert!(HistogramRun::fit(&study.runs_dir(), &prepared, 0, 3).is_err());
    assert_tagged(&run.dir, RunKind::Histogram);

    // Calibrated on its validation scores, its scores of those files
    // (decoded and resized as the cache was).
    let manifest = &prepared.manifest;
    let files = |split| -> Vec<PathBuf> {
        (manifest.indices(split).iter())
            .map(|&r| root.join(&manifest.entries[r].path))
            .collect()
    };
    let validation = run.score_files(&files(Split::Validation), &cpu()).unwrap();
    assert_eq!(validation.len(), run.record.validation.len());
    for (a, b) in validation.iter().zip(&run.record.validation) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let expected = Calibration::of(&run.record.validation, 80.0).unwrap();
    assert_eq!(run.calibration(80.0, &cpu()).unwrap(), expected);

    // The ladder's scores: the test images from the cache, the unseen ones
    // decoded, the same as their files' scores, cached in the run.
    let images = ladder_images(&prepared);
    let detector = run.ladder_scores(&images, &cpu()).unwrap();
    assert_eq!((detector.id.clone(), detector.pretrained), (id, false));
    let test = run.score_files(&files(Split::Test), &cpu()).unwrap();
    for (row, direct) in detector.test.iter().zip(&test) {
        assert!(
            (row.score - direct).abs() < 1e-6,
            "{} vs {direct}",
            row.score
        );
    }
    let unseen = detector.unseen.as_ref().unwrap();
    assert_eq!(unseen.len(), 4 * 4);
    assert!(run.dir.join(DETECTOR_SCORES_FILE).exists());
    assert_eq!(run.ladder_scores(&images, &cpu()).unwrap(), detector);

    // Loaded by its tag, as `score --run` loads it; `score --run` judges a
    // file with the same score, against the same threshold.
    let selected = select_device(DeviceChoice::Cpu).unwrap();
    let saved = SavedDetector::load(&run.dir, None, &selected).unwrap();
    assert_eq!(saved.kind(), RunKind::Histogram);
    assert_eq!(saved.calibration(80.0, &cpu()).unwrap(), expected);
    assert!(SavedDetector::load(&run.dir, Some("energy"), &selected).is_err());
    let image = root.join(&unseen[0].path);
    let out = tmp.path().join("histogram_verdicts.csv");
    let (stdout, _) = scored(&run.dir, &image, &out, Some("knn"));
    let fields: Vec<&str> = stdout.lines().nth(1).unwrap().split(',').collect();
    let score: f64 = fields[1].parse().unwrap();
    assert!(
        (score - unseen[0].score).abs() < 1e-6,
        "{score} vs {}",
        unseen[0].score
    );
    assert_eq!(fields[2], (score > expected.threshold).to_string());
}
