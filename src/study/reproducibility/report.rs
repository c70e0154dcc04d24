//! [`ResultsDiff`] in words: a Markdown report, printed or written.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::io::WritePolicy;
use crate::study::reproducibility::diff::{CellDiff, Part, ResultsDiff, Side, VERDICT_COLUMN};
use crate::study::reproducibility::table::TABLES;

impl ResultsDiff {
    /// The report, Markdown: the counts, what was not compared, the
    /// verdicts that flipped, what is on one side only, and every other
    /// cell beyond tolerance (table, row key, column, published, run,
    /// difference), then the outcome.
    pub fn report(&self) -> String {
        let mut out = String::new();
        self.write_summary(&mut out);
        let flips: Vec<&CellDiff> = self.verdict_flips().collect();
        if !flips.is_empty() {
            let _ = writeln!(out, "\n## Verdicts that flipped ({})\n", flips.len());
            cell_table(&mut out, &flips);
            self.write_flips_over_seeds(&mut out, &flips);
        }
        if !self.one_sided.is_empty() {
            let _ = writeln!(out, "\n## On one side only ({})\n", self.one_sided.len());
            for o in &self.one_sided {
                let side = match o.only_in {
                    Side::Run => "the run",
                    Side::Published => "the published results",
                };
                let what = match &o.part {
                    Part::Table => format!("table {}", o.table),
                    Part::Row(key) => format!("row `{key}` of {}", o.table),
                    Part::Column(column) => format!("column `{column}` of {}", o.table),
                };
                let _ = writeln!(out, "- {what}: only in {side}");
            }
        }
        let others: Vec<&CellDiff> = self
            .cells
            .iter()
            .filter(|c| c.column != VERDICT_COLUMN)
            .collect();
        if !others.is_empty() {
            let _ = writeln!(out, "\n## Cells beyond tolerance ({})\n", others.len());
            cell_table(&mut out, &others);
        }
        let outcome = if self.is_clean() {
            "clean: every table, row and column on both sides, every cell within tolerance"
        } else {
            "NOT clean: the run differs from the published results beyond tolerance"
        };
        let _ = writeln!(out, "\n{outcome}");
        out
    }

    /// Which flipped verdicts already flip between the published run's
    /// own seeds, and which hold at every one of them.
    fn write_flips_over_seeds(&self, out: &mut String, flips: &[&CellDiff]) {
        let (expected, settled): (Vec<&&CellDiff>, Vec<&&CellDiff>) =
            flips.iter().partition(|c| self.unsettled.contains(&c.row));
        if !expected.is_empty() {
            let rows: Vec<&str> = expected.iter().map(|c| c.row.as_str()).collect();
            let _ = writeln!(
                out,
                "\n{} of them flip between the published run's own training seeds too \
                 (claims.csv's `seeds`): {}.",
                expected.len(),
                rows.join("; ")
            );
        }
        if !settled.is_empty() && !self.unsettled.is_empty() {
            let _ = writeln!(
                out,
                "\n{} held at every published seed: a change beyond the seeds' spread.",
                settled.len()
            );
        }
    }

    fn write_summary(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# {} beside {}\n",
            self.run.display(),
            self.published.display()
        );
        let _ = writeln!(
            out,
            "{} tables compared, {} cells: {} differ, {} beyond tolerance ({} verdicts \
             flipped); {} tables, rows or columns on one side only.\n",
            self.tables,
            self.cells_compared,
            self.cells_differing,
            self.beyond_tolerance(),
            self.verdict_flips().count(),
            self.one_sided.len()
        );
        let _ = writeln!(
            out,
            "- tolerance: {} (text: equal; paths relative to their folder)",
            self.tolerances.default
        );
        for (column, tolerance) in &self.tolerances.columns {
            let _ = writeln!(out, "- column `{column}`: {tolerance}");
        }
        for ((table, row, column), tolerance) in &self.tolerances.cells {
            let _ = writeln!(out, "- {table} `{row}` `{column}`: {tolerance}");
        }
        let excepted: Vec<String> = self
            .excepted
            .iter()
            .map(|(table, column)| format!("{table} `{column}`"))
            .collect();
        if !excepted.is_empty() {
            let _ = writeln!(
                out,
                "- not compared, wall times differ by machine: {}",
                excepted.join(", ")
            );
        }
        for (table, command) in &self.written_elsewhere {
            let _ = writeln!(
                out,
                "- not compared, published only: {table}, which `{command}` writes, not `reproduce`"
            );
        }
        let _ = writeln!(
            out,
            "- only {TABLES}/*.csv is compared (metrics.json, report.md and the figures are not)"
        );
    }

    /// Writes [`ResultsDiff::report`] to `path`, atomically, replacing a
    /// file there but never a compared table; returns the path written.
    pub fn write_report(&self, path: &Path) -> Result<PathBuf> {
        let what = "a table being compared";
        let policy = WritePolicy::artifact()
            .protecting(self.run.join(TABLES), what)
            .protecting(self.published.join(TABLES), what);
        let report = self.report();
        policy.write(path, |w| w.write_all(report.as_bytes()).at(path))
    }
}

/// `cells` as a Markdown table.
fn cell_table(out: &mut String, cells: &[&CellDiff]) {
    out.push_str("| table | row | column | published | run | difference |\n");
    out.push_str("|---|---|---|---|---:|---:|\n");
    for c in cells {
        let difference = c.difference.map_or_else(|| "(text)".into(), signed);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {difference} |",
            escape(&c.table),
            escape(&c.row),
            escape(&c.column),
            escape(&c.published),
            escape(&c.run)
        );
    }
}

/// A Markdown table cell's text: pipes escaped, on one line.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A difference with its sign, in plain decimals where they are short.
fn signed(d: f64) -> String {
    if d == 0.0 || !d.is_finite() || (1e-4..1e6).contains(&d.abs()) {
        let text = format!("{d:+.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    } else {
        format!("{d:+.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_signed_and_short() {
        assert_eq!(signed(0.01), "+0.01");
        assert_eq!(signed(-1.0), "-1");
        assert_eq!(signed(2.5e-7), "+2.500e-7");
        assert_eq!(escape("a|b\nc"), "a\\|b c");
    }
}
