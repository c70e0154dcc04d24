//! [`Table`]: a DataFrame as a notebook shows it (the CSV files keep every
//! digit and column: [`crate::io::write_dataframe_csv`]).

use std::fmt::Write as _;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use polars::prelude::{AnyValue, Column, DataFrame, DataType};

use crate::io::{
    cell, is_gain, readable_column, readable_gain, readable_interval, readable_name,
    readable_number, shown_path,
};

/// `text` safe inside HTML elements and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rows a [`Table`] shows whole; a longer table shows its first this many
/// and says where the rest are.
pub const TABLE_ROWS: usize = 30;

/// Columns a [`Table`] shows (an interval counted once); a wider table
/// shows the essential ones first and names the rest.
pub const TABLE_COLUMNS: usize = 10;

/// A DataFrame as a notebook shows it: an HTML table a student reads at a
/// glance, with its size and where it is saved. polars' own display (what
/// a bare DataFrame shows) hides columns and cuts text. The rules, each for
/// the display only (the CSV keeps every digit and every column):
///
/// - numbers to three significant digits, never more than four decimals
///   (`0.696`, `0.0434`); counts and whole columns whole (`4536707`, `80`);
///   see [`crate::io::readable_number`];
/// - the columns `x`, `x_low`, `x_high` as one column `x`: `0.696 [0.606,
///   0.782]`, signed for a gain (`+0.013 [+0.008, +0.020]`);
/// - `snake_case` names in words (`unseen_auroc` → `unseen AUROC`);
/// - absolute paths in cells relative to the study folder or the checkout
///   ([`crate::io::shown_path`]);
/// - at most [`TABLE_ROWS`] rows ([`Self::with_max_rows`]) and
///   [`TABLE_COLUMNS`] columns ([`Self::with_max_columns`]): a longer table
///   shows its first rows, a wider one its essential columns first (those
///   named by [`Self::with_essential`], then the text columns, the
///   intervals, the other numbers, the flags, the counts), and the caption
///   says how many rows there are, which columns are left out and where the
///   CSV is.
#[derive(Debug, Clone)]
pub struct Table {
    pub df: DataFrame,
    /// The CSV file the table is saved as, named under it.
    pub saved_as: Option<PathBuf>,
    /// A longer table shows its first `max_rows` rows.
    pub max_rows: usize,
    /// A wider table shows its essential `max_columns` columns.
    pub max_columns: usize,
    /// Columns (their CSV names) a wide table shows first, in this order.
    pub essential: Vec<String>,
}

/// One column as shown: a column of the DataFrame, or an interval made of
/// three.
struct Shown {
    name: String,
    /// The first rows' cells.
    cells: Vec<String>,
    left: bool,
    /// Where a wide table puts it: 0 first.
    rank: usize,
    /// Its position in the DataFrame.
    position: usize,
}

impl Table {
    pub fn new(df: DataFrame) -> Self {
        Self {
            df,
            saved_as: None,
            max_rows: TABLE_ROWS,
            max_columns: TABLE_COLUMNS,
            essential: Vec::new(),
        }
    }

    /// Names `path` under the table, relative to the study folder or the
    /// checkout ([`crate::io::shown_path`]).
    pub fn saved_as(self, path: impl Into<PathBuf>) -> Self {
        Self {
            saved_as: Some(path.into()),
            ..self
        }
    }

    /// Shows at most `rows` rows (the first ones).
    pub fn with_max_rows(self, rows: usize) -> Self {
        Self {
            max_rows: rows,
            ..self
        }
    }

    /// Shows at most `columns` columns (an interval counts once).
    pub fn with_max_columns(self, columns: usize) -> Self {
        Self {
            max_columns: columns,
            ..self
        }
    }

    /// Shows `columns` (their names in the CSV; an interval by its
    /// estimate's name) first when the table is wider than it shows.
    pub fn with_essential<S: AsRef<str>>(self, columns: &[S]) -> Self {
        Self {
            essential: columns.iter().map(|c| c.as_ref().to_string()).collect(),
            ..self
        }
    }

    pub fn into_dataframe(self) -> DataFrame {
        self.df
    }

