//! Beyond the report: section 9 (the detector ladder), section 10 (the resize
//! ablation), and the bf16 quality guard.

use crate::analysis::{
    LadderRow, TrivialScore, UnseenComparisonRow, autoencoder_detectors, best_of, bf16_passes,
    false_positives, fused, ladder, ladder_summary, ladder_table, position, precision_ablation,
    resize_ablation, trivial_detectors, unseen_comparison_table, unseen_scores,
};
use crate::autoencoder::Trained;
use crate::backend::Precision;
use crate::classifier::{ClassifierFit, classifier_detectors};
use crate::data::Resize;
use crate::error::Result;
use crate::features::{DEFAULT_RIDGE, EfficientNetLite0, FeatureBank, weights_path};
use crate::figures::plot;
use crate::scoring::{DetectorScores, UnseenRow};
use crate::study::{Beyond, Context, ReproduceConfig, Study};

/// Section 9, beyond the report: trivial scores, the autoencoders, the
/// label-aware classifier, ImageNet-pretrained features (kNN and Gaussian)
/// and the fusion of the reference autoencoder with the best of those, on
/// one ladder.
pub(crate) fn section9(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
    trivial: &[TrivialScore],
) -> Result<Beyond> {
    let (config, device) = (cx.config, cx.study.device.device.clone());
    let show = cx.study.config.show_progress;
    let extractor = EfficientNetLite0::load(&weights_path(), &device)?;
    let size = cx.study.profile.settings().feature_size;
    let (data_dir, cache_dir) = (&cx.study.config.data_dir, &cx.study.config.cache_dir);
    let bank = FeatureBank::of_dataset(&extractor, data_dir, size, cache_dir, &device, show)?;
    let classifier_size = cx.study.profile.settings().classifier_size;
    let resized;
    let small = if cx.prepared.cache.size() == classifier_size {
        &cx.prepared
    } else {
        resized = cx
            .study
            .prepare(config.split(cx.study.profile), classifier_size)?;
        &resized
    };
    let classifier_config = config.classifier_config(cx.study.profile, small);
    let classifier = cx.study.train_classifier(small, &classifier_config)?;
    let test = &runs[0].scores;
    let mut detectors = trivial_detectors(trivial, test);
    detectors.extend(autoencoder_detectors(runs, unseen));
    let u = &unseen[0];
    let fit = ClassifierFit::of(&classifier, small, DEFAULT_RIDGE, &device)?;
    detectors.extend(classifier_detectors(
        &classifier,
        &fit,
        small,
        test,
        u,
        &device,
        show,
    )?);
    let first_feature = detectors.len();
    let features = cx
        .study
        .fit_features(&bank, &cx.prepared, 5, DEFAULT_RIDGE)?;
    detectors.extend(features.detectors(&bank, test, u)?);
    let reference = position(&detectors, "improved3").unwrap_or(first_feature - 3);
    let best = best_of(&detectors, &[first_feature, first_feature + 1])?;
    detectors.push(fused(&detectors[reference], &detectors[best])?);
    let rows = ladder(&detectors, reference, config.percentile, config.bootstrap)?;

    cx.report
        .heading(2, "9. Beyond the report: detectors beyond reconstruction");
    cx.report.text(format!(
        "Every detector on the same split: scores without a network, the autoencoders, a \
         classifier of the {} normal classes trained from scratch on the train split at \
         {classifier_size}×{classifier_size} px (its energy and the Mahalanobis distance of \
         its penultimate features to the nearest class mean; validation accuracy {:.3}), ImageNet-pretrained EfficientNet-Lite0 features \
         ({size}×{size} px input, (x − 127) / 128; extracted for all {} images in {:.0} s) \
         scored by the mean cosine distance to the 5 nearest train images and by the \
         Mahalanobis distance to a Gaussian fitted on them, and the rank average of {} with \
         the best of these. Gains are paired against {} on every image outside the pool.",
        classifier.config.model.classes,
        classifier.record.validation_accuracy,
        bank.paths.len(),
        bank.seconds,
        detectors[reference].name,
        detectors[reference].name,
    ));
    ladder_report(cx, &detectors, &rows, reference, best)?;
    Ok(Beyond {
        feature_size: size,
        feature_seconds: bank.seconds,
        classifier_size,
        classifier_validation_accuracy: classifier.record.validation_accuracy,
        classifier_train_seconds: classifier.record.train_s,
        ladder: rows,
        reference: detectors[reference].name.clone(),
    })
}

/// Section 9's summary, tables and figures.
fn ladder_report(
    cx: &mut Context,
    detectors: &[DetectorScores],
    rows: &[LadderRow],
    reference: usize,
    best: usize,
) -> Result<()> {
    cx.report.text(ladder_summary(rows, reference)?.0);
    cx.table("ladder", "The detector ladder", ladder_table(rows)?)?;
    let false_alarms = false_positives(detectors, cx.config.percentile, 3)?;
    let caption = "The object classes each detector flags most often";
    cx.table("ladder_false_positives", caption, false_alarms)?;
    let stem = cx.study.figure("disagreements");
    let figures = [
        plot::ladder_roc(detectors, &cx.study.figure("ladder_roc"))?,
        plot::disagreements(
            &cx.prepared,
            &detectors[reference],
            &detectors[best],
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
    /// [`bf16_passes`] on the rows.
    pub passes: bool,
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
        passes: bf16_passes(&rows),
        rows,
    })
}

/// Borrows each run with its unseen scores.
fn pairs(runs: &[(Trained, Vec<UnseenRow>)]) -> Vec<(&Trained, &[UnseenRow])> {
    runs.iter().map(|(r, u)| (r, u.as_slice())).collect()
}
