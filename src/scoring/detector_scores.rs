//! Per-image scores of any detector on the test split and the unseen
//! images, as the ladder compares them, and their cache in a run directory
//! with the seconds computing them took.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::io::{read_csv, write_csv_atomic};
use crate::scoring::{
    DetectorId, ScoreRow, Scores, UnseenRow, newer_than, read_seconds, write_seconds,
};

/// One detector's scores: the test split and, where it has them, every
/// image outside the pool (in the order of the autoencoders'
/// `unseen_scores.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorScores {
    /// Which detector; its name on the ladder is `id.label()`.
    pub id: DetectorId,
    /// Whether it uses ImageNet-pretrained weights.
    pub pretrained: bool,
    pub test: Scores,
    pub unseen: Option<Vec<UnseenRow>>,
    /// The detector's own compute, in seconds: its fit (training a
    /// network, fitting a Gaussian or a memory bank, extracting the
    /// pretrained features it reads) and its scoring of these images.
    /// Each part is measured when it is computed and recorded with what it
    /// computed (a run's `run.json`, a feature bank's record, a scores
    /// file's seconds companion, [`crate::scoring::seconds_file`]), so
    /// scores read back from a cache carry the seconds computing them took,
    /// not the read's. Work two detectors share (one network pass giving
    /// two scores, one feature bank) counts in each; a fusion's is the sum
    /// of its parts'.
    pub seconds: f64,
    /// Bytes of the memory a nearest-neighbour detector searches (its
    /// bank of train features); `None` for the others.
    pub bank_bytes: Option<u64>,
}

/// `test` with every error replaced by `values` (same order).
pub fn rescored(test: &Scores, values: &[f64]) -> Scores {
    Scores(
        test.iter()
            .zip(values)
            .map(|(r, &v)| ScoreRow {
                score: v,
                ..r.clone()
            })
            .collect(),
    )
}

pub fn rescored_unseen(unseen: &[UnseenRow], values: &[f64]) -> Vec<UnseenRow> {
    unseen
        .iter()
        .zip(values)
        .map(|(r, &v)| UnseenRow {
            score: v,
            ..r.clone()
        })
        .collect()
}

/// The images a detector run scores, in its [`DETECTOR_SCORES_FILE`]'s
/// order: `("test", path)` for each of `test`'s rows, then `("unseen",
/// path)` for each of `unseen`'s.
pub(crate) fn scored_images<'a>(
    test: &'a Scores,
    unseen: &'a [UnseenRow],
) -> Vec<(&'a str, &'a str)> {
    test.iter()
        .map(|r| ("test", r.path.as_str()))
        .chain(unseen.iter().map(|r| ("unseen", r.path.as_str())))
        .collect()
}

/// What a network scores of `wanted` ([`scored_images`]' order): the cache
/// rows of `prepared`'s test split, which must be `wanted`'s test images in
/// order, and the files of its unseen images.
pub(crate) fn split_images(
    prepared: &Prepared,
    wanted: &[(&str, &str)],
) -> Result<(Vec<usize>, Vec<PathBuf>)> {
    let manifest = &prepared.manifest;
    let test_rows = manifest.indices(Split::Test);
    let test_wanted = wanted
        .iter()
        .filter(|(set, _)| *set == "test")
        .map(|(_, p)| *p);
    if !test_wanted.eq(test_rows.iter().map(|&r| manifest.entries[r].path.as_str())) {
        return Err(Error::InvalidParameter(
            "the test scores are not the prepared split's test images, in its order".into(),
        ));
    }
    let files = wanted
        .iter()
        .filter(|(set, _)| *set == "unseen")
        .map(|(_, p)| prepared.config.data_dir.join(p))
        .collect();
    Ok((test_rows, files))
}

/// A detector's scores, `value` of each of `rows`: `test`'s rows, then
/// `unseen`'s ([`scored_images`]'s order).
pub(crate) fn scored_detector<T>(
    id: DetectorId,
    pretrained: bool,
    (test, unseen): (&Scores, &[UnseenRow]),
    rows: &[T],
    value: impl Fn(&T) -> f64,
    seconds: f64,
) -> DetectorScores {
    let (test_rows, unseen_rows) = rows.split_at(test.len());
    DetectorScores {
        id,
        pretrained,
        test: rescored(test, &test_rows.iter().map(&value).collect::<Vec<_>>()),
        unseen: Some(rescored_unseen(
            unseen,
            &unseen_rows.iter().map(&value).collect::<Vec<_>>(),
        )),
        seconds,
        bank_bytes: None,
    }
}

/// Per-image detector scores of a classifier run or a feature run, one row
/// per image the run scores: the test split's, then the unseen images'.
pub const DETECTOR_SCORES_FILE: &str = "detector_scores.csv";

/// The rows of `wanted`'s images in `dir`'s [`DETECTOR_SCORES_FILE`], with
/// the seconds scoring them took: read when the file was written no
/// earlier than `than` (what the scores derive from), holds exactly those
/// images (`key` gives a row's set and path) and has its seconds recorded
/// beside it; else computed by `score` (the rows and the seconds it
/// measured) and saved with its seconds.
pub(crate) fn detector_scores<T, S>(
    dir: &Path,
    than: &str,
    wanted: &[(&str, &str)],
    key: impl Fn(&T) -> (&str, &str),
    score: impl FnOnce() -> Result<(Vec<T>, S)>,
) -> Result<(Vec<T>, S)>
where
    T: Serialize + DeserializeOwned,
    S: Serialize + DeserializeOwned,
{
    let path = dir.join(DETECTOR_SCORES_FILE);
    // A file of another version's columns, or without its seconds, is
    // scored again, like a stale one.
    if newer_than(dir, DETECTOR_SCORES_FILE, than)
        && let Ok(rows) = read_csv::<T>(&path)
        && rows.len() == wanted.len()
        && rows.iter().zip(wanted).all(|(r, w)| key(r) == *w)
        && let Some(seconds) = read_seconds(dir, DETECTOR_SCORES_FILE, rows.len())
    {
        return Ok((rows, seconds));
    }
    let (rows, seconds) = score()?;
    write_csv_atomic(&path, &rows)?;
    write_seconds(dir, DETECTOR_SCORES_FILE, rows.len(), &seconds)?;
    Ok((rows, seconds))
}

/// `f`'s result and the seconds it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed().as_secs_f64()))
}
