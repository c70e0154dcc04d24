//! Beyond reconstruction: anomaly scores from ImageNet-pretrained features
//! (nearest neighbours, a Gaussian), their fusion with the autoencoder's
//! error, and the ladder that puts every detector on one table.
//!
//! Every score is "higher is more anomalous" and is kept as [`Scores`] (the
//! test split) and [`UnseenRow`]s (every image outside the pool), with the
//! score in the `error` field, so thresholds, curves and per-class tables
//! work on any of them as on the autoencoder's.

use burn::tensor::Device;
use polars::prelude::{DataFrame, PolarsResult};
use serde::Serialize;

use crate::analysis::{Bootstrap, PerClassRow, TrivialScore, operating_point, per_class};
use crate::error::{Error, Result};
use crate::io::{Markdown, column};
use crate::scoring::{
    DetectorId, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow, rescored,
    rescored_unseen,
};
use crate::stats::{
    ConfidenceInterval, ConfusionMatrix, auprc, auroc, paired_bootstrap_delta, rank_average,
};

/// Each detector's scores of the ladder's images
/// ([`ImageScorer::ladder_scores`]), in order.
pub fn ladder_detectors(
    scorers: &[&dyn ImageScorer],
    images: &LadderImages,
    device: &Device,
) -> Result<Vec<DetectorScores>> {
    scorers
        .iter()
        .map(|scorer| scorer.ladder_scores(images, device))
        .collect()
}

/// Scores without a network (from [`crate::analysis::trivial_scores`]),
/// on the test split only: their inputs are the cached test images.
pub fn trivial_detectors(trivial: &[TrivialScore], test: &Scores) -> Vec<DetectorScores> {
    trivial
        .iter()
        .map(|score| DetectorScores {
            id: DetectorId::Trivial(score.kind),
            pretrained: false,
            test: rescored(test, &score.values),
            unseen: None,
            seconds: score.seconds,
            bank_bytes: None,
        })
        .collect()
}

/// The `top` normal classes each detector flags most often at the
/// `percentile`-th test percentile: which object images look like scenes.
pub fn false_positives(
    detectors: &[DetectorScores],
    percentile: f64,
    top: usize,
) -> Result<DataFrame> {
    let mut rows: Vec<(String, PerClassRow)> = Vec::new();
    for d in detectors {
        let threshold = d.test.threshold(percentile)?;
        let classes = per_class(&d.test, threshold);
        let flagged = classes.into_iter().filter(|c| c.flagged > 0).take(top);
        rows.extend(flagged.map(|c| (d.id.label(), c)));
    }
    Ok(DataFrame::new_infer_height(vec![
        column("detector", &rows, |r| r.0.as_str()),
        column("class", &rows, |r| r.1.class.as_str()),
        column("flagged", &rows, |r| r.1.flagged as u64),
        column("images", &rows, |r| r.1.images as u64),
        column("flag_rate", &rows, |r| r.1.flag_rate),
    ])?)
}

/// The rank average of two detectors' scores, on test and unseen alike.
pub fn fused(a: &DetectorScores, b: &DetectorScores) -> Result<DetectorScores> {
    let test = rank_average(&a.test.scores(), &b.test.scores())?;
    let unseen = match (&a.unseen, &b.unseen) {
        (Some(ua), Some(ub)) => {
            let values = |u: &[UnseenRow]| u.iter().map(|r| r.score).collect::<Vec<_>>();
            Some(rescored_unseen(
                ua,
                &rank_average(&values(ua), &values(ub))?,
            ))
        }
        _ => None,
    };
    Ok(DetectorScores {
        id: DetectorId::fusion(a.id.clone(), b.id.clone()),
        pretrained: a.pretrained || b.pretrained,
        test: rescored(&a.test, &test),
        unseen,
        seconds: a.seconds + b.seconds,
        bank_bytes: a
            .bank_bytes
            .into_iter()
            .chain(b.bank_bytes)
            .reduce(|x, y| x + y),
    })
}

/// The index of the detector `id`; an error naming it, and the detectors
/// there are, when it is not among them.
pub fn position(detectors: &[DetectorScores], id: &DetectorId) -> Result<usize> {
    detectors.iter().position(|d| d.id == *id).ok_or_else(|| {
        let there: Vec<String> = detectors.iter().map(|d| d.id.label()).collect();
        Error::InvalidParameter(format!(
            "no detector `{id}` on the ladder; it has: {}",
            there.join("; ")
        ))
    })
}

