//! The self-supervised geometric detector: its transformations, its score
//! where the answer is known, its keyed runs and calibration, and (ignored
//! without the dataset) its measurement at `quick` on Caltech-101.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::SavedDetector;
use caltech_anomaly::backend::{DeviceChoice, select_device};
use caltech_anomaly::data::{Caltech101, PoolSize, Prepared, Split, SplitConfig};
use caltech_anomaly::geometric::{
    GeometricTrainingConfig, Transformation, TransformationLogProbs, Transformations,
    cache_log_probs, geometric_detectors,
};
use caltech_anomaly::scoring::{
    Calibration, DETECTOR_SCORES_FILE, ImageScorer, ScoreRow, Scores, UnseenRow,
};
use caltech_anomaly::study::{Profile, Study, StudyConfig};
use common::{TempDir, scored, synthetic_dataset};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use ndarray::Array2;

#[allow(deprecated)] // the LibTorch backend, as the crate uses
fn cpu() -> Device {
    Device::libtorch()
}

/// A CUDA device, named only: nothing runs on it.
#[allow(deprecated)] // the LibTorch backend, as the crate uses
fn cuda() -> Device {
    Device::libtorch_cuda(0)
}

/// An 8×8 single-plane image with no symmetry: every value distinct.
fn asymmetric() -> Vec<u8> {
    (0..64).collect()
}

#[test]
fn four_quarter_turns_give_the_image_back() {
    let turn = Transformation {
        quarter_turns: 1,
        ..Transformation::IDENTITY
    };
    let mut image = asymmetric();
    let mut next = vec![0; 64];
    for _ in 0..4 {
        turn.apply_planes(&image, 8, &mut next);
        std::mem::swap(&mut image, &mut next);
    }
    assert_eq!(image, asymmetric());
    // Two turns are one half-turn; three undo one.
    for k in 0..4 {
        let mut once = vec![0; 64];
        let direct = Transformation {
            quarter_turns: k,
            ..Transformation::IDENTITY
        };
        direct.apply_planes(&asymmetric(), 8, &mut once);
        let mut stepped = asymmetric();
        for _ in 0..k {
            turn.apply_planes(&stepped.clone(), 8, &mut stepped);
        }
        assert_eq!(once, stepped, "{k} quarter-turns");
    }
}

#[test]
fn every_transformation_is_distinct_and_indices_round_trip() {
    for set in [Transformations::ROTATIONS, Transformations::new(2)] {
        let all = set.all();
        assert_eq!(all.len(), set.len());
        let mut outputs = HashSet::new();
        for (i, &t) in all.iter().enumerate() {
            assert_eq!(set.get(i), t);
            assert_eq!(set.index_of(t), Some(i));
            assert_eq!(t.quarter_turns, i % 4, "rotation = index mod 4");
            let mut out = vec![0; 64];
            t.apply_planes(&asymmetric(), 8, &mut out);
            assert!(outputs.insert(out), "{t:?} repeats another transformation");
        }
        // The first four are the pure rotations; the identity is index 0.
        assert_eq!(set.get(0), Transformation::IDENTITY);
        assert!((0..4).all(|i| set.get(i).dx == 0 && set.get(i).dy == 0));
    }
    let set = Transformations::new(2);
    assert_eq!((set.len(), set.translation_count()), (36, 9));
    let foreign = Transformation {
        quarter_turns: 1,
        dx: 3,
        dy: 0,
    };
    assert_eq!(set.index_of(foreign), None);
    assert_eq!(Transformations::of_fraction(0.125, 64).unwrap().shift(), 8);
    assert!(Transformations::of_fraction(0.5, 64).is_err());
}

