//! `docs/results.md`'s sections on the folders themselves: the split
//! sizes, the wall time of each step and every table as written.

use crate::io::thousands;
use std::fmt::Write as _;

use super::format::table;
use super::published::{Published, TABLES};
use super::results_page::{figure_links, source};

/// The split sizes of every run, with the figures of the classes.
pub(super) fn splits_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## Split sizes\n\n\
         The per-class pool split into train, validation and test; the held-out \
         `background_google` images are all in test.\n\n",
    );
    for run in runs {
        out.push_str(&source(run, "split_sizes.csv"));
        out.push_str("\n\n");
        let rows: Vec<Vec<String>> = run
            .splits
            .iter()
            .map(|s| {
                vec![
                    s.split.clone(),
                    thousands(s.images as u64),
                    thousands(s.held_out as u64),
                ]
            })
            .collect();
        out.push_str(&table(
            &["split", "images", "held out (background_google)"],
            &rows,
        ));
        out.push('\n');
    }
    out.push_str(&figure_links(
        runs,
        &[
            ("class_overview.png", "a sample of every class"),
            ("held_out_samples.png", "held-out samples"),
        ],
    ));
    out
}

/// The wall time of each step of every run (`metrics.json`).
pub(super) fn steps_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## Wall time by step\n\n\
         The wall time of each step of the process that wrote `metrics.json` (its `sections`). A \
         run resumed from disk records only its last process, and a step whose models were \
         loaded rather than trained is quick.\n\n",
    );
    for run in runs {
        let _ = writeln!(
            out,
            "**`{}`**, from [`docs/results/{0}/metrics.json`](results/{0}/metrics.json):\n",
            run.name
        );
        let sections = &run.facts.sections;
        let minutes = |seconds: f64| format!("{:.1}", seconds / 60.0);
        let mut rows: Vec<Vec<String>> = sections
            .iter()
            .map(|s| vec![s.section.clone(), minutes(s.seconds)])
            .collect();
        let total: f64 = sections.iter().map(|s| s.seconds).sum();
        rows.push(vec![
            "**every step**".into(),
            format!("**{}**", minutes(total)),
        ]);
        out.push_str(&table(&["step", "minutes"], &rows));
        out.push('\n');
    }
    out
}

/// Links to every CSV file of every run.
pub(super) fn tables_section(runs: &[Published]) -> String {
    let mut out = String::from(
        "## Every table as written\n\nThe CSV files of each folder, including those not shown \
         above (per-class flag rates, the p90 outliers, the missed anomalies, the classes):\n\n",
    );
    for run in runs {
        let links: Vec<String> = run
            .table_files
            .iter()
            .map(|f| format!("[{f}]({})", run.link(TABLES, f)))
            .collect();
        let _ = writeln!(out, "- `{}`: {}", run.name, links.join(", "));
    }
    out
}
