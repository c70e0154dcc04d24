//! Beyond the report: section 9 (the detector ladder), section 10 (the resize
//! ablation), and the bf16 quality guard.

use crate::analysis::{
    EQUIVALENCE_MARGIN, GuardVerdict, Ladder, LadderSpec, TrivialScore, UnseenComparisonRow,
    false_positives, image_scores_table, ladder_detectors, precision_ablation, resize_ablation,
    trivial_detectors, unseen_comparison_table,
};
use crate::autoencoder::{Trained, unseen_scores};
use crate::backend::Precision;
use crate::classifier::{ClassifierFit, TrainedClassifier};
use crate::data::Resize;
use crate::error::Result;
use crate::features::{EfficientNetLite, FeatureBank, FeatureRun, PatchCoreRun, PatchScore};
use crate::figures::{Figure, plot};
use crate::geometric::TrainedGeometric;
use crate::io::write_dataframe_csv_exact;
use crate::scoring::{Backbone, DetectorId, ImageScorer, LadderImages, Scores, UnseenRow};
use crate::study::{BankSummary, Beyond, Context, ReproduceConfig, Study};

/// Section 9, beyond the report: trivial scores, the autoencoders, two
/// detectors trained from scratch (the label-aware classifier, the
/// transformation classifier), ImageNet-pretrained features (kNN and a
/// Gaussian on Lite0's pooled features, kNN on Lite1's and Lite2's,
/// PatchCore on Lite0's patches) and the fusion of the reference autoencoder
/// with the best pretrained detector, on one ladder, as [`ladder_spec`]
/// specifies it. Every detector but the trivial scores goes on it through
/// [`ImageScorer::ladder_scores`]; [`Ladder::build`] measures them.
pub(crate) fn section9(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
    trivial: &[TrivialScore],
) -> Result<Beyond> {
    let spec = ladder_spec(cx.config);
    let device = cx.study.device.device.clone();
    let (classifier, fit, geometric) = scratch_detectors(cx, &spec)?;
    let pretrained = Pretrained::fit(cx, &spec)?;
    let images = LadderImages {
        data_dir: cx.study.config.data_dir.clone(),
        test: runs[0].scores.clone(),
        unseen: unseen[0].clone(),
        show_progress: cx.study.config.show_progress,
    };
    let mut scorers: Vec<Box<dyn ImageScorer + '_>> = Vec::new();
    scorers.extend(runs.iter().map(|r| Box::new(r) as Box<dyn ImageScorer>));
    for &score in &spec.classifier_scores {
        scorers.push(Box::new(fit.scorer(&classifier, score)));
    }
    scorers.push(Box::new(&geometric));
    scorers.extend(pretrained.scorers(&spec));
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
    let text = section9_text(&spec, &ladder, &classifier, &geometric, &pretrained);
    cx.report.text(text);
    ladder_report(cx, &ladder)?;
    let patchcore = ladder.detector(&pretrained.patchcore.id(PatchScore::Max))?;
    let gallery = pretrained.gallery(cx, &patchcore.test)?;
    cx.report.text(
        "Where in the image: PatchCore's distance of each patch to the nearest train patch, \
         over the three test images it ranks most anomalous and the three it ranks least.",
    );
    cx.report.figure(&gallery);
    Ok(Beyond {
        feature_size: pretrained.banks[0].input_size,
        feature_seconds: pretrained.banks[0].seconds,
        banks: pretrained.summaries(),
        classifier_size: classifier.config.model.image_size,
        classifier_validation_accuracy: classifier.record.validation_accuracy,
        classifier_train_seconds: classifier.record.train_s,
        ladder: ladder.rows,
        reference,
    })
}

