//! Nothing a user points the tool at is lost or misread: `score --out`
//! never replaces an input or an existing file unasked, nothing is written
//! outside the run, `--out` and the cache, symlinked classes are scanned,
//! bad files are skipped by name, errors name their file, a corrupt
//! checkpoint has a way out, settings are checked before anything is
//! written, and `score` reads PNGs of every colour type.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use caltech_anomaly::Error;
use caltech_anomaly::backend::DeviceChoice;
use caltech_anomaly::data::{Caltech101, PoolSize};
use caltech_anomaly::study::Profile;
use caltech_anomaly::study::{RunSpec, run};
use caltech_anomaly::training::RunLock;
use common::{TempDir, jpeg_bytes, synthetic_dataset};
use image::{DynamicImage, ImageBuffer, ImageFormat};

const CLASSES: [&str; 4] = ["accordion", "BACKGROUND_Google", "airplanes", "ant"];

fn spec(root: &Path, tmp: &TempDir, name: &str) -> RunSpec {
    RunSpec {
        profile: Profile::Smoke,
        device: DeviceChoice::Cpu,
        pool: Some(PoolSize::All),
        epochs: Some(1),
        image_size: Some(16),
        batch_size: Some(8),
        cache_dir: tmp.path().join("cache"),
        download: false,
        show_progress: false,
        ..RunSpec::new(root, tmp.path().join(name))
    }
}

/// A dataset and a finished run trained on it: (dataset root, run dir).
fn trained(tmp: &TempDir) -> (PathBuf, PathBuf) {
    let root = synthetic_dataset(tmp.path(), &CLASSES, 8, true);
    let spec = spec(&root, tmp, "run");
    run(&spec).unwrap();
    (root, spec.out)
}

