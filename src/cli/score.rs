//! `score`: the unseen images of a run, or new image files judged by any
//! saved detector.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::{Bootstrap, SavedDetector, unseen_auroc};
use caltech_anomaly::autoencoder::{load_trained, score_unseen};
use caltech_anomaly::backend::{SelectedDevice, select_device};
use caltech_anomaly::data::{Prepared, describe_skipped};
use caltech_anomaly::figures::plot;
use caltech_anomaly::io::{IfExists, WritePolicy, write_csv_with};
use caltech_anomaly::scoring::{
    Calibration, ImageScorer, Judged, UNSEEN_SCORES_FILE, list_images, verdicts,
    verdicts_skipping_bad, write_unseen_scores,
};
use caltech_anomaly::{Error, Result};

use crate::cli::ScoreArgs;

pub(crate) fn run_score_unseen(data_dir: PathBuf, args: ScoreArgs) -> Result<()> {
    if RunKind::of(&args.run)? != RunKind::Autoencoder {
        return Err(Error::InvalidParameter(format!(
            "--unseen scores autoencoder runs; {} is not one (reproduce's section 9 scores the \
             classifier and the pretrained features on the unseen images)",
            args.run.display()
        )));
    }
    let device = select_device(args.device)?;
    let (_, model) = load_trained(&args.run, &device.device)?;
    let prepared = Prepared::open(&args.run)?;
    let started = std::time::Instant::now();
    let rows = score_unseen(&model, &prepared, &data_dir, &device.device, true)?;
    let path = args.run.join(UNSEEN_SCORES_FILE);
    write_unseen_scores(&path, &rows, started.elapsed().as_secs_f64())?;
    // The bootstrap `compare` uses by default.
    let ci = unseen_auroc(&rows, Bootstrap::default())?;
    println!(
        "{} unseen images ({} held out): AUROC {:.4} [{:.4}, {:.4}]; wrote {}",
        rows.len(),
        rows.iter().filter(|r| r.held_out).count(),
        ci.estimate,
        ci.low,
        ci.high,
        path.display()
    );
    Ok(())
}

pub(crate) fn run_score_images(args: ScoreArgs) -> Result<()> {
    let images = args
        .images
        .as_ref()
        .expect("clap requires --images without --unseen");
    let listing = list_images(images)?;
    if !listing.skipped.is_empty() {
        let skipped = describe_skipped(&listing.skipped);
        eprintln!("warning: {}: skipped {skipped}", images.display());
    }
    let out = args.out.clone().unwrap_or_else(|| DEFAULT_VERDICTS.into());
    let policy = verdicts_policy(&args, &listing.images);
    // Refused before the work rather than after it.
    policy.check(&out)?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(dir) = &args.maps
        && absolute(dir).starts_with(absolute(&args.run))
    {
        return Err(Error::InvalidParameter(format!(
            "--maps {}: inside the run being scored; give another folder",
            dir.display()
        )));
    }
    let device = select_device(args.device)?;
    let (detector, calibration, judged) = judge(&args, &listing.images, &device)?;
    let name = detector.id();
    for file in &judged.skipped {
        eprintln!("warning: skipped {}: {}", file.path, file.reason);
    }
    if !judged.skipped.is_empty() {
        eprintln!("warning: {} bad images skipped", judged.skipped.len());
    }
    let rows = judged.verdicts;
    eprintln!(
        "{name}, threshold {:.6}: the p{} of its validation scores; {} of {} images flagged",
        calibration.threshold,
        calibration.percentile,
        rows.iter().filter(|r| r.anomaly).count(),
        rows.len()
    );
    let written = write_csv_with(&policy, &out, &rows)?;
    eprintln!("verdicts: {}", written.display());
    if let Some(dir) = &args.maps {
        let paths: Vec<PathBuf> = rows.iter().map(|r| PathBuf::from(&r.path)).collect();
        let figures = write_maps(&detector, &paths, dir)?;
        eprintln!("anomaly maps: {} in {}", figures, dir.display());
    }
    let mut out = csv::Writer::from_writer(std::io::stdout());
    for row in &rows {
        out.serialize(row)?;
    }
    out.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Where `score` writes without `--out`.
const DEFAULT_VERDICTS: &str = "verdicts.csv";

/// How `score` writes its verdicts: never over a file of the run or an
/// image being judged; over an existing `--out` only with `--force`; the
/// default name moved aside when taken.
fn verdicts_policy(args: &ScoreArgs, images: &[PathBuf]) -> WritePolicy {
    let if_exists = match (&args.out, args.force) {
        (None, _) => IfExists::NewName,
        (Some(_), true) => IfExists::Replace,
        (Some(_), false) => IfExists::Refuse,
    };
    let run = format!("a file of the run being scored ({})", args.run.display());
    images.iter().fold(
        WritePolicy::new(if_exists).protecting(&args.run, run),
        |policy, image| policy.protecting(image, "an image being judged"),
    )
}

/// Each image's anomaly map as `dir/<image name>.png` (a counter added
/// where two images share a name); returns how many were written.
fn write_maps(detector: &SavedDetector, paths: &[PathBuf], dir: &Path) -> Result<usize> {
    let (maps, size) = detector.anomaly_maps(paths)?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut taken = HashSet::new();
    for (path, map) in paths.iter().zip(maps) {
        let name = path
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy());
        let stem = (0..)
            .map(|i| {
                if i == 0 {
                    name.to_string()
                } else {
                    format!("{name}-{i}")
                }
            })
            .find(|s| taken.insert(s.clone()))
            .expect("a free name");
        let label = path
            .file_name()
            .map_or(String::new(), |s| s.to_string_lossy().into());
        plot::anomaly_maps(
            std::slice::from_ref(path),
            &[map],
            &[label],
            size,
            &dir.join(stem),
        )?;
    }
    Ok(taken.len())
}

/// The verdicts on `paths` of the run's detector (`--detector`, else its
/// kind's default), the detector and its threshold.
fn judge(
    args: &ScoreArgs,
    paths: &[PathBuf],
    device: &SelectedDevice,
) -> Result<(SavedDetector, Calibration, Judged)> {
    let detector = SavedDetector::load(&args.run, args.detector.as_deref(), device)?;
    let calibration = detector.calibration(args.percentile, &device.device)?;
    let judged = if args.skip_bad {
        verdicts_skipping_bad(&detector, &calibration, paths, &device.device)?
    } else {
        Judged {
            verdicts: verdicts(&detector, &calibration, paths, &device.device)?,
            skipped: Vec::new(),
        }
    };
    Ok((detector, calibration, judged))
}
