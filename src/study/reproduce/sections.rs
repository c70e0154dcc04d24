//! The report's sections 4-8, each a function over the study's values.

use crate::analysis::{
    Aggregation, DetectionRow, GALLERY_PERCENTILE, OperatingPoint, ScoreQuality, TrivialScore,
    class_counts, class_counts_dataframe, compare_aggregations, comparison_table,
    detection_dataframe, detection_table, error_density, latent_pca, missed_anomalies,
    operating_point, outliers, outliers_dataframe, per_class, per_class_dataframe, pr,
    quality_dataframe, recommendations, refinement, roc, same_images, seeds_table, summary,
    trivial_baselines, trivial_scores, unseen_comparison, unseen_comparison_table,
};
use crate::autoencoder::{ErrorMap, Trained, error_maps, latent_codes, score_split, unseen_scores};
use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::figures::plot;
use crate::scoring::{Scores, UnseenRow};
use crate::stats::ConfidenceInterval;
use crate::study::{Context, SplitSizes, Study};

/// Section 4: the split and the images.
pub(crate) fn section4(cx: &mut Context) -> Result<SplitSizes> {
    let summary = cx.prepared.summary();
    let (test, prepared) = (summary.count(Split::Test), &cx.prepared);
    cx.report
        .heading(2, "4. Loading and preprocessing the dataset");
    cx.report.text(format!(
        "Profile **{}** ({}), device **{}**. Caltech-101 (its manifest's SHA-256 `{}…`): a pool of {} images \
         split 70/15/15 with seed {}; the held-out class ({}) is moved out of train and \
         validation into test. Images resized to {s}×{s} (bilinear, as tf.image.resize) and \
         scaled to [0, 1].",
        cx.study.profile.name(),
        cx.study.profile_reason,
        cx.study.device.choice,
        &prepared.manifest_sha256[..12],
        prepared.manifest.len(),
        prepared.config.split.seed,
        prepared.held_out_name(),
        s = prepared.cache.size(),
    ));
    let sizes = prepared.summary().to_dataframe()?;
    let classes = prepared.classes()?;
    cx.table("split_sizes", "Images per split", sizes)?;
    let overview = plot::class_overview(&cx.prepared, 32, &cx.study.figure("class_overview"))?;
    cx.report.figure(&overview);
    let held = plot::held_out_samples(&cx.prepared, 16, &cx.study.figure("held_out_samples"))?;
    cx.report.figure(&held);
    cx.linked_table("classes", classes)?;
    cx.report.text(
        "Every class with its TFDS label and images per split: [classes.csv](tables/classes.csv).",
    );
    Ok(SplitSizes {
        train: summary.count(Split::Train).images,
        validation: summary.count(Split::Validation).images,
        test: test.images,
        test_held_out: test.held_out,
    })
}

/// What the analysis of the baseline needs beyond its test scores,
/// computed once.
pub(crate) struct Analysis {
    /// Every test image, in test order.
    pub(crate) maps: Vec<ErrorMap>,
    pub(crate) validation: Scores,
    pub(crate) latent: Vec<Vec<f32>>,
}

impl Analysis {
    pub(crate) fn of(run: &Trained, prepared: &Prepared, study: &Study) -> Result<Self> {
        let device = &study.device.device;
        let test = prepared.manifest.indices(Split::Test);
        if test.len() != run.scores.len() {
            return Err(Error::InvalidParameter(format!(
                "{} scores for a test split of {} images",
                run.scores.len(),
                test.len()
            )));
        }
        let batch = run.config.batch_size;
        Ok(Self {
            maps: error_maps(&run.model, &prepared.cache, &test, device),
            validation: score_split(&run.model, prepared, Split::Validation, batch, device),
            latent: latent_codes(&run.model, &prepared.cache, &test, device),
        })
    }
}

