//! Per-image scores and their files: the test split (`scores.csv`), the
//! validation images (`validation_scores.csv`) and every unseen image
//! (`unseen_scores.csv`).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::Split;
use crate::error::Result;
use crate::io::{read_csv, read_json, write_bytes_atomic, write_csv_atomic};
use crate::training::MODEL_FILE;

pub const SCORES_FILE: &str = "scores.csv";

/// The validation split's scores, kept so that a run calibrates a
/// threshold at any percentile without its images.
pub const VALIDATION_SCORES_FILE: &str = "validation_scores.csv";

pub const UNSEEN_SCORES_FILE: &str = "unseen_scores.csv";

/// One row of `scores.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub path: String,
    pub class: String,
    pub label: u32,
    pub split: Split,
    /// The detector's score of the image, higher for more anomalous: an
    /// autoencoder's per-image MSE over pixels and channels (images scaled
    /// to [0, 1]), another detector's energy, distance or negative
    /// log-likelihood. The column keeps the report's name, `error`.
    #[serde(rename = "error")]
    pub score: f64,
    /// Whether the image belongs to a held-out class (a true anomaly).
    pub held_out: bool,
}

/// The scores of one split, one row per image in manifest order: what
/// thresholds, curves and tables are computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores(pub Vec<ScoreRow>);

impl std::ops::Deref for Scores {
    type Target = [ScoreRow];
    fn deref(&self) -> &[ScoreRow] {
        &self.0
    }
}

impl Scores {
    /// Each image's score.
    pub fn scores(&self) -> Vec<f64> {
        self.iter().map(|r| r.score).collect()
    }

    /// Whether each image is held out, a true anomaly (not its class:
    /// that is [`ScoreRow::label`]).
    pub fn held_out_flags(&self) -> Vec<bool> {
        self.iter().map(|r| r.held_out).collect()
    }

    /// The held-out images' scores.
    pub fn held_out_scores(&self) -> Vec<f64> {
        self.iter()
            .filter(|r| r.held_out)
            .map(|r| r.score)
            .collect()
    }

    pub fn mean_error(&self) -> f64 {
        self.iter().map(|r| r.score).sum::<f64>() / self.len().max(1) as f64
    }

    /// The `p`-th percentile of the errors: the report's threshold.
    pub fn threshold(&self, p: f64) -> Result<f64> {
        crate::stats::percentile(&self.scores(), p)
    }

    /// Positions of the `n` highest errors, highest first.
    pub fn highest(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self[b].score.total_cmp(&self[a].score));
        order.truncate(n);
        order
    }

    /// The rows at `positions`.
    pub fn pick(&self, positions: &[usize]) -> Vec<ScoreRow> {
        positions.iter().map(|&i| self[i].clone()).collect()
    }

    /// `scores.csv` as a table.
    pub fn to_dataframe(&self) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        use crate::io::column;
        polars::prelude::DataFrame::new_infer_height(vec![
            column("class", &self.0, |r| r.class.as_str()),
            column("error", &self.0, |r| r.score),
            column("held_out", &self.0, |r| r.held_out),
            column("path", &self.0, |r| r.path.as_str()),
        ])
    }
}

/// Writes `scores.csv` atomically.
pub fn write_scores(path: &Path, rows: &[ScoreRow]) -> Result<()> {
    write_csv_atomic(path, rows)
}

/// Reads `scores.csv`.
pub fn read_scores(path: &Path) -> Result<Scores> {
    read_csv(path).map(Scores)
}

/// One row of `unseen_scores.csv`: an image outside the run's pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnseenRow {
    /// Relative to the dataset root, `/`-separated.
    pub path: String,
    pub class: String,
    /// The detector's score, as in [`ScoreRow::score`] (the column
    /// `error`).
    #[serde(rename = "error")]
    pub score: f64,
    /// Whether the image belongs to a held-out class (a true anomaly).
    pub held_out: bool,
}

/// Whether `run_dir` holds an `unseen_scores.csv` written after its model
/// (a retrained run's old scores are stale).
pub fn has_current_unseen_scores(run_dir: &Path) -> bool {
    newer_than_model(run_dir, UNSEEN_SCORES_FILE)
}

/// Whether `run_dir/name` exists and was written after the run's weights.
pub fn newer_than_model(run_dir: &Path, name: &str) -> bool {
    newer_than(run_dir, name, MODEL_FILE)
}

/// Whether `dir/name` and `dir/than` exist and `name` was written no
/// earlier than `than` (a result derived from `than` is stale otherwise).
pub fn newer_than(dir: &Path, name: &str, than: &str) -> bool {
    let modified = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified());
    match (modified(name), modified(than)) {
        (Ok(derived), Ok(source)) => derived >= source,
        _ => false,
    }
}

/// Writes `unseen_scores.csv` atomically, and beside it the `seconds`
/// scoring its rows took ([`write_seconds`]).
pub fn write_unseen_scores(path: &Path, rows: &[UnseenRow], seconds: f64) -> Result<()> {
    write_csv_atomic(path, rows)?;
    let (dir, file) = (path.parent().unwrap_or(Path::new("")), file_name(path));
    write_seconds(dir, &file, rows.len(), &seconds)
}

/// The seconds scoring `run_dir`'s `unseen_scores.csv` (of `rows` rows)
/// took, as [`write_unseen_scores`] recorded them.
pub fn unseen_scores_seconds(run_dir: &Path, rows: usize) -> Option<f64> {
    read_seconds(run_dir, UNSEEN_SCORES_FILE, rows)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a cached file's seconds companion holds.
#[derive(Serialize, Deserialize)]
struct Recorded<S> {
    /// The rows of the file the seconds computed.
    rows: usize,
    seconds: S,
}

/// The companion of a cached file that records the seconds computing it
/// took: `detector_scores.csv` → `detector_scores.seconds.json`.
pub fn seconds_file(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.into(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.seconds.json")
}

/// Records that computing `dir/file` (of `rows` rows) took `seconds`, in
/// its [`seconds_file`]: written after the file, so that the file and the
/// time it took are read back together ([`read_seconds`]).
pub fn write_seconds<S: Serialize>(dir: &Path, file: &str, rows: usize, seconds: &S) -> Result<()> {
    let recorded = serde_json::to_vec(&Recorded { rows, seconds })?;
    write_bytes_atomic(&dir.join(seconds_file(file)), &recorded)
}

/// The seconds [`write_seconds`] recorded for `dir/file`, if its companion
/// was written no earlier than the file and for `rows` rows (else the file
/// was written without them, or again since).
pub fn read_seconds<S: DeserializeOwned>(dir: &Path, file: &str, rows: usize) -> Option<S> {
    let companion = seconds_file(file);
    if !newer_than(dir, &companion, file) {
        return None;
    }
    let recorded: Recorded<S> = read_json(&dir.join(companion)).ok()?;
    (recorded.rows == rows).then_some(recorded.seconds)
}

/// Reads `unseen_scores.csv`.
pub fn read_unseen_scores(path: &Path) -> Result<Vec<UnseenRow>> {
    read_csv(path)
}
