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
         Point at an existing copy with --data-dir DIR or CALTECH101_DIR=DIR, \
         or fetch it with `caltech-anomaly download`",
        .root.display(), .root.display()
    )]
    DatasetMissing { root: PathBuf },

    /// A class folder holds no `.jpg` file.
    #[error("class folder {} holds no .jpg image (use --skip-bad to go on without it)", .0.display())]
    EmptyClass(PathBuf),

    /// One image could not be read or decoded.
    #[error("bad image {}: {reason} (use --skip-bad to go on without it)", .path.display())]
    BadImage { path: PathBuf, reason: String },

    /// Several images failed; the first few are listed.
    #[error("{count} bad images, first: {first} (use --skip-bad to go on without them)")]
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
        "{} already exists: not replaced (pass --force to replace it, or choose another --out)",
        .0.display()
    )]
    OutputExists(PathBuf),

    /// A write that would replace an input of the command or something
    /// that is not a regular file.
    #[error("refusing to write {}: {reason}", .path.display())]
    WriteRefused { path: PathBuf, reason: String },

    /// A manifest or cache file does not have the expected content.
    #[error("{}: {reason}", .path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// The download or the extraction of the dataset failed.
    #[error(
        "dataset download failed: {0}. To use an existing copy instead, pass --data-dir DIR \
         or set CALTECH101_DIR=DIR, where DIR holds 101_ObjectCategories/"
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
