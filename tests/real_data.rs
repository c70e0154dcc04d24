//! Report section 4 on the real Caltech-101 (`CALTECH101_DIR`; ignored unless
//! run with `--include-ignored`, as `make test` does when the variable is set).

mod common;

use caltech_anomaly::data::image::{DecodeLimits, decode_jpeg_rgb};
use caltech_anomaly::data::{
    BACKGROUND_CLASS, Caltech101, Manifest, PoolSize, PrepareConfig, PreprocessConfig, Split,
    SplitConfig, prepare,
};
use common::TempDir;

#[test]
#[ignore = "needs CALTECH101_DIR"]
fn scan_finds_102_classes_and_9144_images_without_tmp() {
    let root = common::real_dataset();
    let dataset = Caltech101::scan(&root, false).unwrap();
    assert_eq!(dataset.classes().len(), 102);
    assert_eq!(dataset.images().len(), 9144);
    let names = dataset.class_names();
    assert_eq!(
        names[..5],
        ["accordion", "airplanes", "anchor", "ant", BACKGROUND_CLASS]
    );
    assert_eq!(dataset.label_of("BACKGROUND_Google"), Some(4));
    assert!(
        root.join("101_ObjectCategories/BACKGROUND_Google/tmp")
            .is_file()
    );
    assert!(dataset.images().iter().all(|i| i.path.ends_with(".jpg")));
    assert_eq!(
        dataset.images().iter().filter(|i| i.label == 4).count(),
        467
    );
}

#[test]
#[ignore = "needs CALTECH101_DIR"]
fn the_report_split_holds_out_every_pooled_background_image() {
    let root = common::real_dataset();
    let dataset = Caltech101::scan(&root, false).unwrap();
    let config = SplitConfig::default();
    let manifest = Manifest::split(&dataset, &config).unwrap();
    assert_eq!(manifest.len(), 3060);
    let summary = manifest.summary();
    assert_eq!(summary.count(Split::Train).held_out, 0);
    assert_eq!(summary.count(Split::Validation).held_out, 0);
    assert_eq!(summary.count(Split::Test).held_out, 30);
    // 2142 / 459 / 459 cut, then background rows move to test.
    let moved = summary.count(Split::Test).images - 459;
    assert_eq!(
        summary.count(Split::Train).images + summary.count(Split::Validation).images + moved,
        2601
    );
    for split in [Split::Train, Split::Validation] {
        assert!(
            manifest
                .entries
                .iter()
                .filter(|e| e.split == split)
                .all(|e| e.class != BACKGROUND_CLASS)
        );
    }

    let again = Manifest::split(&dataset, &config).unwrap();
    assert_eq!(
        again.to_csv_bytes().unwrap(),
        manifest.to_csv_bytes().unwrap()
    );
    let other = Manifest::split(
        &dataset,
        &SplitConfig {
            seed: 7,
            ..config.clone()
        },
    )
    .unwrap();
    assert_ne!(
        other.to_csv_bytes().unwrap(),
        manifest.to_csv_bytes().unwrap()
    );
}

#[test]
#[ignore = "needs CALTECH101_DIR"]
fn every_real_image_decodes_and_the_cache_is_reused() {
    let root = common::real_dataset();
    let tmp = TempDir::new().unwrap();
    let config = PrepareConfig {
        split: SplitConfig {
            pool: PoolSize::All,
            ..SplitConfig::default()
        },
        preprocess: PreprocessConfig {
            size: 16,
            cache_dir: tmp.path().join("cache"),
            show_progress: false,
            ..PreprocessConfig::default()
        },
        ..PrepareConfig::new(&root, tmp.path().join("run"))
    };
    // Strict decoding accepts all 9,144 images: no skip needed.
    let prepared = prepare(&config).unwrap();
    assert_eq!(prepared.cache.len(), 9144);
    assert!(prepared.skipped_images.is_empty());
    let again = prepare(&config).unwrap();
    assert!(again.reused_cache);
    assert_eq!(
        std::fs::read(tmp.path().join("run/manifest.csv")).unwrap(),
        prepared.manifest.to_csv_bytes().unwrap()
    );

    // Grayscale originals come out with three equal channels.
    let gray = prepared
        .manifest
        .entries
        .iter()
        .position(|e| {
            let bytes = std::fs::read(root.join(&e.path)).unwrap();
            let rgb = decode_jpeg_rgb(&bytes, DecodeLimits::default()).unwrap();
            rgb.pixels.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2])
        })
        .expect("Caltech-101 has grayscale images");
    assert!(
        prepared
            .cache
            .image(gray)
            .chunks(3)
            .all(|p| p[0] == p[1] && p[1] == p[2])
    );
}
