//! A notebook's last cell: a short conclusion written from the numbers the
//! notebook computed, not from prose fixed in advance. [`Conclusion`] is
//! the form (what was measured, what of the report reproduced and what did
//! not, the next step); one function per notebook fills it from that
//! notebook's values.

use std::fmt::Write as _;

use crate::analysis::{DetectionRow, OperatingPoint, Refinement, Roc, ThresholdSource};
use crate::analysis::{Ladder, LadderRow};
use crate::autoencoder::Trained;
use crate::data::{Split, SplitSummary};
use crate::error::{Error, Result};
use crate::io::{Markdown, readable_gain, readable_interval, readable_number, thousands};
use crate::stats::ConfidenceInterval;
use crate::study::{ClaimCheck, ClaimTable, Profile, Verdict as ClaimVerdict};

/// What a notebook found, in a few lines of Markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Conclusion {
    /// The profile the numbers were measured at.
    pub profile: Profile,
    /// What this notebook measured, one sentence each.
    pub measured: Vec<String>,
    /// The report's claims that reproduced, one line each.
    pub reproduced: Vec<String>,
    /// Those that did not.
    pub not_reproduced: Vec<String>,
    /// Those this run cannot judge (another profile's quantity, or not
    /// measured).
    pub not_judged: Vec<String>,
    /// What to do next, one sentence.
    pub next: String,
    /// Whether the notebook measures what the report does not (so it has
    /// no claim to reproduce).
    pub beyond_the_report: bool,
}

impl Conclusion {
    /// An empty conclusion at `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            measured: Vec::new(),
            reproduced: Vec::new(),
            not_reproduced: Vec::new(),
            not_judged: Vec::new(),
            next: String::new(),
            beyond_the_report: false,
        }
    }

    /// Adds a sentence of what was measured.
    pub fn measured(mut self, sentence: impl Into<String>) -> Self {
        self.measured.push(sentence.into());
        self
    }

    /// Sorts each checked claim by its verdict.
    pub fn claims(mut self, claims: &ClaimTable) -> Self {
        for claim in &claims.rows {
            let line = claim_line(claim);
            match claim.verdict {
                ClaimVerdict::Reproduced => self.reproduced.push(line),
                ClaimVerdict::NotReproduced => self.not_reproduced.push(line),
                ClaimVerdict::NotComparable | ClaimVerdict::NotMeasured => self.not_judged.push(
                    format!("*{}* ({})", claim.statement, claim.verdict.as_str()),
                ),
            }
        }
        self
    }

    /// Marks what was measured as beyond the report: nothing of it to
    /// reproduce.
    pub fn beyond_the_report(mut self) -> Self {
        self.beyond_the_report = true;
        self
    }

    /// Sets the next step.
    pub fn next(mut self, sentence: impl Into<String>) -> Self {
        self.next = sentence.into();
        self
    }

    /// The conclusion as Markdown: what the profile's numbers can say,
    /// what was measured, what reproduced and what did not, the next step.
    pub fn to_markdown(&self) -> Markdown {
        let mut text = format!(
            "**In short**, at `{}`: {}.\n\n",
            self.profile.name(),
            profile_caveat(self.profile)
        );
        for sentence in &self.measured {
            let _ = writeln!(text, "- {sentence}");
        }
        let no_claims = self.reproduced.is_empty()
            && self.not_reproduced.is_empty()
            && self.not_judged.is_empty();
        if self.beyond_the_report {
            text.push_str(
                "\nThe report does not go this far: there is no claim of it to reproduce.\n",
            );
        } else if no_claims {
            text.push_str("\nThe report makes no numeric claim about this step to reproduce.\n");
        } else {
            let groups = [
                ("Reproduced", &self.reproduced),
                ("Not reproduced", &self.not_reproduced),
                ("Not judged here", &self.not_judged),
            ];
            for (title, lines) in groups {
                if !lines.is_empty() {
                    let _ = write!(
                        text,
                        "\n**{title}** ({}): {}.\n",
                        lines.len(),
                        lines.join("; ")
                    );
                }
            }
        }
        if !self.next.is_empty() {
            let _ = write!(text, "\n**Next:** {}", self.next);
        }
        Markdown(text.trim_end().to_string())
    }

    /// Shows the conclusion as Markdown in an evcxr notebook.
    pub fn evcxr_display(&self) {
        self.to_markdown().evcxr_display();
    }
}

