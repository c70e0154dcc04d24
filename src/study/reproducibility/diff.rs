//! A run's tables beside the published ones: what is on one side only, and
//! each cell beyond tolerance.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::study::SeedVerdicts;
use crate::study::reproducibility::table::{
    TextTable, key_width, keyed, read_table, table_names, table_path,
};
use crate::study::reproducibility::tolerance::{Tolerance, Tolerances};

/// The column of the claims' verdicts (claims.csv): a changed one is a
/// verdict that flipped.
pub const VERDICT_COLUMN: &str = "verdict";

/// The column of the claims' verdicts over the training seeds
/// (claims.csv).
pub const SEEDS_COLUMN: &str = "seeds";

/// Which results folder holds something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The results folder being checked.
    Run,
    /// The published results.
    Published,
}

/// A table, a row (by its key) or a column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A whole table.
    Table,
    /// A row, by its key.
    Row(String),
    /// A column, by its name.
    Column(String),
}

/// A table, row or column present on one side only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneSided {
    /// The table's file name (`claims.csv`).
    pub table: String,
    /// What is missing on the other side.
    pub part: Part,
    /// The side that has it.
    pub only_in: Side,
}

/// A cell whose run value does not match the published one.
#[derive(Debug, Clone, PartialEq)]
pub struct CellDiff {
    /// The table's file name.
    pub table: String,
    /// The row's key: its first cell, or its first two joined by " / ".
    pub row: String,
    /// The column's name.
    pub column: String,
    /// The published cell, as written.
    pub published: String,
    /// The run's cell, as written.
    pub run: String,
    /// `run − published` for two numbers; `None` for text.
    pub difference: Option<f64>,
}

/// A run's results beside the published ones ([`compare_results`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsDiff {
    /// The results folder checked.
    pub run: PathBuf,
    /// The published results folder.
    pub published: PathBuf,
    /// The tolerances the numbers were compared with.
    pub tolerances: Tolerances,
    /// Tables on both sides, compared.
    pub tables: usize,
    /// Cells compared: rows on both sides × columns on both sides, keys
    /// and excepted columns aside.
    pub cells_compared: usize,
    /// Cells whose text differs, within tolerance or not.
    pub cells_differing: usize,
    /// Tables, rows and columns on one side only.
    pub one_sided: Vec<OneSided>,
    /// (table, column) not compared: wall times, which differ by machine.
    pub excepted: Vec<(String, String)>,
    /// (table, command): published tables another command than `reproduce`
    /// writes ([`WRITTEN_ELSEWHERE`]), absent from the run and so not
    /// compared.
    pub written_elsewhere: Vec<(String, &'static str)>,
    /// Every cell beyond tolerance, the flipped verdicts among them.
    pub cells: Vec<CellDiff>,
    /// The keys of the published rows whose verdict flips between the
    /// published run's own seeds (claims.csv's [`SEEDS_COLUMN`]).
    pub unsettled: BTreeSet<String>,
}

impl ResultsDiff {
    /// Cells beyond tolerance.
    pub fn beyond_tolerance(&self) -> usize {
        self.cells.len()
    }

    /// The claims' verdicts that changed ([`VERDICT_COLUMN`]).
    pub fn verdict_flips(&self) -> impl Iterator<Item = &CellDiff> {
        self.cells.iter().filter(|c| c.column == VERDICT_COLUMN)
    }

    /// Nothing on one side only and no cell beyond tolerance.
    pub fn is_clean(&self) -> bool {
        self.one_sided.is_empty() && self.cells.is_empty()
    }

    fn only_in(&mut self, table: &str, part: Part, only_in: Side) {
        self.one_sided.push(OneSided {
            table: table.to_string(),
            part,
            only_in,
        });
    }
}

/// Tables a published folder may hold that `reproduce` does not write, with
/// the command that does: a run lacking one is not missing anything.
pub const WRITTEN_ELSEWHERE: &[(&str, &str)] =
    &[("precision_guard.csv", "caltech-anomaly bench precision")];

