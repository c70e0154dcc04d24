//! Grading: every numeric claim of the original report
//! (`docs/report_claims.csv`) beside what this study measures for the same
//! quantity, with every fact of the comparison stated on its own.
//!
//! Each claim gets a *verdict* from the comparison alone: *not measured*
//! when this run has no value for the quantity; *not comparable at this
//! profile* when it depends on a setting (image size, pool) that this run
//! does not share with the report; otherwise *reproduced* when the report's
//! value lies inside our 95 % interval (or equals ours where the quantity is
//! exact, or matches one of our candidate definitions of an undefined
//! metric), and *not reproduced* when it does not. Beside the verdict, and
//! never replacing it:
//!
//! - the report's *consistency*: a claim that contradicts the report's own
//!   other claims (two values for one quantity, an AUC that the report's
//!   own confusion matrix rules out, rates whose denominators disagree with
//!   the report's test set) says why;
//! - the *assumption* behind the comparison, where there is one (the
//!   claim's own, from `docs/report_claims.csv`, and rates over another
//!   number of images than the report's);
//! - the *power* of the test: for an interval or a rate, the half-width of
//!   our 95 % interval and the count that sets it; for an undefined
//!   "accuracy", the range that any model's accuracy at the percentile can
//!   take, from our counts.
//!
//! A run that trains more than one seed grades the claims on each seed's
//! runs, and says beside each verdict whether it holds at every seed
//! ([`over_seeds`]). [`scoreboard`] sets the verdicts of two profiles side
//! by side, and [`published_claims`] reads a published `claims.csv`.

mod check;
mod evidence;
mod measure;
mod scoreboard;
mod seeds;

pub use check::*;
pub use evidence::*;
pub(crate) use measure::*;
pub use scoreboard::*;
pub use seeds::*;

use serde::{Deserialize, Serialize};

use crate::data::PoolSize;
use crate::error::{Error, Result};

/// The report's claims, one row each; see [`report_claims`].
pub const REPORT_CLAIMS_CSV: &str = include_str!("../../../docs/report_claims.csv");

/// The report's image size and pool.
pub const REPORT_IMAGE_SIZE: usize = 256;

pub const REPORT_POOL: PoolSize = PoolSize::PerClass(30);

/// Two-decimal values in the report match ours within half a unit of
/// their last digit.
pub(crate) const ROUNDING: f64 = 0.005;

pub(crate) const LEVEL: f64 = 0.95;

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Images in the dataset.
    Images,
    ObjectClasses,
    BackgroundClasses,
    TestImages,
    /// Held-out (background) images in the test set.
    TestHeldOut,
    /// Test images above the `subject`-th percentile of the test errors.
    Flagged,
    /// Object images flagged, of all object images (false positives).
    CleanFlagged,
    /// Object images not flagged (true negatives).
    CleanPassed,
    /// Held-out images flagged (true positives).
    HeldOutFlagged,
    /// Held-out images not flagged (false negatives).
    HeldOutMissed,
    /// A class among the flagged images (`class:label`).
    FlaggedClass,
    Auroc,
    /// The `subject`-th percentile of the test errors.
    Threshold,
    /// The model with the lowest mean test error of those in `subject`.
    LowestMeanError,
    HighestMeanError,
    /// The report's undefined "accuracy" of model `subject`.
    Accuracy,
}

impl Quantity {
    /// The quantity in words, for the reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Quantity::Images => "the number of images",
            Quantity::ObjectClasses => "the number of object classes",
            Quantity::BackgroundClasses => "the number of background classes",
            Quantity::TestImages => "the number of test images",
            Quantity::TestHeldOut => "the number of background test images",
            Quantity::Flagged => "the images flagged",
            Quantity::CleanFlagged => "the object images flagged",
            Quantity::CleanPassed => "the object images passed",
            Quantity::HeldOutFlagged => "the background images flagged",
            Quantity::HeldOutMissed => "the background images missed",
            Quantity::FlaggedClass => "a class among the flagged images",
            Quantity::Auroc => "the AUROC",
            Quantity::Threshold => "the threshold",
            Quantity::LowestMeanError => "the model with the lowest mean error",
            Quantity::HighestMeanError => "the model with the highest mean error",
            Quantity::Accuracy => "the \"accuracy\"",
        }
    }
}

