//! Report section 4 on synthetic datasets: scanning, the split, the cache,
//! and every kind of bad input.

mod common;

use std::path::{Path, PathBuf};

use caltech_anomaly::Error;
use caltech_anomaly::data::image::{DecodeLimits, RgbImage, decode_jpeg_rgb};
use caltech_anomaly::data::{
    Caltech101, Manifest, PoolSize, PrepareConfig, Prepared, PreprocessConfig, Resize, Split,
    SplitConfig, prepare,
};
use common::TempDir;
use common::{jpeg_bytes, synthetic_dataset};

const CLASSES: [&str; 5] = [
    "accordion",
    "Faces",
    "BACKGROUND_Google",
    "airplanes",
    "ant",
];

fn config(root: &Path, tmp: &TempDir, skip_bad: bool) -> PrepareConfig {
    PrepareConfig {
        preprocess: PreprocessConfig {
            size: 16,
            cache_dir: tmp.path().join("cache"),
            skip_bad,
            show_progress: false,
            ..PreprocessConfig::default()
        },
        split: SplitConfig {
            pool: PoolSize::All,
            ..SplitConfig::default()
        },
        ..PrepareConfig::new(root, tmp.path().join("run"))
    }
}

#[test]
fn labels_are_sorted_lowercase_folder_names_and_tmp_is_not_an_image() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 3, false);
    std::fs::write(
        root.join("101_ObjectCategories/BACKGROUND_Google/tmp"),
        b"jpeg",
    )
    .unwrap();
    std::fs::create_dir(root.join("101_ObjectCategories/ant/folder.jpg")).unwrap();
    let dataset = Caltech101::scan(&root, false).unwrap();
    assert_eq!(
        dataset.class_names(),
        [
            "accordion",
            "airplanes",
            "ant",
            "background_google",
            "faces"
        ]
    );
    assert_eq!(dataset.label_of("BACKGROUND_Google"), Some(3));
    assert_eq!(dataset.images().len(), 15);
    assert!(dataset.images().iter().all(|i| i.path.ends_with(".jpg")));
    assert_eq!(
        dataset.images()[9].path,
        "101_ObjectCategories/BACKGROUND_Google/image_0001.jpg"
    );
}

#[test]
fn split_cuts_the_pool_and_moves_held_out_classes_to_test() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 14, false);
    let dataset = Caltech101::scan(&root, false).unwrap();
    let config = SplitConfig {
        pool: PoolSize::PerClass(10),
        ..SplitConfig::default()
    };
    let manifest = Manifest::split(&dataset, &config).unwrap();
    assert_eq!(manifest.len(), 50);
    let summary = manifest.summary();
    let background = |split| {
        manifest
            .entries
            .iter()
            .filter(|e| e.split == split && e.class == "background_google")
            .count()
    };
    assert_eq!(background(Split::Train), 0);
    assert_eq!(background(Split::Validation), 0);
    assert_eq!(background(Split::Test), 10);
    assert_eq!(summary.count(Split::Test).held_out, 10);
    // 70 % of 50 is 35 and 85 % is 42.5, which rounds to even (42): the cut
    // is 35 / 7 / 8. Background rows then move from train and validation to
    // the end of test.
    let test = manifest.indices(Split::Test);
    let moved = test.len() - 8;
    let is_background = |i: &usize| manifest.entries[*i].class == "background_google";
    assert!(test[8..].iter().all(is_background));
    assert_eq!(
        moved,
        10 - test[..8].iter().filter(|i| is_background(i)).count()
    );
    let kept = summary.count(Split::Train).images + summary.count(Split::Validation).images;
    assert_eq!(kept + moved, 42);
    // Each class contributes exactly 10 pooled images.
    for class in ["accordion", "airplanes", "ant", "faces"] {
        assert_eq!(
            manifest.entries.iter().filter(|e| e.class == class).count(),
            10
        );
    }
    // Rows are grouped: train, then validation, then test.
    let splits: Vec<Split> = manifest.entries.iter().map(|e| e.split).collect();
    assert!(splits.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn same_seed_same_manifest_bytes_other_seed_other_split() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 20, false);
    let dataset = Caltech101::scan(&root, false).unwrap();
    let split = |seed| {
        Manifest::split(
            &dataset,
            &SplitConfig {
                seed,
                pool: PoolSize::PerClass(12),
                ..SplitConfig::default()
            },
        )
        .unwrap()
        .to_csv_bytes()
        .unwrap()
    };
    assert_eq!(split(7), split(7));
    assert_ne!(split(7), split(8));
}

