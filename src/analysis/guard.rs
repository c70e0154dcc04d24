//! bf16's quality guard as an equivalence test.
//!
//! bf16 may replace fp32 for training when it is shown to be *no worse*,
//! not when it is merely not shown to differ: every model's paired unseen
//! AUROC difference (bf16 − fp32) must have its whole 95 % interval inside
//! ±margin. A rule of "every interval holds 0" tests the wrong thing: with
//! thousands of paired images a difference of 0.0004 AUROC already excludes
//! 0, so it fails more often the more images there are, while a wide
//! interval holding 0 (a small, noisy sample) passes it. The interval used
//! here is the 95 % one the tables publish, which is stricter than the 90 %
//! interval of a two one-sided tests (TOST) procedure at the 5 % level.

use std::fmt;

use crate::error::{Error, Result};
use crate::stats::ConfidenceInterval;

use super::UnseenComparisonRow;

/// The widest paired AUROC difference the guard accepts, when no smaller
/// seed-to-seed spread of fp32 is known: a hundredth of AUROC, well below
/// the differences between the models being compared.
pub const EQUIVALENCE_MARGIN: f64 = 0.01;

/// The guard's margin: [`EQUIVALENCE_MARGIN`], or fp32's measured
/// seed-to-seed spread of the same AUROC when that is smaller (bf16 must
/// not move a number further than retraining in fp32 with another seed
/// does). Errors on a spread that is negative or not finite.
pub fn equivalence_margin(fp32_seed_spread: Option<f64>) -> Result<f64> {
    match fp32_seed_spread {
        None => Ok(EQUIVALENCE_MARGIN),
        Some(spread) if spread.is_finite() && spread >= 0.0 => Ok(spread.min(EQUIVALENCE_MARGIN)),
        Some(spread) => Err(Error::InvalidParameter(format!(
            "fp32's seed spread {spread}: expected a finite value >= 0"
        ))),
    }
}

/// The guard's verdict on paired bf16-against-fp32 rows.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardVerdict {
    /// The equivalence margin the intervals were held to.
    pub margin: f64,
    /// Each model's paired difference (bf16 − fp32), in the rows' order.
    pub differences: Vec<(String, ConfidenceInterval)>,
    /// Every interval lies inside ±`margin`.
    pub passes: bool,
}

impl GuardVerdict {
    /// Judges the rows of [`super::precision_ablation`] (each bf16 row
    /// carries its paired gain over the fp32 row before it) against
    /// `margin`. Errors when no row carries a paired difference or the
    /// margin is not a finite positive number.
    pub fn of(rows: &[UnseenComparisonRow], margin: f64) -> Result<Self> {
        if !(margin.is_finite() && margin > 0.0) {
            return Err(Error::InvalidParameter(format!(
                "equivalence margin {margin}: expected a finite value > 0"
            )));
        }
        let differences: Vec<(String, ConfidenceInterval)> = rows
            .iter()
            .filter_map(|r| r.auroc_gain.map(|gain| (r.model.clone(), gain)))
            .collect();
        if differences.is_empty() {
            return Err(Error::InvalidParameter(
                "the quality guard needs pairs of runs: no row carries a paired difference".into(),
            ));
        }
        let passes = differences
            .iter()
            .all(|(_, d)| d.low >= -margin && d.high <= margin);
        Ok(Self {
            margin,
            differences,
            passes,
        })
    }

    /// The difference whose interval reaches furthest from 0.
    pub fn widest(&self) -> &(String, ConfidenceInterval) {
        self.differences
            .iter()
            .max_by(|a, b| reach(&a.1).total_cmp(&reach(&b.1)))
            .expect("GuardVerdict::of keeps at least one difference")
    }
}

fn reach(d: &ConfidenceInterval) -> f64 {
    d.low.abs().max(d.high.abs())
}

