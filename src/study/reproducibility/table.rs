//! A results folder's tables read as text, and their rows under their keys.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The folder of a results folder's tables.
pub(super) const TABLES: &str = "tables";

/// A CSV table as text: its header and its rows.
pub(super) struct TextTable {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl TextTable {
    /// The number in cell `i` of `row`, a row of this table read from
    /// `path`; errors name the file, the row and the column.
    pub(super) fn number(&self, path: &Path, row: &[String], i: usize) -> Result<f64> {
        let cell = row.get(i).map_or("", String::as_str);
        cell.trim().parse().map_err(|_| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "row {:?}, column {:?}: {cell:?} is not a number",
                row.first().map_or("", String::as_str),
                self.header.get(i).map_or("", String::as_str)
            ),
        })
    }
}

/// The names of the CSV files in `dir/tables/`.
pub(super) fn table_names(dir: &Path) -> Result<BTreeSet<String>> {
    let tables = dir.join(TABLES);
    if !tables.is_dir() {
        return Err(Error::Corrupt {
            path: tables,
            reason: "no such folder: a results folder (what `reproduce` writes, or \
                     docs/results/<profile>) holds tables/*.csv"
                .into(),
        });
    }
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&tables).at(&tables)? {
        let path = entry.at(&tables)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "csv") {
            names.extend(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    Ok(names)
}

/// Reads a CSV table with its header; errors name the file.
pub(super) fn read_table(path: &Path) -> Result<TextTable> {
    let corrupt = |e: csv::Error| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = File::open(path).at(path)?;
    let mut reader = csv::Reader::from_reader(BufReader::new(file));
    let header = reader
        .headers()
        .map_err(corrupt)?
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
        .collect::<std::result::Result<_, _>>()
        .map_err(corrupt)?;
    Ok(TextTable { header, rows })
}

/// How many leading columns key a row: the first, or the first two where
/// the first repeats in either table (thresholds.csv: percentile and
/// source; ladder_false_positives.csv: detector and class).
pub(super) fn key_width(published: &TextTable, run: &TextTable) -> usize {
    let unique = |t: &TextTable| {
        let mut seen = BTreeSet::new();
        t.rows.iter().all(|r| seen.insert(r.first()))
    };
    let narrowest = published.header.len().min(run.header.len());
    if narrowest > 1 && !(unique(published) && unique(run)) {
        2
    } else {
        1
    }
}

/// Each row under its key: its first `width` cells joined by " / ", and
/// " #n" for the n-th row of a key that still repeats.
pub(super) fn keyed(rows: &[Vec<String>], width: usize) -> Vec<(String, &[String])> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    rows.iter()
        .map(|row| {
            let key = row[..width.min(row.len())].join(" / ");
            let count = seen.entry(key.clone()).or_default();
            *count += 1;
            let key = match *count {
                1 => key,
                n => format!("{key} #{n}"),
            };
            (key, row.as_slice())
        })
        .collect()
}

/// `dir/tables/name`.
pub(super) fn table_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(TABLES).join(name)
}