#[test]
fn invalid_split_parameters_are_rejected() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 2, false);
    let dataset = Caltech101::scan(&root, false).unwrap();
    let bad_cuts = SplitConfig {
        cuts: (0.9, 0.5),
        ..SplitConfig::default()
    };
    assert!(matches!(
        Manifest::split(&dataset, &bad_cuts),
        Err(Error::InvalidParameter(_))
    ));
    let bad_class = SplitConfig {
        held_out: vec!["unicorn".into()],
        ..SplitConfig::default()
    };
    let err = Manifest::split(&dataset, &bad_class).unwrap_err();
    assert!(err.to_string().contains("unicorn"), "{err}");
}

#[test]
fn prepare_writes_manifest_and_reuses_the_cache() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 4, true);
    let config = config(&root, &tmp, false);
    let first = prepare(&config).unwrap();
    assert!(!first.reused_cache);
    assert_eq!(first.cache.len(), 20);
    let csv = std::fs::read_to_string(tmp.path().join("run/manifest.csv")).unwrap();
    assert!(csv.starts_with("path,class,label,split\n"), "{csv}");
    assert_eq!(csv.lines().count(), 21);

    let second = prepare(&config).unwrap();
    assert!(second.reused_cache);
    assert_eq!(second.manifest, first.manifest);
    let reopened = Prepared::open(&tmp.path().join("run")).unwrap();
    assert_eq!(reopened.manifest, first.manifest);
    for row in 0..first.cache.len() {
        assert_eq!(reopened.cache.image(row), first.cache.image(row));
    }

    // Each cached image is its file decoded and resized on its own.
    let row = 3;
    let path = root.join(&first.manifest.entries[row].path);
    let decoded = decode_jpeg_rgb(&std::fs::read(path).unwrap(), DecodeLimits::default()).unwrap();
    let mut expected = vec![0; 16 * 16 * 3];
    caltech_anomaly::data::image::resize_bilinear(&decoded, 16, 16, &mut expected);
    assert_eq!(first.cache.image(row), expected.as_slice());

    // Batches are NCHW in [0, 1].
    let mut batch = vec![0f32; 2 * 3 * 16 * 16];
    first.cache.write_batch_nchw(&[row, 0], &mut batch);
    approx::assert_relative_eq!(batch[0], f32::from(expected[0]) / 255.0);
    approx::assert_relative_eq!(batch[16 * 16], f32::from(expected[1]) / 255.0);
    assert!(batch.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn a_changed_size_or_file_builds_a_new_cache() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 2, true);
    let mut config = config(&root, &tmp, false);
    let first = prepare(&config).unwrap();
    config.preprocess.size = 24;
    let resized = prepare(&config).unwrap();
    assert!(!resized.reused_cache);
    assert_eq!(resized.cache.size(), 24);
    assert_ne!(first.cache.path(), resized.cache.path());

    let victim = root.join(&first.manifest.entries[0].path);
    std::fs::write(&victim, jpeg_bytes(50, 50, 999)).unwrap();
    assert!(!prepare(&config).unwrap().reused_cache);
}

#[test]
fn a_copied_dataset_keeps_its_cache_and_a_file_edited_in_place_does_not() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 2, true);
    let first = prepare(&config(&root, &tmp, false)).unwrap();
    // The same files written again elsewhere: same bytes, new times.
    let copy = synthetic_dataset(&tmp.path().join("copy"), &CLASSES, 2, true);
    let copied = prepare(&config(&copy, &tmp, false)).unwrap();
    assert!(
        copied.reused_cache,
        "a copy of the dataset rebuilt the cache"
    );
    assert_eq!(copied.cache.path(), first.cache.path());

    // One header byte changed (JFIF's horizontal density: the pixels
    // decode as before), the length and modification time kept.
    let victim = copy.join(&first.manifest.entries[0].path);
    let modified = std::fs::metadata(&victim).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    assert_eq!(&bytes[6..11], b"JFIF\0");
    bytes[15] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&victim).unwrap();
    file.set_modified(modified).unwrap();
    assert_eq!(
        std::fs::metadata(&victim).unwrap().modified().unwrap(),
        modified
    );
    let edited = prepare(&config(&copy, &tmp, false)).unwrap();
    assert!(!edited.reused_cache, "an edited file kept the old cache");
    assert_ne!(edited.cache.path(), first.cache.path());
}