impl fmt::Display for GuardVerdict {
    /// One sentence: the verdict, the rule and the interval closest to
    /// breaking it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (model, d) = self.widest();
        write!(
            f,
            "bf16 {} the quality guard: every paired unseen AUROC difference (bf16 - fp32) must \
             lie, with its whole 95 % interval, inside ±{}; the widest is {model}'s {:+.4} \
             [{:+.4}, {:+.4}]",
            if self.passes { "passes" } else { "fails" },
            self.margin,
            d.estimate,
            d.low,
            d.high,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn row(model: &str, gain: Option<(f64, f64, f64)>) -> UnseenComparisonRow {
        UnseenComparisonRow {
            run: PathBuf::from(model),
            model: model.into(),
            images: 100,
            anomalies: 10,
            mean_error: 0.01,
            auroc: ConfidenceInterval {
                estimate: 0.7,
                low: 0.6,
                high: 0.8,
            },
            auroc_gain: gain.map(|(estimate, low, high)| ConfidenceInterval {
                estimate,
                low,
                high,
            }),
        }
    }

    fn verdict(gains: &[(f64, f64, f64)]) -> GuardVerdict {
        let rows: Vec<UnseenComparisonRow> = gains
            .iter()
            .flat_map(|&g| [row("fp32", None), row("bf16", Some(g))])
            .collect();
        GuardVerdict::of(&rows, EQUIVALENCE_MARGIN).unwrap()
    }

    #[test]
    fn intervals_inside_the_margin_pass_even_when_they_exclude_zero() {
        let v = verdict(&[(-0.005, -0.008, -0.002), (0.0004, 0.00005, 0.0007)]);
        assert!(v.passes, "{v}");
        assert_eq!(v.widest().1.low, -0.008);
    }

    #[test]
    fn an_interval_straddling_the_margin_fails() {
        let v = verdict(&[(0.001, -0.002, 0.004), (0.008, 0.005, 0.011)]);
        assert!(!v.passes, "{v}");
        assert!(v.to_string().contains("fails"), "{v}");
    }

    #[test]
    fn a_wide_interval_holding_zero_fails() {
        let v = verdict(&[(0.0, -0.03, 0.03)]);
        assert!(!v.passes, "{v}");
    }

    #[test]
    fn the_margin_is_the_smaller_of_the_default_and_the_seed_spread() {
        assert_eq!(equivalence_margin(None).unwrap(), EQUIVALENCE_MARGIN);
        assert_eq!(equivalence_margin(Some(0.004)).unwrap(), 0.004);
        assert_eq!(equivalence_margin(Some(0.05)).unwrap(), EQUIVALENCE_MARGIN);
        assert!(equivalence_margin(Some(-0.1)).is_err());
        assert!(equivalence_margin(Some(f64::NAN)).is_err());
    }

    #[test]
    fn rows_without_a_pair_or_a_bad_margin_are_refused() {
        assert!(GuardVerdict::of(&[row("fp32", None)], EQUIVALENCE_MARGIN).is_err());
        let pair = [row("fp32", None), row("bf16", Some((0.0, -0.001, 0.001)))];
        assert!(GuardVerdict::of(&pair, 0.0).is_err());
        assert!(GuardVerdict::of(&pair, f64::INFINITY).is_err());
    }

    /// `auto` picks bf16 exactly when the published guard passes: the
    /// constant in `backend::precision` cannot outlive the table it cites.
    #[test]
    fn auto_follows_the_published_guard() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/results/quick/tables/precision_guard.csv"
        );
        let mut reader = csv::Reader::from_path(path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (model, estimate, low, high) = (
            column("model"),
            column("auroc_gain"),
            column("auroc_gain_low"),
            column("auroc_gain_high"),
        );
        let rows: Vec<UnseenComparisonRow> = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                let gain = (!record[estimate].is_empty()).then(|| {
                    let value = |i: usize| record[i].parse::<f64>().unwrap();
                    (value(estimate), value(low), value(high))
                });
                row(&record[model], gain)
            })
            .collect();
        let verdict = GuardVerdict::of(&rows, EQUIVALENCE_MARGIN).unwrap();
        assert_eq!(verdict.differences.len(), 4, "{verdict}");
        assert_eq!(verdict.passes, crate::backend::AUTO_PICKS_BF16, "{verdict}");
    }
}