    /// The columns as shown, in their order, and the names of those left
    /// out.
    fn shown_columns(&self) -> (Vec<Shown>, Vec<String>) {
        let rows = self.df.height().min(self.max_rows);
        let columns = self.df.columns();
        let names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
        let numeric = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .filter(|&i| is_number(columns[i].dtype()))
        };
        // The bounds of each interval's estimate, and the columns they use.
        let bounds: Vec<Option<(usize, usize)>> = (columns.iter().zip(&names))
            .map(|(column, name)| {
                let low = numeric(&format!("{name}_low"))?;
                let high = numeric(&format!("{name}_high"))?;
                is_number(column.dtype()).then_some((low, high))
            })
            .collect();
        let mut used = vec![false; columns.len()];
        for &(low, high) in bounds.iter().flatten() {
            used[low] = true;
            used[high] = true;
        }
        let mut shown = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            if used[i] {
                continue;
            }
            let name = names[i];
            let essential = self.essential.iter().position(|e| e == name);
            let (cells, left, rank) = match bounds[i] {
                Some((low, high)) => {
                    let cells =
                        interval_cells(column, &columns[low], &columns[high], rows, is_gain(name));
                    (cells, false, 2)
                }
                None => {
                    let dtype = column.dtype();
                    let rank = match dtype {
                        DataType::String => 1,
                        d if d.is_float() => 3,
                        DataType::Boolean => 4,
                        _ => 5,
                    };
                    (
                        column_cells(column, rows, is_gain(name)),
                        dtype == &DataType::String,
                        rank,
                    )
                }
            };
            shown.push(Shown {
                name: readable_name(name),
                cells,
                left,
                rank: essential.map_or(rank + self.essential.len(), |e| e),
                position: i,
            });
        }
        if shown.len() <= self.max_columns {
            return (shown, Vec::new());
        }
        shown.sort_by_key(|s| (s.rank, s.position));
        let left_out = shown.split_off(self.max_columns.max(1));
        (shown, left_out.into_iter().map(|s| s.name).collect())
    }

    /// The HTML a notebook shows: text columns left-aligned, numbers
    /// right-aligned, the header kept in view while the rows scroll.
    pub fn to_html(&self) -> String {
        let (columns, left_out) = self.shown_columns();
        let align = |c: &Shown| if c.left { "left" } else { "right" };
        let mut html = String::from(
            "<div style=\"max-height:32em;overflow:auto\">\
             <table style=\"white-space:nowrap\"><thead><tr>",
        );
        for column in &columns {
            let _ = write!(
                html,
                "<th style=\"text-align:{};position:sticky;top:0;\
                 background:var(--jp-layout-color0,#fff)\">{}</th>",
                align(column),
                escape(&column.name)
            );
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        let rows = columns.first().map_or(0, |c| c.cells.len());
        for row in 0..rows {
            html.push_str("<tr>");
            for column in &columns {
                let _ = write!(
                    html,
                    "<td style=\"text-align:{}\">{}</td>",
                    align(column),
                    escape(&column.cells[row])
                );
            }
            html.push_str("</tr>\n");
        }
        let _ = write!(
            html,
            "</tbody></table></div>\n<p>{}</p>",
            escape(&self.caption(&left_out))
        );
        html
    }

    /// `483 rows × 4 columns, saved as tables/scores.csv`; when cut, `the
    /// first 30 of 483 rows` and the columns left out, with where they all
    /// are.
    fn caption(&self, left_out: &[String]) -> String {
        let (rows, columns) = self.df.shape();
        let saved = self.saved_as.as_deref().map(shown_path);
        let mut caption = if rows > self.max_rows {
            format!(
                "the first {} of {rows} rows × {columns} columns",
                self.max_rows
            )
        } else {
            format!("{rows} rows × {columns} columns")
        };
        if !left_out.is_empty() {
            let _ = write!(caption, "; not shown: {}", left_out.join(", "));
        }
        let cut = rows > self.max_rows || !left_out.is_empty();
        match (&saved, cut) {
            (Some(path), true) => {
                let _ = write!(caption, "; every row and column in {}", path.display());
            }
            (Some(path), false) => {
                let _ = write!(caption, ", saved as {}", path.display());
            }
            (None, true) => caption.push_str(" (`study.table(name, df)` saves them all as CSV)"),
            (None, false) => {}
        }
        caption
    }

    /// Shows the table as HTML in an evcxr notebook.
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        );
    }
}

/// Whether a column of `dtype` holds numbers.
fn is_number(dtype: &DataType) -> bool {
    dtype.is_float() || dtype.is_integer()
}

/// A column's values as floats, `None` where missing.
fn floats(column: &Column) -> Vec<Option<f64>> {
    match column.cast(&DataType::Float64) {
        Ok(c) => match c.f64() {
            Ok(values) => (0..values.len()).map(|i| values.get(i)).collect(),
            Err(_) => vec![None; column.len()],
        },
        Err(_) => vec![None; column.len()],
    }
}