/// Of the detectors at `among`, the one with the highest test AUROC.
pub fn best_of(detectors: &[DetectorScores], among: &[usize]) -> Result<usize> {
    let test_auroc = |i: usize| {
        auroc(
            &detectors[i].test.scores(),
            &detectors[i].test.held_out_flags(),
        )
    };
    among
        .iter()
        .copied()
        .max_by(|&a, &b| test_auroc(a).total_cmp(&test_auroc(b)))
        .ok_or_else(|| Error::InvalidParameter("no detector to choose from".into()))
}

/// One detector's line of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderRow {
    /// The detector's label ([`DetectorId::label`]), as published.
    pub detector: String,
    pub pretrained: bool,
    pub test_auroc: ConfidenceInterval,
    pub test_auprc: ConfidenceInterval,
    /// On every image outside the pool, where the detector has scores.
    pub unseen_auroc: Option<ConfidenceInterval>,
    /// `unseen_auroc` minus the reference detector's, paired.
    pub gain_over_reference: Option<ConfidenceInterval>,
    /// `unseen_auroc` minus the second reference's, paired, where the
    /// ladder has one.
    pub gain_over_second: Option<ConfidenceInterval>,
    /// The confusion matrix at the `percentile`-th test percentile.
    pub percentile: f64,
    pub confusion: ConfusionMatrix,
    pub tpr: f64,
    pub fpr: f64,
    /// The detector's own compute ([`DetectorScores::seconds`]).
    pub seconds: f64,
    /// The memory bank of a nearest-neighbour detector, MiB.
    pub bank_mib: Option<f64>,
}

/// Every detector measured the same way: AUROC and AUPRC on the test split
/// with bootstrap intervals, AUROC on the unseen images with paired
/// intervals of its gain over `detectors[reference]` and, when given, over
/// `detectors[second]`, and the rates at the `percentile`-th test
/// percentile.
pub fn ladder(
    detectors: &[DetectorScores],
    (reference, second): (usize, Option<usize>),
    percentile: f64,
    bootstrap: Bootstrap,
) -> Result<Vec<LadderRow>> {
    let unseen_of = |i: usize| {
        detectors
            .get(i)
            .and_then(|d| d.unseen.as_ref())
            .ok_or_else(|| Error::InvalidParameter("a reference needs unseen scores".into()))
    };
    let reference_unseen = unseen_of(reference)?;
    let unseen_values = |u: &[UnseenRow]| u.iter().map(|r| r.score).collect::<Vec<f64>>();
    let labels: Vec<bool> = reference_unseen.iter().map(|r| r.held_out).collect();
    for d in detectors {
        let same = |u: &[UnseenRow]| {
            u.len() == reference_unseen.len()
                && u.iter()
                    .zip(reference_unseen)
                    .all(|(a, b)| a.path == b.path)
        };
        if d.unseen.as_deref().is_some_and(|u| !same(u)) {
            return Err(Error::InvalidParameter(format!(
                "{} scored other unseen images than the reference: use runs of one pool",
                d.id
            )));
        }
    }
    let first = unseen_values(reference_unseen);
    let second = second.map(unseen_of).transpose()?.map(|u| unseen_values(u));
    let gain = |over: &[f64], u: &[f64]| {
        let resamples = bootstrap.resamples;
        paired_bootstrap_delta(over, u, &labels, auroc, resamples, bootstrap.seed, 0.95)
    };
    detectors
        .iter()
        .map(|d| {
            let (errors, held_out) = (d.test.scores(), d.test.held_out_flags());
            let point = operating_point(&d.test, percentile)?;
            let unseen = d.unseen.as_deref().map(unseen_values);
            let gains = |over: Option<&Vec<f64>>| match (over, &unseen) {
                (Some(over), Some(u)) => gain(over, u).map(Some),
                _ => Ok(None),
            };
            Ok(LadderRow {
                detector: d.id.label(),
                pretrained: d.pretrained,
                test_auroc: bootstrap.interval(&errors, &held_out, auroc)?,
                test_auprc: bootstrap.interval(&errors, &held_out, auprc)?,
                unseen_auroc: unseen
                    .as_ref()
                    .map(|u| bootstrap.interval(u, &labels, auroc))
                    .transpose()?,
                gain_over_reference: gains(Some(&first))?,
                gain_over_second: gains(second.as_ref())?,
                percentile,
                confusion: point.matrix,
                tpr: point.matrix.recall(),
                fpr: point.matrix.fpr(),
                seconds: d.seconds,
                bank_mib: d.bank_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
            })
        })
        .collect()
}

