//! Numbers and tables as a reader of the pages wants them: AUROC-like
//! values to 3 decimals, small values to 3 significant digits, intervals
//! as `0.696 [0.606, 0.782]`, gains signed, counts as integers, and
//! Markdown tables whose numeric columns align right.

use crate::io::thousands;
use crate::stats::ConfidenceInterval;

/// A value in [0, 1] such as an AUROC or a rate: 3 decimals, or 3
/// significant digits below 0.1 (`0.696`, `0.0927`, `0.00316`).
pub(super) use crate::io::readable_value as value;

/// `estimate [low, high]`, each as [`value`].
pub(super) fn interval(ci: &ConfidenceInterval) -> String {
    format!(
        "{} [{}, {}]",
        value(ci.estimate),
        value(ci.low),
        value(ci.high)
    )
}

/// A paired difference, signed: `+0.013 [+0.008, +0.020]` with
/// `decimals` decimals.
pub(super) fn gain(ci: &ConfidenceInterval, decimals: usize) -> String {
    format!(
        "{:+.decimals$} [{:+.decimals$}, {:+.decimals$}]",
        ci.estimate, ci.low, ci.high
    )
}

/// An interval from three optional cells; `—` when any is missing.
pub(super) fn optional_interval(
    estimate: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
) -> Option<ConfidenceInterval> {
    Some(ConfidenceInterval {
        estimate: estimate?,
        low: low?,
        high: high?,
    })
}

/// An interval from three cells.
pub(super) fn ci(estimate: f64, low: f64, high: f64) -> ConfidenceInterval {
    ConfidenceInterval {
        estimate,
        low,
        high,
    }
}

/// Seconds as a whole number.
pub(super) fn seconds(s: f64) -> String {
    thousands(s.round() as u64)
}

/// A percentile such as `80` (whole) or `97.5`.
pub(super) fn percentile(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        p.to_string()
    }
}

/// `k / n`.
pub(super) fn of(k: usize, n: usize) -> String {
    format!("{k} / {n}")
}

/// The placeholder of a cell without a value.
pub(super) const NONE: &str = "—";

/// A Markdown table: `header`, then `rows`; a column whose every cell is a
/// number (digits, separators, a sign) aligns right. Pipes in cells are
/// escaped.
pub(super) fn table<S: AsRef<str>>(header: &[S], rows: &[Vec<String>]) -> String {
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| {
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r.get(c).is_some_and(|cell| is_number(cell)))
        })
        .collect();
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(
        &header
            .iter()
            .map(|h| h.as_ref().to_string())
            .collect::<Vec<_>>(),
    );
    let rule: Vec<String> = numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" }.to_string())
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&line(&cells));
    }
    out
}

fn is_number(cell: &str) -> bool {
    !cell.is_empty()
        && cell.chars().any(|c| c.is_ascii_digit())
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '-' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_three_significant_digits_and_at_least_three_decimals() {
        assert_eq!(value(0.696026), "0.696");
        assert_eq!(value(0.0927152), "0.0927");
        assert_eq!(value(0.00315502), "0.00316");
        assert_eq!(value(0.0), "0.000");
        assert_eq!(
            interval(&ci(0.696026, 0.605925, 0.781567)),
            "0.696 [0.606, 0.782]"
        );
    }

    #[test]
    fn gains_are_signed_and_counts_grouped() {
        let g = ci(0.0134163, 0.00801889, 0.0195083);
        assert_eq!(gain(&g, 3), "+0.013 [+0.008, +0.020]");
        assert_eq!(
            gain(&ci(-0.00502444, -0.00814239, -0.00232272), 4),
            "-0.0050 [-0.0081, -0.0023]"
        );
        assert_eq!(thousands(67574147), "67,574,147");
        assert_eq!(thousands(483), "483");
        assert_eq!(seconds(87.6867), "88");
        assert_eq!(percentile(80.0), "80");
    }

    #[test]
    fn numeric_columns_align_right_and_pipes_are_escaped() {
        let rows = vec![
            vec!["a|b".to_string(), "1,234".to_string()],
            vec!["c".to_string(), "-0.5".to_string()],
        ];
        assert_eq!(
            table(&["name", "n"], &rows),
            "| name | n |\n|---|---:|\n| a\\|b | 1,234 |\n| c | -0.5 |\n"
        );
    }
}
