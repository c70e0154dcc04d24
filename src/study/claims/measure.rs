//! The study's value for each claim's quantity, and how it compares with the
//! report's number.

use crate::error::Result;
use crate::io::readable_value;
use crate::scoring::{REPORT_PERCENTILE, ScoreRow};
use crate::stats::{ConfusionMatrix, percentile, stratified_bootstrap, wilson_interval};
use crate::study::{Claim, Comparison, Evidence, LEVEL, ModelScores, Quantity, ROUNDING, Verdict};

/// Our value of a claim's quantity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    pub(crate) text: String,
    pub(crate) interval: Option<(f64, f64)>,
    pub(crate) value: Value,
    /// What the comparison can resolve: the half-width of our interval and
    /// what sets it, or the range an undefined metric can take.
    pub(crate) power: Option<String>,
    /// What the comparison assumes beyond the claim's own assumption.
    pub(crate) assumption: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Number(f64),
    Text(String),
    /// `(class, label)` of every flagged image.
    Classes(Vec<(String, u32)>),
    /// Candidate definitions and their values.
    Candidates(Vec<(&'static str, f64)>),
}

pub(crate) fn measure(claim: &Claim, e: &Evidence) -> Result<Option<Measured>> {
    use Quantity::*;
    let count = |n: usize| Measured::plain(n.to_string(), Value::Number(n as f64));
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
                (Some(scores), Some(p)) => Some(at_percentile(claim, scores, p)?),
                _ => None,
            }
        }
        Auroc => e.baseline_auroc.map(|ci| {
            let set_by = match &e.baseline {
                Some(scores) => {
                    let anomalies = scores.iter().filter(|r| r.held_out).count();
                    format!(
                        "set by our {anomalies} anomalies beside {} object images: ",
                        scores.len() - anomalies
                    )
                }
                None => String::new(),
            };
            Measured {
                text: readable_value(ci.estimate),
                interval: Some((ci.low, ci.high)),
                value: Value::Number(ci.estimate),
                power: Some(format!(
                    "{set_by}the stratified bootstrap 95 % interval spans ±{}",
                    readable_value(half_width(ci.low, ci.high))
                )),
                assumption: None,
            }
        }),
        Threshold => match (&e.baseline, claim.percentile()) {
            (Some(scores), Some(p)) => Some(threshold(scores, p, e)?),
            _ => None,
        },
        LowestMeanError | HighestMeanError => extreme_mean_error(claim, &e.models),
        Accuracy => match e.models.iter().find(|m| m.model == claim.subject) {
            Some(m) => Some(candidate_definitions(claim, m)?),
            None => None,
        },
    })
}

impl Measured {
    /// A value without interval, power or assumption.
    fn plain(text: String, value: Value) -> Self {
        Self {
            text,
            interval: None,
            value,
            power: None,
            assumption: None,
        }
    }
}

/// Half the width of `[low, high]`.
fn half_width(low: f64, high: f64) -> f64 {
    (high - low) / 2.0
}

fn at_percentile(claim: &Claim, scores: &[ScoreRow], p: f64) -> Result<Measured> {
    let quantity = claim.quantity;
    let errors: Vec<f64> = scores.iter().map(|r| r.score).collect();
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
                .filter(|r| r.score > threshold)
                .map(|r| (r.class.clone(), r.label))
                .collect();
            return Ok(Measured::plain(
                format!("{} flagged images", classes.len()),
                Value::Classes(classes),
            ));
        }
        _ => {
            let flagged = cm.tp + cm.fp;
            return Ok(Measured::plain(
                flagged.to_string(),
                Value::Number(flagged as f64),
            ));
        }
    };
    let images = match quantity {
        Quantity::HeldOutFlagged | Quantity::HeldOutMissed => "anomalies",
        _ => "object images",
    };
    let (low, high) = wilson_interval(k, n);
    let assumption = claim
        .rate()
        .filter(|&(_, theirs)| theirs != n)
        .map(|(_, theirs)| {
            format!(
                "compared as rates: the report counts {theirs} {images} in its test set, ours \
                 holds {n}"
            )
        });
    Ok(Measured {
        text: format!("{k}/{n} = {}", readable_value(k as f64 / n as f64)),
        interval: Some((low, high)),
        value: Value::Number(k as f64 / n as f64),
        power: Some(format!(
            "set by our {n} {images}: the Wilson 95 % interval of {k}/{n} spans ±{}",
            readable_value(half_width(low, high))
        )),
        assumption,
    })
}

