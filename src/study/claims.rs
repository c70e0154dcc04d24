//! Grading: every numeric claim of the original report
//! (`docs/report_claims.csv`) beside what this study measures for the same
//! quantity, with a verdict computed from the two.
//!
//! A claim is first checked against the report's own other claims: two
//! values for one quantity, an AUC that the report's own confusion matrix
//! rules out, or rates whose denominators disagree with the report's test
//! set make it *inconsistent in the report itself*. A consistent claim is
//! *not comparable* when it depends on a setting (image size, pool) that
//! this run does not share with the report; otherwise it is *reproduced*
//! when the report's value lies inside our 95 % interval (or equals ours
//! where the quantity is exact), and *not reproduced* when it does not.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::analysis::Bootstrap;
use crate::autoencoder::Trained;
use crate::data::{BACKGROUND_CLASS, Caltech101, PoolSize, Prepared};
use crate::error::{Error, Result};
use crate::io::{Markdown, column};
use crate::scoring::{REPORT_PERCENTILE, ScoreRow};
use crate::stats::{
    ConfidenceInterval, ConfusionMatrix, auroc, percentile, stratified_bootstrap, wilson_interval,
};
use crate::study::Profile;

/// The report's claims, one row each; see [`report_claims`].
pub const REPORT_CLAIMS_CSV: &str = include_str!("../../docs/report_claims.csv");
/// The report's image size and pool.
pub const REPORT_IMAGE_SIZE: usize = 256;
pub const REPORT_POOL: PoolSize = PoolSize::PerClass(30);
/// Two-decimal values in the report match ours within half a unit of
/// their last digit.
const ROUNDING: f64 = 0.005;
const LEVEL: f64 = 0.95;

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

/// The settings our numbers were measured at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredAt {
    pub profile: Profile,
    pub image_size: usize,
    pub pool: PoolSize,
}

impl MeasuredAt {
    /// The settings of `prepared`, with `profile` for display.
    pub fn of(profile: Profile, prepared: &Prepared) -> Self {
        Self {
            profile,
            image_size: prepared.cache.size(),
            pool: prepared.config.split.pool,
        }
    }
}

/// Counts from a scan of the dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetCounts {
    pub images: usize,
    pub object_classes: usize,
    pub background_classes: usize,
}

/// One model's test scores (section 8).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelScores {
    pub model: String,
    pub errors: Vec<f64>,
    pub held_out: Vec<bool>,
    pub auroc: f64,
}

/// Counts the images and classes of the Caltech-101 copy at `data_dir`.
pub fn dataset_counts(data_dir: &Path) -> Result<DatasetCounts> {
    let dataset = Caltech101::scan(data_dir, true)?;
    let background = dataset
        .classes()
        .iter()
        .filter(|c| c.name == BACKGROUND_CLASS)
        .count();
    Ok(DatasetCounts {
        images: dataset.images().len(),
        object_classes: dataset.classes().len() - background,
        background_classes: background,
    })
}

impl ModelScores {
    /// A finished run's test scores.
    pub fn of(run: &Trained) -> Self {
        let (errors, held_out) = (run.scores.errors(), run.scores.labels());
        Self {
            model: run.record.architecture.to_string(),
            auroc: auroc(&errors, &held_out),
            errors,
            held_out,
        }
    }

    fn mean_error(&self) -> f64 {
        self.errors.iter().sum::<f64>() / self.errors.len() as f64
    }
}

/// What this study measured; a claim whose evidence is missing is
/// reported as not measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub measured_at: MeasuredAt,
    pub dataset: Option<DatasetCounts>,
    /// The baseline's test scores (sections 6-7).
    pub baseline: Option<Vec<ScoreRow>>,
    /// The baseline's AUROC with its bootstrap interval.
    pub baseline_auroc: Option<ConfidenceInterval>,
    /// Every model of section 8.
    pub models: Vec<ModelScores>,
    /// Bootstrap resamples and seed of any interval computed here.
    pub resamples: usize,
    pub seed: u64,
}

