//! `diff` and `study::reproducibility`: a copy of the published quick
//! results compared with the original, clean and with planted differences.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use caltech_anomaly::Error;
use caltech_anomaly::study::reproducibility::{OneSided, Part, Side};
use caltech_anomaly::study::{ResultsDiff, Tolerance, Tolerances, compare_results};
use common::csv_rows;

const PUBLISHED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/results/quick");

/// A fresh copy of the published quick results, in a folder of its own.
fn copy_of_published(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reproducibility-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    copy_dir(Path::new(PUBLISHED), &dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Rewrites `dir/tables/table` after `edit` changed its rows (the header
/// first).
fn edit_table(dir: &Path, table: &str, edit: impl FnOnce(&mut Vec<Vec<String>>)) {
    let path = dir.join("tables").join(table);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .unwrap();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    edit(&mut rows);
    let mut writer = csv::Writer::from_path(&path).unwrap();
    for row in &rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

/// Sets the cell of `column` in the row whose first cell is `first` (and
/// second `second`, when given).
fn set_cell(dir: &Path, table: &str, key: (&str, Option<&str>), column: &str, value: &str) {
    edit_table(dir, table, |rows| {
        let c = rows[0].iter().position(|h| h == column).unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r[0] == key.0 && key.1.is_none_or(|k| r[1] == k))
            .unwrap();
        row[c] = value.to_string();
    });
}

/// The published baseline's test AUROC, and that value moved by `by` as
/// the tables write it.
fn baseline_auroc_moved(by: f64) -> (String, String) {
    let comparison = csv_rows(&Path::new(PUBLISHED).join("tables/comparison.csv"));
    let baseline = comparison
        .iter()
        .find(|row| row["model"] == "baseline")
        .unwrap();
    let published = baseline["auroc"].clone();
    let moved = format!("{:.6}", published.parse::<f64>().unwrap() + by);
    (published, moved)
}

/// How many tables the published folder holds.
fn published_tables() -> usize {
    let entries = fs::read_dir(Path::new(PUBLISHED).join("tables")).unwrap();
    let csv = entries.filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "csv")
    });
    csv.count()
}

fn compare(run: &Path) -> ResultsDiff {
    compare_results(run, Path::new(PUBLISHED), &Tolerances::default()).unwrap()
}