/// What a profile's numbers can and cannot say about the report's.
fn profile_caveat(profile: Profile) -> &'static str {
    match profile {
        Profile::Smoke => {
            "a check that every step runs (32 px, a few images per class, 1 epoch); its numbers \
             say nothing about the report's, which the `quick` and `full` runs test"
        }
        Profile::Quick | Profile::Auto => {
            "64 px instead of the report's 256, the report's split and training otherwise; a \
             number that depends on the image size is not comparable with the report's"
        }
        Profile::Full => "the report's settings (256 px, 20 epochs, its split)",
    }
}

/// `*at p90: 49 images flagged* (the report: 49; ours: 49)`; a long value
/// of ours (a list of measures) is left to the claims table above it.
fn claim_line(claim: &ClaimCheck) -> String {
    let ours = claim.ours_with_interval();
    let mut line = if ours.len() <= 40 {
        format!(
            "*{}* (the report: {}; ours: {ours})",
            claim.statement, claim.report
        )
    } else {
        format!("*{}*", claim.statement)
    };
    if claim.report_consistency.is_some() {
        line.push_str(", on which the report contradicts itself");
    }
    line
}

/// `3.3 %`.
fn percent(share: f64) -> String {
    format!("{} %", readable_number(100.0 * share))
}

/// `0.696 [0.606, 0.782]`.
fn interval(ci: &ConfidenceInterval) -> String {
    readable_interval(ci.estimate, ci.low, ci.high, false)
}

/// Whether an interval of a difference lies above 0, below it, or holds it.
fn gain_words(gain: &ConfidenceInterval) -> &'static str {
    if gain.low > 0.0 {
        "a real gain: its 95 % interval lies above 0"
    } else if gain.high < 0.0 {
        "a real loss: its 95 % interval lies below 0"
    } else {
        "not a clear difference: its 95 % interval holds 0"
    }
}

/// Notebook 01: the split's sizes and the report's section-2 claims.
pub fn preprocessing_conclusion(
    profile: Profile,
    split: &SplitSummary,
    claims: &ClaimTable,
) -> Markdown {
    let count = |s: Split| split.count(s);
    let (train, validation, test) = (
        count(Split::Train),
        count(Split::Validation),
        count(Split::Test),
    );
    Conclusion::new(profile)
        .measured(format!(
            "The split holds {} train, {} validation and {} test images; {} of the test images \
             are the held-out {} (the anomalies), kept out of training.",
            train.images,
            validation.images,
            test.images,
            test.held_out,
            split.held_out.join(", ")
        ))
        .claims(claims)
        .next(
            "notebook 02 trains the report's autoencoder on the train images and scores every \
             test image by its reconstruction error.",
        )
        .to_markdown()
}

/// Notebook 02: the baseline's training and whether the held-out images
/// reconstruct worse than the objects (the signal the report builds on).
pub fn autoencoder_conclusion(profile: Profile, baseline: &Trained) -> Markdown {
    let r = &baseline.record;
    let held_out = baseline.scores.held_out_scores();
    let normal: Vec<f64> = (baseline.scores.0.iter())
        .filter(|row| !row.held_out)
        .map(|row| row.score)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (h, n) = (mean(&held_out), mean(&normal));
    let signal = if h > n {
        format!(
            "the held-out backgrounds reconstruct worse than the objects ({} against {}, {}× \
             the error): the signal the report builds on is there; notebook 04 measures how \
             well it separates them",
            readable_number(h),
            readable_number(n),
            readable_number(h / n)
        )
    } else {
        format!(
            "the held-out backgrounds reconstruct no worse than the objects ({} against {}): \
             the reconstruction error alone does not single them out",
            readable_number(h),
            readable_number(n)
        )
    };
    Conclusion::new(profile)
        .measured(format!(
            "The {} autoencoder ({} parameters, code width {}) trained {} epoch{}, best on \
             validation at epoch {}; mean test error {}.",
            r.architecture,
            thousands(r.parameters as u64),
            baseline.config.model.code_width(),
            r.epochs_run,
            if r.epochs_run == 1 { "" } else { "s" },
            r.best_epoch,
            readable_number(r.mean_test_error)
        ))
        .measured(format!("On the test set, {signal}."))
        .next(
            "notebook 03 flags the images whose error lies above a percentile of the test \
             errors, as the report does, and counts what it catches.",
        )
        .to_markdown()
}

