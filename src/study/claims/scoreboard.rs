//! The claims across profiles: a published `claims.csv` read back, a
//! checked table beside another profile's, and the scoreboard of two
//! profiles (the verdicts counted at each, every claim whose verdict
//! differs, with both reasons).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{Markdown, ROOT_ENV, read_csv, readable_value};
use crate::study::{
    CONTRADICTS_ITSELF, ClaimCheck, ClaimTable, MeasuredAt, NO_CONTRADICTION, Profile,
    SeedVerdicts, Verdict, cell, inside, report_claims, unmet,
};

/// The verdict of `claims.csv` files written before the verdict and the
/// report's consistency were separate columns: it stood in place of the
/// comparison.
pub const LEGACY_INCONSISTENT: &str = "inconsistent in the report itself";

/// The checkout the published results are under: `$CALTECH_ANOMALY_ROOT`
/// (the notebook kernel sets it), else this crate's folder.
pub fn checkout_root() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// `docs/results/<profile>/tables/claims.csv`, relative to the checkout.
pub fn published_claims_path(profile: Profile) -> PathBuf {
    ["docs", "results", profile.name(), "tables", "claims.csv"]
        .iter()
        .collect()
}

/// The published profile to show beside a run at `profile`: `quick`
/// beside `full`, `full` (the report's settings) beside any other.
pub fn other_published(profile: Profile) -> Profile {
    match profile {
        Profile::Full => Profile::Quick,
        _ => Profile::Full,
    }
}

/// A row of `claims.csv`, in any layout: the columns of the report's
/// consistency, the assumption, the power and the verdicts over seeds are
/// optional.
#[derive(Debug, Deserialize)]
struct CsvRow {
    section: u8,
    claim: String,
    report: String,
    ours: String,
    low: Option<f64>,
    high: Option<f64>,
    verdict: String,
    reason: String,
    #[serde(default)]
    report_consistency: Option<String>,
    #[serde(default)]
    assumption: Option<String>,
    #[serde(default)]
    power: Option<String>,
    profile: String,
    #[serde(default)]
    seeds: Option<String>,
}

/// The published claims of `profile`: `docs/results/<profile>/tables/
/// claims.csv` under the checkout `root` ([`checkout_root`]).
///
/// Reads both layouts. A file of the older one gives no assumption or
/// power, and where its verdict is [`LEGACY_INCONSISTENT`] (which stood in
/// place of the comparison) its reason becomes the report's contradiction
/// and the comparison is made again from the row's own values by the same
/// rule ([`Verdict`]): not comparable where the profile's settings differ
/// from the report's, else the report's value inside the row's interval or
/// not. Errors name the file, and the row of a verdict it does not know.
pub fn published_claims(root: &Path, profile: Profile) -> Result<ClaimTable> {
    let path = root.join(published_claims_path(profile));
    let csv_rows: Vec<CsvRow> = read_csv(&path)?;
    let claims = report_claims()?;
    let settings = profile.settings();
    let at = MeasuredAt {
        profile,
        image_size: settings.image_size,
        pool: settings.pool,
    };
    let mut rows = Vec::new();
    for (i, row) in csv_rows.into_iter().enumerate() {
        let profile = row.profile.parse::<Profile>().unwrap_or(profile);
        let (verdict, reason, report_consistency) = match Verdict::from_label(&row.verdict) {
            Some(verdict) => (
                verdict,
                row.reason.clone(),
                contradiction(row.report_consistency.as_deref()),
            ),
            None if row.verdict == LEGACY_INCONSISTENT => {
                let needs = claims
                    .iter()
                    .find(|c| c.statement == row.claim)
                    .and_then(|c| c.needs);
                let (verdict, reason) = match unmet(needs, &at) {
                    Some(reason) => (Verdict::NotComparable, reason),
                    None => compared_again(&row),
                };
                (verdict, reason, Some(row.reason.clone()))
            }
            None => {
                return Err(Error::Corrupt {
                    path,
                    reason: format!("row {}: unknown verdict {:?}", i + 2, row.verdict),
                });
            }
        };
        rows.push(ClaimCheck {
            section: row.section,
            statement: row.claim,
            report: row.report,
            ours: row.ours,
            low: row.low,
            high: row.high,
            verdict,
            reason,
            report_consistency,
            assumption: row.assumption,
            power: row.power,
            profile,
            seeds: (row.seeds.as_deref().map(str::parse::<SeedVerdicts>))
                .transpose()
                .map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    reason: format!("row {}: {e}", i + 2),
                })?,
        });
    }
    Ok(ClaimTable { rows })
}

