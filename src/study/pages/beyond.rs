//! `docs/results.md` beyond the report: the detector ladder (section 9),
//! the resize ablation (section 10) and the bf16 quality guard.

use crate::io::thousands;
use std::fmt::Write as _;

use crate::analysis::{EQUIVALENCE_MARGIN, GuardVerdict};
use crate::autoencoder::Architecture;
use crate::error::{Error, Result};
use crate::stats::ConfidenceInterval;

use super::format::{
    NONE, ci, gain, interval, of, optional_interval, percentile, seconds, table, value,
};
use super::published::{LadderCsvRow, Published, TABLES};
use super::results_page::{figure_links, file_source, source, unseen_table};

/// A ladder row's unseen AUROC, where it has one.
pub(super) fn unseen_auroc(row: &LadderCsvRow) -> Option<ConfidenceInterval> {
    optional_interval(
        row.unseen_auroc,
        row.unseen_auroc_low,
        row.unseen_auroc_high,
    )
}

/// A ladder row's paired gain over the ladder's reference.
pub(super) fn reference_gain(row: &LadderCsvRow) -> Option<ConfidenceInterval> {
    optional_interval(row.gain, row.gain_low, row.gain_high)
}

fn second_gain(row: &LadderCsvRow) -> Option<ConfidenceInterval> {
    optional_interval(row.gain_second, row.gain_second_low, row.gain_second_high)
}

/// Whether the ladder row is one of the four autoencoders' errors.
pub(super) fn is_autoencoder(row: &LadderCsvRow) -> bool {
    Architecture::ALL
        .iter()
        .any(|a| row.detector == format!("{} error", a.name()))
}

/// The row of the run's ladder with the highest unseen AUROC among those
/// `keep` accepts.
pub(super) fn best(run: &Published, keep: impl Fn(&LadderCsvRow) -> bool) -> Option<&LadderCsvRow> {
    run.ladder
        .iter()
        .filter(|r| keep(r))
        .filter_map(|r| unseen_auroc(r).map(|auroc| (r, auroc.estimate)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r)
}

/// `detector: 0.968 [0.962, 0.973]`, the row's unseen AUROC.
pub(super) fn detector_with_auroc(row: &LadderCsvRow) -> String {
    let auroc = unseen_auroc(row).map_or(NONE.into(), |a| interval(&a));
    format!("{}: {auroc}", row.detector)
}

/// The ladder's reference detector (from `metrics.json`), else the row
/// whose own gain is exactly zero.
pub(super) fn reference_name(run: &Published) -> String {
    run.facts
        .beyond_reconstruction
        .as_ref()
        .map(|b| b.reference.clone())
        .or_else(|| zero_gain_row(run, reference_gain))
        .unwrap_or_else(|| "the reference".into())
}

/// The detector whose paired gain (`gain_of`) is zero with a zero
/// interval: the reference of that gain.
fn zero_gain_row(
    run: &Published,
    gain_of: fn(&LadderCsvRow) -> Option<ConfidenceInterval>,
) -> Option<String> {
    run.ladder
        .iter()
        .find(|r| gain_of(r).is_some_and(|g| g.estimate == 0.0 && g.low == 0.0 && g.high == 0.0))
        .map(|r| r.detector.clone())
}

/// Section 9: the ladder of every run, its false alarms and feature banks.
pub(super) fn ladder_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## Beyond reconstruction: the detector ladder (section 9)\n\n\
         Reconstruction error is one detector among others, all measured the same way on the \
         same split: AUROC on the test split with a bootstrap interval, AUROC on every unseen \
         image with a paired interval of the gain over a reference detector (and over a second \
         one where the ladder has it), and the anomalies found and false alarms at a percentile \
         of the test scores. A pretrained detector reads ImageNet features; the others learn from \
         the train split alone. The seconds are each detector's fit and scoring as its run \
         measured them, on whatever else shared the machine. The detectors are described in \
         [design.md](design.md).\n\n",
    );
    for run in runs {
        out.push_str(&source(run, "ladder.csv"));
        out.push_str("\n\n");
        out.push_str(&ladder_table(run));
        out.push('\n');
        out.push_str(&best_lines(run));
        out.push_str(&banks(run));
    }
    out.push_str(&false_alarms_section(runs));
    out.push_str(&figure_links(
        runs,
        &[
            ("ladder_roc.png", "the ladder's ROC curves"),
            ("disagreements.png", "where the detectors disagree"),
            ("anomaly_maps.png", "PatchCore's anomaly maps"),
        ],
    ));
    out
}