impl Evidence {
    /// No evidence yet, for settings `measured_at`: fill in what a section
    /// measured.
    pub fn at(measured_at: MeasuredAt, bootstrap: Bootstrap) -> Self {
        Self {
            measured_at,
            dataset: None,
            baseline: None,
            baseline_auroc: None,
            models: Vec::new(),
            resamples: bootstrap.resamples,
            seed: bootstrap.seed,
        }
    }
}

/// The verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    NotComparable,
    Inconsistent,
    /// This run has no evidence for it (e.g. a model not trained).
    NotMeasured,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::NotComparable => "not comparable at this profile",
            Verdict::Inconsistent => "inconsistent in the report itself",
            Verdict::NotMeasured => "not measured in this run",
        }
    }
}

/// One claim beside our value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimCheck {
    pub section: u8,
    pub statement: String,
    pub report: String,
    pub ours: String,
    /// Our 95 % interval, where the quantity is a statistic.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub verdict: Verdict,
    pub reason: String,
    pub profile: Profile,
}

/// The checked claims: displays as a Markdown table in a notebook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimTable {
    pub rows: Vec<ClaimCheck>,
}

impl ClaimTable {
    pub fn to_dataframe(&self) -> Result<DataFrame> {
        let rows = &self.rows;
        Ok(DataFrame::new_infer_height(vec![
            column("section", rows, |r| r.section as u64),
            column("claim", rows, |r| r.statement.as_str()),
            column("report", rows, |r| r.report.as_str()),
            column("ours", rows, |r| r.ours.as_str()),
            column("low", rows, |r| r.low),
            column("high", rows, |r| r.high),
            column("verdict", rows, |r| r.verdict.as_str()),
            column("reason", rows, |r| r.reason.as_str()),
            column("profile", rows, |r| r.profile.name()),
        ])?)
    }

    pub fn to_markdown(&self) -> Markdown {
        let mut text = String::from(
            "| § | the report says | report | ours [95% CI] | verdict | why |\n|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let interval = match (r.low, r.high) {
                (Some(low), Some(high)) => format!(" [{}, {}]", short(low), short(high)),
                _ => String::new(),
            };
            let _ = writeln!(
                text,
                "| {} | {} | {} | {}{interval} | **{}** | {} |",
                r.section,
                r.statement.replace('|', "\\|"),
                r.report,
                r.ours,
                r.verdict.as_str(),
                r.reason.replace('|', "\\|"),
            );
        }
        if let Some(r) = self.rows.first() {
            let _ = write!(text, "\nMeasured at profile **{}**.", r.profile.name());
        }
        Markdown(text)
    }

    /// Shows the table as Markdown in an evcxr notebook.
    pub fn evcxr_display(&self) {
        self.to_markdown().evcxr_display();
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }
}

/// Checks `claims` against each other and against `evidence`.
///
/// Errors on evidence that cannot be measured (empty or non-finite scores,
/// a sample without both classes).
pub fn check(claims: &[Claim], evidence: &Evidence) -> Result<ClaimTable> {
    let inconsistent = inconsistencies(claims);
    let rows = claims
        .iter()
        .enumerate()
        .map(|(i, claim)| check_one(claim, inconsistent.get(&i), claims, evidence))
        .collect::<Result<_>>()?;
    Ok(ClaimTable { rows })
}

fn check_one(
    claim: &Claim,
    inconsistency: Option<&String>,
    claims: &[Claim],
    evidence: &Evidence,
) -> Result<ClaimCheck> {
    let measured = measure(claim, evidence)?;
    let (ours, low, high) = match &measured {
        Some(m) => (
            m.text.clone(),
            m.interval.map(|i| i.0),
            m.interval.map(|i| i.1),
        ),
        None => ("—".to_string(), None, None),
    };
    let (verdict, reason) = match (inconsistency, &measured) {
        (Some(reason), _) => (Verdict::Inconsistent, reason.clone()),
        (None, None) => (
            Verdict::NotMeasured,
            "this run has no value for it".to_string(),
        ),
        (None, Some(m)) => match unmet(claim.needs, &evidence.measured_at) {
            Some(reason) => (Verdict::NotComparable, reason),
            None => compare(claim, m, claims),
        },
    };
    Ok(ClaimCheck {
        section: claim.section,
        statement: claim.statement.clone(),
        report: claim.report.clone(),
        ours,
        low,
        high,
        verdict,
        reason,
        profile: evidence.measured_at.profile,
    })
}