/// Notebook 03: the report's p90 detection and the section-6 claims.
pub fn detection_conclusion(
    profile: Profile,
    detection: &[DetectionRow],
    claims: &ClaimTable,
) -> Result<Markdown> {
    let at = |p: f64, source: ThresholdSource| {
        detection
            .iter()
            .find(|r| r.percentile == p && r.source == source)
            .ok_or_else(|| {
                let source = match source {
                    ThresholdSource::TestPercentile => "test",
                    ThresholdSource::ValidationPercentile => "validation",
                };
                Error::InvalidParameter(format!("the detection table has no {source} p{p} row"))
            })
    };
    let test = at(90.0, ThresholdSource::TestPercentile)?;
    let mut conclusion = Conclusion::new(profile).measured(format!(
        "At the report's threshold, the 90th percentile of the test errors, {} of {} test \
         images are flagged: {} of the {} held-out images (a true-positive rate of {}) and {} \
         of the {} object images.",
        test.flagged,
        test.clean_total + test.held_out_total,
        test.held_out_flagged,
        test.held_out_total,
        readable_number(test.tpr),
        test.clean_flagged,
        test.clean_total
    ));
    if let Ok(validation) = at(90.0, ThresholdSource::ValidationPercentile) {
        conclusion = conclusion.measured(format!(
            "Calibrated on the validation errors instead (no test image seen), the p90 \
             threshold flags {} of the object images, where {} was expected, and {} of the {} \
             held-out images.",
            percent(validation.achieved_fpr),
            percent(validation.expected_fpr),
            validation.held_out_flagged,
            validation.held_out_total
        ));
    }
    Ok(conclusion
        .claims(claims)
        .next(
            "notebook 04 measures the same errors without choosing a threshold: the ROC curve \
             and its area (AUROC), with their uncertainty.",
        )
        .to_markdown())
}

/// Notebook 04: the AUROC with its interval, the report's p80 matrix and
/// the section-7 claims.
pub fn evaluation_conclusion(
    profile: Profile,
    roc: &Roc,
    point: &OperatingPoint,
    claims: &ClaimTable,
) -> Markdown {
    let m = &point.matrix;
    let quality = match roc.auroc.estimate {
        a if a >= 0.9 => "separates the held-out images well",
        a if a >= 0.7 => "separates the held-out images, but far from perfectly",
        a if a > 0.5 => "separates the held-out images only a little better than chance",
        _ => "does not separate the held-out images (chance is 0.5)",
    };
    let sure = if roc.auroc.low <= 0.5 {
        "; the interval reaches 0.5, chance: too few held-out images to be sure of any \
         separation"
    } else {
        ""
    };
    Conclusion::new(profile)
        .measured(format!(
            "The reconstruction error {quality}: AUROC {} (95 % interval; 1 would rank every \
             held-out image above every object image){sure}.",
            interval(&roc.auroc)
        ))
        .measured(format!(
            "At p{}: {} held-out images caught, {} missed; {} object images flagged, {} passed.",
            point.percentile, m.tp, m.fn_, m.fp, m.tn
        ))
        .claims(claims)
        .next(
            "notebook 05 trains three improved designs of the autoencoder and asks whether a \
             lower reconstruction error makes a better detector.",
        )
        .to_markdown()
}

/// Notebook 05: the lowest-error and the best-detecting model, and the
/// section-8 claims.
pub fn refinement_conclusion(
    profile: Profile,
    refined: &Refinement,
    claims: &ClaimTable,
) -> Result<Markdown> {
    let rows = &refined.rows;
    let by = |key: &dyn Fn(&crate::analysis::ComparisonRow) -> f64| {
        rows.iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .ok_or_else(|| Error::InvalidParameter("no model to conclude on".into()))
    };
    let lowest = by(&|r| -r.mean_test_error)?;
    let best = by(&|r| r.auroc.estimate)?;
    let same = if lowest.model == best.model {
        "; here the best reconstruction is also the best detector".to_string()
    } else {
        format!(
            ". A lower error is not by itself a better detector: {}'s AUROC is {}",
            lowest.model,
            interval(&lowest.auroc)
        )
    };
    Ok(Conclusion::new(profile)
        .measured(format!(
            "Of the {} models, {} reconstructs best (mean test error {}) and {} detects best \
             (AUROC {}){same}.",
            rows.len(),
            lowest.model,
            readable_number(lowest.mean_test_error),
            best.model,
            interval(&best.auroc)
        ))
        .claims(claims)
        .next(
            "notebook 06 puts these autoencoders on one ladder with detectors that are not \
             autoencoders, measured the same way on the same images.",
        )
        .to_markdown())
}