#[test]
fn grayscale_images_become_three_equal_channels() {
    let mut bytes = Vec::new();
    let pixels: Vec<u8> = (0..20 * 10).map(|i| (i * 3 % 256) as u8).collect();
    image::ImageEncoder::write_image(
        image::codecs::jpeg::JpegEncoder::new(&mut bytes),
        &pixels,
        20,
        10,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    let rgb = decode_jpeg_rgb(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!((rgb.width, rgb.height), (20, 10));
    assert!(rgb.pixels.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn cmyk_jpegs_decode_to_rgb() {
    // Written by Pillow 12: a 16x8 CMYK image of C=0, M=255, Y=255, K=0 (red).
    let bytes = std::fs::read("tests/fixtures/cmyk_red.jpg").unwrap();
    let rgb = decode_jpeg_rgb(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!((rgb.width, rgb.height), (16, 8));
    for p in rgb.pixels.chunks(3) {
        assert!(
            p[0] > 230 && p[1] < 25 && p[2] < 25,
            "pixel {p:?} is not red"
        );
    }
}

// ---- bad input: each kind fails naming the file, or is skipped with a count.

/// Plants a bad file next to good ones; checks the error names it, then that
/// `skip_bad` leaves it out and keeps every other image.
fn check_bad_image(name: &str, plant: impl FnOnce(&Path), reason_part: &str) {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 3, true);
    let bad: PathBuf = root.join("101_ObjectCategories/ant").join(name);
    plant(&bad);

    let err = prepare(&config(&root, &tmp, false)).unwrap_err();
    match &err {
        Error::BadImage { path, reason } => {
            assert_eq!(path, &bad);
            assert!(reason.contains(reason_part), "{reason}");
        }
        other => panic!("expected BadImage for {name}, got {other}"),
    }
    // The remedy in the library's terms: a notebook has no --skip-bad.
    let message = err.to_string();
    assert!(message.contains("skip bad images"), "{message}");
    assert!(!message.contains("--"), "{message}");
    assert!(!tmp.path().join("run/manifest.csv").exists());

    let prepared = prepare(&config(&root, &tmp, true)).unwrap();
    assert_eq!(prepared.skipped_images.len(), 1);
    assert!(prepared.skipped_images[0].path.ends_with(name));
    assert_eq!(prepared.manifest.len(), 15);
    assert_eq!(prepared.cache.len(), 15);
    assert!(
        prepared
            .manifest
            .entries
            .iter()
            .all(|e| !e.path.ends_with(name))
    );
    // Nothing else lost: every cached image is its own file, in order.
    for (row, entry) in prepared.manifest.entries.iter().enumerate() {
        let bytes = std::fs::read(root.join(&entry.path)).unwrap();
        let decoded = decode_jpeg_rgb(&bytes, DecodeLimits::default()).unwrap();
        let mut expected = vec![0; 16 * 16 * 3];
        caltech_anomaly::data::image::resize_bilinear(&decoded, 16, 16, &mut expected);
        assert_eq!(prepared.cache.image(row), expected.as_slice(), "row {row}");
    }
    // The skip is remembered with the cache.
    let again = prepare(&config(&root, &tmp, true)).unwrap();
    assert!(again.reused_cache);
    assert_eq!(again.manifest, prepared.manifest);
    assert_eq!(again.skipped_images, prepared.skipped_images);
}

#[test]
fn truncated_jpeg() {
    check_bad_image(
        "image_0100.jpg",
        |p| {
            let bytes = jpeg_bytes(64, 48, 1);
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        },
        "JPEG",
    );
}

#[test]
fn zero_byte_file() {
    check_bad_image(
        "image_0100.jpg",
        |p| std::fs::write(p, b"").unwrap(),
        "empty file",
    );
}

#[test]
fn text_file_named_jpg() {
    check_bad_image(
        "image_0100.jpg",
        |p| std::fs::write(p, "this is not an image\n").unwrap(),
        "not a readable JPEG",
    );
}

#[test]
fn unreadable_file() {
    // A link to nowhere: unreadable for every user, root included (CI runs
    // as root, for whom permission bits do not stop a read).
    check_bad_image(
        "image_0100.jpg",
        |p| std::os::unix::fs::symlink("/nonexistent/caltech.jpg", p).unwrap(),
        "cannot read",
    );
}

#[test]
fn huge_image() {
    check_bad_image(
        "image_0100.jpg",
        |p| {
            let pixels = vec![128u8; 10_000 * 10_000];
            let mut bytes = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 10),
                &pixels,
                10_000,
                10_000,
                image::ExtendedColorType::L8,
            )
            .unwrap();
            std::fs::write(p, bytes).unwrap();
        },
        "10000x10000",
    );
}

#[test]
fn several_bad_images_are_counted() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 3, true);
    for name in ["x1.jpg", "x2.jpg"] {
        std::fs::write(root.join("101_ObjectCategories/ant").join(name), b"").unwrap();
    }
    // Skipping reports both.
    let prepared = prepare(&config(&root, &tmp, true)).unwrap();
    assert_eq!(prepared.skipped_images.len(), 2);
    assert_eq!(prepared.cache.len(), 15);
}

