//! Checking the claims: a comparison verdict per claim beside the report's
//! own consistency, the assumption and the power of the comparison; the
//! table of them; and the report's internal inconsistencies.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::DataFrame;
use serde::Serialize;

use crate::data::PoolSize;
use crate::error::Result;
use crate::io::{Markdown, column, readable_value};
use crate::study::{
    Claim, Evidence, MeasuredAt, Needs, Profile, Quantity, REPORT_IMAGE_SIZE, REPORT_POOL,
    SeedVerdicts, compare, measure, report_claims,
};

/// The verdict of comparing one claim with our value. Whether the report
/// contradicts itself on the claim is stated beside it
/// ([`ClaimCheck::report_consistency`]), never in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    NotComparable,
    /// This run has no evidence for it (e.g. a model not trained).
    NotMeasured,
}

impl Verdict {
    /// Every verdict, in the order the tables count them.
    pub const ALL: [Verdict; 4] = [
        Verdict::Reproduced,
        Verdict::NotReproduced,
        Verdict::NotComparable,
        Verdict::NotMeasured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::NotComparable => "not comparable at this profile",
            Verdict::NotMeasured => "not measured in this run",
        }
    }

    /// The verdict whose [`as_str`](Self::as_str) is `text`.
    pub fn from_label(text: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// `claims.csv`'s `report_consistency` where no contradiction was found.
pub const NO_CONTRADICTION: &str = "no contradiction found";
/// The start of `claims.csv`'s `report_consistency` where the report
/// contradicts itself; the reason follows.
pub const CONTRADICTS_ITSELF: &str = "contradicts itself: ";

/// One claim beside our value.
///
/// [`over_seeds`]: crate::study::over_seeds
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimCheck {
    pub section: u8,
    pub statement: String,
    pub report: String,
    pub ours: String,
    /// Our 95 % interval, where the quantity is a statistic.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The comparison's verdict, computed whether or not the report
    /// contradicts itself.
    pub verdict: Verdict,
    /// Why the comparison gave `verdict`.
    pub reason: String,
    /// Why the report contradicts itself on this claim (its other claims
    /// rule this one out); `None` where no contradiction was found.
    pub report_consistency: Option<String>,
    /// What the comparison assumes that the report does not say.
    pub assumption: Option<String>,
    /// What the comparison can resolve: the half-width of our 95 % interval
    /// and the count that sets it; for an undefined metric, the range it
    /// can take at the percentile.
    pub power: Option<String>,
    pub profile: Profile,
    /// The verdict at each training seed of the run ([`super::over_seeds`]);
    /// `None` where only one run was graded.
    pub seeds: Option<SeedVerdicts>,
}

impl ClaimCheck {
    /// `report_consistency` as `claims.csv` writes it: [`NO_CONTRADICTION`]
    /// or [`CONTRADICTS_ITSELF`] and the reason.
    pub fn consistency_text(&self) -> String {
        match &self.report_consistency {
            Some(reason) => format!("{CONTRADICTS_ITSELF}{reason}"),
            None => NO_CONTRADICTION.to_string(),
        }
    }

    /// The verdict, then the report's contradiction where there is one:
    /// `not reproduced; and the report contradicts itself: …`.
    pub fn verdict_text(&self) -> String {
        match &self.report_consistency {
            Some(reason) => format!(
                "{}; and the report contradicts itself: {reason}",
                self.verdict.as_str()
            ),
            None => self.verdict.as_str().to_string(),
        }
    }

    /// Our value with its 95 % interval: `0.6960 [0.6059, 0.7816]`.
    pub fn ours_with_interval(&self) -> String {
        match (self.low, self.high) {
            (Some(low), Some(high)) => format!(
                "{} [{}, {}]",
                self.ours,
                readable_value(low),
                readable_value(high)
            ),
            _ => self.ours.clone(),
        }
    }
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
            column("report_consistency", rows, |r| r.consistency_text()),
            column("assumption", rows, |r| r.assumption.as_deref()),
            column("power", rows, |r| r.power.as_deref()),
            column("profile", rows, |r| r.profile.name()),
            column("seeds", rows, |r| r.seeds.as_ref().map(|s| s.to_string())),
        ])?)
    }

    /// The claims as a Markdown table: the verdict (with the report's
    /// contradiction where there is one) and why, the assumption and the
    /// power of each comparison, and the verdicts over the seeds where the
    /// run trained more than one.
    pub fn to_markdown(&self) -> Markdown {
        let over_seeds =
            (self.rows.iter()).any(|r| r.seeds.as_ref().is_some_and(|s| s.0.len() > 1));
        let mut header = vec![
            "§",
            "the report says",
            "report",
            "ours [95% CI]",
            "verdict",
            "why",
            "assumed",
            "power of the test",
        ];
        if over_seeds {
            header.push("over the seeds");
        }
        let mut text = format!(
            "| {} |\n|{}\n",
            header.join(" | "),
            "---|".repeat(header.len())
        );
        for r in &self.rows {
            let verdict = match &r.report_consistency {
                Some(reason) => format!(
                    "**{}**; and the report contradicts itself: {reason}",
                    r.verdict.as_str()
                ),
                None => format!("**{}**", r.verdict.as_str()),
            };
            let mut cells = vec![
                r.section.to_string(),
                r.statement.clone(),
                r.report.clone(),
                r.ours_with_interval(),
                verdict,
                r.reason.clone(),
                r.assumption.clone().unwrap_or_default(),
                r.power.clone().unwrap_or_default(),
            ];
            if over_seeds {
                cells.push(r.seeds.as_ref().map(|s| s.to_string()).unwrap_or_default());
            }
            let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            let _ = writeln!(text, "| {} |", cells.join(" | "));
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

    /// The claims on which the report contradicts itself.
    pub fn contradictions(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.report_consistency.is_some())
            .count()
    }

    /// The claims of report section `section`.
    pub fn section(&self, section: u8) -> ClaimTable {
        ClaimTable {
            rows: self
                .rows
                .iter()
                .filter(|r| r.section == section)
                .cloned()
                .collect(),
        }
    }
}