/// Whether `column` is excepted from comparison: a wall time (a word
/// `seconds` in its name: `seconds`, `train_seconds`), which differs by
/// machine.
fn is_excepted(column: &str) -> bool {
    column
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("seconds"))
}

/// Compares a run's results folder (`reproduce --out`) with a published
/// one (`docs/results/<profile>`), table by table (`tables/*.csv`) and
/// cell by cell.
///
/// Rows are matched by their key (the first column, or the first two where
/// the first repeats), columns by name. Numbers match within `tolerances`,
/// text exactly, paths under either folder relative to it. Columns of
/// wall time are excepted. Errors name the folder or file that cannot be
/// read.
pub fn compare_results(
    run: &Path,
    published: &Path,
    tolerances: &Tolerances,
) -> Result<ResultsDiff> {
    tolerances.check()?;
    let run_tables = table_names(run)?;
    let published_tables = table_names(published)?;
    let folders = Folders::of(run, published);
    let mut diff = ResultsDiff {
        run: run.to_path_buf(),
        published: published.to_path_buf(),
        tolerances: tolerances.clone(),
        tables: 0,
        cells_compared: 0,
        cells_differing: 0,
        one_sided: Vec::new(),
        excepted: Vec::new(),
        written_elsewhere: Vec::new(),
        cells: Vec::new(),
        unsettled: BTreeSet::new(),
    };
    for name in published_tables.union(&run_tables) {
        match (published_tables.contains(name), run_tables.contains(name)) {
            (true, false) => match WRITTEN_ELSEWHERE.iter().find(|(table, _)| table == name) {
                Some(&(table, command)) => diff.written_elsewhere.push((table.into(), command)),
                None => diff.only_in(name, Part::Table, Side::Published),
            },
            (false, _) => diff.only_in(name, Part::Table, Side::Run),
            (true, true) => {
                let published_table = read_table(&table_path(published, name))?;
                let run_table = read_table(&table_path(run, name))?;
                compare_table(&mut diff, name, &published_table, &run_table, &folders);
            }
        }
    }
    Ok(diff)
}

/// One table on both sides: its columns, its rows, each shared cell.
fn compare_table(
    diff: &mut ResultsDiff,
    name: &str,
    published: &TextTable,
    run: &TextTable,
    folders: &Folders,
) {
    diff.tables += 1;
    let width = key_width(published, run);
    let shared = shared_columns(diff, name, published, run, width);
    let published_rows = keyed(&published.rows, width);
    let run_rows = keyed(&run.rows, width);
    if let Some(seeds) = published.header.iter().position(|c| c == SEEDS_COLUMN) {
        let flips =
            |row: &[String]| (cell(row, seeds).parse::<SeedVerdicts>()).is_ok_and(|v| !v.settled());
        let unsettled = published_rows.iter().filter(|(_, row)| flips(row));
        diff.unsettled.extend(unsettled.map(|(key, _)| key.clone()));
    }
    let mut unmatched: HashMap<&str, &[String]> =
        run_rows.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    for (key, published_row) in &published_rows {
        let Some(run_row) = unmatched.remove(key.as_str()) else {
            diff.only_in(name, Part::Row(key.clone()), Side::Published);
            continue;
        };
        for &(i, j, column) in &shared {
            let (published_cell, run_cell) = (cell(published_row, i), cell(run_row, j));
            let tolerance = diff.tolerances.of_cell(name, key, column);
            diff.cells_compared += 1;
            let difference = match compare_cell(published_cell, run_cell, tolerance, folders) {
                Match::Same => continue,
                Match::Within => {
                    diff.cells_differing += 1;
                    continue;
                }
                Match::Beyond(difference) => difference,
            };
            diff.cells_differing += 1;
            diff.cells.push(CellDiff {
                table: name.into(),
                row: key.clone(),
                column: column.into(),
                published: published_cell.into(),
                run: run_cell.into(),
                difference,
            });
        }
    }
    for (key, _) in run_rows
        .iter()
        .filter(|(k, _)| unmatched.contains_key(k.as_str()))
    {
        diff.only_in(name, Part::Row(key.clone()), Side::Run);
    }
}

