//! Polars DataFrames from slices of row structs, for notebooks.

use polars::prelude::{Column, NamedFrom, Series};

/// One column named `name`: `value` of every row.
pub(crate) fn column<'a, R, T>(name: &str, rows: &'a [R], value: impl Fn(&'a R) -> T) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Column::new(name.into(), rows.iter().map(value).collect::<Vec<T>>())
}
