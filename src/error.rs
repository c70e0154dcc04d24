//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `caltech_anomaly`.
///
/// Errors about a file always name it, so that a user can find and fix the
/// input rather than read a backtrace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No dataset where one was expected.
    #[error(
        "no Caltech-101 dataset at {}: expected {}/101_ObjectCategories/<Class>/*.jpg. \
         Point the data directory at an existing copy (or set CALTECH101_DIR=DIR), \
         or download it",
        .root.display(), .root.display()
    )]
    DatasetMissing { root: PathBuf },

    /// A class folder holds no `.jpg` file. Skipping bad images (`skip_bad`
    /// of the preparation) leaves it out.
    #[error(
        "class folder {} holds no .jpg image (skip bad images to go on without it)",
        .0.display()
    )]
    EmptyClass(PathBuf),

    /// One image could not be read or decoded. Skipping bad images
    /// (`skip_bad` of the preparation, [`crate::scoring::verdicts_skipping_bad`])
    /// leaves it out.
    #[error("bad image {}: {reason} (skip bad images to go on without it)", .path.display())]
    BadImage { path: PathBuf, reason: String },

    /// Several images failed; the first few are listed.
    #[error("{count} bad images, first: {first} (skip bad images to go on without them)")]
    BadImages { count: usize, first: Box<Error> },

    /// A parameter struct failed its check.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),

    /// Another process holds the run directory's lock.
    #[error(
        "{} is in use by another process (training or recording this run); wait for it to \
         finish",
        .0.display()
    )]
    RunInUse(PathBuf),

    /// An output path names an existing file that may not be replaced.
    #[error(
        "{} already exists and this write may not replace it: allow replacing it, or write \
         to another path",
        .0.display()
    )]
    OutputExists(PathBuf),

    /// A run directory holds an unfinished run (a checkpoint) and this
    /// training neither resumes nor restarts it.
    #[error(
        "{} holds an unfinished run: resume it (`resume`), discard it and start over \
         (`restart`, or delete its checkpoint/), or choose another run directory",
        .dir.display()
    )]
    UnfinishedRun { dir: PathBuf },

    /// Resuming a run with settings other than its saved ones (`config`).
    #[error(
        "cannot resume with settings other than those in {} (differing: {}): resume with the \
         same settings, discard the unfinished run and start over (`restart`), or choose \
         another run directory",
        .config.display(), .differences.join(", ")
    )]
    ResumeMismatch {
        config: PathBuf,
        differences: Vec<String>,
    },

    /// A file of an unfinished run's checkpoint cannot be loaded.
    #[error(
        "{}: {reason}. The unfinished run cannot be resumed: restart it (`restart`), or delete \
         {} to start over by hand",
        .path.display(), .checkpoint.display()
    )]
    CheckpointUnusable {
        path: PathBuf,
        reason: String,
        /// The checkpoint folder.
        checkpoint: PathBuf,
    },

    /// A finished run's record (`run.json`) cannot be read.
    #[error(
        "{}: the run's record is unreadable ({reason}): train the run again from scratch \
         (`restart`), or choose another run directory",
        .path.display()
    )]
    RecordUnreadable { path: PathBuf, reason: String },

    /// A run directory holds a finished run of other settings.
    #[error(
        "{} holds a finished run of other settings (key {key}, these are {wanted}; {difference}): \
         choose another run directory",
        .dir.display()
    )]
    OtherFinishedRun {
        dir: PathBuf,
        /// The finished run's key.
        key: String,
        /// The key of the settings asked for.
        wanted: String,
        /// What differs, in words.
        difference: String,
    },

    /// Training produced a loss that is not finite.
    #[error(
        "training diverged at epoch {epoch} (train loss {train_loss}, validation loss \
         {val_loss}); try a lower learning rate"
    )]
    Diverged {
        epoch: usize,
        train_loss: f64,
        val_loss: f64,
    },

    /// A run's `unseen_scores.csv` (`path`) is missing or older than its
    /// model.
    #[error(
        "{} is missing or older than the model: score the run's unseen images first",
        .path.display()
    )]
    UnseenScoresMissing { path: PathBuf, run: PathBuf },

    /// A write that would replace an input of the command or something
    /// that is not a regular file.
    #[error("refusing to write {}: {reason}", .path.display())]
    WriteRefused { path: PathBuf, reason: String },

    /// A manifest or cache file does not have the expected content.
    #[error("{}: {reason}", .path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// The download or the extraction of the dataset failed.
    #[error(
        "dataset download failed: {0}. To use an existing copy instead, point the data \
         directory at it or set CALTECH101_DIR=DIR, where DIR holds 101_ObjectCategories/"
    )]
    Download(String),

    /// An I/O error on a named file.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Drawing a figure failed.
    #[error("plotting: {0}")]
    Plot(String),

    /// Building a polars table failed.
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),

    #[error(transparent)]
    Csv(#[from] csv::Error),

    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an `std::io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

/// The one of `all` named `s` (case aside), or an error that lists the
/// names: how the crate's enums parse their settings.
pub(crate) fn parse_choice<T: Copy>(
    what: &str,
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|&choice| name(choice).eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|&c| name(c)).collect();
            Error::InvalidParameter(format!(
                "{what} {s:?}: expected one of {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library also runs in notebooks, where there is no command line:
    /// its errors name the remedy in its own terms, never a `--flag` (the
    /// binary adds those, `src/cli/hints.rs`).
    #[test]
    fn errors_with_a_remedy_name_no_flag() {
        let path = PathBuf::from("runs/x");
        let bad = || Error::BadImage {
            path: path.join("a.jpg"),
            reason: "empty file".into(),
        };
        let errors = [
            Error::DatasetMissing { root: path.clone() },
            Error::EmptyClass(path.clone()),
            bad(),
            Error::BadImages {
                count: 2,
                first: Box::new(bad()),
            },
            Error::OutputExists(path.join("v.csv")),
            Error::Download("cannot fetch".into()),
            Error::UnfinishedRun { dir: path.clone() },
            Error::ResumeMismatch {
                config: path.join("config.json"),
                differences: vec!["epochs: 1 in the run, 3 now".into()],
            },
            Error::CheckpointUnusable {
                path: path.join("checkpoint/state.json"),
                reason: "EOF".into(),
                checkpoint: path.join("checkpoint"),
            },
            Error::RecordUnreadable {
                path: path.join("run.json"),
                reason: "EOF".into(),
            },
            Error::OtherFinishedRun {
                dir: path.clone(),
                key: "a".into(),
                wanted: "b".into(),
                difference: "differing: epochs".into(),
            },
            Error::Diverged {
                epoch: 3,
                train_loss: f64::NAN,
                val_loss: 1.0,
            },
            Error::UnseenScoresMissing {
                path: path.join("unseen_scores.csv"),
                run: path.clone(),
            },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains("--"), "{message}");
        }
    }
}
