//! Verdicts on new images: each image's score against a calibrated
//! threshold, with the images that could not be read named.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use polars::prelude::{DataFrame, PolarsResult};
use serde::{Deserialize, Serialize};

use crate::data::SkippedImage;
use crate::error::{Error, Result};
use crate::io::column;
use crate::scoring::{Calibration, ImageScorer};
use crate::stats::is_flagged;

/// One new image's score and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub path: String,
    /// The detector's score (an autoencoder's: the per-image MSE).
    pub score: f64,
    /// Whether the score lies above the calibrated threshold.
    pub anomaly: bool,
}

/// Scores image files with a detector and flags those above its
/// calibrated threshold.
pub fn verdicts(
    scorer: &dyn ImageScorer,
    calibration: &Calibration,
    paths: &[PathBuf],
    device: &Device,
) -> Result<Vec<Verdict>> {
    let scores = scorer.score_files(paths, device)?;
    Ok(paths
        .iter()
        .zip(scores)
        .map(|(path, score)| Verdict {
            path: path.display().to_string(),
            score,
            anomaly: is_flagged(score, calibration.threshold),
        })
        .collect())
}

/// Verdicts on the files that could be read, and the files left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub verdicts: Vec<Verdict>,
    /// Unreadable or undecodable files, each with its reason.
    pub skipped: Vec<SkippedImage>,
}

/// [`verdicts`], leaving out the files that cannot be read or decoded
/// (each named with its reason) instead of failing on the first: a batch
/// with a bad file is judged again one file at a time.
pub fn verdicts_skipping_bad(
    scorer: &dyn ImageScorer,
    calibration: &Calibration,
    paths: &[PathBuf],
    device: &Device,
) -> Result<Judged> {
    let mut judged = Judged {
        verdicts: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
    };
    for chunk in paths.chunks(256) {
        match verdicts(scorer, calibration, chunk, device) {
            Ok(rows) => judged.verdicts.extend(rows),
            Err(e) if chunk.iter().any(|p| bad_file_reason(&e, p).is_some()) => {
                for path in chunk {
                    match verdicts(scorer, calibration, std::slice::from_ref(path), device) {
                        Ok(rows) => judged.verdicts.extend(rows),
                        Err(e) => judged.skipped.push(SkippedImage {
                            path: path.display().to_string(),
                            reason: bad_file_reason(&e, path).ok_or(e)?,
                        }),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(judged)
}

/// Why `path` failed, when `e` says that it cannot be read or decoded.
fn bad_file_reason(e: &Error, path: &Path) -> Option<String> {
    match e {
        Error::BadImage { path: p, reason } if p == path => Some(reason.clone()),
        Error::Io { path: p, source } if p == path => Some(format!("cannot read ({source})")),
        Error::BadImages { first, .. } => bad_file_reason(first, path),
        _ => None,
    }
}

/// The verdicts as a table.
pub fn verdicts_dataframe(rows: &[Verdict]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("path", rows, |r| r.path.as_str()),
        column("score", rows, |r| r.score),
        column("anomaly", rows, |r| r.anomaly),
    ])
}
