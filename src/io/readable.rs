//! Numbers and names as a reader takes them in at a glance, for what a
//! notebook shows ([`crate::io::Table`], the model summaries): a number to
//! three significant digits and never more than [`MAX_DECIMALS`] decimals
//! (`0.696`, `0.0434`, `87.7`), whole numbers whole (`4536707`, `80`), an
//! interval as one cell (`0.696 [0.606, 0.782]`), a gain signed
//! (`+0.013 [+0.008, +0.020]`), a `snake_case` column name in words
//! (`unseen AUROC`).
//!
//! Display only: the CSV files keep every digit ([`crate::io::text_cells`]).

/// The most decimals a shown number has.
pub const MAX_DECIMALS: usize = 4;

/// The decimals that give `v` three significant digits, between 0 (the
/// integer part is never rounded) and [`MAX_DECIMALS`].
fn decimals(v: f64) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 0;
    }
    (2 - v.abs().log10().floor() as i32).clamp(0, MAX_DECIMALS as i32) as usize
}

/// Whether `v` would show as zero with [`MAX_DECIMALS`] decimals though it
/// is not: shown in scientific notation instead (`3.16e-6`).
fn too_small(v: f64) -> bool {
    v != 0.0 && v.abs() < 0.5 * 10f64.powi(-(MAX_DECIMALS as i32))
}

/// A value such as an AUROC, a rate or a reconstruction error, as the
/// tables and pages quote it: three significant digits and at least three
/// decimals (`0.696`, `0.0175`, `0.00580`, `1.000`).
pub fn readable_value(v: f64) -> String {
    let magnitude = if v == 0.0 || !v.is_finite() {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).max(3) as usize;
    format!("{v:.decimals$}")
}

/// A count with thousands separators, as Keras writes parameter counts:
/// `4,536,707`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` to three significant digits, at most [`MAX_DECIMALS`] decimals:
/// `0.696`, `0.0434`, `87.7`, `1235`; `3.16e-6` for a value that would
/// round to zero; `0` for zero.
pub fn readable_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    if too_small(v) {
        return format!("{v:.2e}");
    }
    let d = decimals(v);
    format!("{v:.d$}")
}

/// `v` signed, as a gain: `+0.035`, `-0.0050` ([`readable_interval`]'s
/// decimals for a gain).
pub fn readable_gain(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let d = gain_decimals(v.abs());
    format!("{v:+.d$}")
}

/// A gain (a difference of AUROCs, say) is read on the scale of what it
/// is a difference of: 3 decimals, 4 when every value is below 0.01, fewer
/// for large values (as [`readable_number`]).
fn gain_decimals(largest: f64) -> usize {
    if largest < 0.01 {
        MAX_DECIMALS
    } else {
        decimals(largest).min(3)
    }
}

/// `estimate [low, high]`, the three with one number of decimals: those
/// that give the largest of them three significant digits (`0.696 [0.606,
/// 0.782]`, `0.0434 [0.0413, 0.0470]`). `signed` (a gain) writes every
/// sign and reads on the scale of what it is a difference of
/// (`+0.013 [+0.008, +0.020]`, `+0.0009 [-0.0004, +0.0021]`).
pub fn readable_interval(estimate: f64, low: f64, high: f64, signed: bool) -> String {
    let values = [estimate, low, high];
    if values.iter().any(|v| !v.is_finite()) {
        let one = |v: f64| {
            if signed {
                readable_gain(v)
            } else {
                readable_number(v)
            }
        };
        return format!("{} [{}, {}]", one(estimate), one(low), one(high));
    }
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        // A detector against itself.
        return "0 [0, 0]".into();
    }
    if signed {
        let d = gain_decimals(largest);
        return format!("{estimate:+.d$} [{low:+.d$}, {high:+.d$}]");
    }
    if too_small(largest) {
        return format!("{estimate:.2e} [{low:.2e}, {high:.2e}]");
    }
    let d = decimals(largest);
    format!("{estimate:.d$} [{low:.d$}, {high:.d$}]")
}

/// A column of numbers as shown: every value whole (counts stored as
/// floats, percentiles such as 80) shows without decimals, any other by
/// [`readable_number`] (or [`readable_gain`] when `signed`); a missing
/// value is an empty cell.
pub fn readable_column(values: &[Option<f64>], signed: bool) -> Vec<String> {
    let whole = values
        .iter()
        .flatten()
        .all(|v| v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15);
    values
        .iter()
        .map(|v| match v {
            None => String::new(),
            Some(v) if whole && signed && *v != 0.0 => format!("{v:+.0}"),
            Some(v) if whole => format!("{v:.0}"),
            Some(v) if signed => readable_gain(*v),
            Some(v) => readable_number(*v),
        })
        .collect()
}

/// Whether a column named `name` holds a difference, shown signed: a word
/// of it is `gain`, `delta` or `difference`.
pub fn is_gain(name: &str) -> bool {
    name.split(['_', ' '])
        .any(|w| matches!(w, "gain" | "delta" | "difference"))
}