/// The reason in a `report_consistency` cell; `None` where no
/// contradiction was found (or the column is missing).
fn contradiction(cell: Option<&str>) -> Option<String> {
    let text = cell?.trim();
    if text.is_empty() || text == NO_CONTRADICTION {
        return None;
    }
    Some(
        text.strip_prefix(CONTRADICTS_ITSELF)
            .unwrap_or(text)
            .to_string(),
    )
}

/// The comparison of an older row's report value with its interval.
fn compared_again(row: &CsvRow) -> (Verdict, String) {
    let rate = row.report.split_once('/').and_then(|(k, n)| {
        let (k, n) = (k.trim().parse::<f64>().ok()?, n.trim().parse::<f64>().ok()?);
        (n > 0.0).then_some(k / n)
    });
    let (value, shown) = match (rate, row.report.parse::<f64>()) {
        (Some(rate), _) => (rate, format!("{} = {}", row.report, readable_value(rate))),
        (None, Ok(value)) => (value, row.report.clone()),
        (None, Err(_)) => {
            return (
                Verdict::NotMeasured,
                "the file's older layout gives only the report's contradiction".into(),
            );
        }
    };
    match row.low.zip(row.high) {
        Some(interval) => inside(value, &shown, Some(interval)),
        None => (
            Verdict::NotMeasured,
            "the file's older layout gives only the report's contradiction".into(),
        ),
    }
}

/// `verdict` in bold, then `; the report contradicts itself` where it
/// does.
fn verdict_cell(row: &ClaimCheck) -> String {
    let mut text = format!("**{}**", row.verdict.as_str());
    if row.report_consistency.is_some() {
        text.push_str("; the report contradicts itself");
    }
    text
}

fn profile_of(table: &ClaimTable) -> Profile {
    table.rows.first().map_or(Profile::Auto, |r| r.profile)
}

impl ClaimTable {
    /// These claims beside the same claims of `other` (another profile,
    /// e.g. [`published_claims`] of [`other_published`]): our value and
    /// the verdict at each, then per claim the reasons, the report's
    /// contradiction, the assumption and the power of the test.
    pub fn beside(&self, other: &ClaimTable) -> Markdown {
        let (ours, theirs) = (profile_of(self).name(), profile_of(other).name());
        let mut text = format!(
            "| § | the report says | report | ours at `{ours}` [95% CI] | verdict at `{ours}` | \
             ours at `{theirs}` [95% CI] | verdict at `{theirs}` |\n\
             |---|---|---|---|---|---|---|\n"
        );
        let mut notes = String::new();
        for row in &self.rows {
            let twin = other.rows.iter().find(|r| r.statement == row.statement);
            let (twin_ours, twin_verdict) = twin.map_or(("—".into(), "—".into()), |t| {
                (t.ours_with_interval(), verdict_cell(t))
            });
            let cells = [
                row.section.to_string(),
                row.statement.clone(),
                row.report.clone(),
                row.ours_with_interval(),
                verdict_cell(row),
                twin_ours,
                twin_verdict,
            ];
            let _ = writeln!(text, "| {} |", cells.map(|c| cell(&c)).join(" | "));
            let mut facts = match twin {
                Some(t) if t.reason == row.reason => {
                    vec![format!("at `{ours}` and at `{theirs}`, {}", row.reason)]
                }
                Some(t) => vec![
                    format!("at `{ours}`, {}", row.reason),
                    format!("at `{theirs}`, {}", t.reason),
                ],
                None => vec![format!("at `{ours}`, {}", row.reason)],
            };
            let contradiction = row
                .report_consistency
                .as_ref()
                .or(twin.and_then(|t| t.report_consistency.as_ref()));
            if let Some(reason) = contradiction {
                facts.push(format!("the report contradicts itself: {reason}"));
            }
            if let Some(assumption) = row
                .assumption
                .as_ref()
                .or(twin.and_then(|t| t.assumption.as_ref()))
            {
                facts.push(format!("assumed: {assumption}"));
            }
            if let Some(power) = &row.power {
                facts.push(format!("power at `{ours}`: {power}"));
            }
            let _ = writeln!(notes, "- *{}*: {}.", row.statement, facts.join("; "));
        }
        let _ = write!(
            text,
            "\nOurs at `{ours}` beside the published `{theirs}` run (`{}`).\n\n{notes}",
            published_claims_path(profile_of(other)).display()
        );
        Markdown(text)
    }
}