/// Section 5: the model, its training and its reconstructions.
pub(crate) fn section5(cx: &mut Context, baseline: &Trained, analysis: &Analysis) -> Result<()> {
    let r = &baseline.record;
    cx.report.heading(2, "5. Autoencoder model architecture");
    cx.report.text(format!(
        "**{}**: {} parameters, trained for {} epochs (Adam, lr {}, batch {}, MSE); the \
         weights of epoch {}, best on validation, are kept. Mean test error {:.5}.",
        r.architecture,
        r.parameters,
        r.epochs_run,
        baseline.config.learning_rate,
        baseline.config.batch_size,
        r.best_epoch,
        r.mean_test_error,
    ));
    cx.report.code(baseline.model.to_string());
    cx.report
        .figure(&plot::loss(baseline, &cx.study.figure("loss_curves"))?);
    let n = analysis.maps.len().min(8);
    let first = (0..n).collect::<Vec<_>>();
    cx.report.figure(&plot::reconstructions(
        &analysis.maps[..n],
        &baseline.scores.pick(&first),
        &cx.study.figure("reconstructions"),
    )?);
    let worst = baseline.scores.highest(6);
    let maps: Vec<ErrorMap> = worst.iter().map(|&i| analysis.maps[i].clone()).collect();
    cx.report.figure(&plot::error_maps(
        &maps,
        &baseline.scores.pick(&worst),
        &cx.study.figure("error_maps"),
    )?);
    Ok(())
}

/// Section 6: thresholds, the flagged images, and the per-class evidence.
pub(crate) fn section6(
    cx: &mut Context,
    baseline: &Trained,
    analysis: &Analysis,
) -> Result<Vec<DetectionRow>> {
    let scores = &baseline.scores;
    let p = cx.config.percentile;
    cx.report.heading(2, "6. Anomaly detection");
    let counts = class_counts_dataframe(&class_counts(scores))?;
    cx.table("test_class_counts", "Test images per class", counts)?;
    let detection = detection_table(
        scores,
        Some(&analysis.validation.scores()),
        &cx.config.percentiles,
    )?;
    cx.report.text(
        "A test image is flagged when its error lies above the threshold. *test percentile* \
         is the report's threshold (the p-th percentile of the test errors themselves); \
         *validation percentile* is calibrated on the normal-only validation errors and \
         leaks nothing from test: its expected false-positive rate is 1 − p/100.",
    );
    let df = detection_dataframe(&detection)?;
    cx.table("thresholds", "Detection per threshold (thresholds.csv)", df)?;
    let g = GALLERY_PERCENTILE;
    let gallery_threshold = scores.threshold(g)?;
    let flagged = outliers(scores, gallery_threshold);
    cx.linked_table(&format!("outliers_p{g}"), outliers_dataframe(&flagged)?)?;
    let stem = cx.study.figure(&format!("outliers_p{g}"));
    let figure = plot::outlier_gallery(&cx.prepared, &flagged, (g, gallery_threshold), &stem)?;
    cx.report.figure(&figure);

    let threshold = scores.threshold(p)?;
    let classes = per_class(scores, threshold);
    cx.report.heading(3, "Recommendations, from the data");
    cx.report
        .text(recommendations(scores, &classes, threshold, p).0);
    cx.linked_table(&format!("per_class_p{p}"), per_class_dataframe(&classes)?)?;
    let missed = outliers_dataframe(&missed_anomalies(scores, threshold))?;
    cx.linked_table(&format!("missed_anomalies_p{p}"), missed)?;
    cx.report.text(format!(
        "Per-class flag rates: [per_class_p{p}.csv](tables/per_class_p{p}.csv); missed \
         held-out images: [missed_anomalies_p{p}.csv](tables/missed_anomalies_p{p}.csv)."
    ));
    Ok(detection)
}

/// Section 7's values, for the metrics and the claims.
pub(crate) struct Evaluation {
    pub(crate) auroc: ConfidenceInterval,
    pub(crate) auprc: ConfidenceInterval,
    pub(crate) point: OperatingPoint,
    pub(crate) kde_bandwidths: (f64, f64),
    pub(crate) pca_explained: [f64; 2],
    pub(crate) aggregation: Vec<ScoreQuality>,
    pub(crate) trivial: Vec<ScoreQuality>,
    /// The scores behind `trivial`, for the ladder.
    pub(crate) trivial_scores: Vec<TrivialScore>,
}