/// Words of column names written as a reader writes them.
const WORDS: [(&str, &str); 15] = [
    ("auroc", "AUROC"),
    ("auprc", "AUPRC"),
    ("tpr", "TPR"),
    ("fpr", "FPR"),
    ("tp", "TP"),
    ("fn", "FN"),
    ("fp", "FP"),
    ("tn", "TN"),
    ("mse", "MSE"),
    ("ssim", "SSIM"),
    ("pca", "PCA"),
    ("mib", "MiB"),
    ("knn", "kNN"),
    ("f1", "F1"),
    ("csv", "CSV"),
];

/// A `snake_case` column name in words: `unseen_auroc_low` → `unseen AUROC
/// low`, `bank_mib` → `bank MiB`. A name that is not `snake_case` (it holds
/// a space, a capital, a bracket: `held out (background_google)`) is left
/// as it is.
pub fn readable_name(name: &str) -> String {
    let snake = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !snake {
        return name.to_string();
    }
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            WORDS
                .iter()
                .find(|(from, _)| *from == w)
                .map_or(w, |(_, to)| to)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_has_three_significant_digits_and_at_least_three_decimals() {
        assert_eq!(readable_value(0.696026), "0.696");
        assert_eq!(readable_value(0.017507), "0.0175");
        assert_eq!(readable_value(0.0058), "0.00580");
        assert_eq!(readable_value(1.0), "1.000");
        assert_eq!(readable_value(0.0), "0.000");
        assert_eq!(readable_value(-0.0434), "-0.0434");
    }

    use super::*;

    #[test]
    fn numbers_have_three_significant_digits_and_at_most_four_decimals() {
        let shown = |v| readable_number(v);
        assert_eq!(shown(0.696026), "0.696");
        assert_eq!(shown(0.0433567), "0.0434");
        assert_eq!(shown(0.00316), "0.0032", "never more than 4 decimals");
        assert_eq!(shown(87.6867), "87.7");
        assert_eq!(
            shown(4536707.0),
            "4536707",
            "the integer part is never rounded"
        );
        assert_eq!(shown(1234.56), "1235");
        assert_eq!(shown(-0.0785492), "-0.0785");
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(3.16e-6), "3.16e-6", "not 0.0000");
        assert_eq!(shown(f64::NAN), "NaN");
        for v in [0.123456789, 0.000123456, 12.3456789, 1e-3] {
            let text = shown(v);
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= MAX_DECIMALS, "{text}");
        }
    }

    #[test]
    fn intervals_share_their_decimals_and_gains_are_signed() {
        assert_eq!(
            readable_interval(0.696026, 0.605925, 0.781567, false),
            "0.696 [0.606, 0.782]"
        );
        assert_eq!(
            readable_interval(0.0434, 0.0413, 0.0470, false),
            "0.0434 [0.0413, 0.0470]"
        );
        assert_eq!(
            readable_interval(0.0131, 0.0079, 0.0201, true),
            "+0.013 [+0.008, +0.020]"
        );
        assert_eq!(
            readable_interval(0.0352558, 0.0200117, 0.0498119, true),
            "+0.035 [+0.020, +0.050]"
        );
        assert_eq!(
            readable_interval(0.0009, -0.0004, 0.0021, true),
            "+0.0009 [-0.0004, +0.0021]",
            "a gain below 0.01 keeps 4 decimals"
        );
        assert_eq!(
            readable_interval(-0.244, -0.273, -0.213, true),
            "-0.244 [-0.273, -0.213]"
        );
        assert_eq!(readable_gain(0.236), "+0.236");
        assert_eq!(readable_interval(0.0, 0.0, 0.0, true), "0 [0, 0]");
    }

    #[test]
    fn a_whole_column_stays_whole() {
        let percentiles = [Some(75.0), Some(80.0), None, Some(95.0)];
        assert_eq!(readable_column(&percentiles, false), ["75", "80", "", "95"]);
        let mixed = [Some(80.0), Some(82.5)];
        assert_eq!(readable_column(&mixed, false), ["80.0", "82.5"]);
        assert_eq!(
            readable_column(&[Some(3.0), Some(-2.0), Some(0.0)], true),
            ["+3", "-2", "0"]
        );
    }

    #[test]
    fn snake_case_names_read_as_words() {
        assert_eq!(readable_name("unseen_auroc"), "unseen AUROC");
        assert_eq!(readable_name("mean_test_error"), "mean test error");
        assert_eq!(readable_name("bank_mib"), "bank MiB");
        assert_eq!(readable_name("fn"), "FN");
        assert_eq!(
            readable_name("held out (background_google)"),
            "held out (background_google)",
            "not snake_case: as it is"
        );
        assert!(is_gain("auroc_gain") && is_gain("gain_second") && !is_gain("against"));
    }
}
