//! How far apart a run's number may be from the published one and still
//! match.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// [`Tolerance::default`]'s absolute part: values in [0, 1] (AUROCs,
/// AUPRCs, rates, interval ends) match within 0.0005 to 0.0015 with the
/// relative part, under two units of the third decimal, the precision the
/// report quotes, and about seven discordant pairs of a test-split AUROC at
/// `quick` (one pair is 1/(30 × 453)); far inside their 95 % intervals.
pub const DEFAULT_ABSOLUTE: f64 = 0.0005;

/// [`Tolerance::default`]'s relative part: counts below about 1,000
/// (images, flagged, TP/FP) must agree exactly (their tolerance stays
/// under 1), larger values (parameters, image totals, scores above 1)
/// within 0.1 %, a hundred times the rounding of the tables' six
/// significant digits.
pub const DEFAULT_RELATIVE: f64 = 0.001;

/// When a run's number matches the published one: `|run − published| ≤
/// absolute + relative · |published|` (numpy's `isclose`). Text cells
/// match only when equal.
///
/// The default ([`DEFAULT_ABSOLUTE`], [`DEFAULT_RELATIVE`]) is one rule for
/// every column, meant for the same study run again elsewhere: another
/// CPU, thread count or libtorch build changes the arithmetic's last
/// digits, not a verdict. Small-scale values (reconstruction errors near
/// 0.03, their thresholds) are held only to ±0.0005 by it; tighten a
/// column with [`Tolerances::with_column`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Allowed whatever the value's size.
    pub absolute: f64,
    /// Allowed per unit of the published value's size.
    pub relative: f64,
}

impl Tolerance {
    /// Numbers must be equal.
    pub const EXACT: Self = Self {
        absolute: 0.0,
        relative: 0.0,
    };

    /// A checked tolerance: both parts finite and non-negative.
    pub fn new(absolute: f64, relative: f64) -> Result<Self> {
        let tolerance = Self { absolute, relative };
        tolerance.check()?;
        Ok(tolerance)
    }

    /// Refuses a part that is negative, infinite or NaN.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [("absolute", self.absolute), ("relative", self.relative)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidParameter(format!(
                    "{name} tolerance {value}: expected a finite number >= 0"
                )));
            }
        }
        Ok(())
    }

    /// Whether `run` matches `published`. Two NaNs match (both sides
    /// undefined); equal infinities match.
    pub fn accepts(&self, run: f64, published: f64) -> bool {
        if run.is_nan() && published.is_nan() || run == published {
            return true;
        }
        (run - published).abs() <= self.absolute + self.relative * published.abs()
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            absolute: DEFAULT_ABSOLUTE,
            relative: DEFAULT_RELATIVE,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "|run - published| <= {} + {} * |published|",
            self.absolute, self.relative
        )
    }
}

/// A [`Tolerance`] for every cell: one by default, others by column name
/// (in every table), others again for single cells (a model's number by
/// its spread over training seeds: [`crate::study::with_seed_spread`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerances {
    /// The tolerance of every column not overridden.
    pub default: Tolerance,
    /// Overrides, by column name.
    pub columns: BTreeMap<String, Tolerance>,
    /// Overrides of single cells, by table file name, row key and column;
    /// they win over the column's.
    pub cells: BTreeMap<(String, String, String), Tolerance>,
}

impl Tolerances {
    /// The same, with `tolerance` for the columns named `column`.
    pub fn with_column(mut self, column: impl Into<String>, tolerance: Tolerance) -> Self {
        self.columns.insert(column.into(), tolerance);
        self
    }

    /// The same, with `tolerance` for the cell of `table` (its file name),
    /// row `row` (its key) and column `column`.
    pub fn with_cell(
        mut self,
        (table, row, column): (&str, &str, &str),
        tolerance: Tolerance,
    ) -> Self {
        let key = (table.to_string(), row.to_string(), column.to_string());
        self.cells.insert(key, tolerance);
        self
    }

    /// The tolerance of the column named `column`.
    pub fn of(&self, column: &str) -> Tolerance {
        self.columns.get(column).copied().unwrap_or(self.default)
    }

    /// The tolerance of one cell: its own, else its column's
    /// ([`Self::of`]).
    pub fn of_cell(&self, table: &str, row: &str, column: &str) -> Tolerance {
        let key = (table.to_string(), row.to_string(), column.to_string());
        self.cells
            .get(&key)
            .copied()
            .unwrap_or_else(|| self.of(column))
    }