/// Section 7: curves, the confusion matrix, densities, PCA, other scores.
pub(crate) fn section7(
    cx: &mut Context,
    baseline: &Trained,
    analysis: &Analysis,
) -> Result<Evaluation> {
    let (scores, bootstrap) = (&baseline.scores, cx.config.bootstrap);
    cx.report.heading(2, "7. Evaluation and visualisation");
    let (roc, pr) = (roc(scores, bootstrap)?, pr(scores, bootstrap)?);
    let point = operating_point(scores, cx.config.percentile)?;
    cx.report
        .text(summary(&roc, &pr, &point, &cx.prepared.held_out_name()).0);
    let density = error_density(scores)?;
    let latent = latent_pca(&analysis.latent)?;
    let figures = [
        plot::roc(&roc, &cx.study.figure("roc"))?,
        plot::pr(&pr, &cx.study.figure("pr"))?,
        plot::confusion(
            &point,
            &cx.study.figure(&format!("confusion_p{}", point.percentile)),
        )?,
        plot::density(
            scores,
            &density,
            &[80.0, 85.0, 90.0],
            &cx.study.figure("kde"),
        )?,
        plot::pca(&latent, scores, &point, &cx.study.figure("pca"))?,
        plot::sorted_errors(scores, &point, &cx.study.figure("sorted_errors"))?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    let aggregation = compare_aggregations(
        &analysis.maps,
        &scores.held_out_flags(),
        &Aggregation::defaults_for(cx.prepared.cache.size()),
        bootstrap.resamples,
        bootstrap.seed,
    )?;
    let model = baseline.record.architecture.to_string();
    let trivial_scores = trivial_scores(&cx.prepared)?;
    let trivial = trivial_baselines(&model, scores, &trivial_scores, bootstrap)?;
    cx.report.heading(3, "Beyond the report: other scores");
    let caption = "Aggregating the same error maps differently";
    cx.table(
        "score_aggregation",
        caption,
        quality_dataframe(&aggregation)?,
    )?;
    let caption = "What the autoencoder adds: two scores without a neural network";
    cx.table("trivial_baselines", caption, quality_dataframe(&trivial)?)?;
    Ok(Evaluation {
        auroc: roc.auroc,
        auprc: pr.auprc,
        point,
        kde_bandwidths: (density.all.bandwidth(), density.held_out.bandwidth()),
        pca_explained: latent.explained,
        aggregation,
        trivial,
        trivial_scores,
    })
}

/// Section 8: every model on the same split, on the test split and on
/// every unseen image; returns the comparison and the first seed's unseen
/// scores.
pub(crate) fn section8(
    cx: &mut Context,
    runs: &[Vec<Trained>],
) -> Result<(crate::analysis::Refinement, Vec<Vec<UnseenRow>>)> {
    let (config, device) = (cx.config, cx.study.device.device.clone());
    let refined = refinement(runs, config.percentile, config.bootstrap)?;
    let more = if runs.len() > 1 {
        format!(" (and {} more seeds, summarised below)", runs.len() - 1)
    } else {
        String::new()
    };
    cx.report.heading(2, "8. Model refinement and optimisation");
    cx.report.text(format!(
        "Every model on the same split; training seed {}{more}. AUROC with a bootstrap 95% CI; \
         TPR/FPR at the p{} test threshold. The models are described in the README.",
        config.seed, config.percentile
    ));
    cx.table(
        "comparison",
        "Model comparison",
        comparison_table(&refined.rows)?,
    )?;
    let show = cx.study.config.show_progress;
    let unseen = runs[0]
        .iter()
        .map(|r| unseen_scores(r, &cx.prepared, &device, show))
        .collect::<Result<Vec<_>>>()?;
    let compared = unseen_comparison(&runs[0], &unseen, config.bootstrap)?;
    let caption = "The same models on every image outside the pool, with each model's paired \
                   AUROC gain over the one before";
    cx.table(
        "comparison_unseen",
        caption,
        unseen_comparison_table(&compared)?,
    )?;
    if runs.len() > 1 {
        let caption = "Mean (and standard deviation) over seeds";
        cx.table(
            "comparison_seeds",
            caption,
            seeds_table(&refined.over_seeds)?,
        )?;
    }
    let (chosen, maps) = same_images(&runs[0], &cx.prepared, 6, &device)?;
    let stem = cx.study.figure("refinement_reconstructions");
    let figures = [
        plot::same_images(&cx.prepared, &runs[0], &chosen, &maps, &stem)?,
        plot::error_bars(&refined, &cx.study.figure("refinement_error"))?,
        plot::auroc_bars(&refined, &cx.study.figure("refinement_auroc"))?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    Ok((refined, unseen))
}
