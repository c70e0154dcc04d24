//! DataFrames built from slices of row structs, and their cells as text:
//! what the CSV files and the report hold.

use std::path::Path;

use polars::prelude::{AnyValue, Column, DataFrame, NamedFrom, Series};

use crate::error::Result;
use crate::io::write_bytes_atomic;

/// One column named `name`: `value` of every row.
pub(crate) fn column<'a, R, T>(name: &str, rows: &'a [R], value: impl Fn(&'a R) -> T) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Column::new(name.into(), rows.iter().map(value).collect::<Vec<T>>())
}

/// A cell as text: strings unquoted, floats with 6 significant digits,
/// nulls empty.
pub(crate) fn cell(value: AnyValue<'_>) -> String {
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

/// A cell as [`cell`] writes it, but a float as the shortest decimal that
/// reads back as the same value.
fn exact_cell(value: AnyValue<'_>) -> String {
    match value {
        AnyValue::Float64(v) => v.to_string(),
        AnyValue::Float32(v) => v.to_string(),
        other => cell(other),
    }
}

/// The header and the rows of `df`, every cell as text.
pub fn text_cells(df: &DataFrame) -> (Vec<String>, Vec<Vec<String>>) {
    cells_with(df, cell)
}

fn cells_with(df: &DataFrame, text: fn(AnyValue<'_>) -> String) -> (Vec<String>, Vec<Vec<String>>) {
    let header = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| c.get(i).map(text).unwrap_or_default())
                .collect()
        })
        .collect();
    (header, rows)
}

/// Writes `df` as CSV, atomically, floats with 6 significant digits.
pub fn write_dataframe_csv(path: &Path, df: &DataFrame) -> Result<()> {
    write_cells(path, text_cells(df))
}

/// Writes `df` as CSV, atomically, every float exact: for values that
/// must read back unchanged (rounding would tie scores and move an AUROC
/// recomputed from the file).
pub fn write_dataframe_csv_exact(path: &Path, df: &DataFrame) -> Result<()> {
    write_cells(path, cells_with(df, exact_cell))
}

fn write_cells(path: &Path, (header, rows): (Vec<String>, Vec<Vec<String>>)) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