/// The ladder as a table.
pub fn ladder_table(rows: &[LadderRow]) -> PolarsResult<DataFrame> {
    let opt = |f: fn(&ConfidenceInterval) -> f64,
               g: fn(&LadderRow) -> Option<ConfidenceInterval>| {
        move |r: &LadderRow| g(r).as_ref().map(f)
    };
    DataFrame::new_infer_height(vec![
        column("detector", rows, |r| r.detector.as_str()),
        column("pretrained", rows, |r| r.pretrained),
        column("test_auroc", rows, |r| r.test_auroc.estimate),
        column("test_auroc_low", rows, |r| r.test_auroc.low),
        column("test_auroc_high", rows, |r| r.test_auroc.high),
        column("test_auprc", rows, |r| r.test_auprc.estimate),
        column(
            "unseen_auroc",
            rows,
            opt(|c| c.estimate, |r| r.unseen_auroc),
        ),
        column("unseen_auroc_low", rows, opt(|c| c.low, |r| r.unseen_auroc)),
        column(
            "unseen_auroc_high",
            rows,
            opt(|c| c.high, |r| r.unseen_auroc),
        ),
        column("gain", rows, opt(|c| c.estimate, |r| r.gain_over_reference)),
        column("gain_low", rows, opt(|c| c.low, |r| r.gain_over_reference)),
        column(
            "gain_high",
            rows,
            opt(|c| c.high, |r| r.gain_over_reference),
        ),
        column(
            "gain_second",
            rows,
            opt(|c| c.estimate, |r| r.gain_over_second),
        ),
        column(
            "gain_second_low",
            rows,
            opt(|c| c.low, |r| r.gain_over_second),
        ),
        column(
            "gain_second_high",
            rows,
            opt(|c| c.high, |r| r.gain_over_second),
        ),
        column("percentile", rows, |r| r.percentile),
        column("tp", rows, |r| r.confusion.tp as u64),
        column("fn", rows, |r| r.confusion.fn_ as u64),
        column("fp", rows, |r| r.confusion.fp as u64),
        column("tn", rows, |r| r.confusion.tn as u64),
        column("tpr", rows, |r| r.tpr),
        column("fpr", rows, |r| r.fpr),
        column("seconds", rows, |r| r.seconds),
        column("bank_mib", rows, |r| r.bank_mib),
    ])
}

/// What the ladder shows, in words: the best detector on the unseen images
/// and its gain over the reference (`rows[reference]`), and the best one
/// without pretrained weights.
pub fn ladder_summary(rows: &[LadderRow], reference: usize) -> Result<Markdown> {
    let unseen = |r: &&LadderRow| r.unseen_auroc.map_or(f64::NEG_INFINITY, |c| c.estimate);
    let best = rows.iter().max_by(|a, b| unseen(a).total_cmp(&unseen(b)));
    let scratch = rows
        .iter()
        .filter(|r| !r.pretrained)
        .max_by(|a, b| unseen(a).total_cmp(&unseen(b)));
    let (Some(best), Some(scratch), Some(reference)) = (best, scratch, rows.get(reference)) else {
        return Err(Error::InvalidParameter("an empty ladder".into()));
    };
    let ci = |c: Option<ConfidenceInterval>| {
        c.map_or("—".to_string(), |c| {
            format!("{:.3} [{:.3}, {:.3}]", c.estimate, c.low, c.high)
        })
    };
    let signed =
        |g: ConfidenceInterval| format!("{:+.3} [{:+.3}, {:+.3}]", g.estimate, g.low, g.high);
    let mut gain = best.gain_over_reference.map_or("—".into(), signed);
    if let Some(second) = best.gain_over_second.filter(|g| g.estimate != 0.0) {
        gain = format!("{gain} (and {} over the second reference)", signed(second));
    }
    Ok(Markdown(format!(
        "On the images outside the pool, **{}** separates the background scenes best: AUROC \
         {} against {} for {}, a paired gain of {gain}; at the p{} test threshold it finds \
         {:.0} % of the test anomalies with {:.0} % false alarms. The best detector without \
         pretrained weights is {} at {}.",
        best.detector,
        ci(best.unseen_auroc),
        ci(reference.unseen_auroc),
        reference.detector,
        best.percentile,
        100.0 * best.tpr,
        100.0 * best.fpr,
        scratch.detector,
        ci(scratch.unseen_auroc),
    )))
}