/// Notebook 06: the best detector on the ladder and its gain over the
/// reference autoencoder, and what fusing the two gives.
pub fn ladder_conclusion(profile: Profile, ladder: &Ladder) -> Result<Markdown> {
    let rows = &ladder.rows;
    let unseen = |r: &LadderRow| r.unseen_auroc.map_or(f64::NEG_INFINITY, |c| c.estimate);
    let best = (rows.iter())
        .max_by(|a, b| unseen(a).total_cmp(&unseen(b)))
        .ok_or_else(|| Error::InvalidParameter("an empty ladder".into()))?;
    let reference = &rows[ladder.reference];
    let mut conclusion = Conclusion::new(profile);
    if let (Some(auroc), Some(gain)) = (best.unseen_auroc, best.gain_over_reference) {
        conclusion = conclusion.measured(format!(
            "The best detector on the images outside the pool is {}: AUROC {}, {} over {}'s \
             {} ({}).",
            best.detector,
            interval(&auroc),
            readable_gain(gain.estimate),
            reference.detector,
            reference.unseen_auroc.map_or("—".into(), |c| interval(&c)),
            gain_words(&gain)
        ));
    }
    if let (Some(fusion), Some(pretrained)) = (rows.last(), rows.get(ladder.best_pretrained))
        && let (Some(f), Some(p)) = (fusion.unseen_auroc, pretrained.unseen_auroc)
    {
        let verdict = if f.estimate > p.estimate {
            "raises its AUROC"
        } else {
            "does not raise its AUROC"
        };
        conclusion = conclusion.measured(format!(
            "Fusing {} with {} {verdict}: {} against {} alone.",
            reference.detector,
            pretrained.detector,
            interval(&f),
            interval(&p)
        ));
    }
    Ok(conclusion
        .beyond_the_report()
        .next(
            "judge your own images with a saved detector (`caltech-anomaly score --run RUN \
             --images DIR`, `--detector knn` for the pretrained kNN), or run the notebooks at \
             another profile to see which of these differences hold.",
        )
        .to_markdown())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(statement: &str, verdict: ClaimVerdict) -> ClaimCheck {
        ClaimCheck {
            section: 6,
            statement: statement.into(),
            report: "49".into(),
            ours: "12".into(),
            low: None,
            high: None,
            verdict,
            reason: String::new(),
            report_consistency: None,
            assumption: None,
            power: None,
            profile: Profile::Quick,
            seeds: None,
        }
    }

    #[test]
    fn a_conclusion_sorts_the_claims_by_verdict_and_ends_with_the_next_step() {
        let claims = ClaimTable {
            rows: vec![
                claim("at p90: 49 images flagged", ClaimVerdict::Reproduced),
                claim("the test set holds 484 images", ClaimVerdict::NotReproduced),
                claim("threshold 0.0058", ClaimVerdict::NotComparable),
            ],
        };
        let text = Conclusion::new(Profile::Quick)
            .measured("a number")
            .claims(&claims)
            .next("notebook 04.")
            .to_markdown()
            .0;
        assert!(
            text.starts_with("**In short**, at `quick`: 64 px"),
            "{text}"
        );
        assert!(text.contains("- a number\n"), "{text}");
        assert!(
            text.contains(
                "**Reproduced** (1): *at p90: 49 images flagged* (the report: 49; ours: 12)."
            ),
            "{text}"
        );
        assert!(
            text.contains("**Not reproduced** (1): *the test set"),
            "{text}"
        );
        assert!(
            text.contains(
                "**Not judged here** (1): *threshold 0.0058* (not comparable at this profile)."
            ),
            "{text}"
        );
        assert!(text.ends_with("**Next:** notebook 04."), "{text}");
        let none = Conclusion::new(Profile::Smoke).next("x").to_markdown().0;
        assert!(none.contains("no numeric claim"), "{none}");
    }

    #[test]
    fn a_gain_is_called_real_only_when_its_interval_excludes_zero() {
        let ci = |estimate, low, high| ConfidenceInterval {
            estimate,
            low,
            high,
        };
        assert!(gain_words(&ci(0.2, 0.18, 0.24)).starts_with("a real gain"));
        assert!(gain_words(&ci(-0.02, -0.04, -0.01)).starts_with("a real loss"));
        assert!(gain_words(&ci(0.01, -0.01, 0.03)).starts_with("not a clear"));
    }
}