/// The columns to compare, as (published position, run position, name):
/// those on both sides past the key, wall times aside. Records the columns
/// on one side only and the excepted ones.
fn shared_columns<'t>(
    diff: &mut ResultsDiff,
    name: &str,
    published: &'t TextTable,
    run: &TextTable,
    width: usize,
) -> Vec<(usize, usize, &'t str)> {
    let mut shared = Vec::new();
    for (i, column) in published.header.iter().enumerate() {
        match run.header.iter().position(|c| c == column) {
            None => diff.only_in(name, Part::Column(column.clone()), Side::Published),
            Some(_) if i < width => {}
            Some(_) if is_excepted(column) => diff.excepted.push((name.into(), column.clone())),
            Some(j) => shared.push((i, j, column.as_str())),
        }
    }
    for column in &run.header {
        if !published.header.contains(column) {
            diff.only_in(name, Part::Column(column.clone()), Side::Run);
        }
    }
    shared
}

/// The `i`-th cell of `row` (empty past its end).
fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

/// How a run's cell compares with the published one.
enum Match {
    /// The same text (paths relative to their folders).
    Same,
    /// Two numbers within tolerance.
    Within,
    /// Beyond tolerance: `run − published` for two numbers, `None` for text.
    Beyond(Option<f64>),
}

fn compare_cell(published: &str, run: &str, tolerance: Tolerance, folders: &Folders) -> Match {
    if published == run {
        return Match::Same;
    }
    match (published.trim().parse::<f64>(), run.trim().parse::<f64>()) {
        (Ok(p), Ok(r)) if tolerance.accepts(r, p) => Match::Within,
        (Ok(p), Ok(r)) => Match::Beyond(Some(r - p)),
        _ if folders.relative(published, Side::Published) == folders.relative(run, Side::Run) => {
            Match::Same
        }
        _ => Match::Beyond(None),
    }
}

/// The two folders' paths as a cell may embed them (as given and
/// absolute), longest first, each followed by a `/`.
struct Folders {
    run: Vec<String>,
    published: Vec<String>,
}

impl Folders {
    fn of(run: &Path, published: &Path) -> Self {
        let spellings = |dir: &Path| {
            let mut all: Vec<String> = [Some(dir.to_path_buf()), dir.canonicalize().ok()]
                .into_iter()
                .flatten()
                .map(|p| format!("{}/", p.display()))
                .filter(|s| s.len() > 1 && s != "./")
                .collect();
            all.sort_by_key(|s| std::cmp::Reverse(s.len()));
            all.dedup();
            all
        };
        Self {
            run: spellings(run),
            published: spellings(published),
        }
    }

    /// `cell` with its side's folder written as `<results>/`.
    fn relative(&self, cell: &str, side: Side) -> String {
        let spellings = match side {
            Side::Run => &self.run,
            Side::Published => &self.published,
        };
        spellings
            .iter()
            .fold(cell.to_string(), |c, s| c.replace(s.as_str(), "<results>/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_are_excepted_by_the_word_seconds() {
        assert!(is_excepted("seconds"));
        assert!(is_excepted("train_seconds"));
        assert!(is_excepted("Seconds per image"));
        assert!(!is_excepted("gain_second"));
        assert!(!is_excepted("gain_second_low"));
        assert!(!is_excepted("auroc"));
    }

    #[test]
    fn paths_under_either_folder_compare_relative_to_it() {
        let folders = Folders::of(Path::new("runs/a"), Path::new("docs/results/quick"));
        assert_eq!(
            folders.relative("runs/a/figures/roc.png", Side::Run),
            folders.relative("docs/results/quick/figures/roc.png", Side::Published)
        );
        assert_eq!(folders.relative("quick", Side::Published), "quick");
        assert_ne!(
            folders.relative("runs/a/figures/roc.png", Side::Run),
            folders.relative("runs/a/figures/roc.png", Side::Published)
        );
    }
}
