//! Beyond the report: section 9 (the detector ladder), section 10 (the resize
//! ablation), and the bf16 quality guard.

use crate::analysis::{
    EQUIVALENCE_MARGIN, FittedLadder, GuardVerdict, Ladder, LadderSpec, TrivialScore,
    UnseenComparisonRow, false_positives, image_scores_table, ladder_detectors, precision_ablation,
    resize_ablation, trivial_detectors, unseen_comparison_table,
};
use crate::autoencoder::{Trained, unseen_scores};
use crate::backend::Precision;
use crate::data::Resize;
use crate::error::Result;
use crate::figures::plot;
use crate::io::write_dataframe_csv_exact;
use crate::scoring::{DetectorId, ImageScorer, LadderImages, UnseenRow};
use crate::study::{Beyond, Context, ReproduceConfig, Study};

/// Section 9, beyond the report: trivial scores, the autoencoders, then
/// every family [`ladder_spec`] lists (by default: the label-aware
/// classifier and the transformation classifier trained from scratch,
/// ImageNet-pretrained features of three backbones, PatchCore), fitted
/// alike ([`LadderSpec::fit`]), and the fusion of the reference with the
/// best pretrained detector, on one ladder. Every detector but the trivial
/// scores goes on it through [`ImageScorer::ladder_scores`];
/// [`Ladder::build`] measures them.
pub(crate) fn section9(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
    trivial: &[TrivialScore],
) -> Result<Beyond> {
    let spec = ladder_spec(cx.config);
    let device = cx.study.device.device.clone();
    let families = spec.fit(&cx.study.ladder_fitting(&cx.prepared, cx.config.seed))?;
    let images = LadderImages {
        data_dir: cx.study.config.data_dir.clone(),
        test: runs[0].scores.clone(),
        unseen: unseen[0].clone(),
        show_progress: cx.study.config.show_progress,
    };
    let mut scorers: Vec<Box<dyn ImageScorer + '_>> = Vec::new();
    scorers.extend(runs.iter().map(|r| Box::new(r) as Box<dyn ImageScorer>));
    scorers.extend(families.scorers());
    let mut detectors = trivial_detectors(trivial, &images.test);
    let scorers: Vec<&dyn ImageScorer> = scorers.iter().map(|s| s.as_ref()).collect();
    detectors.extend(ladder_detectors(&scorers, &images, &device)?);
    let ladder = Ladder::build(&spec, detectors)?;
    let image_scores = cx.study.table_path("image_scores");
    write_dataframe_csv_exact(&image_scores, &image_scores_table(&ladder.detectors)?)?;
    cx.linked.push(image_scores);
    let reference = ladder.detectors[ladder.reference].id.label();
    cx.report
        .heading(2, "9. Beyond the report: detectors beyond reconstruction");
    cx.report.text(section9_text(&spec, &ladder, &families));
    ladder_report(cx, &ladder)?;
    if let Some(localising) = families.localising() {
        anomaly_gallery(cx, &ladder, localising.as_ref())?;
    }
    Ok(Beyond {
        families: families.facts(),
        ladder: ladder.rows,
        reference,
    })
}

/// What section 9 compares, in words: each family as it describes its
/// fit, the fusion and the references.
fn section9_text(spec: &LadderSpec, ladder: &Ladder, families: &FittedLadder) -> String {
    let reference = ladder.detectors[ladder.reference].id.label();
    let second = match &spec.second_reference {
        Some(id) => format!(" and against {id}"),
        None => String::new(),
    };
    format!(
        "Every detector on the same split: scores without a network, the autoencoders; {}; \
         and the rank average of {reference} with the best pretrained of these. Gains are \
         paired against {reference}{second} on every image outside the pool; a detector's \
         seconds are its own fit and scoring, a pretrained detector's including extracting its \
         features (once per machine: banks are cached).",
        families.described().join("; "),
    )
}

/// The ladder's specification for `config`: the default
/// ([`LadderSpec::default`]) at the run's percentile and bootstrap, its
/// reference `improved3` when the run trains it, else the last model the
/// run trains (as `--models` lists them).
fn ladder_spec(config: &ReproduceConfig) -> LadderSpec {
    let spec = LadderSpec {
        percentile: config.percentile,
        bootstrap: config.bootstrap,
        ..LadderSpec::default()
    };
    let trained =
        |id: &DetectorId| matches!(id, DetectorId::Autoencoder(a) if config.models.contains(a));
    match config.models.last() {
        Some(&last) if !trained(&spec.reference) => LadderSpec {
            reference: DetectorId::Autoencoder(last),
            ..spec
        },
        _ => spec,
    }
}

/// The anomaly maps of `localising` (a detector on `ladder` that localises
/// what it finds) over the three test images it ranks most anomalous and
/// the three it ranks least.
fn anomaly_gallery(cx: &mut Context, ladder: &Ladder, localising: &dyn ImageScorer) -> Result<()> {
    let id = localising.id();
    let scores = &ladder.detector(&id)?.test;
    let (data_dir, stem) = (&cx.study.config.data_dir, cx.study.figure("anomaly_maps"));
    let gallery = plot::anomaly_gallery(localising, scores, data_dir, 3, &stem)?;
    cx.report.text(format!(
        "Where in the image: the anomaly maps of {id} (each patch's distance to the nearest \
         train patch), over the three test images it ranks most anomalous and the three it \
         ranks least."
    ));
    cx.report.figure(&gallery);
    Ok(())
}