/// The `p`-th percentile of the test errors with a stratified bootstrap
/// interval (the test set's composition held fixed, as in the report).
pub(crate) fn threshold(scores: &[ScoreRow], p: f64, e: &Evidence) -> Result<Measured> {
    let errors: Vec<f64> = scores.iter().map(|r| r.score).collect();
    let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let ci = stratified_bootstrap(&held_out, e.resamples, e.seed, LEVEL, |rows, _| {
        let sample: Vec<f64> = rows.iter().map(|&i| errors[i]).collect();
        percentile(&sample, p).unwrap_or(f64::NAN)
    })?;
    let spread = half_width(ci.low, ci.high);
    Ok(Measured {
        text: readable_value(ci.estimate),
        interval: Some((ci.low, ci.high)),
        value: Value::Number(ci.estimate),
        power: Some(format!(
            "set by our {} test errors: the stratified bootstrap 95 % interval of their p{p} \
             spans ±{} ({:.1} % of it)",
            errors.len(),
            readable_value(spread),
            100.0 * spread / ci.estimate.abs()
        )),
        assumption: None,
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
    Some(Measured::plain(
        format!("{} ({})", pick.model, listed.join(", ")),
        Value::Text(pick.model.clone()),
    ))
}

/// The metrics that "accuracy" could mean, at the report's p80 test
/// threshold, with the range its accuracy can take there.
fn candidate_definitions(claim: &Claim, m: &ModelScores) -> Result<Measured> {
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
        power: Some(accuracy_bound(claim, &cm)),
        assumption: None,
    })
}

/// Why an accuracy at a fixed percentile is bounded whatever the model: it
/// flags `F` of the `N` test images (1 − p/100 of them), `P` of which are
/// anomalies, so at best `|F − P|` images are wrong and at worst
/// `min(F + P, 2N − F − P)`.
fn accuracy_bound(claim: &Claim, cm: &ConfusionMatrix) -> String {
    let all = cm.tp + cm.fp + cm.tn + cm.fn_;
    let (flagged, anomalies) = (cm.tp + cm.fp, cm.tp + cm.fn_);
    let n = all as f64;
    let best = 1.0 - flagged.abs_diff(anomalies) as f64 / n;
    let worst = 1.0 - (flagged + anomalies).min(2 * all - flagged - anomalies) as f64 / n;
    let report = claim.number().unwrap_or(f64::NAN);
    let reach = if (worst - ROUNDING..=best + ROUNDING).contains(&report) {
        "within reach"
    } else {
        "out of reach"
    };
    format!(
        "at p{REPORT_PERCENTILE} any model flags 1 − p/100 = {:.0} % of the test set, here \
         {flagged} of our {all} images, which hold {anomalies} anomalies (prevalence {:.3}): its \
         accuracy lies in [{worst:.3}, {best:.3}] whatever the model, so {} is {reach} as an \
         accuracy",
        100.0 - REPORT_PERCENTILE,
        anomalies as f64 / n,
        claim.report
    )
}

pub(crate) fn compare(claim: &Claim, m: &Measured, claims: &[Claim]) -> (Verdict, String) {
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
            inside(
                report,
                &format!("{k}/{n} = {}", readable_value(report)),
                m.interval,
            )
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

pub(crate) fn inside(report: f64, shown: &str, interval: Option<(f64, f64)>) -> (Verdict, String) {
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

pub(crate) fn definition(
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