fn ladder_table(run: &Published) -> String {
    let has_second = run.ladder.iter().any(|r| second_gain(r).is_some());
    let has_bank = run.ladder.iter().any(|r| r.bank_mib.is_some());
    let p = run
        .ladder
        .first()
        .map_or(NONE.into(), |r| percentile(r.percentile));
    let mut header = vec![
        "detector".to_string(),
        "pretrained".into(),
        "test AUROC [95 % CI]".into(),
        "unseen AUROC [95 % CI]".into(),
        format!("gain over {} [paired 95 % CI]", reference_name(run)),
    ];
    if has_second {
        let second = zero_gain_row(run, second_gain).unwrap_or_else(|| "the second".into());
        header.push(format!("gain over {second}"));
    }
    header.push(format!("at p{p}: anomalies found, false alarms"));
    header.push("seconds".into());
    if has_bank {
        header.push("bank MiB".into());
    }
    let rows: Vec<Vec<String>> = run
        .ladder
        .iter()
        .map(|r| ladder_row(r, has_second, has_bank))
        .collect();
    table(&header, &rows)
}

fn ladder_row(r: &LadderCsvRow, has_second: bool, has_bank: bool) -> Vec<String> {
    let signed = |g: Option<ConfidenceInterval>| g.map_or(NONE.into(), |g| gain(&g, 3));
    let mut row = vec![
        r.detector.clone(),
        if r.pretrained { "yes" } else { "no" }.into(),
        interval(&ci(r.test_auroc, r.test_auroc_low, r.test_auroc_high)),
        unseen_auroc(r).map_or(NONE.into(), |a| interval(&a)),
        signed(reference_gain(r)),
    ];
    if has_second {
        row.push(signed(second_gain(r)));
    }
    let positives = r.tp + r.false_negatives;
    let negatives = r.fp + r.tn;
    row.push(format!("{}, {}", of(r.tp, positives), of(r.fp, negatives)));
    row.push(seconds(r.seconds));
    if has_bank {
        row.push(r.bank_mib.map_or(NONE.into(), |m| format!("{m:.1}")));
    }
    row
}

fn best_lines(run: &Published) -> String {
    let mut out = String::new();
    let lines = [
        ("the best detector", best(run, |_| true)),
        ("without pretrained weights", best(run, |r| !r.pretrained)),
        ("the best autoencoder", best(run, is_autoencoder)),
    ];
    for (what, row) in lines {
        if let Some(row) = row {
            let _ = writeln!(
                out,
                "- {what} on the unseen images: {}",
                detector_with_auroc(row)
            );
        }
    }
    if let Some(accuracy) = run
        .facts
        .beyond_reconstruction
        .as_ref()
        .and_then(|b| b.classifier_validation_accuracy)
    {
        let _ = writeln!(
            out,
            "- the label-aware classifier's accuracy on the validation split (`metrics.json`): {}",
            value(accuracy)
        );
    }
    out.push('\n');
    out
}

