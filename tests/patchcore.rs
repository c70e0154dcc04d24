//! PatchCore on EfficientNet-Lite0's patch features: the anomaly map of an
//! image with a planted anomaly peaks where it was planted, the run is keyed,
//! saved and reloaded, and judges files through the detector contract as it
//! scored them. Needs scripts/setup.sh's .venv (libtorch, the weights).

mod common;

use std::path::{Path, PathBuf};

use approx::assert_relative_eq;
use burn::tensor::Device;
use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::SavedDetector;
use caltech_anomaly::backend::{DeviceChoice, select_device};
use caltech_anomaly::data::{PoolSize, Split, SplitConfig};
use caltech_anomaly::features::{AnomalyMap, Backbone, EfficientNetLite, PatchCoreRun, PatchScore};
use caltech_anomaly::scoring::ImageScorer;
use caltech_anomaly::stats::percentile;
use caltech_anomaly::study::{Profile, Study, StudyConfig};
use common::{TempDir, synthetic_dataset};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/backend/device.rs
fn cpu() -> Device {
    Device::libtorch()
}

const SIDE: usize = 128;

/// A smooth gradient that `seed` shifts, with a checkerboard of 4-px
/// squares over `square` (top, left, side) when given, as a JPEG.
fn image_file(path: &Path, seed: usize, square: Option<(usize, usize, usize)>) -> PathBuf {
    let mut pixels = Vec::with_capacity(SIDE * SIDE * 3);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let inside =
                square.is_some_and(|(t, l, s)| (t..t + s).contains(&y) && (l..l + s).contains(&x));
            if inside {
                let v = if (x / 4 + y / 4) % 2 == 0 { 255 } else { 0 };
                pixels.extend_from_slice(&[v, 0, 255 - v]);
            } else {
                pixels.extend_from_slice(&[
                    (x + seed * 3) as u8,
                    (y * 2) as u8,
                    ((x + y) / 2) as u8,
                ]);
            }
        }
    }
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 95)
        .write_image(&pixels, SIDE as u32, SIDE as u32, ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

#[test]
fn the_anomaly_map_peaks_on_a_planted_anomaly_and_the_run_judges_files_as_it_scored_them() {
    let tmp = TempDir::new().unwrap();
    // Three classes of ten gradients each (the background class too: the
    // test is about where, not whether).
    let root = synthetic_dataset(
        tmp.path(),
        &["accordion", "BACKGROUND_Google", "ant"],
        10,
        false,
    );
    for (c, class) in ["accordion", "BACKGROUND_Google", "ant"].iter().enumerate() {
        let folder = root.join("101_ObjectCategories").join(class);
        for i in 0..10 {
            image_file(
                &folder.join(format!("image_{:04}.jpg", i + 1)),
                c * 10 + i,
                None,
            );
        }
    }
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
    let run = study
        .fit_patchcore(&extractor, &prepared, SIDE, 0.1)
        .unwrap();
    let name = run.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("patchcore-"), "{name}");
    let train = prepared.manifest.indices(Split::Train).len();
    assert_eq!(run.record.train_images, train);
    assert_eq!(run.record.grid, SIDE / 16);
    assert_eq!(run.record.train_patches, train * (SIDE / 16).pow(2));
    assert_eq!(
        run.record.bank_patches,
        (run.record.train_patches as f64 * 0.1).ceil() as usize
    );
    assert_eq!(
        run.record.validation.len(),
        prepared.manifest.indices(Split::Validation).len()
    );

    // A checkerboard planted at pixels 24..56 of an unseen gradient: cells
    // 1..=3 of the 8 × 8 grid (16 px each) in both directions.
    let plain = image_file(&tmp.path().join("plain.jpg"), 35, None);
    let planted = image_file(&tmp.path().join("planted.jpg"), 35, Some((24, 24, 32)));
    let maps: Vec<AnomalyMap> = run
        .maps(&extractor, &[plain, planted.clone()], false)
        .unwrap();
    for map in &maps {
        assert_eq!((map.grid, map.values.len()), (8, 64));
        assert!(map.values.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert_eq!(
            map.score,
            f64::from(map.values.iter().copied().fold(0.0, f32::max))
        );
    }
    let (row, column) = maps[1].peak();
    assert!(
        (1..=3).contains(&row) && (1..=3).contains(&column),
        "peak at ({row}, {column})"
    );
    assert!(
        maps[1].score > 1.5 * maps[0].score,
        "{} vs {}",
        maps[1].score,
        maps[0].score
    );
    let upsampled = maps[1].upsampled(SIDE);
    assert_eq!(upsampled.len(), SIDE * SIDE);
    let hottest = (0..upsampled.len())
        .max_by(|&a, &b| upsampled[a].total_cmp(&upsampled[b]))
        .unwrap();
    let (y, x) = (hottest / SIDE, hottest % SIDE);
    assert!(
        (8..72).contains(&y) && (8..72).contains(&x),
        "hottest pixel ({y}, {x})"
    );

    // Keyed: the same settings load the run, another fraction fits another.
    let again = study
        .fit_patchcore(&extractor, &prepared, SIDE, 0.1)
        .unwrap();
    assert_eq!(again.dir, run.dir);
    let other = study
        .fit_patchcore(&extractor, &prepared, SIDE, 0.2)
        .unwrap();
    assert_ne!(other.dir, run.dir);
    assert!(
        study
            .fit_patchcore(&extractor, &prepared, 100, 0.1)
            .is_err()
    );
    assert!(
        study
            .fit_patchcore(&extractor, &prepared, SIDE, 0.0)
            .is_err()
    );

    // Through the contract, from the run directory alone: the scores and
    // the calibration are the run's own.
    let reloaded = PatchCoreRun::load(&run.dir, &device).unwrap();
    assert_eq!(reloaded.record, run.record);
    let selected = select_device(DeviceChoice::Cpu).unwrap();
    common::assert_tagged(&run.dir, RunKind::PatchCore);
    let saved = SavedDetector::load(&run.dir, None, &selected).unwrap();
    assert_eq!(saved.kind(), RunKind::PatchCore);
    assert_eq!(saved.id(), run.id(PatchScore::Max));
    let scores = saved
        .score_files(std::slice::from_ref(&planted), &device)
        .unwrap();
    assert_relative_eq!(scores[0], maps[1].score, max_relative = 1e-4);
    let calibration = saved.calibration(80.0, &device).unwrap();
    assert_eq!(
        calibration.threshold,
        percentile(&run.record.validation, 80.0).unwrap()
    );

    // `score --maps DIR` writes each image's map beside its verdict, and
    // refuses a folder inside the run.
    let images = tmp.path().join("judged");
    std::fs::create_dir_all(&images).unwrap();
    image_file(&images.join("planted.jpg"), 35, Some((24, 24, 32)));
    image_file(&images.join("plain.jpg"), 35, None);
    let score = |maps: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"))
            .args(["score", "--device", "cpu", "--run"])
            .arg(&run.dir)
            .arg("--images")
            .arg(&images)
            .arg("--out")
            .arg(tmp.path().join("verdicts.csv"))
            .arg("--force")
            .arg("--maps")
            .arg(maps)
            .output()
            .unwrap()
    };
    let maps_dir = tmp.path().join("maps");
    let output = score(&maps_dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("anomaly maps: 2"), "{stderr}");
    for name in ["planted.png", "plain.png"] {
        let png = image::open(maps_dir.join(name)).unwrap();
        assert!(png.width() > 3 * SIDE as u32, "{name}: {}", png.width());
    }
    let inside = score(&run.dir.join("maps"));
    assert!(!inside.status.success());
    assert!(!run.dir.join("maps").exists());
}