#[test]
fn empty_class_folder() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 3, true);
    let empty = root.join("101_ObjectCategories/anchor");
    std::fs::create_dir(&empty).unwrap();

    let err = prepare(&config(&root, &tmp, false)).unwrap_err();
    assert!(matches!(&err, Error::EmptyClass(p) if p == &empty), "{err}");

    let prepared = prepare(&config(&root, &tmp, true)).unwrap();
    assert_eq!(prepared.skipped_classes, vec![empty]);
    assert_eq!(prepared.cache.len(), 15);
    // The class keeps its label: ids stay those of the folder names.
    assert_eq!(prepared.class_names[2], "anchor");
    assert!(
        prepared
            .manifest
            .entries
            .iter()
            .any(|e| e.label == 3 && e.class == "ant")
    );
}

#[test]
fn missing_dataset_folder() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nowhere");
    let err = prepare(&config(&missing, &tmp, true)).unwrap_err();
    assert!(matches!(err, Error::DatasetMissing { .. }));
    let message = err.to_string();
    for hint in ["CALTECH101_DIR", "download it", "nowhere"] {
        assert!(message.contains(hint), "{message}");
    }
    assert!(!message.contains("--"), "{message}");

    // The CLI says the same, adds its flag, and exits non-zero, without a
    // panic.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"))
        .args(["prepare", "--no-download", "--data-dir"])
        .arg(&missing)
        .arg("--out")
        .arg(tmp.path().join("run"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CALTECH101_DIR") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: pass --data-dir"), "{stderr}");
}

