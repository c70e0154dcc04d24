//! Helpers shared by the integration tests: small synthetic datasets in the
//! official layout, and the real one through `CALTECH101_DIR`.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// Encodes an RGB JPEG whose pixels follow `seed`, so images differ.
pub fn jpeg_bytes(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&[
                (x * 7 + seed * 31) as u8,
                (y * 5 + seed * 17) as u8,
                ((x + y) * 3 + seed) as u8,
            ]);
        }
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
        .expect("encode jpeg");
    out
}

/// A dataset root with `classes[i]` holding `per_class` JPEGs (or empty
/// files when `real_jpegs` is false: enough for scanning and splitting).
pub fn synthetic_dataset(
    dir: &Path,
    classes: &[&str],
    per_class: usize,
    real_jpegs: bool,
) -> PathBuf {
    let root = dir.join("caltech");
    for (c, class) in classes.iter().enumerate() {
        let folder = root.join("101_ObjectCategories").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..per_class {
            let bytes = if real_jpegs {
                jpeg_bytes(40 + i as u32, 30, (c * 100 + i) as u32)
            } else {
                Vec::new()
            };
            std::fs::write(folder.join(format!("image_{:04}.jpg", i + 1)), bytes).unwrap();
        }
    }
    root
}

/// The real Caltech-101 at `CALTECH101_DIR`, for the tests marked
/// `#[ignore = "needs CALTECH101_DIR"]` (run with `--include-ignored`).
pub fn real_dataset() -> PathBuf {
    let dir = std::env::var_os("CALTECH101_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .expect("CALTECH101_DIR is unset: point it at a Caltech-101 copy to run this test");
    assert!(
        dir.join("101_ObjectCategories").is_dir(),
        "CALTECH101_DIR={} holds no 101_ObjectCategories/",
        dir.display()
    );
    dir
}

/// A dataset root under `dir` whose class folders link the first
/// `per_class` images (in name order) of each class of `real`: the real
/// images and layout at a fraction of the cost, for end-to-end runs that
/// test every step rather than the numbers of the whole dataset
/// (`scripts/run_notebooks.py` makes the same for the notebooks at smoke).
pub fn small_dataset(real: &Path, dir: &Path, per_class: usize) -> PathBuf {
    let root = dir.join("caltech-small");
    let mut classes: Vec<PathBuf> = std::fs::read_dir(real.join("101_ObjectCategories"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    for class in classes {
        let folder = root
            .join("101_ObjectCategories")
            .join(class.file_name().unwrap());
        std::fs::create_dir_all(&folder).unwrap();
        let mut images: Vec<PathBuf> = std::fs::read_dir(&class)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        images.sort();
        for image in images.into_iter().take(per_class) {
            let image = image.canonicalize().unwrap();
            std::os::unix::fs::symlink(&image, folder.join(image.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// A fresh folder under the system's temporary directory, removed on drop.
/// (In-tree rather than the `tempfile` crate, whose default features would
/// change the feature set of shared dependencies under `cargo test` and
/// make `cargo run` and the notebook kernel rebuild them.)
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "caltech-anomaly-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `caltech-anomaly score --device cpu --run RUN --images IMAGES --out OUT`,
/// with `--detector` when given.
pub fn score_command(
    run: &Path,
    images: &Path,
    out: &Path,
    detector: Option<&str>,
) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"));
    command.args(["score", "--device", "cpu", "--run"]).arg(run);
    if let Some(detector) = detector {
        command.args(["--detector", detector]);
    }
    command
        .arg("--images")
        .arg(images)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run caltech-anomaly score")
}

/// [`score_command`], which must succeed: its stdout (the verdicts CSV) and
/// its stderr.
pub fn scored(run: &Path, images: &Path, out: &Path, detector: Option<&str>) -> (String, String) {
    let output = score_command(run, images, out, detector);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// Verdicts on image files agree with a detector's scores of the same
/// images (`expected`, in order) and lie above `threshold` exactly when
/// flagged.
pub fn assert_verdicts_agree(
    judged: &[caltech_anomaly::scoring::Verdict],
    expected: &caltech_anomaly::scoring::Scores,
    threshold: f64,
) {
    assert_eq!(judged.len(), expected.len());
    for (verdict, row) in judged.iter().zip(expected.iter()) {
        approx::assert_relative_eq!(
            verdict.score,
            row.score,
            max_relative = 1e-4,
            epsilon = 1e-6
        );
        assert_eq!(verdict.anomaly, verdict.score > threshold);
    }
}

/// The run's `run.json` names its kind by its tag, beside every field of
/// the header, and the kind read back (what `score --run` dispatches on)
/// is that one.
pub fn assert_tagged(run: &Path, kind: caltech_anomaly::analysis::RunKind) {
    use caltech_anomaly::analysis::RunKind;
    use caltech_anomaly::training::RUN_FILE;
    let text = std::fs::read_to_string(run.join(RUN_FILE)).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["kind"], kind.tag(), "{text}");
    let header = [
        "key",
        "manifest_sha256",
        "crate_version",
        "libtorch_version",
        "device",
        "git_commit",
        "date",
    ];
    for field in header {
        let value = record[field].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{field} missing: {text}");
    }
    assert_eq!(RunKind::of(run).unwrap(), kind);
}

/// Writes `record` as the run's `run.json`, as a version before the run
/// header wrote it.
pub fn write_legacy_record(run: &Path, record: &serde_json::Value) {
    let path = run.join(caltech_anomaly::training::RUN_FILE);
    std::fs::write(path, serde_json::to_vec_pretty(record).unwrap()).unwrap();
}

/// Every row of the CSV table at `path`, each cell by its column's name.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{} is unreadable: {e}", path.display()));
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (header.iter().map(String::from))
                .zip(record.iter().map(String::from))
                .collect()
        })
        .collect()
}