/// The first `rows` cells of `column` as shown: floats by
/// [`readable_column`] (whole columns whole), integers as they are, text
/// with absolute paths shown relative ([`shown_path`]).
fn column_cells(column: &Column, rows: usize, signed: bool) -> Vec<String> {
    let dtype = column.dtype();
    if dtype.is_float() {
        let values = floats(column);
        let whole = readable_column(&values, signed);
        return whole.into_iter().take(rows).collect();
    }
    (0..rows)
        .map(|i| match column.get(i) {
            Ok(AnyValue::String(s)) => shown_text(s),
            Ok(AnyValue::StringOwned(s)) => shown_text(&s),
            Ok(value) => cell(value),
            Err(_) => String::new(),
        })
        .collect()
}

/// `text`, relative to the study folder or the checkout when it is an
/// absolute path.
fn shown_text(text: &str) -> String {
    let path = Path::new(text);
    if path.is_absolute() {
        shown_path(path).display().to_string()
    } else {
        text.to_string()
    }
}

/// The first `rows` cells of an interval: `estimate [low, high]`, the
/// estimate alone without bounds, empty without an estimate.
fn interval_cells(
    estimate: &Column,
    low: &Column,
    high: &Column,
    rows: usize,
    signed: bool,
) -> Vec<String> {
    let (e, l, h) = (floats(estimate), floats(low), floats(high));
    (0..rows)
        .map(|i| match (e[i], l[i], h[i]) {
            (None, ..) => String::new(),
            (Some(e), Some(l), Some(h)) => readable_interval(e, l, h, signed),
            (Some(e), ..) if signed => readable_gain(e),
            (Some(e), ..) => readable_number(e),
        })
        .collect()
}

impl From<DataFrame> for Table {
    fn from(df: DataFrame) -> Self {
        Self::new(df)
    }
}

/// A table is read as its DataFrame.
impl Deref for Table {
    type Target = DataFrame;