/// A Markdown table cell: pipes escaped, line breaks as spaces.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
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
    let (verdict, reason) = match &measured {
        None => (
            Verdict::NotMeasured,
            "this run has no value for it".to_string(),
        ),
        Some(m) => match unmet(claim.needs, &evidence.measured_at) {
            Some(reason) => (Verdict::NotComparable, reason),
            None => compare(claim, m, claims),
        },
    };
    let assumptions: Vec<&str> = claim
        .assumption
        .iter()
        .chain(measured.iter().flat_map(|m| &m.assumption))
        .map(String::as_str)
        .collect();
    Ok(ClaimCheck {
        section: claim.section,
        statement: claim.statement.clone(),
        report: claim.report.clone(),
        ours,
        low,
        high,
        verdict,
        reason,
        report_consistency: inconsistency.cloned(),
        assumption: (!assumptions.is_empty()).then(|| assumptions.join("; ")),
        power: measured.and_then(|m| m.power),
        seeds: None,
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
pub(crate) fn unmet(needs: Option<Needs>, at: &MeasuredAt) -> Option<String> {
    match needs? {
        Needs::Size if at.image_size != REPORT_IMAGE_SIZE => Some(format!(
            "the report measured at {REPORT_IMAGE_SIZE} px, this run at {} px: the error's \
             scale depends on the image size",
            at.image_size
        )),
        Needs::Pool if at.pool != REPORT_POOL => Some(format!(
            "the report's split comes from a pool of 30 images per class, this run's from {}",
            match at.pool {
                PoolSize::PerClass(n) => format!("a pool of {n} images per class"),
                PoolSize::All => "every image".to_string(),
            }
        )),
        _ => None,
    }
}

/// The claims of report section `section`, checked.
pub fn check_section(section: u8, evidence: &Evidence) -> Result<ClaimTable> {
    let claims = report_claims()?;
    let mut table = check(&claims, evidence)?;
    table.rows.retain(|r| r.section == section);
    Ok(table)
}
