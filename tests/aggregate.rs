//! The trivial baselines of `aggregate` on a prepared synthetic cache, and
//! the aggregations' ranking on error maps with known anomalies.

mod common;

use std::path::Path;

use caltech_anomaly::analysis::{
    Aggregation, compare_aggregations, compression_scores, pca_reconstruction_scores,
};
use caltech_anomaly::autoencoder::ErrorMap;
use caltech_anomaly::data::{PoolSize, PrepareConfig, PreprocessConfig, SplitConfig, prepare};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn write_jpeg(path: &Path, pixel: impl Fn(u32, u32) -> [u8; 3]) {
    let (w, h) = (24u32, 24u32);
    let mut pixels = Vec::new();
    for y in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(&pixel(x, y));
        }
    }
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 95)
        .write_image(&pixels, w, h, ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn pca_and_compression_baselines_score_what_they_claim() {
    let tmp = common::TempDir::new().unwrap();
    let root = tmp.path().join("caltech");
    let categories = root.join("101_ObjectCategories");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for class in ["plain", "noisy", "BACKGROUND_Google"] {
        let folder = categories.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..6u8 {
            let path = folder.join(format!("image_{i:04}.jpg"));
            match class {
                "plain" => write_jpeg(&path, |_, _| [40 + 20 * i, 90, 140]),
                _ => {
                    let noise: Vec<u8> = (0..24 * 24 * 3).map(|_| rng.random()).collect();
                    write_jpeg(&path, |x, y| {
                        let k = ((y * 24 + x) * 3) as usize;
                        [noise[k], noise[k + 1], noise[k + 2]]
                    })
                }
            }
        }
    }
    let prepared = prepare(&PrepareConfig {
        preprocess: PreprocessConfig {
            size: 16,
            cache_dir: tmp.path().join("cache"),
            show_progress: false,
            ..PreprocessConfig::default()
        },
        split: SplitConfig {
            pool: PoolSize::All,
            ..SplitConfig::default()
        },
        ..PrepareConfig::new(&root, tmp.path().join("run"))
    })
    .unwrap();
    let cache = &prepared.cache;
    let entries = &prepared.manifest.entries;
    let rows_of = |class: &str| -> Vec<usize> {
        (0..entries.len())
            .filter(|&i| entries[i].class == class)
            .collect()
    };
    let (plain, noisy) = (rows_of("plain"), rows_of("noisy"));

    // Uniform images compress far better than noise.
    let plain_bytes = compression_scores(cache, &plain);
    let noisy_bytes = compression_scores(cache, &noisy);
    let worst_plain = plain_bytes.iter().copied().fold(0.0, f64::max);
    let best_noisy = noisy_bytes.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        worst_plain * 5.0 < best_noisy,
        "{plain_bytes:?} vs {noisy_bytes:?}"
    );
    assert_eq!(compression_scores(cache, &plain), plain_bytes);

    // PCA fitted on the plain images: n points span an (n-1)-dimensional
    // affine space, so n-1 components reproduce them; noise stays far off.
    let fit_on_itself =
        pca_reconstruction_scores(cache, &plain, &plain, 16, plain.len() - 1).unwrap();
    assert!(fit_on_itself.iter().all(|&e| e < 1e-9), "{fit_on_itself:?}");
    let on_noise = pca_reconstruction_scores(cache, &plain, &noisy, 8, 2).unwrap();
    assert_eq!(on_noise.len(), noisy.len());
    assert!(on_noise.iter().all(|&e| e > 0.01), "{on_noise:?}");

    // Bad parameters are refused, not clamped.
    assert!(pca_reconstruction_scores(cache, &plain, &noisy, 0, 2).is_err());
    assert!(pca_reconstruction_scores(cache, &plain, &noisy, 17, 2).is_err());
    assert!(pca_reconstruction_scores(cache, &plain, &noisy, 8, plain.len()).is_err());
    assert!(pca_reconstruction_scores(cache, &plain, &noisy, 8, 0).is_err());
}

#[test]
fn region_scores_find_local_defects_that_the_mean_misses() {
    // 40 maps of low, even noise; 8 "anomalies" add one small bright blob,
    // and 8 normal maps get a little more total error, spread evenly.
    let size = 32;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut maps = Vec::new();
    let mut positive = Vec::new();
    for i in 0..40 {
        let mut error: Vec<f32> = (0..size * size)
            .map(|_| 0.01 + 0.002 * rng.random::<f32>())
            .collect();
        let kind = i % 5;
        if kind == 0 {
            let (cx, cy) = (rng.random_range(4..28), rng.random_range(4..28));
            for y in cy - 2..cy + 2 {
                for x in cx - 2..cx + 2 {
                    error[y * size + x] += 0.3;
                }
            }
        } else if kind == 1 {
            error
                .iter_mut()
                .for_each(|v| *v += 1.2 * 0.3 * 16.0 / (size * size) as f32);
        }
        positive.push(kind == 0);
        maps.push(ErrorMap {
            size,
            original: vec![0; size * size * 3],
            reconstruction: vec![0; size * size * 3],
            error,
        });
    }
    let options = [
        Aggregation::Mean,
        Aggregation::TopFraction(0.02),
        Aggregation::SmoothedMax { radius: 2 },
    ];
    let quality = compare_aggregations(&maps, &positive, &options, 100, 1).unwrap();
    assert_eq!(quality.len(), 3);
    assert!(quality[0].score.contains("mean"));
    // The mean ranks the evenly spread error above the blobs.
    assert!(quality[0].auroc.estimate < 0.8, "{:?}", quality[0]);
    assert_eq!(quality[1].auroc.estimate, 1.0);
    assert_eq!(quality[2].auroc.estimate, 1.0);

    assert!(compare_aggregations(&maps, &positive[1..], &options, 100, 1).is_err());
    assert!(
        compare_aggregations(&maps, &positive, &[Aggregation::TopFraction(2.0)], 100, 1).is_err()
    );
}