fn cli(cwd: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"));
    command.current_dir(cwd);
    for arg in args {
        command.arg(arg);
    }
    command.output().expect("run caltech-anomaly")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `score --device cpu --run RUN --images IMAGES` and `extra`, from `cwd`.
fn score(cwd: &Path, run: &Path, images: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"score",
        &"--device",
        &"cpu",
        &"--run",
        &run,
        &"--images",
        &images,
    ];
    args.extend(extra.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
    cli(cwd, &args)
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

fn first_image(root: &Path) -> PathBuf {
    root.join("101_ObjectCategories/ant/image_0001.jpg")
}

#[test]
fn out_at_a_file_of_the_run_or_an_input_image_is_refused_and_nothing_changes() {
    let tmp = TempDir::new().unwrap();
    let (root, run_dir) = trained(&tmp);
    let image = first_image(&root);
    let (run_before, image_before) = (snapshot(&run_dir), std::fs::read(&image).unwrap());
    let run_json = run_dir.join("run.json");
    let out_args = |out: &Path, force: bool| {
        let mut args = vec!["--out".to_string(), out.display().to_string()];
        if force {
            args.push("--force".into());
        }
        args
    };
    for (out, what) in [
        (&run_json, "a file of the run being scored"),
        (&image, "an image being judged"),
    ] {
        for force in [false, true] {
            let args = out_args(out, force);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = score(tmp.path(), &run_dir, &image, &args);
            assert!(!output.status.success());
            let err = stderr(&output);
            assert!(
                err.contains("refusing to write") && err.contains(what),
                "{err}"
            );
        }
    }
    // A link to the run's file is followed, and refused as well.
    let link = tmp.path().join("link.csv");
    std::os::unix::fs::symlink(&run_json, &link).unwrap();
    let output = score(
        tmp.path(),
        &run_dir,
        &image,
        &["--out", "link.csv", "--force"],
    );
    assert!(
        stderr(&output).contains("a file of the run"),
        "{}",
        stderr(&output)
    );
    // Something that is not a regular file is never replaced.
    let output = score(tmp.path(), &run_dir, &image, &["--out", ".", "--force"]);
    assert!(stderr(&output).contains("not a regular file"));
    assert_eq!(snapshot(&run_dir), run_before);
    assert_eq!(std::fs::read(&image).unwrap(), image_before);
    // The run still scores.
    assert!(score(tmp.path(), &run_dir, &image, &[]).status.success());
}

#[test]
fn an_existing_out_needs_force_a_link_is_written_through_and_the_default_moves_aside() {
    let tmp = TempDir::new().unwrap();
    let (root, run_dir) = trained(&tmp);
    let image = first_image(&root);
    let existing = tmp.path().join("mine.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let output = score(tmp.path(), &run_dir, &image, &["--out", "mine.csv"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    // The library's error, in words (no Rust item), and the flag the binary
    // adds to it.
    assert!(err.contains("already exists"), "{err}");
    assert!(!err.contains('`') && !err.contains("::"), "{err}");
    assert!(err.contains("hint: pass --force"), "{err}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let output = score(
        tmp.path(),
        &run_dir,
        &image,
        &["--out", "mine.csv", "--force"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::read_to_string(&existing)
            .unwrap()
            .starts_with("path,score,anomaly")
    );

    // A link given as --out stays a link; its target receives the verdicts.
    let link = tmp.path().join("link.csv");
    std::os::unix::fs::symlink("mine.csv", &link).unwrap();
    std::fs::write(&existing, "old").unwrap();
    let output = score(
        tmp.path(),
        &run_dir,
        &image,
        &["--out", "link.csv", "--force"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&existing)
            .unwrap()
            .starts_with("path,")
    );

    // Without --out: verdicts.csv, then verdicts-1.csv beside it.
    for (n, name) in ["verdicts.csv", "verdicts-1.csv"].iter().enumerate() {
        let output = score(tmp.path(), &run_dir, &image, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains(name), "{n}: {}", stderr(&output));
        assert!(tmp.path().join(name).is_file());
    }
    assert!(
        std::fs::read_to_string(tmp.path().join("verdicts.csv"))
            .unwrap()
            .starts_with("path,")
    );
}

/// Rewrites `prepare.json` with paths relative to `base`, as versions
/// before absolute records wrote them (relative to their working folder).
fn make_record_relative(run_dir: &Path, base: &Path) {
    let path = run_dir.join("prepare.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let relative = |value: &mut serde_json::Value| {
        let absolute = PathBuf::from(value.as_str().unwrap());
        *value = absolute
            .strip_prefix(base)
            .unwrap()
            .to_str()
            .unwrap()
            .into();
    };
    relative(&mut record["config"]["run_dir"]);
    relative(&mut record["config"]["data_dir"]);
    relative(&mut record["config"]["preprocess"]["cache_dir"]);
    relative(&mut record["cache_file"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

#[test]
fn score_from_another_folder_writes_only_its_out_and_the_recorded_cache() {
    let tmp = TempDir::new().unwrap();
    let (root, run_dir) = trained(&tmp);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = tmp.path().join("v.csv");
    let out_arg = out.display().to_string();
    // Another percentile: calibrated from the recorded validation scores.
    let output = score(
        &elsewhere,
        &run_dir,
        &first_image(&root),
        &["--percentile", "90", "--out", &out_arg],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(out.is_file());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    // A run recorded by an older version: relative paths, no validation
    // scores, and its cache cleaned away. Recalibrating rebuilds the cache
    // where the run recorded it, and writes nothing else.
    make_record_relative(&run_dir, tmp.path());
    std::fs::remove_file(run_dir.join("validation_scores.csv")).unwrap();
    let cache = tmp.path().join("cache");
    let cache_files = snapshot(&cache);
    std::fs::remove_dir_all(&cache).unwrap();
    let run_before = snapshot(&run_dir);
    let output = score(
        &elsewhere,
        &run_dir,
        &first_image(&root),
        &["--percentile", "85", "--out", &out_arg, "--force"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(snapshot(&run_dir), run_before);
    assert_eq!(
        snapshot(&cache).keys().collect::<Vec<_>>(),
        cache_files.keys().collect::<Vec<_>>()
    );
}

#[test]
fn symlinked_class_folders_are_scanned_and_what_is_passed_over_is_named() {
    let tmp = TempDir::new().unwrap();
    let real = synthetic_dataset(tmp.path(), &CLASSES, 3, false);
    let linked = tmp.path().join("linked");
    let categories = linked.join("101_ObjectCategories");
    std::fs::create_dir_all(&categories).unwrap();
    for class in CLASSES {
        let target = real.join("101_ObjectCategories").join(class);
        std::os::unix::fs::symlink(target, categories.join(class)).unwrap();
    }
    std::fs::write(categories.join("README.txt"), "notes").unwrap();
    std::fs::write(real.join("101_ObjectCategories/ant/tmp"), "").unwrap();

    let dataset = Caltech101::scan(&linked, false).unwrap();
    assert_eq!(dataset.classes().len(), 4);
    assert_eq!(dataset.images().len(), 12);
    assert!(dataset.label_of("background_google").is_some());
    let skipped: Vec<(&str, &str)> = dataset
        .skipped_files()
        .iter()
        .map(|f| (f.path.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("101_ObjectCategories/README.txt", "not a class folder"),
            ("101_ObjectCategories/ant/tmp", "not a .jpg file"),
        ]
    );
}

#[test]
fn score_skip_bad_names_and_counts_the_bad_file() {
    let tmp = TempDir::new().unwrap();
    let (_, run_dir) = trained(&tmp);
    let folder = tmp.path().join("new");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.jpg"), jpeg_bytes(30, 20, 1)).unwrap();
    std::fs::write(folder.join("b.jpg"), jpeg_bytes(20, 30, 2)).unwrap();
    std::fs::write(folder.join("broken.jpg"), b"").unwrap();

    let output = score(tmp.path(), &run_dir, &folder, &["--out", "v.csv"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("broken.jpg") && err.contains("--skip-bad"),
        "{err}"
    );
    assert!(!tmp.path().join("v.csv").exists());

    let output = score(
        tmp.path(),
        &run_dir,
        &folder,
        &["--out", "v.csv", "--skip-bad"],
    );
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("broken.jpg: empty file"), "{err}");
    assert!(err.contains("1 bad images skipped"), "{err}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.contains("a.jpg") && stdout.contains("b.jpg"));
}

#[test]
fn parse_and_io_errors_name_their_file() {
    let tmp = TempDir::new().unwrap();
    let (root, run_dir) = trained(&tmp);
    let image = first_image(&root);
    let run_json = run_dir.join("run.json");
    let text = std::fs::read(&run_json).unwrap();

    std::fs::write(&run_json, &text[..text.len() / 2]).unwrap();
    let err = stderr(&score(tmp.path(), &run_dir, &image, &["--out", "v.csv"]));
    assert!(err.contains(&run_json.display().to_string()), "{err}");
    std::fs::write(&run_json, &text).unwrap();

    std::fs::rename(run_dir.join("scores.csv"), tmp.path().join("scores.csv")).unwrap();
    let err = stderr(&score(tmp.path(), &run_dir, &image, &["--out", "v.csv"]));
    assert!(err.contains("scores.csv"), "{err}");

    // `compare` on a run of another kind says so.
    let classifier = tmp.path().join("classifier");
    std::fs::create_dir(&classifier).unwrap();
    std::fs::write(classifier.join("run.json"), r#"{"classes": []}"#).unwrap();
    let err = stderr(&cli(tmp.path(), &[&"compare", &classifier]));
    assert!(err.contains("compares autoencoder runs"), "{err}");
    assert!(err.contains("classifier"), "{err}");
}

#[test]
fn a_corrupt_checkpoint_is_recoverable_with_restart() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 8, true);
    let spec = spec(&root, &tmp, "run");
    std::fs::create_dir_all(spec.out.join("checkpoint")).unwrap();
    std::fs::write(spec.out.join("checkpoint/state.json"), "{\"hist").unwrap();

    // The library names its options (`resume`, `restart`), never a flag.
    let err = run(&RunSpec {
        resume: true,
        ..spec.clone()
    })
    .unwrap_err();
    assert!(matches!(err, Error::CheckpointUnusable { .. }), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("state.json") && err.contains("`restart`") && !err.contains("--"),
        "{err}"
    );
    let err = run(&spec).unwrap_err();
    assert!(matches!(err, Error::UnfinishedRun { .. }), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("`resume`") && err.contains("`restart`") && !err.contains("--"),
        "{err}"
    );

    let trained = run(&RunSpec {
        restart: true,
        ..spec.clone()
    })
    .unwrap();
    assert_eq!(trained.record.epochs_run, 1);
    assert!(!spec.out.join("checkpoint").exists());

    // A truncated record of a finished run: refused, naming it, until
    // --restart trains it again.
    let run_json = spec.out.join("run.json");
    std::fs::write(&run_json, "{\"key\": \"0").unwrap();
    let err = run(&spec).unwrap_err();
    assert!(matches!(err, Error::RecordUnreadable { .. }), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("run.json") && err.contains("`restart`") && !err.contains("--"),
        "{err}"
    );
    run(&RunSpec {
        restart: true,
        ..spec.clone()
    })
    .unwrap();
    assert!(caltech_anomaly::autoencoder::read_record(&spec.out).is_ok());
}

#[test]
fn resume_with_other_settings_names_them() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 8, true);
    let finished = spec(&root, &tmp, "finished");
    run(&finished).unwrap();
    let unfinished = RunSpec {
        epochs: Some(3),
        resume: true,
        ..spec(&root, &tmp, "unfinished")
    };
    std::fs::create_dir_all(unfinished.out.join("checkpoint")).unwrap();
    std::fs::copy(
        finished.out.join("config.json"),
        unfinished.out.join("config.json"),
    )
    .unwrap();
    std::fs::write(unfinished.out.join("checkpoint/state.json"), "{}").unwrap();
    let err = run(&unfinished).unwrap_err();
    assert!(matches!(err, Error::ResumeMismatch { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains("epochs: 1 in the run, 3 now"), "{err}");
    assert!(!err.contains("--"), "{err}");

    // A finished run of other settings names them too.
    let other = RunSpec {
        epochs: Some(2),
        ..finished.clone()
    };
    let err = run(&other).unwrap_err();
    assert!(matches!(err, Error::OtherFinishedRun { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains("epochs: 1 in the run, 2 now"), "{err}");
    assert!(!err.contains("--"), "{err}");
}

#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 4, true);
    for (flag, value, message) in [
        ("--batch", "0", "batch size 0"),
        ("--epochs", "0", "epochs 0"),
        ("--lr", "NaN", "learning rate NaN"),
    ] {
        let out = tmp.path().join("run");
        let cache = tmp.path().join("cache");
        let output = cli(
            tmp.path(),
            &[
                &"train",
                &"--device",
                &"cpu",
                &"--profile",
                &"smoke",
                &"--no-download",
                &"--data-dir",
                &root,
                &"--out",
                &out,
                &"--cache-dir",
                &cache,
                &flag,
                &value,
            ],
        );
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(err.contains(message), "{err}");
        assert!(!out.exists(), "{flag} {value} left {}", out.display());
        assert!(!cache.exists(), "{flag} {value} filled the cache");
    }
}

/// The library's error names `resume` and `restart`; the binary adds the
/// flags (`--force` and `--skip-bad`: the score tests above, `--data-dir`:
/// tests/data.rs).
#[test]
fn the_cli_adds_the_flag_the_library_error_leaves_out() {
    let tmp = TempDir::new().unwrap();
    let root = synthetic_dataset(tmp.path(), &CLASSES, 4, true);
    // `train` into a folder with an unfinished run.
    let out = tmp.path().join("run");
    std::fs::create_dir_all(out.join("checkpoint")).unwrap();
    std::fs::write(out.join("checkpoint/state.json"), "{}").unwrap();
    let cache = tmp.path().join("cache");
    let output = cli(
        tmp.path(),
        &[
            &"train",
            &"--device",
            &"cpu",
            &"--profile",
            &"smoke",
            &"--no-download",
            &"--data-dir",
            &root,
            &"--out",
            &out,
            &"--cache-dir",
            &cache,
        ],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("holds an unfinished run"), "{err}");
    assert!(
        err.contains("hint: pass --resume") && err.contains("--restart"),
        "{err}"
    );
}

#[test]
fn a_run_in_use_is_its_own_error() {
    let tmp = TempDir::new().unwrap();
    let _lock = RunLock::acquire(tmp.path()).unwrap();
    let err = RunLock::acquire(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::RunInUse(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("in use by another process"), "{message}");
    assert!(!message.contains("invalid parameter"), "{message}");
}

/// Writes `image` as a PNG at `path`.
fn png(path: &Path, image: DynamicImage) {
    image.save_with_format(path, ImageFormat::Png).unwrap();
}

/// A 24×20 RGB pattern.
fn rgb_pixels() -> Vec<u8> {
    (0..24 * 20)
        .flat_map(|i| [(i * 7 % 256) as u8, (i * 3 % 256) as u8, (i % 200) as u8])
        .collect()
}

#[test]
fn score_reads_jpeg_and_png_of_every_colour_type_and_names_other_files() {
    let tmp = TempDir::new().unwrap();
    let (_, run_dir) = trained(&tmp);
    let folder = tmp.path().join("mixed");
    std::fs::create_dir(&folder).unwrap();
    let rgb = rgb_pixels();
    let gray: Vec<u8> = rgb.chunks(3).map(|p| p[0]).collect();
    let wide = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|&v| u16::from(v) * 257)
            .collect::<Vec<_>>()
    };
    std::fs::write(folder.join("photo.jpg"), jpeg_bytes(24, 20, 3)).unwrap();
    png(
        &folder.join("rgb.png"),
        DynamicImage::ImageRgb8(ImageBuffer::from_raw(24, 20, rgb.clone()).unwrap()),
    );
    let rgba: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 90]).collect();
    png(
        &folder.join("rgba.png"),
        DynamicImage::ImageRgba8(ImageBuffer::from_raw(24, 20, rgba).unwrap()),
    );
    png(
        &folder.join("rgb16.png"),
        DynamicImage::ImageRgb16(ImageBuffer::from_raw(24, 20, wide(&rgb)).unwrap()),
    );
    png(
        &folder.join("gray.png"),
        DynamicImage::ImageLuma8(ImageBuffer::from_raw(24, 20, gray.clone()).unwrap()),
    );
    let gray_as_rgb: Vec<u8> = gray.iter().flat_map(|&v| [v, v, v]).collect();
    png(
        &folder.join("gray_rgb.png"),
        DynamicImage::ImageRgb8(ImageBuffer::from_raw(24, 20, gray_as_rgb).unwrap()),
    );
    png(
        &folder.join("gray16.png"),
        DynamicImage::ImageLuma16(ImageBuffer::from_raw(24, 20, wide(&gray)).unwrap()),
    );
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();

    let output = score(tmp.path(), &run_dir, &folder, &["--out", "v.csv"]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("skipped 1 file: notes.txt (not an image)"),
        "{err}"
    );
    assert!(err.contains("of 7 images flagged"), "{err}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let scores: BTreeMap<String, f64> = stdout
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let name = Path::new(fields[0]).file_name().unwrap();
            (
                name.to_string_lossy().into_owned(),
                fields[1].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(scores.len(), 7, "{stdout}");
    // The same pixels score the same whatever the colour type: alpha is
    // dropped, 16-bit samples scaled to 8 bits, gray spread to RGB.
    for (a, b) in [
        ("rgb.png", "rgba.png"),
        ("rgb.png", "rgb16.png"),
        ("gray.png", "gray_rgb.png"),
        ("gray.png", "gray16.png"),
    ] {
        assert_eq!(scores[a], scores[b], "{a} and {b}");
    }
    assert_ne!(scores["rgb.png"], scores["gray.png"]);

    // One PNG on its own is judged too.
    let output = score(
        tmp.path(),
        &run_dir,
        &folder.join("rgba.png"),
        &["--out", "one.csv"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}