/// Reasons why claims contradict the report's other claims, by index.
fn inconsistencies(claims: &[Claim]) -> BTreeMap<usize, String> {
    let mut conflicts = BTreeMap::new();
    let mut groups: BTreeMap<(Quantity, &str), Vec<usize>> = BTreeMap::new();
    for (i, c) in claims.iter().enumerate() {
        groups.entry((c.quantity, &c.subject)).or_default().push(i);
    }
    for ((quantity, subject), members) in &groups {
        let mut values: Vec<&str> = Vec::new();
        for &i in members {
            if !values.contains(&claims[i].report.as_str()) {
                values.push(&claims[i].report);
            }
        }
        if values.len() > 1 {
            let at = match subject.parse::<f64>() {
                Ok(p) => format!(" at p{p}"),
                Err(_) if subject.is_empty() => String::new(),
                Err(_) => format!(" of {subject}"),
            };
            for &i in members {
                conflicts.insert(
                    i,
                    format!(
                        "the report gives {}{at} as {}",
                        quantity.describe(),
                        values.join(" and as ")
                    ),
                );
            }
        }
    }
    let unique = |quantity: Quantity, subject: &str| -> Option<&Claim> {
        let members = groups.get(&(quantity, subject))?;
        (!members.iter().any(|i| conflicts.contains_key(i))).then(|| &claims[members[0]])
    };
    let mut found = conflicts.clone();
    let report_count = |q| unique(q, "").and_then(Claim::number).map(|v| v as usize);
    let positives = report_count(Quantity::TestHeldOut);
    let negatives = report_count(Quantity::TestImages)
        .zip(positives)
        .map(|(all, pos)| all.saturating_sub(pos));
    for (i, c) in claims.iter().enumerate() {
        let Some((_, n)) = c.rate() else { continue };
        let expected = match c.quantity {
            Quantity::HeldOutFlagged | Quantity::HeldOutMissed => positives,
            _ => negatives,
        };
        if let Some(expected) = expected.filter(|&e| e != n) {
            found.entry(i).or_insert(format!(
                "its denominator {n} is not the report's own {expected} test images of that kind"
            ));
        }
    }
    if let Some((i, reason)) = auc_against_operating_points(claims, &unique) {
        found.entry(i).or_insert(reason);
    }
    found
}

/// An AUC above what the report's own operating points allow: a ROC curve
/// through (FPR, TPR) encloses at most `1 − FPR·(1 − TPR)`.
fn auc_against_operating_points<'a>(
    claims: &'a [Claim],
    unique: &dyn Fn(Quantity, &str) -> Option<&'a Claim>,
) -> Option<(usize, String)> {
    let (index, auc_claim) = claims
        .iter()
        .enumerate()
        .find(|(_, c)| c.quantity == Quantity::Auroc)?;
    let auc = auc_claim.number()?;
    claims
        .iter()
        .filter(|c| c.quantity == Quantity::HeldOutFlagged)
        .filter_map(|c| {
            let tp = unique(Quantity::HeldOutFlagged, &c.subject)?.rate()?;
            let fp = unique(Quantity::CleanFlagged, &c.subject)?.rate()?;
            let (tpr, fpr) = (tp.0 as f64 / tp.1 as f64, fp.0 as f64 / fp.1 as f64);
            let bound = 1.0 - fpr * (1.0 - tpr);
            (auc > bound + 1e-12).then(|| {
                (
                    index,
                    format!(
                        "an AUC of {auc} is impossible beside the report's own p{} matrix: a ROC \
                         curve through TPR {}/{} = {tpr:.3} at FPR {}/{} = {fpr:.3} encloses at \
                         most 1 − FPR·(1 − TPR) = {bound:.3}",
                        c.subject, tp.0, tp.1, fp.0, fp.1
                    ),
                )
            })
        })
        .next()
}