    /// Checks every tolerance ([`Tolerance::check`]), naming an
    /// overridden column's.
    pub fn check(&self) -> Result<()> {
        self.default.check()?;
        for (column, tolerance) in &self.columns {
            tolerance
                .check()
                .map_err(|e| Error::InvalidParameter(format!("column {column:?}: {e}")))?;
        }
        for ((table, row, column), tolerance) in &self.cells {
            tolerance.check().map_err(|e| {
                Error::InvalidParameter(format!("{table} row {row:?} column {column:?}: {e}"))
            })?;
        }
        Ok(())
    }
}

impl From<Tolerance> for Tolerances {
    fn from(default: Tolerance) -> Self {
        Self {
            default,
            columns: BTreeMap::new(),
            cells: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_negative_and_non_finite_parts() {
        for (absolute, relative) in [
            (-0.1, 0.0),
            (0.0, -1e-9),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
            (f64::NEG_INFINITY, 0.0),
        ] {
            let error = Tolerance::new(absolute, relative).unwrap_err();
            assert!(matches!(error, Error::InvalidParameter(_)), "{error}");
        }
        assert_eq!(Tolerance::new(0.0, 0.0).unwrap(), Tolerance::EXACT);
        assert_eq!(
            Tolerance::new(DEFAULT_ABSOLUTE, DEFAULT_RELATIVE).unwrap(),
            Tolerance::default()
        );
    }

    #[test]
    fn accepts_within_absolute_plus_relative() {
        let tolerance = Tolerance::new(0.001, 0.01).unwrap();
        assert!(tolerance.accepts(0.7005, 0.7));
        assert!(tolerance.accepts(100.9, 100.0));
        assert!(!tolerance.accepts(101.5, 100.0));
        assert!(!tolerance.accepts(0.71, 0.7));
        assert!(tolerance.accepts(f64::NAN, f64::NAN));
        assert!(!tolerance.accepts(f64::NAN, 0.5));
        assert!(tolerance.accepts(f64::INFINITY, f64::INFINITY));
        assert!(!tolerance.accepts(f64::INFINITY, 1.0));
        assert!(Tolerance::EXACT.accepts(3.0, 3.0));
        assert!(!Tolerance::EXACT.accepts(3.0, 3.000001));
    }

    #[test]
    fn the_default_keeps_counts_exact_and_auroc_to_the_third_decimal() {
        let tolerance = Tolerance::default();
        assert!(!tolerance.accepts(98.0, 97.0));
        assert!(!tolerance.accepts(454.0, 453.0));
        assert!(tolerance.accepts(0.6965, 0.696026));
        assert!(!tolerance.accepts(0.706026, 0.696026));
    }

    #[test]
    fn a_column_override_applies_to_that_column_only() {
        let tolerances = Tolerances::from(Tolerance::EXACT)
            .with_column("auroc", Tolerance::new(0.01, 0.0).unwrap());
        assert_eq!(tolerances.of("auroc").absolute, 0.01);
        assert_eq!(tolerances.of("auprc"), Tolerance::EXACT);
        let bad = tolerances.with_column(
            "tpr",
            Tolerance {
                absolute: -1.0,
                relative: 0.0,
            },
        );
        let message = bad.check().unwrap_err().to_string();
        assert!(message.contains("tpr"), "{message}");
    }

    #[test]
    fn a_cell_override_wins_over_its_column_and_applies_to_that_cell_only() {
        let wide = Tolerance::new(0.05, 0.0).unwrap();
        let tolerances = Tolerances::from(Tolerance::EXACT)
            .with_column("auroc", Tolerance::new(0.01, 0.0).unwrap())
            .with_cell(("comparison.csv", "baseline", "auroc"), wide);
        assert_eq!(
            tolerances.of_cell("comparison.csv", "baseline", "auroc"),
            wide
        );
        assert_eq!(
            tolerances
                .of_cell("comparison.csv", "improved1", "auroc")
                .absolute,
            0.01
        );
        assert_eq!(
            tolerances
                .of_cell("ladder.csv", "baseline", "auroc")
                .absolute,
            0.01
        );
        assert_eq!(
            tolerances.of_cell("comparison.csv", "baseline", "auprc"),
            Tolerance::EXACT
        );
        let bad = tolerances.with_cell(
            ("comparison.csv", "baseline", "tpr"),
            Tolerance {
                absolute: f64::NAN,
                relative: 0.0,
            },
        );
        let message = bad.check().unwrap_err().to_string();
        assert!(
            message.contains("comparison.csv row \"baseline\" column \"tpr\""),
            "{message}"
        );
    }
}