/// `(y·31 + x·17 + c·101 + (x·y mod 13)·7) mod 256`, a pattern with
/// texture at every scale; the fixture below was computed on it.
fn pattern(width: usize, height: usize) -> RgbImage {
    let pixels = (0..height)
        .flat_map(|y| (0..width).flat_map(move |x| (0..3).map(move |c| (y, x, c))))
        .map(|(y, x, c)| ((y * 31 + x * 17 + c * 101 + (x * y % 13) * 7) % 256) as u8)
        .collect();
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// PyTorch 2.9's `F.interpolate(x, (6, 8), mode="bilinear", antialias=True,
/// align_corners=False)` of the 37×23 [`pattern`] in float64, rounded: the
/// filter PIL's `Image.resize(BILINEAR)` uses.
const ANTIALIASED_8X6: [u8; 144] = [
    108, 135, 111, 150, 114, 145, 115, 133, 132, 122, 138, 121, 142, 116, 130, 115, 121, 152, 124,
    140, 117, 147, 128, 118, 115, 107, 150, 96, 144, 133, 133, 138, 110, 140, 105, 146, 101, 129,
    137, 117, 152, 92, 149, 118, 140, 119, 121, 137, 118, 147, 110, 139, 122, 132, 122, 109, 174,
    111, 148, 121, 135, 103, 125, 152, 100, 155, 107, 145, 121, 136, 167, 100, 166, 94, 142, 108,
    127, 156, 105, 135, 130, 152, 113, 128, 131, 112, 149, 100, 138, 136, 141, 121, 113, 160, 105,
    145, 120, 149, 113, 150, 129, 117, 147, 103, 157, 113, 135, 114, 132, 126, 110, 152, 101, 144,
    107, 141, 130, 116, 147, 103, 160, 110, 141, 123, 116, 162, 109, 157, 101, 147, 103, 119, 131,
    108, 152, 95, 155, 118, 145, 127, 110, 142, 97, 162,
];

#[test]
fn antialiased_resize_matches_pytorch() {
    let mut out = vec![0u8; 8 * 6 * 3];
    Resize::Antialiased.apply(&pattern(37, 23), 8, 6, &mut out);
    for (i, (&ours, &torch)) in out.iter().zip(&ANTIALIASED_8X6).enumerate() {
        // PyTorch rounds half to even, we round half up.
        assert!(ours.abs_diff(torch) <= 1, "value {i}: {ours} vs {torch}");
    }
}

#[test]
fn tf_resize_aliases_fine_stripes_and_the_antialiased_one_averages_them() {
    // One white column in four: a quarter of the light.
    let (width, height) = (64, 16);
    let pixels = (0..height * width)
        .flat_map(|i| [if i % width % 4 == 0 { 255 } else { 0 }; 3])
        .collect();
    let stripes = RgbImage {
        width,
        height,
        pixels,
    };
    let mean = |resize: Resize| {
        let mut out = vec![0u8; 8 * 2 * 3];
        resize.apply(&stripes, 8, 2, &mut out);
        out.iter().map(|&v| f64::from(v)).sum::<f64>() / out.len() as f64
    };
    let (tf, antialiased) = (mean(Resize::Bilinear), mean(Resize::Antialiased));
    assert!(
        (antialiased - 63.75).abs() < 2.0,
        "antialiased {antialiased}"
    );
    assert!(
        (tf - 127.5).abs() < 1.0,
        "TF's two taps land on one white, one black column: {tf}"
    );
    // Both keep a flat image flat.
    let flat = RgbImage {
        width: 37,
        height: 23,
        pixels: vec![77; 37 * 23 * 3],
    };
    for resize in [Resize::Bilinear, Resize::Antialiased] {
        let mut out = vec![0u8; 5 * 4 * 3];
        resize.apply(&flat, 5, 4, &mut out);
        assert!(out.iter().all(|&v| v == 77), "{resize}: {out:?}");
    }
}

#[test]
fn a_preprocess_record_without_a_resize_method_is_tf_bilinear() {
    let mut json = serde_json::to_value(PreprocessConfig::default()).unwrap();
    json.as_object_mut().unwrap().remove("resize");
    let config: PreprocessConfig = serde_json::from_value(json).unwrap();
    assert_eq!(config.resize, Resize::Bilinear);
}

#[test]
fn the_resize_method_keys_the_cache() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 4, true);
    let prepare_with = |resize: Resize, run: &str| {
        prepare(&PrepareConfig {
            data_dir: root.clone(),
            run_dir: tmp.path().join(run),
            split: SplitConfig {
                pool: PoolSize::All,
                ..SplitConfig::default()
            },
            preprocess: PreprocessConfig {
                size: 16,
                cache_dir: tmp.path().join("cache"),
                show_progress: false,
                resize,
                ..PreprocessConfig::default()
            },
            download: false,
        })
        .unwrap()
    };
    let tf = prepare_with(Resize::Bilinear, "tf");
    let antialiased = prepare_with(Resize::Antialiased, "aa");
    assert_eq!(tf.manifest, antialiased.manifest);
    assert!(!antialiased.reused_cache, "another method, another cache");
    assert_ne!(tf.cache.image(0), antialiased.cache.image(0));
    let again = prepare_with(Resize::Antialiased, "aa");
    assert!(again.reused_cache);
}