fn banks(run: &Published) -> String {
    let Some(banks) = run
        .facts
        .beyond_reconstruction
        .as_ref()
        .map(|b| &b.banks)
        .filter(|b| !b.is_empty())
    else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = banks
        .iter()
        .map(|b| {
            vec![
                b.backbone.clone(),
                b.size.to_string(),
                thousands(b.images as u64),
                seconds(b.seconds),
            ]
        })
        .collect();
    format!(
        "The pretrained features of every image, extracted once per machine and cached \
         (`metrics.json`'s `banks`, `{}`):\n\n{}\n",
        run.name,
        table(&["backbone", "input side (px)", "images", "seconds"], &rows)
    )
}

fn false_alarms_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "### What each detector flags among the objects\n\n\
         The object classes of the test split each detector flags most at the ladder's \
         percentile (flagged of the class's test images):\n\n",
    );
    for run in runs {
        out.push_str(&source(run, "ladder_false_positives.csv"));
        out.push_str("\n\n");
        let mut rows: Vec<Vec<String>> = Vec::new();
        for fp in &run.false_positives {
            let class = format!("{} {}", fp.class, of(fp.flagged, fp.images));
            match rows.iter_mut().find(|r| r[0] == fp.detector) {
                Some(row) => row[1].push_str(&format!(", {class}")),
                None => rows.push(vec![fp.detector.clone(), class]),
            }
        }
        out.push_str(&table(&["detector", "object classes flagged"], &rows));
        out.push('\n');
    }
    out
}

/// Section 10: the resize ablation of every run that has one.
pub(super) fn resize_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## The resize ablation (section 10)\n\n\
         The report shrinks every image with TensorFlow's bilinear resize, which reads only the \
         source pixels nearest each output pixel, so fine texture aliases into the small image. \
         The ablation resizes the same split with an antialiased filter, trains the baseline and \
         `improved3` again with every other setting equal, and pairs each model's AUROC on the \
         same unseen images (antialiased minus bilinear).\n\n",
    );
    for run in runs {
        match &run.resize {
            Some(rows) => {
                out.push_str(&source(run, "resize_ablation.csv"));
                out.push_str("\n\n");
                out.push_str(&unseen_table(
                    rows,
                    "antialiased − bilinear [paired 95 % CI]",
                    3,
                ));
            }
            None => {
                let _ = writeln!(
                    out,
                    "**`{}`**: the folder holds no `resize_ablation.csv`; this run did not run \
                     the ablation.",
                    run.name
                );
            }
        }
        out.push('\n');
    }
    out
}

/// The bf16 quality guard of every folder that holds one.
pub(super) fn guard_section(runs: &[Published]) -> Result<String> {
    let mut out = String::from(
        "## Mixed precision: the quality guard\n\n\
         `--precision bf16` computes the convolutions in bfloat16 with fp32 accumulation. \
         `caltech-anomaly bench precision` trains the four autoencoders in fp32 and in bf16 on \
         the same split and seed and pairs their AUROC on every unseen image (bf16 minus fp32). \
         It writes `tables/precision_guard.csv` into the study folder beside `reproduce`'s \
         tables; the folder's `metrics.json` describes the `reproduce` run, not this command. \
         The verdict below is the crate's guard applied to the published rows.\n\n",
    );
    for run in runs {
        match &run.guard {
            Some(rows) => {
                out.push_str(&file_source(run, "precision_guard.csv"));
                out.push_str(":\n\n");
                out.push_str(&unseen_table(rows, "bf16 − fp32 [paired 95 % CI]", 4));
                let _ = writeln!(out, "\n{}.", guard_verdict(run, rows)?);
            }
            None => {
                let _ = writeln!(
                    out,
                    "**`{}`**: the folder holds no `precision_guard.csv`.",
                    run.name
                );
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// The guard's verdict on the folder's rows; errors name the file.
pub(super) fn guard_verdict(
    run: &Published,
    rows: &[crate::analysis::UnseenComparisonRow],
) -> Result<GuardVerdict> {
    GuardVerdict::of(rows, EQUIVALENCE_MARGIN).map_err(|e| Error::Corrupt {
        path: run.dir.join(TABLES).join("precision_guard.csv"),
        reason: e.to_string(),
    })
}