/// What section 9 compares, in words, with the settings and the facts of
/// this run.
fn section9_text(
    spec: &LadderSpec,
    ladder: &Ladder,
    classifier: &TrainedClassifier,
    geometric: &TrainedGeometric,
    pretrained: &Pretrained,
) -> String {
    let reference = ladder.detectors[ladder.reference].id.label();
    let second = match &spec.second_reference {
        Some(id) => format!(" and against {id}"),
        None => String::new(),
    };
    let short = |b: Backbone| b.name().trim_start_matches("EfficientNet-");
    let first = short(pretrained.banks[0].backbone);

    format!(
        "Every detector on the same split: scores without a network, the autoencoders; two \
         networks trained from scratch on the train split at {size}×{size} px, a classifier of \
         the {} normal classes (its energy and the Mahalanobis distance of its penultimate \
         features to the nearest class mean; validation accuracy {:.3}) and a classifier of \
         which of the {} quarter-turns was applied to an image (self-supervised, no labels; \
         its score the mean negative log-probability of the true turn; validation accuracy \
         {:.3}); ImageNet-pretrained EfficientNet-Lite features ((x − 127) / 128; {}) scored \
         by the mean cosine distance to the {} nearest train images (and, for {first}, by the \
         Mahalanobis distance to a Gaussian fitted on them), PatchCore on {first}'s patch \
         features (a memory bank of {} % of the train patches, an image's score its farthest \
         patch's distance or the mean); and the rank average of {reference} with the best of \
         these. Gains are paired against {reference}{second} on every image outside the pool; \
         a detector's seconds are its own fit and scoring, a pretrained detector's including \
         extracting its features (once per machine: banks are cached).",
        classifier.config.model.classes,
        classifier.record.validation_accuracy,
        geometric.transformations().len(),
        geometric.record.validation_accuracy,
        pretrained.describe_banks(),
        spec.knn_k,
        100.0 * spec.coreset_fraction,
        size = classifier.config.model.image_size,
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

/// The detectors trained from scratch, at the profile's classifier size (on
/// a second split of the same manifest where that differs from the study's
/// image size): the label-aware classifier with its fit, and the
/// transformation classifier.
fn scratch_detectors(
    cx: &mut Context,
    spec: &LadderSpec,
) -> Result<(TrainedClassifier, ClassifierFit, TrainedGeometric)> {
    let (config, profile) = (cx.config, cx.study.profile);
    let classifier_size = profile.settings().classifier_size;
    let resized;
    let small = if cx.prepared.cache.size() == classifier_size {
        &cx.prepared
    } else {
        resized = cx.study.prepare(config.split(profile), classifier_size)?;
        &resized
    };
    let classifier = cx
        .study
        .train_classifier(small, &config.classifier_config(profile, small))?;
    let fit = ClassifierFit::of(&classifier, small, spec.ridge, &cx.study.device.device)?;
    let geometric = cx
        .study
        .train_geometric(small, &config.geometric_config(profile, small))?;
    Ok((classifier, fit, geometric))
}

/// The pretrained detectors' parts: each of the spec's backbones with its
/// feature bank (at its input side for the profile) and the kNN and
/// Gaussian fitted on it, and PatchCore on the first one's patches.
struct Pretrained {
    extractors: Vec<EfficientNetLite>,
    banks: Vec<FeatureBank>,
    runs: Vec<FeatureRun>,
    patchcore: PatchCoreRun,
}

impl Pretrained {
    fn fit(cx: &Context, spec: &LadderSpec) -> Result<Self> {
        let device = &cx.study.device.device;
        let show = cx.study.config.show_progress;
        let settings = cx.study.profile.settings();
        let (data_dir, cache_dir) = (&cx.study.config.data_dir, &cx.study.config.cache_dir);
        let (mut extractors, mut banks, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        for &backbone in &spec.backbones {
            let extractor = EfficientNetLite::pretrained(backbone, device)?;
            let size = settings.feature_side(backbone);
            let bank =
                FeatureBank::of_dataset(&extractor, data_dir, size, cache_dir, device, show)?;
            let k = spec.knn_k;
            runs.push(cx.study.fit_features(&bank, &cx.prepared, k, spec.ridge)?);
            extractors.push(extractor);
            banks.push(bank);
        }
        let patchcore = cx.study.fit_patchcore(
            &extractors[0],
            &cx.prepared,
            banks[0].input_size,
            spec.coreset_fraction,
        )?;
        Ok(Self {
            extractors,
            banks,
            runs,
            patchcore,
        })
    }

    /// Each backbone's scores ([`LadderSpec::feature_scores`]: the kNN,
    /// and the Gaussian on the first), then PatchCore's.
    fn scorers(&self, spec: &LadderSpec) -> Vec<Box<dyn ImageScorer + '_>> {
        let mut scorers: Vec<Box<dyn ImageScorer + '_>> = Vec::new();
        let parts = self.runs.iter().zip(&self.extractors).zip(&self.banks);
        for ((run, extractor), bank) in parts {
            for score in spec.feature_scores(bank.backbone) {
                scorers.push(Box::new(run.scorer(extractor, score).with_bank(bank)));
            }
        }
        for &score in &spec.patch_scores {
            scorers.push(Box::new(self.patchcore.scorer(&self.extractors[0], score)));
        }
        scorers
    }

    fn summaries(&self) -> Vec<BankSummary> {
        self.banks
            .iter()
            .map(|b| BankSummary {
                backbone: b.backbone,
                size: b.input_size,
                images: b.paths.len(),
                seconds: b.seconds,
            })
            .collect()
    }

    fn describe_banks(&self) -> String {
        let banks = self.banks.iter().map(|b| {
            format!(
                "{} at {} px, all {} images in {:.0} s",
                b.backbone,
                b.input_size,
                b.paths.len(),
                b.seconds
            )
        });
        banks.collect::<Vec<_>>().join("; ")
    }

    /// PatchCore's anomaly maps of the test images it ranks highest and
    /// lowest (`scores`: its test scores).
    fn gallery(&self, cx: &Context, scores: &Scores) -> Result<Figure> {
        let (extractor, data_dir) = (&self.extractors[0], &cx.study.config.data_dir);
        let stem = cx.study.figure("anomaly_maps");
        let patchcore = self.patchcore.scorer(extractor, PatchScore::Max);
        plot::anomaly_gallery(&patchcore, scores, data_dir, 3, &stem)
    }
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