    fn deref(&self) -> &DataFrame {
        &self.df
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(columns: Vec<Column>) -> DataFrame {
        DataFrame::new_infer_height(columns).unwrap()
    }

    /// The cells of the shown rows, as text.
    fn body(html: &str) -> Vec<Vec<String>> {
        html.split("<tr>")
            .skip(2)
            .map(|row| {
                row.split("<td style=\"text-align:")
                    .skip(1)
                    .map(|cell| {
                        let text = cell.split_once("\">").unwrap().1;
                        text.split_once("</td>").unwrap().0.to_string()
                    })
                    .collect()
            })
            .collect()
    }

    fn header(html: &str) -> Vec<String> {
        html.split("background:var(--jp-layout-color0,#fff)\">")
            .skip(1)
            .map(|h| h.split_once("</th>").unwrap().0.to_string())
            .collect()
    }

    #[test]
    fn a_table_shows_whole_cells_as_html() {
        let path = "/nowhere/101_ObjectCategories/BACKGROUND_Google/image_0001.jpg";
        let table = Table::new(frame(vec![
            Column::new("path".into(), [path, "<a> & b"]),
            Column::new("mean_error".into(), [0.5, 1.0]),
        ]))
        .saved_as("tables/small.csv");
        let html = table.to_html();
        assert_eq!(header(&html), ["path", "mean error"]);
        assert!(html.contains(&format!("<td style=\"text-align:left\">{path}</td>")));
        assert!(html.contains(">&lt;a&gt; &amp; b</td>"), "escaped");
        assert!(html.contains("<td style=\"text-align:right\">0.500</td>"));
        assert_eq!(html.matches("<tr>").count(), 3, "the header and 2 rows");
        assert!(html.ends_with("<p>2 rows × 2 columns, saved as tables/small.csv</p>"));
        assert_eq!(table.height(), 2, "read as its DataFrame");

        let inside = crate::io::checkout_folder().join("data/caltech101/a.jpg");
        let inside = inside.display().to_string();
        let html = Table::new(frame(vec![Column::new("path".into(), [inside])])).to_html();
        assert_eq!(
            body(&html),
            [["data/caltech101/a.jpg"]],
            "relative to the checkout"
        );
    }

    #[test]
    fn numbers_show_three_significant_digits_and_counts_stay_whole() {
        let html = Table::new(frame(vec![
            Column::new("model".into(), ["baseline", "improved1"]),
            Column::new("parameters".into(), [4536707u64, 199859]),
            Column::new("train_seconds".into(), [87.6867, 38.0925]),
            Column::new("mean_test_error".into(), [0.0337567, 0.00316]),
            Column::new("percentile".into(), [80.0, 80.0]),
            Column::new("auroc_gain".into(), [0.0352558, -0.0050]),
        ]))
        .to_html();
        assert_eq!(
            body(&html),
            [
                ["baseline", "4536707", "87.7", "0.0338", "80", "+0.035"],
                ["improved1", "199859", "38.1", "0.0032", "80", "-0.0050"],
            ]
        );
    }

    #[test]
    fn an_interval_is_one_column() {
        let html = Table::new(frame(vec![
            Column::new("model".into(), ["baseline", "improved1"]),
            Column::new("auroc".into(), [0.696026, 0.729433]),
            Column::new("auroc_low".into(), [0.605925, 0.635094]),
            Column::new("auroc_high".into(), [0.781567, 0.817147]),
            Column::new("auroc_gain".into(), [None, Some(0.0352558)]),
            Column::new("auroc_gain_low".into(), [None, Some(0.0200117)]),
            Column::new("auroc_gain_high".into(), [None, Some(0.0498119)]),
        ]))
        .to_html();
        assert_eq!(header(&html), ["model", "AUROC", "AUROC gain"]);
        assert_eq!(
            body(&html),
            [
                ["baseline", "0.696 [0.606, 0.782]", ""],
                [
                    "improved1",
                    "0.729 [0.635, 0.817]",
                    "+0.035 [+0.020, +0.050]"
                ],
            ]
        );
        assert!(html.contains("<p>2 rows × 7 columns</p>"), "{html}");
    }

    #[test]
    fn a_long_table_shows_its_first_rows_and_where_the_rest_are() {
        let df = frame(vec![Column::new(
            "error".into(),
            (0..600).map(|i| f64::from(i) + 0.5).collect::<Vec<_>>(),
        )]);
        let html = Table::new(df.clone())
            .saved_as("tables/scores.csv")
            .to_html();
        assert_eq!(html.matches("<tr>").count(), 1 + TABLE_ROWS);
        assert!(
            html.contains(
                "<p>the first 30 of 600 rows × 1 columns; every row and column in \
                 tables/scores.csv</p>"
            ),
            "{html}"
        );
        let five = Table::from(df.clone()).with_max_rows(5).to_html();
        assert_eq!(five.matches("<tr>").count(), 6);
        assert!(five.contains("the first 5 of 600 rows"));
        assert!(
            five.contains("saves them all as CSV"),
            "unsaved: says how to save"
        );
        let short = Table::new(df.head(Some(TABLE_ROWS))).to_html();
        assert!(
            short.contains("<p>30 rows × 1 columns</p>"),
            "30 rows: whole"
        );
    }

    /// The published ladder's columns: 24, 16 once its intervals are one
    /// column each.
    fn ladder() -> DataFrame {
        let csv = include_str!("../../docs/results/quick/tables/ladder.csv");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let names: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        let columns = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let cells: Vec<&str> = records.iter().map(|r| &r[i]).collect();
                let number = |c: &&str| c.parse::<f64>().ok();
                if matches!(name.as_str(), "detector") {
                    Column::new(name.into(), cells)
                } else if name == "pretrained" {
                    Column::new(
                        name.into(),
                        cells.iter().map(|c| *c == "true").collect::<Vec<_>>(),
                    )
                } else if matches!(name.as_str(), "tp" | "fn" | "fp" | "tn") {
                    let counts: Vec<u64> = cells.iter().map(|c| c.parse().unwrap()).collect();
                    Column::new(name.into(), counts)
                } else {
                    Column::new(name.into(), cells.iter().map(number).collect::<Vec<_>>())
                }
            })
            .collect();
        frame(columns)
    }

    #[test]
    fn a_wide_table_shows_its_essential_columns_first_and_names_the_rest() {
        let table = Table::new(ladder()).saved_as("tables/ladder.csv");
        let html = table.to_html();
        let shown = header(&html);
        assert_eq!(shown.len(), TABLE_COLUMNS);
        assert_eq!(
            shown[..5],
            [
                "detector",
                "test AUROC",
                "unseen AUROC",
                "gain",
                "gain second"
            ]
        );
        assert!(
            html.contains(
                "; not shown: bank MiB, pretrained, TP, FN, FP, TN; every row and column in \
                 tables/ladder.csv</p>"
            ),
            "{html}"
        );
        let rows = body(&html);
        assert_eq!(rows.len(), ladder().height(), "every row");
        assert_eq!(rows[0][1], "0.686 [0.588, 0.774]");
        let essential = Table::new(ladder())
            .with_essential(&["detector", "unseen_auroc", "tp", "fn", "fp", "tn"])
            .to_html();
        assert_eq!(
            header(&essential)[..7],
            [
                "detector",
                "unseen AUROC",
                "TP",
                "FN",
                "FP",
                "TN",
                "test AUROC"
            ]
        );
        let all = Table::new(ladder()).with_max_columns(usize::MAX).to_html();
        assert_eq!(header(&all).len(), 16, "in the CSV's order");
        assert_eq!(header(&all)[1], "pretrained");
    }
}