/// How the report's value is compared with ours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    /// Equal.
    Exact,
    /// Within a relative tolerance (the report says "about").
    About(f64),
    /// The report's `k/n` inside our Wilson 95 % interval of the rate.
    Rate,
    /// The report's value inside our bootstrap 95 % interval.
    Interval,
    /// The report's class among our flagged images.
    Member,
    /// An undefined metric: which candidate definition of ours matches.
    Definition,
}

/// A setting that must equal the report's for the numbers to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The 30-per-class pool (the split's sizes follow from it).
    Pool,
    /// 256 px images (the error's scale follows from it).
    Size,
}

/// One claim of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub section: u8,
    pub quantity: Quantity,
    /// A percentile, a model or a list of models (`a|b|c`), or empty.
    pub subject: String,
    /// The report's value as it prints it.
    pub report: String,
    pub comparison: Comparison,
    pub needs: Option<Needs>,
    /// The report's words.
    pub statement: String,
    /// What the comparison assumes that the report does not say.
    pub assumption: Option<String>,
}

impl Claim {
    fn number(&self) -> Option<f64> {
        self.report.parse().ok()
    }

    /// `k/n` as counts.
    fn rate(&self) -> Option<(usize, usize)> {
        let (k, n) = self.report.split_once('/')?;
        Some((k.trim().parse().ok()?, n.trim().parse().ok()?))
    }

    fn percentile(&self) -> Option<f64> {
        self.subject.parse().ok()
    }

    fn models(&self) -> Vec<&str> {
        self.subject.split('|').filter(|m| !m.is_empty()).collect()
    }
}

#[derive(Deserialize)]
struct ClaimRecord {
    section: u8,
    quantity: Quantity,
    subject: String,
    report: String,
    compare: String,
    needs: String,
    statement: String,
    /// Optional: a file without the column assumes nothing.
    #[serde(default)]
    assumption: String,
}

/// The report's claims, from [`REPORT_CLAIMS_CSV`].
pub fn report_claims() -> Result<Vec<Claim>> {
    parse_claims(REPORT_CLAIMS_CSV)
}

/// Parses claims in the layout of `docs/report_claims.csv`; errors name the
/// line of a value that does not parse for its comparison.
pub fn parse_claims(csv_text: &str) -> Result<Vec<Claim>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let mut claims = Vec::new();
    for (i, record) in reader.deserialize::<ClaimRecord>().enumerate() {
        let line = i + 2;
        let r = record?;
        let bad = |what: &str| Error::InvalidParameter(format!("claims line {line}: {what}"));
        let comparison = match r.compare.split_once(':') {
            Some(("about", tolerance)) => Comparison::About(
                tolerance
                    .parse()
                    .map_err(|_| bad("about:<relative tolerance>"))?,
            ),
            None => match r.compare.as_str() {
                "exact" => Comparison::Exact,
                "rate" => Comparison::Rate,
                "interval" => Comparison::Interval,
                "member" => Comparison::Member,
                "definition" => Comparison::Definition,
                other => return Err(bad(&format!("unknown comparison {other:?}"))),
            },
            Some(_) => return Err(bad(&format!("unknown comparison {:?}", r.compare))),
        };
        let needs = match r.needs.as_str() {
            "" => None,
            "pool" => Some(Needs::Pool),
            "size" => Some(Needs::Size),
            other => return Err(bad(&format!("unknown setting {other:?}"))),
        };
        let claim = Claim {
            section: r.section,
            quantity: r.quantity,
            subject: r.subject,
            report: r.report,
            comparison,
            needs,
            statement: r.statement,
            assumption: Some(r.assumption).filter(|a| !a.is_empty()),
        };
        let parses = match comparison {
            Comparison::Rate => claim.rate().is_some_and(|(k, n)| k <= n && n > 0),
            Comparison::About(_) | Comparison::Interval | Comparison::Definition => {
                claim.number().is_some()
            }
            Comparison::Member => claim.report.split_once(':').is_some(),
            Comparison::Exact => !claim.report.is_empty(),
        };
        if !parses {
            return Err(bad(&format!(
                "{:?} is not a value for {:?}",
                claim.report, comparison
            )));
        }
        claims.push(claim);
    }
    Ok(claims)
}