#[test]
fn a_copy_of_the_published_results_is_clean() {
    let run = copy_of_published("clean");
    let diff = compare(&run);
    assert!(diff.is_clean(), "{}", diff.report());
    assert_eq!(diff.tables, published_tables());
    assert!(diff.cells_compared > 1000, "{}", diff.cells_compared);
    assert_eq!(diff.cells_differing, 0);
    for excepted in [
        ("comparison.csv", "train_seconds"),
        ("ladder.csv", "seconds"),
    ] {
        let excepted = (excepted.0.to_string(), excepted.1.to_string());
        assert!(diff.excepted.contains(&excepted), "{:?}", diff.excepted);
    }
    let report = diff.report();
    assert!(report.contains("wall times differ by machine"), "{report}");
    assert!(report.contains("\nclean"), "{report}");
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn a_planted_auroc_difference_is_reported_with_its_place_and_values() {
    let run = copy_of_published("auroc");
    let (published, planted) = baseline_auroc_moved(0.01);
    set_cell(
        &run,
        "comparison.csv",
        ("baseline", None),
        "auroc",
        &planted,
    );
    let diff = compare(&run);
    assert!(!diff.is_clean());
    assert_eq!(diff.beyond_tolerance(), 1, "{}", diff.report());
    let cell = &diff.cells[0];
    assert_eq!(
        (cell.table.as_str(), cell.row.as_str(), cell.column.as_str()),
        ("comparison.csv", "baseline", "auroc")
    );
    assert_eq!(
        (cell.published.as_str(), cell.run.as_str()),
        (published.as_str(), planted.as_str())
    );
    assert!((cell.difference.unwrap() - 0.01).abs() < 1e-6);
    let report = diff.report();
    let line = format!("| comparison.csv | baseline | auroc | {published} | {planted} | +0.01 |");
    assert!(report.contains(&line), "{report}");
    assert!(report.contains("NOT clean"), "{report}");
    assert_eq!(diff.verdict_flips().count(), 0);
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn a_difference_inside_tolerance_is_counted_not_reported() {
    let run = copy_of_published("within");
    let (_, moved) = baseline_auroc_moved(0.0003);
    set_cell(&run, "comparison.csv", ("baseline", None), "auroc", &moved);
    let diff = compare(&run);
    assert!(diff.is_clean(), "{}", diff.report());
    assert_eq!(diff.cells_differing, 1);
    let exact = compare_results(&run, Path::new(PUBLISHED), &Tolerance::EXACT.into()).unwrap();
    assert_eq!(exact.beyond_tolerance(), 1);
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn a_changed_verdict_is_listed_as_flipped() {
    let run = copy_of_published("verdict");
    let key = ("6", Some("the test set holds 484 images"));
    set_cell(&run, "claims.csv", key, "verdict", "reproduced");
    let diff = compare(&run);
    let flips: Vec<_> = diff.verdict_flips().collect();
    assert_eq!(flips.len(), 1, "{}", diff.report());
    assert_eq!(flips[0].row, "6 / the test set holds 484 images");
    assert_eq!(flips[0].published, "not reproduced");
    assert_eq!(flips[0].run, "reproduced");
    assert_eq!(flips[0].difference, None);
    let report = diff.report();
    assert!(report.contains("## Verdicts that flipped (1)"), "{report}");
    assert!(!report.contains("## Cells beyond tolerance"), "{report}");
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn wall_times_are_not_compared() {
    let run = copy_of_published("seconds");
    set_cell(
        &run,
        "comparison.csv",
        ("baseline", None),
        "train_seconds",
        "1.5",
    );
    set_cell(
        &run,
        "ladder.csv",
        ("baseline error", None),
        "seconds",
        "9999",
    );
    let diff = compare(&run);
    assert!(diff.is_clean(), "{}", diff.report());
    assert_eq!(diff.cells_differing, 0);
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn missing_tables_rows_and_columns_are_reported() {
    let run = copy_of_published("missing");
    fs::remove_file(run.join("tables/trivial_baselines.csv")).unwrap();
    edit_table(&run, "thresholds.csv", |rows| {
        rows.retain(|r| !(r[0] == "80.0000" && r[1] == "validation_percentile"));
    });
    edit_table(&run, "split_sizes.csv", |rows| {
        rows.push(vec!["unseen".into(), "6084".into(), "437".into()]);
        for row in rows.iter_mut() {
            row.push("x".into());
        }
        rows[0].pop();
        rows[0].push("note".into());
    });
    let diff = compare(&run);
    let one_sided = |table: &str, part: Part, only_in: Side| OneSided {
        table: table.into(),
        part,
        only_in,
    };
    let expected = [
        one_sided("trivial_baselines.csv", Part::Table, Side::Published),
        one_sided(
            "thresholds.csv",
            Part::Row("80.0000 / validation_percentile".into()),
            Side::Published,
        ),
        one_sided("split_sizes.csv", Part::Row("unseen".into()), Side::Run),
        one_sided("split_sizes.csv", Part::Column("note".into()), Side::Run),
    ];
    for e in &expected {
        assert!(diff.one_sided.contains(e), "{e:?} in {:?}", diff.one_sided);
    }
    assert_eq!(diff.one_sided.len(), expected.len(), "{:?}", diff.one_sided);
    assert_eq!(diff.tables, published_tables() - 1);
    assert!(!diff.is_clean());
    let report = diff.report();
    assert!(report.contains("table trivial_baselines.csv: only in the published results"));
    assert!(report.contains("row `80.0000 / validation_percentile` of thresholds.csv"));
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn a_table_another_command_publishes_is_not_missing_from_a_run() {
    let run = copy_of_published("elsewhere");
    fs::remove_file(run.join("tables/precision_guard.csv")).unwrap();
    let diff = compare(&run);
    assert!(diff.is_clean(), "{}", diff.report());
    assert_eq!(
        diff.written_elsewhere,
        [(
            "precision_guard.csv".to_string(),
            "caltech-anomaly bench precision"
        )]
    );
    assert_eq!(diff.tables, published_tables() - 1);
    let report = diff.report();
    assert!(
        report.contains("precision_guard.csv, which `caltech-anomaly bench precision` writes"),
        "{report}"
    );
    fs::remove_file(run.join("tables/ladder.csv")).unwrap();
    assert!(
        !compare(&run).is_clean(),
        "a table reproduce writes is missed"
    );
    fs::remove_dir_all(run).unwrap();
}

#[test]
fn a_folder_without_tables_is_an_error_naming_it() {
    let empty = std::env::temp_dir().join(format!("reproducibility-empty-{}", std::process::id()));
    fs::create_dir_all(&empty).unwrap();
    let error = compare_results(&empty, Path::new(PUBLISHED), &Tolerances::default()).unwrap_err();
    assert!(matches!(error, Error::Corrupt { ref path, .. } if path == &empty.join("tables")));
    fs::remove_dir_all(empty).unwrap();
}

#[test]
fn the_command_exits_1_on_a_difference_and_0_on_a_clean_copy() {
    let run = copy_of_published("command");
    let diff = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"))
            .arg("diff")
            .arg(&run)
            .arg(PUBLISHED)
            .args(args)
            .output()
            .unwrap()
    };
    let clean = diff(&[]);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    let (_, planted) = baseline_auroc_moved(0.01);
    set_cell(
        &run,
        "comparison.csv",
        ("baseline", None),
        "auroc",
        &planted,
    );
    let out = run.join("diff.md");
    let differs = diff(&["--out", out.to_str().unwrap()]);
    assert_eq!(differs.status.code(), Some(1), "{differs:?}");
    let stdout = String::from_utf8_lossy(&differs.stdout);
    assert!(
        stdout.contains("| comparison.csv | baseline | auroc |"),
        "{stdout}"
    );
    let written = fs::read_to_string(&out).unwrap();
    assert!(
        written.contains("| comparison.csv | baseline | auroc |"),
        "{written}"
    );
    let loose = diff(&["--absolute", "0.02"]);
    assert_eq!(loose.status.code(), Some(0), "{loose:?}");
    let refused = diff(&["--relative=-1"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("relative tolerance"));
    fs::remove_dir_all(run).unwrap();
}