#[test]
fn the_score_is_the_negative_mean_log_probability_of_the_true_transformation() {
    // Two images, four transformations: rows 0-3 are image 0's copies.
    let mut logits = Array2::<f32>::zeros((8, 4));
    for k in 0..4 {
        // Image 0: each copy told right, confidently.
        logits[[k, k]] = 30.0;
        // Image 1: every copy looks like the identity.
        logits[[4 + k, 0]] = 30.0;
    }
    let log_probs = TransformationLogProbs::from_logits(&logits).unwrap();
    assert_eq!((log_probs.images(), log_probs.transformations()), (2, 4));
    let scores = log_probs.scores();
    assert!(scores[0] < 1e-9, "{}", scores[0]);
    // Three of four copies get probability ≈ e^−30: mean −log p ≈ 22.5.
    assert!((scores[1] - 22.5).abs() < 1e-6, "{}", scores[1]);
    assert!((log_probs.accuracy() - 5.0 / 8.0).abs() < 1e-12);

    // Uniform outputs: every copy at 1/T, the score ln T.
    let uniform = TransformationLogProbs::from_logits(&Array2::zeros((36, 36))).unwrap();
    assert!((uniform.scores()[0] - 36f64.ln()).abs() < 1e-12);
    // A network blind to the transformation (same output for every copy)
    // scores at least ln T whatever it outputs (Jensen).
    let blind = Array2::from_shape_fn((4, 4), |(_, k)| [2.0f32, -1.0, 0.5, 3.0][k]);
    let blind = TransformationLogProbs::from_logits(&blind).unwrap();
    assert!(blind.scores()[0] >= 4f64.ln());
    assert!(TransformationLogProbs::from_logits(&Array2::zeros((6, 4))).is_err());
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

/// Writes an RGB PNG of `size`×`size` pixels, `pixel(x, y)` each.
fn png(path: &Path, size: usize, pixel: impl Fn(usize, usize) -> [u8; 3]) -> PathBuf {
    let mut pixels = Vec::with_capacity(size * size * 3);
    for y in 0..size {
        for x in 0..size {
            pixels.extend_from_slice(&pixel(x, y));
        }
    }
    let file = std::fs::File::create(path).unwrap();
    PngEncoder::new(file)
        .write_image(&pixels, size as u32, size as u32, ExtendedColorType::Rgb8)
        .unwrap();
    path.to_path_buf()
}

/// The test split's rows and the images outside the pool, as the ladder
/// gets them (scores zero: only their paths and labels are used).
fn ladder_images(prepared: &Prepared) -> (Scores, Vec<UnseenRow>) {
    let manifest = &prepared.manifest;
    let test = Scores(
        (manifest.indices(Split::Test).iter())
            .map(|&r| {
                let e = &manifest.entries[r];
                ScoreRow {
                    path: e.path.clone(),
                    class: e.class.clone(),
                    label: e.label,
                    split: e.split,
                    score: 0.0,
                    held_out: manifest.held_out.contains(&e.class),
                }
            })
            .collect(),
    );
    let dataset = Caltech101::scan(&prepared.config.data_dir, false).unwrap();
    let pool: HashSet<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    let names = dataset.class_names();
    let unseen = (dataset.images().iter())
        .filter(|i| !pool.contains(i.path.as_str()))
        .map(|i| {
            let class = names[i.label as usize].clone();
            UnseenRow {
                path: i.path.clone(),
                held_out: manifest.held_out.contains(&class),
                class,
                score: 0.0,
            }
        })
        .collect();
    (test, unseen)
}

/// A small network trained for seconds on the synthetic dataset's
/// gradients (each in one orientation: red grows to the right, green
/// downwards) learns to read their orientation, so upright images score
/// below ln 4, while images that look the same under every quarter-turn
/// (uniform, radially symmetric) cannot score below ln 4 (Jensen); the run
/// is keyed and reloaded, calibrated on its validation scores, and scores
/// the test and unseen images as it scores their files.
#[test]
fn a_geometric_run_learns_orientation_and_is_keyed_reused_and_calibrated() {
    let tmp = TempDir::new().unwrap();
    let classes = ["accordion", "BACKGROUND_Google", "airplanes", "ant"];
    let root = synthetic_dataset(tmp.path(), &classes, 24, true);
    let study = study(&root, &tmp);
    let split = SplitConfig {
        seed: 3,
        pool: PoolSize::PerClass(20),
        ..SplitConfig::default()
    };
    let prepared = study.prepare(split, 16).unwrap();
    let config = GeometricTrainingConfig::new(16)
        .with_width(8)
        .with_jitter(0.0)
        .with_epochs(12)
        .with_batch_size(8)
        .with_learning_rate(3e-3);
    let started = Instant::now();
    let run = study.train_geometric(&prepared, &config).unwrap();
    let took = started.elapsed();
    let name = run.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("geometric-seed42-"), "{name}");
    assert_eq!(run.record.transformations, 4);
    common::assert_tagged(&run.dir, RunKind::Geometric);
    assert!(run.history.iter().all(|e| e.train_loss.is_finite()));

    // Upright images of the normal classes are read; rotation-invariant
    // ones cannot be.
    let ln4 = 4f64.ln();
    let manifest = &prepared.manifest;
    let test_rows = manifest.indices(Split::Test);
    let normal_rows: Vec<usize> = (test_rows.iter().copied())
        .filter(|&r| !manifest.held_out.contains(&manifest.entries[r].class))
        .collect();
    let set = run.transformations();
    let upright = cache_log_probs(&run.model, set, &prepared.cache, &normal_rows, &cpu()).scores();
    let mean_upright = upright.iter().sum::<f64>() / upright.len() as f64;
    let c = 7.5;
    let files = [
        png(&tmp.path().join("uniform.png"), 16, |_, _| [120, 60, 200]),
        png(&tmp.path().join("radial.png"), 16, |x, y| {
            let r = ((x as f64 - c).powi(2) + (y as f64 - c).powi(2)).sqrt();
            let v = (r * 20.0).min(255.0) as u8;
            [v, 255 - v, v / 2]
        }),
    ];
    let symmetric = ImageScorer::score_files(&run, &files, &cpu()).unwrap();
    for (file, &score) in files.iter().zip(&symmetric) {
        assert!(score >= ln4 - 1e-4, "{}: {score} < ln 4", file.display());
    }
    assert!(
        mean_upright < ln4 - 0.3,
        "upright test images score {mean_upright:.3} on average (ln 4 = {ln4:.3}), trained in \
         {took:?}: {:?}",
        run.history
    );
    assert!(
        took.as_secs() < 60,
        "a tiny run trains in seconds: {took:?}"
    );

    // The same settings load the run; others train beside it.
    let again = study.train_geometric(&prepared, &config).unwrap();
    assert_eq!(
        (&again.dir, &again.record, &again.history),
        (&run.dir, &run.record, &run.history)
    );
    let shifted = config.clone().with_translation(0.125).with_epochs(1);
    let other = study.train_geometric(&prepared, &shifted).unwrap();
    assert_ne!(other.dir, run.dir);
    assert_eq!((other.record.transformations, other.record.shift), (36, 2));
    let wrong_size = GeometricTrainingConfig {
        image_size: 32,
        ..config.clone()
    };
    assert!(study.train_geometric(&prepared, &wrong_size).is_err());

    // Calibrated on the validation scores its record keeps, which are its
    // scores of the validation images' files.
    let val_rows = prepared.manifest.indices(Split::Validation);
    assert_eq!(run.record.validation_scores.len(), val_rows.len());
    let expected = Calibration::of(&run.record.validation_scores, 80.0).unwrap();
    assert_eq!(
        ImageScorer::calibration(&run, 80.0, &cpu()).unwrap(),
        expected
    );
    let val_files: Vec<PathBuf> = (val_rows.iter())
        .map(|&r| root.join(&prepared.manifest.entries[r].path))
        .collect();
    let from_files = ImageScorer::score_files(&run, &val_files, &cpu()).unwrap();
    for (a, b) in from_files.iter().zip(&run.record.validation_scores) {
        assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }

    // Loaded by kind, as `score --run` does, with the same calibration.
    let selected = select_device(DeviceChoice::Cpu).unwrap();
    let saved = SavedDetector::load(&run.dir, None, &selected).unwrap();
    assert_eq!(saved.kind(), RunKind::Geometric);
    assert_eq!(saved.id().label(), "geometric (4 rotations)");
    // It scores on the device it was loaded on, and says so when asked to
    // score on another.
    assert_eq!(saved.device(), &cpu());
    let elsewhere = saved.score_files(&files, &cuda()).unwrap_err().to_string();
    assert!(
        elsewhere.contains("loaded on cpu") && elsewhere.contains("cuda:0"),
        "{elsewhere}"
    );
    assert_eq!(saved.calibration(80.0, &cpu()).unwrap(), expected);
    assert!(SavedDetector::load(&run.dir, Some("energy"), &selected).is_err());

    // The ladder's scores: test images from the cache, unseen ones from
    // their files, the same values, cached in the run.
    let (test, unseen) = ladder_images(&prepared);
    assert_eq!(unseen.len(), 4 * 4);
    let detector = geometric_detectors(&run, &prepared, &test, &unseen, &cpu(), false).unwrap();
    assert_eq!(detector.id, run.id());
    assert!(!detector.pretrained);
    let test_scores = cache_log_probs(&run.model, set, &prepared.cache, &test_rows, &cpu());
    assert_eq!(detector.test.scores(), test_scores.scores());
    let unseen_scored = detector.unseen.as_ref().unwrap();
    let unseen_files: Vec<PathBuf> = unseen.iter().map(|r| root.join(&r.path)).collect();
    let direct = ImageScorer::score_files(&run, &unseen_files, &cpu()).unwrap();
    for (row, d) in unseen_scored.iter().zip(&direct) {
        assert!((row.score - d).abs() < 1e-6, "{} vs {d}", row.score);
    }
    assert!(run.dir.join(DETECTOR_SCORES_FILE).exists());
    let cached = geometric_detectors(&run, &prepared, &test, &unseen, &cpu(), false).unwrap();
    assert_eq!(cached.test.scores(), detector.test.scores());
    assert_eq!(cached.unseen, detector.unseen);

    // `score --run` judges a file with the same score.
    let out = tmp.path().join("geometric_verdicts.csv");
    scored(&run.dir, &files[0], &out, Some("nll"));
    let written = std::fs::read_to_string(&out).unwrap();
    let fields: Vec<&str> = written.lines().nth(1).unwrap().split(',').collect();
    let score: f64 = fields[1].parse().unwrap();
    assert!(
        (score - symmetric[0]).abs() < 1e-4,
        "{score} vs {}",
        symmetric[0]
    );
    assert_eq!(fields[2], (score > expected.threshold).to_string());
}