/// Why a claim that needs `needs` cannot be compared at `at`, if it cannot.
fn unmet(needs: Option<Needs>, at: &MeasuredAt) -> Option<String> {
    match needs? {
        Needs::Size if at.image_size != REPORT_IMAGE_SIZE => Some(format!(
            "the report measured at {REPORT_IMAGE_SIZE} px, this run at {} px: the error's \
             scale depends on the image size",
            at.image_size
        )),
        Needs::Pool if at.pool != REPORT_POOL => Some(format!(
            "the report's split comes from a pool of 30 images per class, this run's from {:?}",
            at.pool
        )),
        _ => None,
    }
}

/// Our value of a claim's quantity.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    text: String,
    interval: Option<(f64, f64)>,
    value: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    Text(String),
    /// `(class, label)` of every flagged image.
    Classes(Vec<(String, u32)>),
    /// Candidate definitions and their values.
    Candidates(Vec<(&'static str, f64)>),
}

fn measure(claim: &Claim, e: &Evidence) -> Result<Option<Measured>> {
    use Quantity::*;
    let count = |n: usize| Measured {
        text: n.to_string(),
        interval: None,
        value: Value::Number(n as f64),
    };
    Ok(match claim.quantity {
        Images => e.dataset.map(|d| count(d.images)),
        ObjectClasses => e.dataset.map(|d| count(d.object_classes)),
        BackgroundClasses => e.dataset.map(|d| count(d.background_classes)),
        TestImages => e.baseline.as_ref().map(|s| count(s.len())),
        TestHeldOut => e
            .baseline
            .as_ref()
            .map(|s| count(s.iter().filter(|r| r.held_out).count())),
        Flagged | CleanFlagged | CleanPassed | HeldOutFlagged | HeldOutMissed | FlaggedClass => {
            match (&e.baseline, claim.percentile()) {
                (Some(scores), Some(p)) => Some(at_percentile(claim.quantity, scores, p)?),
                _ => None,
            }
        }
        Auroc => e.baseline_auroc.map(|ci| Measured {
            text: short(ci.estimate),
            interval: Some((ci.low, ci.high)),
            value: Value::Number(ci.estimate),
        }),
        Threshold => match (&e.baseline, claim.percentile()) {
            (Some(scores), Some(p)) => Some(threshold(scores, p, e)?),
            _ => None,
        },
        LowestMeanError | HighestMeanError => extreme_mean_error(claim, &e.models),
        Accuracy => match e.models.iter().find(|m| m.model == claim.subject) {
            Some(m) => Some(candidate_definitions(m)?),
            None => None,
        },
    })
}

fn at_percentile(quantity: Quantity, scores: &[ScoreRow], p: f64) -> Result<Measured> {
    let errors: Vec<f64> = scores.iter().map(|r| r.error).collect();
    let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let threshold = percentile(&errors, p)?;
    let cm = ConfusionMatrix::from_scores(&errors, &held_out, threshold)?;
    let (k, n) = match quantity {
        Quantity::CleanFlagged => (cm.fp, cm.fp + cm.tn),
        Quantity::CleanPassed => (cm.tn, cm.fp + cm.tn),
        Quantity::HeldOutFlagged => (cm.tp, cm.tp + cm.fn_),
        Quantity::HeldOutMissed => (cm.fn_, cm.tp + cm.fn_),
        Quantity::FlaggedClass => {
            let classes: Vec<(String, u32)> = scores
                .iter()
                .filter(|r| r.error > threshold)
                .map(|r| (r.class.clone(), r.label))
                .collect();
            return Ok(Measured {
                text: format!("{} flagged images", classes.len()),
                interval: None,
                value: Value::Classes(classes),
            });
        }
        _ => {
            return Ok(Measured {
                text: (cm.tp + cm.fp).to_string(),
                interval: None,
                value: Value::Number((cm.tp + cm.fp) as f64),
            });
        }
    };
    let (low, high) = wilson_interval(k, n);
    Ok(Measured {
        text: format!("{k}/{n} = {}", short(k as f64 / n as f64)),
        interval: Some((low, high)),
        value: Value::Number(k as f64 / n as f64),
    })
}

/// The `p`-th percentile of the test errors with a stratified bootstrap
/// interval (the test set's composition held fixed, as in the report).
fn threshold(scores: &[ScoreRow], p: f64, e: &Evidence) -> Result<Measured> {
    let errors: Vec<f64> = scores.iter().map(|r| r.error).collect();
    let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let ci = stratified_bootstrap(&held_out, e.resamples, e.seed, LEVEL, |rows, _| {
        let sample: Vec<f64> = rows.iter().map(|&i| errors[i]).collect();
        percentile(&sample, p).unwrap_or(f64::NAN)
    })?;
    Ok(Measured {
        text: short(ci.estimate),
        interval: Some((ci.low, ci.high)),
        value: Value::Number(ci.estimate),
    })
}

fn extreme_mean_error(claim: &Claim, models: &[ModelScores]) -> Option<Measured> {
    let named = claim.models();
    let candidates: Vec<&ModelScores> = named
        .iter()
        .map(|name| models.iter().find(|m| m.model == *name))
        .collect::<Option<_>>()?;
    let by_error = |a: &&&ModelScores, b: &&&ModelScores| a.mean_error().total_cmp(&b.mean_error());
    let pick = match claim.quantity {
        Quantity::LowestMeanError => candidates.iter().min_by(by_error),
        _ => candidates.iter().max_by(by_error),
    }?;
    let listed: Vec<String> = candidates
        .iter()
        .map(|m| format!("{} {:.5}", m.model, m.mean_error()))
        .collect();
    Some(Measured {
        text: format!("{} ({})", pick.model, listed.join(", ")),
        interval: None,
        value: Value::Text(pick.model.clone()),
    })
}

/// The metrics that "accuracy" could mean, at the report's p80 test
/// threshold.
fn candidate_definitions(m: &ModelScores) -> Result<Measured> {
    let threshold = percentile(&m.errors, REPORT_PERCENTILE)?;
    let cm = ConfusionMatrix::from_scores(&m.errors, &m.held_out, threshold)?;
    let candidates = vec![
        ("accuracy", cm.accuracy()),
        ("precision", cm.precision()),
        ("recall", cm.recall()),
        ("F1", cm.f1()),
        ("AUROC", m.auroc),
    ];
    let text = candidates
        .iter()
        .map(|(name, v)| format!("{name} {v:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Measured {
        text,
        interval: None,
        value: Value::Candidates(candidates),
    })
}

fn compare(claim: &Claim, m: &Measured, claims: &[Claim]) -> (Verdict, String) {
    let verdict = |ok: bool| {
        if ok {
            Verdict::Reproduced
        } else {
            Verdict::NotReproduced
        }
    };
    match (claim.comparison, &m.value) {
        (Comparison::Exact, Value::Number(ours)) => {
            let equal = claim.number() == Some(*ours);
            let reason = if equal {
                "equal".to_string()
            } else {
                format!("ours is {ours}, the report's {}", claim.report)
            };
            (verdict(equal), reason)
        }
        (Comparison::Exact, Value::Text(ours)) => {
            let equal = ours.eq_ignore_ascii_case(&claim.report);
            (verdict(equal), format!("ours: {ours}"))
        }
        (Comparison::About(tolerance), Value::Number(ours)) => {
            let report = claim.number().unwrap_or(f64::NAN);
            let off = (ours - report).abs() / report.abs();
            (
                verdict(off <= tolerance),
                format!(
                    "{:.2} % apart, {:.0} % allowed for \"about\"",
                    off * 100.0,
                    tolerance * 100.0
                ),
            )
        }
        (Comparison::Rate, Value::Number(_)) => {
            let (k, n) = claim.rate().unwrap_or((0, 0));
            let report = k as f64 / n as f64;
            inside(report, &format!("{k}/{n} = {}", short(report)), m.interval)
        }
        (Comparison::Interval, Value::Number(_)) => {
            let report = claim.number().unwrap_or(f64::NAN);
            inside(report, &claim.report, m.interval)
        }
        (Comparison::Member, Value::Classes(flagged)) => {
            let (class, label) = claim.report.split_once(':').unwrap_or((&claim.report, ""));
            match flagged.iter().find(|(c, _)| c.eq_ignore_ascii_case(class)) {
                Some((_, ours)) => (
                    Verdict::Reproduced,
                    format!(
                        "a {class} is flagged (our label {ours}{})",
                        if label == ours.to_string() {
                            ", as in the report"
                        } else {
                            ""
                        }
                    ),
                ),
                None => (
                    Verdict::NotReproduced,
                    format!("no {class} among our flagged images"),
                ),
            }
        }
        (Comparison::Definition, Value::Candidates(candidates)) => {
            definition(claim, candidates, claims)
        }
        _ => (
            Verdict::NotMeasured,
            format!("{:?} cannot compare this value", claim.comparison),
        ),
    }
}

fn inside(report: f64, shown: &str, interval: Option<(f64, f64)>) -> (Verdict, String) {
    let Some((low, high)) = interval else {
        return (Verdict::NotMeasured, "no interval".into());
    };
    if (low..=high).contains(&report) {
        (
            Verdict::Reproduced,
            format!("{shown} lies inside our 95% CI"),
        )
    } else {
        (
            Verdict::NotReproduced,
            format!("{shown} lies outside our 95% CI"),
        )
    }
}

fn definition(
    claim: &Claim,
    candidates: &[(&'static str, f64)],
    claims: &[Claim],
) -> (Verdict, String) {
    let report = claim.number().unwrap_or(f64::NAN);
    let matching: Vec<&str> = candidates
        .iter()
        .filter(|(_, v)| (v - report).abs() <= ROUNDING)
        .map(|(name, _)| *name)
        .collect();
    let prevalence = report_prevalence(claims)
        .filter(|(k, n)| (*k as f64 / *n as f64 - report).abs() <= ROUNDING)
        .map(|(k, n)| {
            format!(
                "; {} is the report's own anomaly prevalence {k}/{n} = {:.3}",
                claim.report,
                k as f64 / n as f64
            )
        })
        .unwrap_or_default();
    if matching.is_empty() {
        (
            Verdict::NotReproduced,
            format!(
                "none of our candidate definitions at p{REPORT_PERCENTILE} rounds to {}{prevalence}",
                claim.report
            ),
        )
    } else {
        (
            Verdict::Reproduced,
            format!("matches our {}{prevalence}", matching.join(" and ")),
        )
    }
}

/// The report's own held-out share of its test set, from its claims.
fn report_prevalence(claims: &[Claim]) -> Option<(usize, usize)> {
    let count = |q| {
        claims
            .iter()
            .find(|c| c.quantity == q && c.subject.is_empty())
            .and_then(Claim::number)
            .map(|v| v as usize)
    };
    Some((count(Quantity::TestHeldOut)?, count(Quantity::TestImages)?))
}

/// Four significant digits, for the tables.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.5}")
    } else {
        format!("{v:.4}")
    }
}

/// The claims of report section `section`, checked.
pub fn check_section(section: u8, evidence: &Evidence) -> Result<ClaimTable> {
    let claims = report_claims()?;
    let mut table = check(&claims, evidence)?;
    table.rows.retain(|r| r.section == section);
    Ok(table)
}
