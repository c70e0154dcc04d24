//! `docs/results.md`'s grading section: every claim of the report beside
//! each published run's value and verdict, and the facts stated beside the
//! verdicts (the report's contradictions, assumptions, the power of each
//! test, the verdicts over the training seeds).

use std::fmt::Write as _;

use crate::study::LEGACY_INCONSISTENT;

use super::format::{NONE, table, value};
use super::published::{ClaimRow, Published};
use super::results_page::source;

pub(super) fn grading_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## Grading: the report's claims beside ours\n\n\
         Every numeric claim of the original report is one row of \
         [`report_claims.csv`](report_claims.csv); `reproduce` puts its own value for the same \
         quantity beside it (`tables/claims.csv`) with a verdict computed from the comparison \
         alone:\n\n\
         - **not measured in this run** when the run has no value for the quantity;\n\
         - **not comparable at this profile** when the quantity depends on a setting the run does \
         not share with the report (the error's scale depends on the image size);\n\
         - otherwise **reproduced** when the report's value lies inside our 95 % interval (Wilson \
         for a rate k/n, the stratified bootstrap for a statistic) or equals ours where the \
         quantity is exact, and **not reproduced** when it does not;\n\
         - the report's undefined \"accuracy\" is matched against accuracy, precision, recall, F1 \
         and AUROC of each model at the p80 test threshold.\n\n\
         Beside the verdict, never in its place: whether **the report contradicts itself** on the \
         claim (two values for one quantity, an AUC above what a ROC curve through the report's \
         own operating point can enclose, rates over another test set than its own; \
         `report_consistency`), the **assumption** behind the comparison where there is one \
         (`assumption`), and the **power** of the test: the half-width of our 95 % interval and \
         the count that sets it, or the range any model's accuracy can take at p80 (`power`). \
         Where a run trained several seeds, every claim is graded on each seed's models too: \
         **settled** when every seed gives the same verdict, **flips** when they differ \
         (`seeds`); a flip says the verdict rests on which training run one looks at.",
    );
    let legacy: Vec<String> = runs
        .iter()
        .filter(|r| !r.has_consistency())
        .map(|r| format!("`{}`", r.name))
        .collect();
    if !legacy.is_empty() {
        let (folders, were) = match legacy.len() {
            1 => ("folder", "was"),
            _ => ("folders", "were"),
        };
        let _ = write!(
            out,
            " The {folders} {} {were} written before these were columns of their own: there, \
             **{LEGACY_INCONSISTENT}** stands in place of the verdict where the report contradicts \
             itself.",
            legacy.join(" and ")
        );
    }
    out.push_str(
        "\n\nNothing is tuned towards the report's values. Each claim at every profile, with the \
         reason of each verdict in the CSV:\n\n",
    );
    for run in runs {
        let _ = writeln!(out, "- {}", source(run, "claims.csv").trim_end_matches(':'));
    }
    out.push('\n');
    out.push_str(&claims_table(runs));
    out.push_str(&claim_facts(runs));
    out.push('\n');
    for run in runs {
        let _ = writeln!(out, "- at `{}`: {}", run.name, verdict_counts(run));
    }
    out
}

/// Per claim, the facts beside the verdicts that the folders state: the
/// report's contradiction, the assumption and the power of the test at
/// each profile. Empty where no folder states them.
fn claim_facts(runs: &[Published]) -> String {
    let mut out = String::new();
    for claim in every_claim(runs) {
        let rows: Vec<(&str, &ClaimRow)> = runs
            .iter()
            .filter_map(|run| {
                let row = run.claims.iter().find(|c| c.claim == claim.claim)?;
                Some((run.name.as_str(), row))
            })
            .collect();
        let mut facts = Vec::new();
        if let Some(reason) = rows.iter().find_map(|(_, r)| r.contradiction()) {
            facts.push(format!("the report contradicts itself: {reason}"));
        }
        if let Some(assumption) = rows.iter().find_map(|(_, r)| r.assumption.as_deref()) {
            facts.push(format!("assumed: {assumption}"));
        }
        for (name, row) in &rows {
            if let Some(power) = &row.power {
                facts.push(format!("power at `{name}`: {power}"));
            }
        }
        for (name, row) in &rows {
            if let Some(seeds) = row.over_seeds() {
                facts.push(format!("over the training seeds at `{name}`: {seeds}"));
            }
        }
        if !facts.is_empty() {
            let _ = writeln!(out, "- *{}*: {}.", claim.claim, facts.join("; "));
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\nBeside the verdicts, as the folders state them:\n\n{out}")
}

fn claims_table(runs: &[Published]) -> String {
    let mut header = vec!["§".to_string(), "claim".into(), "the report".into()];
    for run in runs {
        header.push(format!("ours at `{}`", run.name));
        header.push(format!("verdict at `{}`", run.name));
    }
    let rows: Vec<Vec<String>> = every_claim(runs)
        .into_iter()
        .map(|claim| {
            let mut row = vec![
                claim.section.to_string(),
                claim.claim.clone(),
                claim.report.clone(),
            ];
            for run in runs {
                row.extend(ours_and_verdict(run, &claim.claim));
            }
            row
        })
        .collect();
    table(&header, &rows)
}

/// Every claim of any run, once, in the order the runs list them.
fn every_claim(runs: &[Published]) -> Vec<&ClaimRow> {
    let mut claims: Vec<&ClaimRow> = Vec::new();
    for claim in runs.iter().flat_map(|r| &r.claims) {
        if !claims.iter().any(|c| c.claim == claim.claim) {
            claims.push(claim);
        }
    }
    claims
}

/// The run's value of the claim `statement` (with its interval) and its
/// verdict; `—` where the run has no such claim.
pub(super) fn ours_and_verdict(run: &Published, statement: &str) -> [String; 2] {
    match run.claims.iter().find(|c| c.claim == statement) {
        Some(c) => {
            let ours = match (c.low, c.high) {
                (Some(low), Some(high)) => {
                    format!("{} [{}, {}]", c.ours, value(low), value(high))
                }
                _ => c.ours.clone(),
            };
            let mut verdict = c.verdict.clone();
            if c.flips() {
                verdict.push_str(" (flips between seeds)");
            }
            if c.contradiction().is_some() {
                verdict.push_str("; the report contradicts itself");
            }
            [ours, verdict]
        }
        None => [NONE.into(), NONE.into()],
    }
}

/// `11 reproduced, 5 not reproduced, ...` of the run's claims, verdicts in
/// order of first appearance.
pub(super) fn verdict_counts(run: &Published) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for claim in &run.claims {
        match counts.iter_mut().find(|(v, _)| *v == claim.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((&claim.verdict, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    let mut text = format!("{} claims: {}", run.claims.len(), parts.join(", "));
    if run.has_consistency() {
        let contradicted = run
            .claims
            .iter()
            .filter(|c| c.contradiction().is_some())
            .count();
        let _ = write!(text, "; the report contradicts itself on {contradicted}");
    }
    text
}