/// A claim whose verdict differs between two profiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub section: u8,
    pub statement: String,
    pub report: String,
    /// Our value (with its interval) at each profile.
    pub ours: [String; 2],
    pub verdicts: [Verdict; 2],
    /// Why each profile's comparison gave its verdict.
    pub reasons: [String; 2],
}

/// The verdicts of two profiles: counted at each, and every claim whose
/// verdict differs ([`scoreboard`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scoreboard {
    pub profiles: [Profile; 2],
    /// The claims checked at each.
    pub claims: [usize; 2],
    /// Every verdict with its count at each profile.
    pub counts: Vec<(Verdict, [usize; 2])>,
    /// The claims on which the report contradicts itself, at each.
    pub contradictions: [usize; 2],
    /// The claims (of both) whose verdict differs, in the first's order.
    pub flips: Vec<Flip>,
}

/// The verdicts of `first` and `second` (two profiles' claims, e.g. both
/// [`published_claims`]) side by side; claims are matched by their
/// statement.
pub fn scoreboard(first: &ClaimTable, second: &ClaimTable) -> Scoreboard {
    let flips = first
        .rows
        .iter()
        .filter_map(|a| {
            let b = second.rows.iter().find(|b| b.statement == a.statement)?;
            (a.verdict != b.verdict).then(|| Flip {
                section: a.section,
                statement: a.statement.clone(),
                report: a.report.clone(),
                ours: [a.ours_with_interval(), b.ours_with_interval()],
                verdicts: [a.verdict, b.verdict],
                reasons: [a.reason.clone(), b.reason.clone()],
            })
        })
        .collect();
    Scoreboard {
        profiles: [profile_of(first), profile_of(second)],
        claims: [first.rows.len(), second.rows.len()],
        counts: Verdict::ALL
            .into_iter()
            .map(|v| (v, [first.count(v), second.count(v)]))
            .collect(),
        contradictions: [first.contradictions(), second.contradictions()],
        flips,
    }
}

impl Scoreboard {
    /// The count of `verdict` at each profile.
    pub fn count(&self, verdict: Verdict) -> [usize; 2] {
        self.counts
            .iter()
            .find(|(v, _)| *v == verdict)
            .map_or([0, 0], |(_, n)| *n)
    }

    /// The counts, then the claims whose verdict differs with both
    /// reasons.
    pub fn to_markdown(&self) -> Markdown {
        let [a, b] = self.profiles.map(Profile::name);
        let mut text = format!(
            "**The verdicts at `{a}` ({} claims) and at `{b}` ({} claims)**\n\n\
             | verdict | at `{a}` | at `{b}` |\n|---|---:|---:|\n",
            self.claims[0], self.claims[1]
        );
        for (verdict, [x, y]) in &self.counts {
            let _ = writeln!(text, "| {} | {x} | {y} |", verdict.as_str());
        }
        let _ = writeln!(
            text,
            "| *of them, where the report contradicts itself* | {} | {} |",
            self.contradictions[0], self.contradictions[1]
        );
        if self.flips.is_empty() {
            let _ = write!(
                text,
                "\nNo claim's verdict differs between `{a}` and `{b}`."
            );
            return Markdown(text);
        }
        let _ = write!(
            text,
            "\n**{} claims whose verdict differs between `{a}` and `{b}`**\n\n\
             | § | the report says | report | at `{a}` | at `{b}` |\n|---|---|---|---|---|\n",
            self.flips.len()
        );
        for flip in &self.flips {
            let side = |i: usize| {
                format!(
                    "**{}**: ours {}; {}",
                    flip.verdicts[i].as_str(),
                    flip.ours[i],
                    flip.reasons[i]
                )
            };
            let cells = [
                flip.section.to_string(),
                flip.statement.clone(),
                flip.report.clone(),
                side(0),
                side(1),
            ];
            let _ = writeln!(text, "| {} |", cells.map(|c| cell(&c)).join(" | "));
        }
        Markdown(text)
    }

    /// Shows the scoreboard as Markdown in an evcxr notebook.
    pub fn evcxr_display(&self) {
        self.to_markdown().evcxr_display();
    }
}