/// Section 9's summary, tables and figures.
fn ladder_report(cx: &mut Context, ladder: &Ladder) -> Result<()> {
    let detectors = &ladder.detectors;
    cx.report.text(ladder.summary()?.0);
    cx.table("ladder", "The detector ladder", ladder.table()?)?;
    let false_alarms = false_positives(detectors, cx.config.percentile, 3)?;
    let caption = "The object classes each detector flags most often";
    cx.table("ladder_false_positives", caption, false_alarms)?;
    let stem = cx.study.figure("disagreements");
    let figures = [
        plot::ladder_roc(detectors, &cx.study.figure("ladder_roc"))?,
        plot::disagreements(
            &cx.prepared,
            &detectors[ladder.reference],
            &detectors[ladder.best_pretrained],
            6,
            &stem,
        )?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    Ok(())
}

/// Section 10, the resize ablation: the ablation's models trained again on
/// the same split resized with the antialiased filter, paired against
/// TF's resize on the unseen images.
pub(crate) fn section10(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
) -> Result<Vec<UnseenComparisonRow>> {
    let (config, profile) = (cx.config, cx.study.profile);
    let size = profile.settings().image_size;
    let prepared = cx
        .study
        .prepare_resized(config.split(profile), size, Resize::Antialiased)?;
    let device = cx.study.device.device.clone();
    let show = cx.study.config.show_progress;
    let (mut tf, mut antialiased) = (Vec::new(), Vec::new());
    for (run, rows) in runs.iter().zip(unseen) {
        if config.ablation_models.contains(&run.record.architecture) {
            let again = cx.study.train(&prepared, &run.config)?;
            let again_unseen = unseen_scores(&again, &prepared, &device, show)?;
            tf.push((run, rows.as_slice()));
            antialiased.push((again, again_unseen));
        }
    }
    let antialiased: Vec<_> = antialiased.iter().map(|(r, u)| (r, u.as_slice())).collect();
    let rows = resize_ablation(&tf, &antialiased, config.bootstrap)?;
    cx.report.heading(2, "10. The resize ablation");
    cx.report.text(format!(
        "The report shrinks images with `tf.image.resize`'s bilinear kernel, which reads 2 of \
         every `scale` source pixels per axis (no antialiasing). Here {} are trained again on \
         the same split resized with PIL's antialiased bilinear filter (every source pixel \
         contributes), everything else equal, and compared on the same unseen images; the \
         gain is antialiased minus TF, paired.",
        tf.iter()
            .map(|(r, _)| r.record.architecture.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
    ));
    cx.table(
        "resize_ablation",
        "Unseen AUROC by resize method",
        unseen_comparison_table(&rows)?,
    )?;
    Ok(rows)
}

/// Mixed precision's quality guard, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionGuard {
    /// fp32 then bf16 per model; the bf16 row carries the paired gain.
    pub rows: Vec<UnseenComparisonRow>,
    /// The equivalence test on the rows, at [`EQUIVALENCE_MARGIN`].
    pub verdict: GuardVerdict,
}

/// Mixed precision's quality guard (`caltech-anomaly bench precision`):
/// `config`'s models trained in fp32 and in bf16 on its split and first
/// seed, compared on every unseen image; writes
/// `tables/precision_guard.csv` into the study. The runs are the study's
/// own, so `reproduce` in the same study reuses those of its precision
/// (and the other way round).
pub fn precision_guard(config: &ReproduceConfig) -> Result<PrecisionGuard> {
    config.check()?;
    let study = Study::open(config.study.clone())?;
    let size = study.profile.settings().image_size;
    let prepared = study.prepare(config.split(study.profile), size)?;
    let (device, show) = (&study.device.device, study.config.show_progress);
    let trained = |precision: Precision| -> Result<Vec<(Trained, Vec<UnseenRow>)>> {
        let configs = config.training_configs(study.profile);
        configs
            .into_iter()
            .map(|c| {
                let run = study.train(&prepared, &c.with_precision(precision))?;
                let unseen = unseen_scores(&run, &prepared, device, show)?;
                Ok((run, unseen))
            })
            .collect()
    };
    let (fp32, bf16) = (trained(Precision::Fp32)?, trained(Precision::Bf16)?);
    let rows = precision_ablation(&pairs(&fp32), &pairs(&bf16), config.bootstrap)?;
    study.table("precision_guard", unseen_comparison_table(&rows)?)?;
    Ok(PrecisionGuard {
        verdict: GuardVerdict::of(&rows, EQUIVALENCE_MARGIN)?,
        rows,
    })
}

/// Borrows each run with its unseen scores.
fn pairs(runs: &[(Trained, Vec<UnseenRow>)]) -> Vec<(&Trained, &[UnseenRow])> {
    runs.iter().map(|(r, u)| (r, u.as_slice())).collect()
}
