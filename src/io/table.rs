//! Tables: polars DataFrames built from slices of row structs, their cells
//! as text (what the CSV files and the report hold), and [`Table`], a
//! DataFrame as a notebook shows it.

use std::fmt::Write as _;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use polars::prelude::{AnyValue, Column, DataFrame, DataType, NamedFrom, Series};

use crate::error::Result;
use crate::io::write_bytes_atomic;

/// `text` safe inside HTML elements and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One column named `name`: `value` of every row.
pub(crate) fn column<'a, R, T>(name: &str, rows: &'a [R], value: impl Fn(&'a R) -> T) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Column::new(name.into(), rows.iter().map(value).collect::<Vec<T>>())
}

/// A cell as text: strings unquoted, floats with 6 significant digits,
/// nulls empty.
fn cell(value: AnyValue<'_>) -> String {
    match value {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(v) => format_float(v),
        AnyValue::Float32(v) => format_float(f64::from(v)),
        other => other.to_string(),
    }
}

fn format_float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let digits = (6 - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// The header and the rows of `df`, every cell as text.
pub fn text_cells(df: &DataFrame) -> (Vec<String>, Vec<Vec<String>>) {
    let header = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| c.get(i).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    (header, rows)
}

/// Writes `df` as CSV, atomically.
pub fn write_dataframe_csv(path: &Path, df: &DataFrame) -> Result<()> {
    let (header, rows) = text_cells(df);
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    write_bytes_atomic(path, &bytes)
}

/// Rows a [`Table`] shows unless told otherwise: a whole test split's
/// scores (483 at the `quick` profile), in a box that scrolls.
pub const TABLE_ROWS: usize = 500;

/// A DataFrame as a notebook shows it: an HTML table of every column and
/// up to [`TABLE_ROWS`] rows (cells as in the CSV files, text in full), in
/// a box that scrolls, with its size and where it is saved. polars'
/// own display (what a bare DataFrame shows) hides columns and cuts text.
#[derive(Debug, Clone)]
pub struct Table {
    pub df: DataFrame,
    /// The CSV file the table is saved as, named under it.
    pub saved_as: Option<PathBuf>,
    pub max_rows: usize,
}

impl Table {
    pub fn new(df: DataFrame) -> Self {
        Self {
            df,
            saved_as: None,
            max_rows: TABLE_ROWS,
        }
    }

    /// Names `path` under the table.
    pub fn saved_as(self, path: impl Into<PathBuf>) -> Self {
        Self {
            saved_as: Some(path.into()),
            ..self
        }
    }

    /// Shows the first `rows` rows only.
    pub fn with_max_rows(self, rows: usize) -> Self {
        Self {
            max_rows: rows,
            ..self
        }
    }

    pub fn into_dataframe(self) -> DataFrame {
        self.df
    }

    /// The HTML a notebook shows: text columns left-aligned, numbers
    /// right-aligned, the header kept in view while the rows scroll.
    pub fn to_html(&self) -> String {
        let (header, rows) = text_cells(&self.df.head(Some(self.max_rows)));
        let text: Vec<bool> = self
            .df
            .columns()
            .iter()
            .map(|c| c.dtype() == &DataType::String)
            .collect();
        let align = |i: usize| if text[i] { "left" } else { "right" };
        let mut html = String::from(
            "<div style=\"max-height:32em;overflow:auto\">\
             <table style=\"white-space:nowrap\"><thead><tr>",
        );
        for (i, name) in header.iter().enumerate() {
            let _ = write!(
                html,
                "<th style=\"text-align:{};position:sticky;top:0;\
                 background:var(--jp-layout-color0,#fff)\">{}</th>",
                align(i),
                escape(name)
            );
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for row in &rows {
            html.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let _ = write!(
                    html,
                    "<td style=\"text-align:{}\">{}</td>",
                    align(i),
                    escape(cell)
                );
            }
            html.push_str("</tr>\n");
        }
        let _ = write!(
            html,
            "</tbody></table></div>\n<p>{}</p>",
            escape(&self.caption())
        );
        html
    }

    /// `483 rows × 4 columns, saved as tables/scores.csv`; `first 500 of
    /// 6084 rows` when cut.
    fn caption(&self) -> String {
        let (rows, columns) = self.df.shape();
        let mut caption = if rows > self.max_rows {
            format!("first {} of {rows} rows × {columns} columns", self.max_rows)
        } else {
            format!("{rows} rows × {columns} columns")
        };
        if let Some(path) = &self.saved_as {
            let _ = write!(caption, ", saved as {}", path.display());
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

    #[test]
    fn a_table_shows_every_column_and_whole_cells_as_html() {
        let path = "/data/101_ObjectCategories/BACKGROUND_Google/image_0001.jpg";
        let columns: Vec<Column> = (0..11)
            .map(|i| Column::new(format!("column_{i}").into(), [i as f64 + 0.5, 1.0]))
            .chain([Column::new("path".into(), [path, "<a> & b"])])
            .collect();
        let table =
            Table::new(DataFrame::new_infer_height(columns).unwrap()).saved_as("tables/wide.csv");
        let html = table.to_html();
        assert_eq!(html.matches("<th ").count(), 12, "every column: {html}");
        assert!(html.contains(">column_10</th>"));
        assert!(html.contains(&format!("<td style=\"text-align:left\">{path}</td>")));
        assert!(html.contains(">&lt;a&gt; &amp; b</td>"), "escaped");
        assert!(html.contains("<td style=\"text-align:right\">10.5000</td>"));
        assert_eq!(html.matches("<tr>").count(), 3, "the header and 2 rows");
        assert!(html.ends_with("<p>2 rows × 12 columns, saved as tables/wide.csv</p>"));
        assert_eq!(table.height(), 2, "read as its DataFrame");
    }

    #[test]
    fn a_long_table_shows_its_first_rows_and_says_so() {
        let df = DataFrame::new_infer_height(vec![Column::new(
            "error".into(),
            (0..600).map(f64::from).collect::<Vec<_>>(),
        )])
        .unwrap();
        let html = Table::new(df.clone()).to_html();
        assert_eq!(html.matches("<tr>").count(), 1 + TABLE_ROWS);
        assert!(
            html.contains("<p>first 500 of 600 rows × 1 columns</p>"),
            "{html}"
        );
        let five = Table::from(df).with_max_rows(5).to_html();
        assert_eq!(five.matches("<tr>").count(), 6);
        assert!(five.contains("first 5 of 600 rows"));
    }

    #[test]
    fn cells_are_plain_text() {
        let df = DataFrame::new_infer_height(vec![
            Column::new("name".into(), ["a,b", "c"]),
            Column::new("value".into(), [0.012345678, 1234.5]),
            Column::new("count".into(), [3u64, 0]),
        ])
        .unwrap();
        let (header, rows) = text_cells(&df);
        assert_eq!(header, ["name", "value", "count"]);
        assert_eq!(rows[0], ["a,b", "0.0123457", "3"]);
        assert_eq!(rows[1], ["c", "1234.50", "0"]);

        let path = std::env::temp_dir().join(format!("table-{}.csv", std::process::id()));
        write_dataframe_csv(&path, &df).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            written,
            "name,value,count\n\"a,b\",0.0123457,3\nc,1234.50,0\n"
        );
    }
}
