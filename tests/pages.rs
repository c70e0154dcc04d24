//! The generated pages (docs/results.md, README.md's headline block)
//! against the published data in docs/results/: the committed pages are
//! what the generator writes, a changed cell shows as drift on the pages
//! that quote it, and no number on them is missing from the data. No
//! dataset needed.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use caltech_anomaly::study::pages::{HEADLINE_BEGIN, README_PAGE, RESULTS_PAGE};
use caltech_anomaly::study::{drifted_pages, render_pages};
use common::{TempDir, csv_rows};

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The first line where `a` and `b` differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (mut left, mut right) = (a.lines(), b.lines());
    for n in 1.. {
        match (left.next(), right.next()) {
            (None, None) => break,
            (l, r) if l == r => continue,
            (l, r) => return format!("line {n}:\n  committed: {l:?}\n  generated: {r:?}"),
        }
    }
    "only the line endings".into()
}

#[test]
fn the_committed_pages_are_what_the_published_data_generates() {
    for page in render_pages(checkout()).unwrap() {
        let path = checkout().join(&page.path);
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == page.text,
            "{} differs from what docs/results/ generates (run `cargo run -- pages`), first at {}",
            page.path.display(),
            first_difference(&committed, &page.text)
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of the published data and both pages.
fn copied_checkout() -> TempDir {
    let tmp = TempDir::new().unwrap();
    copy_dir(
        &checkout().join("docs/results"),
        &tmp.path().join("docs/results"),
    );
    for page in [README_PAGE, RESULTS_PAGE] {
        std::fs::copy(checkout().join(page), tmp.path().join(page)).unwrap();
    }
    tmp
}

/// Sets the cell of `column` in the row whose first cell is `row` of the
/// CSV file at `path`.
fn set_cell(path: &Path, row: &str, column: &str, value: &str) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = header.iter().position(|h| h == column).unwrap();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).unwrap();
    for record in reader.records() {
        let mut cells: Vec<String> = record.unwrap().iter().map(String::from).collect();
        if cells[0] == row {
            cells[at] = value.into();
        }
        writer.write_record(&cells).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

fn pages_command(root: &Path, check: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caltech-anomaly"));
    command.arg("pages").arg("--root").arg(root);
    if check {
        command.arg("--check");
    }
    command.output().expect("run caltech-anomaly pages")
}

#[test]
fn a_changed_cell_drifts_the_page_that_shows_it_until_the_pages_are_written() {
    let tmp = copied_checkout();
    assert_eq!(drifted_pages(tmp.path()).unwrap(), Vec::<PathBuf>::new());

    let comparison = tmp.path().join("docs/results/quick/tables/comparison.csv");
    set_cell(&comparison, "baseline", "auroc", "0.512345");
    assert_eq!(
        drifted_pages(tmp.path()).unwrap(),
        [PathBuf::from(RESULTS_PAGE)],
        "the four models' table is on docs/results.md only"
    );
    let check = pages_command(tmp.path(), true);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "--check passed on a drifted page");
    assert!(stderr.contains(RESULTS_PAGE), "{stderr}");
    assert!(!stderr.contains(README_PAGE), "{stderr}");

    let write = pages_command(tmp.path(), false);
    assert!(
        write.status.success(),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );
    assert!(pages_command(tmp.path(), true).status.success());
    let page = std::fs::read_to_string(tmp.path().join(RESULTS_PAGE)).unwrap();
    assert!(page.contains("| 0.512 ["), "the new value is on the page");
}

#[test]
fn the_headline_keeps_the_readme_around_it_and_needs_its_markers() {
    let tmp = copied_checkout();
    let readme_path = tmp.path().join(README_PAGE);
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let edited = readme.replacen("# caltech_anomaly", "# caltech_anomaly, edited by hand", 1);
    std::fs::write(&readme_path, &edited).unwrap();
    let pages = render_pages(tmp.path()).unwrap();
    assert_eq!(pages[0].path, PathBuf::from(README_PAGE));
    assert_eq!(
        pages[0].text, edited,
        "the hand-written part is kept as it is"
    );

    std::fs::write(&readme_path, edited.replace(HEADLINE_BEGIN, "")).unwrap();
    let error = render_pages(tmp.path()).unwrap_err().to_string();
    assert!(
        error.contains(README_PAGE) && error.contains(HEADLINE_BEGIN),
        "{error}"
    );

    std::fs::remove_file(tmp.path().join("docs/results/full/tables/ladder.csv")).unwrap();
    let error = render_pages(tmp.path()).unwrap_err().to_string();
    assert!(error.contains("full/tables/ladder.csv"), "{error}");
}

/// The published claims of `profile`, each cell by its column's name.
fn claim_rows(checkout: &Path, profile: &str) -> Vec<HashMap<String, String>> {
    csv_rows(&checkout.join(format!("docs/results/{profile}/tables/claims.csv")))
}

#[test]
fn every_fact_of_a_claim_stands_beside_its_verdict() {
    let pages = render_pages(checkout()).unwrap();
    let (readme, results) = (&pages[0].text, &pages[1].text);
    let rows = claim_rows(checkout(), "quick");
    let contradicted = rows
        .iter()
        .filter(|row| row["report_consistency"].starts_with("contradicts itself: "));
    assert!(contradicted.clone().count() > 0, "no contradiction to show");
    for row in contradicted {
        let (claim, verdict) = (row["claim"].as_str(), row["verdict"].as_str());
        let shown = format!("{verdict}; the report contradicts itself |");
        assert!(results.contains(&shown), "{claim}: no {shown:?}");
        let contradiction =
            row["report_consistency"].replacen("contradicts", "the report contradicts", 1);
        let fact = format!("- *{claim}*: {contradiction}");
        assert!(results.contains(&fact), "no {fact:?} on the page");
    }
    for row in rows.iter().filter(|row| !row["assumption"].is_empty()) {
        let assumed = format!("assumed: {}", row["assumption"]);
        assert!(results.contains(&assumed), "no {assumed:?} on the page");
    }
    let roc = rows
        .iter()
        .find(|row| row["claim"] == "ROC AUC = 1.0")
        .unwrap();
    assert_eq!(roc["verdict"], "not reproduced");
    assert!(readme.contains("| ROC AUC = 1.0 |"), "{readme}");
}

/// Rewrites the claims.csv at `path` in the older layout: no columns for
/// the report's consistency, the assumption, the power and the seeds; a
/// claim the report contradicts has `inconsistent in the report itself`
/// in place of its verdict.
fn to_older_layout(path: &Path) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let newer = ["report_consistency", "assumption", "power", "seeds"];
    let kept: Vec<usize> = (0..header.len())
        .filter(|&i| !newer.contains(&header[i].as_str()))
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (verdict, consistency) = (at("verdict"), at("report_consistency"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(kept.iter().map(|&i| &header[i]))
        .unwrap();
    for record in reader.records() {
        let mut cells: Vec<String> = record.unwrap().iter().map(String::from).collect();
        if cells[consistency].starts_with("contradicts itself") {
            cells[verdict] = "inconsistent in the report itself".into();
        }
        writer
            .write_record(kept.iter().map(|&i| &cells[i]))
            .unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

#[test]
fn a_claims_file_of_the_older_layout_shows_its_verdicts_as_they_are() {
    let tmp = copied_checkout();
    to_older_layout(&tmp.path().join("docs/results/quick/tables/claims.csv"));
    let pages = render_pages(tmp.path()).unwrap();
    let results = &pages[1].text;
    assert!(results.contains("| inconsistent in the report itself |"));
    let sentence = results
        .split(". ")
        .find(|s| s.contains("written before these were columns of their own"))
        .expect("the older layout is named");
    assert!(sentence.contains("`quick`"), "{sentence}");
    assert!(
        !results.contains("settled: "),
        "no seeds in the older layout"
    );
    assert!(!pages_command(tmp.path(), true).status.success());
}

// The port of ../shared/tools/page_numbers.py: every number with 3 or more
// decimals on the pages must be in the published data at the digits shown.

/// Whether `c` continues a word or a number (Python's `\w` or `.`).
fn joins(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// Every `digits.digits` in `text` (signs aside: a value matches either
/// way), as Python's `re.findall(r"\d+\.\d+", text)` finds them.
fn decimals_in(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let digits_from = |i: usize| (i..chars.len()).find(|&j| !chars[j].is_ascii_digit());
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let point = digits_from(i).unwrap_or(chars.len());
        let decimals_end = match chars.get(point) {
            Some('.') if chars.get(point + 1).is_some_and(char::is_ascii_digit) => {
                digits_from(point + 1).unwrap_or(chars.len())
            }
            _ => {
                i = point;
                continue;
            }
        };
        let number: String = chars[i..decimals_end].iter().collect();
        found.push(number.parse().unwrap());
        i = decimals_end;
    }
    found
}

/// Every number with 3 or more decimals on a line, standing alone (not
/// inside a word or a longer number), as the script's pattern
/// `(?<![\w.])[-−+]?\d+\.\d{3,}(?![\w.])` finds them; signs aside.
fn page_numbers(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let run_end = |i: usize| (i..chars.len()).find(|&j| !chars[j].is_ascii_digit());
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !joins(chars[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let point = run_end(i).unwrap_or(chars.len());
        let end = if chars.get(point) == Some(&'.') {
            run_end(point + 1).unwrap_or(chars.len())
        } else {
            point
        };
        let alone = chars.get(end).is_none_or(|&c| !joins(c));
        if end > point + 3 && alone {
            numbers.push(chars[i..end].iter().collect());
        }
        i = end.max(i + 1);
    }
    numbers
}

fn csv_values(path: &Path, values: &mut Vec<f64>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap();
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            values.extend(cell.trim().parse::<f64>().ok());
            values.extend(decimals_in(cell));
        }
    }
}

fn json_values(value: &serde_json::Value, values: &mut Vec<f64>) {
    match value {
        serde_json::Value::Number(n) => values.extend(n.as_f64()),
        serde_json::Value::String(s) => values.extend(decimals_in(s)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_values(v, values)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_values(v, values)),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

/// Every value of the CSV and JSON files under `dir`, at any depth.
fn published_values(dir: &Path, values: &mut Vec<f64>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            _ if path.is_dir() => published_values(&path, values),
            Some("csv") => csv_values(&path, values),
            Some("json") => {
                let text = std::fs::read_to_string(&path).unwrap();
                json_values(&serde_json::from_str(&text).unwrap(), values);
            }
            _ => {}
        }
    }
}

/// Whether `number` (as shown, `d` decimals) is some published value, of
/// either sign, at those digits.
fn is_published(number: &str, values: &[f64]) -> bool {
    let decimals = number.split('.').nth(1).map_or(0, str::len);
    let shown: f64 = number.parse().unwrap();
    let half_unit = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-12;
    values.iter().flat_map(|&v| [v, -v]).any(|w| {
        format!("{w:.decimals$}").parse::<f64>() == Ok(shown) || (w - shown).abs() <= half_unit
    })
}

#[test]
fn every_number_with_three_decimals_on_the_pages_is_in_the_published_data() {
    let mut values = Vec::new();
    published_values(&checkout().join("docs/results"), &mut values);
    values.sort_by(f64::total_cmp);
    values.dedup();
    let mut missing = Vec::new();
    let mut checked = 0;
    for page in render_pages(checkout()).unwrap() {
        for (n, line) in page.text.lines().enumerate() {
            for number in page_numbers(line) {
                checked += 1;
                if !is_published(&number, &values) {
                    missing.push(format!("{}:{}: {number}", page.path.display(), n + 1));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} numbers found on the pages");
    assert!(
        missing.is_empty(),
        "not in the published data: {missing:#?}"
    );
}

#[test]
fn the_number_scanner_finds_what_the_script_finds() {
    assert_eq!(
        page_numbers("| 0.696 [0.606, 0.782] | +0.013 | v1.2345 | 1.2345.6 | 0.12 |"),
        ["0.696", "0.606", "0.782", "0.013"]
    );
    assert_eq!(
        page_numbers("−0.0050 … x0.1234 _0.1234 (0.1234)"),
        ["0.0050", "0.1234"]
    );
    assert_eq!(decimals_in("42/453 = 0.0927, 1.0 and 3"), [0.0927, 1.0]);
    assert!(is_published("0.0927", &[0.0927152]));
    assert!(is_published("0.013", &[-0.0134163]));
    assert!(!is_published("0.014", &[0.0134163]));
}
