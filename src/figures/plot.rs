//! The study's figures, drawn from the values each step returns
//! ([`Prepared`], [`Trained`], [`Scores`], [`Roc`], [`Refinement`], ...), so
//! that a notebook cell plots what the cell before computed. Each writes
//! `<stem>.png` (and `<stem>.svg` for charts) through [`crate::figures`].

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;
use plotters::style::colors::{BLUE, RED};

use crate::analysis::{ErrorDensity, LatentPca, OperatingPoint, Outlier, Pr, Refinement, Roc};
use crate::autoencoder::{ErrorMap, Trained};
use crate::data::image::{Resize, read_resized};
use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::figures::{self, Bar, Figure, Series, Tile};
use crate::scoring::AnomalyMap;

pub use crate::figures::detector_style::{detector_style, detector_styles};
use crate::scoring::{DetectorId, DetectorScores, ImageScorer, ScoreRow, Scores, no_maps};
use crate::stats::{auroc, ranks, roc_curve};

fn cache_tile(prepared: &Prepared, row: usize, caption: String, border: Option<RGBColor>) -> Tile {
    Tile {
        size: prepared.cache.size(),
        rgb: prepared.cache.image(row).to_vec(),
        caption,
        border,
    }
}

fn map_tile(map: &ErrorMap, rgb: &[u8], caption: String) -> Tile {
    Tile {
        size: map.size,
        rgb: rgb.to_vec(),
        caption,
        border: None,
    }
}

/// One training image of each of `n` classes spread over the label order,
/// captioned with label and name.
pub fn class_overview(prepared: &Prepared, n: usize, stem: &Path) -> Result<Figure> {
    let entries = &prepared.manifest.entries;
    let mut labels: Vec<u32> = entries.iter().map(|e| e.label).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.is_empty() {
        return Err(Error::InvalidParameter("the split holds no image".into()));
    }
    let n = n.clamp(1, labels.len());
    let tiles: Vec<Tile> = (0..n)
        .filter_map(|i| {
            let label = labels[i * labels.len() / n];
            let row = entries
                .iter()
                .position(|e| e.label == label && e.split == Split::Train)
                .or_else(|| entries.iter().position(|e| e.label == label))?;
            let caption = format!("{label} {}", entries[row].class);
            Some(cache_tile(prepared, row, caption, None))
        })
        .collect();
    let title = format!("{n} of {} classes (label and name)", labels.len());
    figures::image_grid(&title, &tiles, 8, None, stem)
}

/// Up to `n` test images of the held-out classes.
pub fn held_out_samples(prepared: &Prepared, n: usize, stem: &Path) -> Result<Figure> {
    let manifest = &prepared.manifest;
    let tiles: Vec<Tile> = manifest
        .indices(Split::Test)
        .into_iter()
        .filter(|&row| manifest.is_held_out(row))
        .take(n)
        .map(|row| cache_tile(prepared, row, manifest.entries[row].class.clone(), None))
        .collect();
    let title = format!("Held-out class samples ({})", prepared.held_out_name());
    figures::image_grid(&title, &tiles, 8, None, stem)
}

/// Training and validation loss per epoch, the kept epoch marked.
pub fn loss(run: &Trained, stem: &Path) -> Result<Figure> {
    let h = &run.history;
    figures::loss_curves(
        &format!(
            "{}: training and validation loss (MSE)",
            run.record.architecture
        ),
        &h.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        &h.iter().map(|e| e.train_loss).collect::<Vec<_>>(),
        &h.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        run.record.best_epoch,
        stem,
    )
}

/// Test images (top) above their reconstructions (bottom); `maps[i]` is
/// the image scored in `rows[i]`.
pub fn reconstructions(maps: &[ErrorMap], rows: &[ScoreRow], stem: &Path) -> Result<Figure> {
    check_pairs(maps.len(), rows.len())?;
    let mut tiles: Vec<Tile> = maps
        .iter()
        .zip(rows)
        .map(|(m, r)| map_tile(m, &m.original, r.class.clone()))
        .collect();
    tiles.extend(
        maps.iter()
            .zip(rows)
            .map(|(m, r)| map_tile(m, &m.reconstruction, format!("error {:.4}", r.score))),
    );
    figures::image_grid(
        "Test images (top) and their reconstructions (bottom)",
        &tiles,
        maps.len(),
        Some(&["original".into(), "reconstruction".into()]),
        stem,
    )
}

/// Original, reconstruction and squared-error map per row; `maps[i]` is
/// the image scored in `rows[i]`.
pub fn error_maps(maps: &[ErrorMap], rows: &[ScoreRow], stem: &Path) -> Result<Figure> {
    check_pairs(maps.len(), rows.len())?;
    let max = maps
        .iter()
        .flat_map(|m| m.error.iter().copied())
        .fold(f32::MIN_POSITIVE, f32::max);
    let mut tiles = Vec::new();
    let mut labels = Vec::new();
    for (m, r) in maps.iter().zip(rows) {
        let mark = if r.held_out { " (anomaly)" } else { "" };
        labels.push(format!("{}{mark}", r.class));
        tiles.push(map_tile(m, &m.original, "original".into()));
        tiles.push(map_tile(m, &m.reconstruction, "reconstruction".into()));
        let heat = figures::heatmap_rgb(&m.error, m.size, max);
        tiles.push(map_tile(m, &heat, format!("error {:.4}", r.score)));
    }
    figures::image_grid(
        "Reconstruction errors: original, reconstruction, squared error",
        &tiles,
        3,
        Some(&labels),
        stem,
    )
}

fn check_pairs(maps: usize, rows: usize) -> Result<()> {
    if maps == 0 || maps != rows {
        return Err(Error::InvalidParameter(format!(
            "{maps} maps for {rows} images: give one of each per image"
        )));
    }
    Ok(())
}

/// The flagged test images (`flagged` from [`crate::analysis::outliers`]);
/// true anomalies framed in red, false alarms in blue.
pub fn outlier_gallery(
    prepared: &Prepared,
    flagged: &[Outlier],
    point: (f64, f64),
    stem: &Path,
) -> Result<Figure> {
    let (p, threshold) = point;
    let test = prepared.manifest.indices(Split::Test);
    let tiles: Vec<Tile> = flagged
        .iter()
        .map(|o| {
            let border = if o.is_anomaly { RED } else { BLUE };
            let caption = format!("#{} {} {:.3}", o.index, o.class, o.error);
            cache_tile(prepared, test[o.index], caption, Some(border))
        })
        .collect();
    let title = format!(
        "{} images above the p{p} threshold {threshold:.4} (red: anomaly, blue: false alarm)",
        flagged.len()
    );
    figures::image_grid(&title, &tiles, 6, None, stem)
}

pub fn roc(roc: &Roc, stem: &Path) -> Result<Figure> {
    let ci = roc.auroc;
    figures::roc_curve(
        "ROC: the held-out class vs the rest of the test set",
        &roc.points.iter().map(|p| p.fpr).collect::<Vec<_>>(),
        &roc.points.iter().map(|p| p.tpr).collect::<Vec<_>>(),
        ci.estimate,
        Some((ci.low, ci.high)),
        stem,
    )
}

pub fn pr(pr: &Pr, stem: &Path) -> Result<Figure> {
    let ci = pr.auprc;
    figures::pr_curve(
        "Precision-recall: the held-out class as positive",
        &pr.points.iter().map(|p| p.recall).collect::<Vec<_>>(),
        &pr.points.iter().map(|p| p.precision).collect::<Vec<_>>(),
        ci.estimate,
        Some((ci.low, ci.high)),
        pr.prevalence,
        stem,
    )
}

/// The confusion matrix as a heat map with its rates.
pub fn confusion(point: &OperatingPoint, stem: &Path) -> Result<Figure> {
    let cm = point.matrix;
    figures::confusion_matrix(
        &format!("Confusion matrix at p{}", point.percentile),
        cm.tp,
        cm.fn_,
        cm.fp,
        cm.tn,
        &format!(
            "threshold {:.4} · precision {:.2} · recall {:.2} · F1 {:.2} · FPR {:.2}",
            point.threshold,
            cm.precision(),
            cm.recall(),
            cm.f1(),
            cm.fpr()
        ),
        stem,
    )
}

/// Densities of the error, all test images vs the held-out ones, with the
/// thresholds at `percentiles` marked.
pub fn density(
    scores: &Scores,
    density: &ErrorDensity,
    percentiles: &[f64],
    stem: &Path,
) -> Result<Figure> {
    let errors = scores.scores();
    let (all, held) = (&density.all, &density.held_out);
    let pad = 3.0 * all.bandwidth().max(held.bandwidth());
    let lo = (errors.iter().copied().fold(f64::INFINITY, f64::min) - pad).max(0.0);
    let hi = errors.iter().copied().fold(f64::NEG_INFINITY, f64::max) + pad;
    let xs: Vec<f64> = (0..400)
        .map(|i| lo + (hi - lo) * i as f64 / 399.0)
        .collect();
    let series = [
        Series {
            label: format!("all test images ({})", errors.len()),
            ys: xs.iter().map(|&x| all.evaluate(x)).collect(),
            xs: xs.clone(),
        },
        Series {
            label: "held-out class only".into(),
            ys: xs.iter().map(|&x| held.evaluate(x)).collect(),
            xs,
        },
    ];
    let markers = percentiles
        .iter()
        .map(|&p| Ok((format!("p{p}"), scores.threshold(p)?)))
        .collect::<Result<Vec<_>>>()?;
    figures::density_plot(
        "Reconstruction error density (Gaussian KDE)",
        "reconstruction error (MSE)",
        &series,
        &markers,
        &format!(
            "Scott's rule: h = {:.2e} (all), {:.2e} (held out)",
            all.bandwidth(),
            held.bandwidth()
        ),
        stem,
    )
}

/// The latent codes' PCA scatter; rings mark the images flagged at `point`.
pub fn pca(
    latent: &LatentPca,
    scores: &Scores,
    point: &OperatingPoint,
    stem: &Path,
) -> Result<Figure> {
    let flagged: Vec<bool> = scores.iter().map(|r| r.score > point.threshold).collect();
    figures::pca_scatter(
        "PCA of the encoder's latent codes (test set)",
        &latent.points,
        &scores.held_out_flags(),
        &flagged,
        latent.explained,
        &format!(
            "projected: {}-d encoder codes of {} test images; ring: flagged at p{}",
            latent.dims,
            latent.points.len(),
            point.percentile
        ),
        stem,
    )
}

/// The test errors sorted ascending, with the threshold of `point`.
pub fn sorted_errors(scores: &Scores, point: &OperatingPoint, stem: &Path) -> Result<Figure> {
    figures::sorted_errors(
        "Test reconstruction errors, sorted (red: held-out class)",
        &scores.scores(),
        &scores.held_out_flags(),
        point.threshold,
        &format!("p{} threshold {:.4}", point.percentile, point.threshold),
        stem,
    )
}

/// The same test images (`chosen`, test positions) reconstructed by each
/// run; `maps[r]` holds run `r`'s (from [`crate::analysis::same_images`]).
pub fn same_images(
    prepared: &Prepared,
    runs: &[Trained],
    chosen: &[usize],
    maps: &[Vec<ErrorMap>],
    stem: &Path,
) -> Result<Figure> {
    let test = prepared.manifest.indices(Split::Test);
    let first = &runs
        .first()
        .ok_or_else(|| Error::InvalidParameter("no run to show".into()))?
        .scores;
    let mut tiles: Vec<Tile> = chosen
        .iter()
        .map(|&i| cache_tile(prepared, test[i], first[i].class.clone(), None))
        .collect();
    let mut labels = vec!["original".to_string()];
    for (run, run_maps) in runs.iter().zip(maps) {
        for (m, &i) in run_maps.iter().zip(chosen) {
            let caption = format!("error {:.4}", run.scores[i].score);
            tiles.push(map_tile(m, &m.reconstruction, caption));
        }
        labels.push(run.record.architecture.to_string());
    }
    figures::image_grid(
        "The same test images reconstructed by each model",
        &tiles,
        chosen.len(),
        Some(&labels),
        stem,
    )
}

/// Mean test error per model (whiskers: ± one standard deviation over
/// seeds, when there are several).
pub fn error_bars(refinement: &Refinement, stem: &Path) -> Result<Figure> {
    let bars: Vec<Bar> = refinement
        .over_seeds
        .iter()
        .map(|s| Bar {
            label: s.model.clone(),
            value: s.mean_test_error.mean,
            whisker: (s.seeds > 1).then_some((
                s.mean_test_error.mean - s.mean_test_error.std,
                s.mean_test_error.mean + s.mean_test_error.std,
            )),
        })
        .collect();
    let title = match refinement.over_seeds.first().map_or(1, |s| s.seeds) {
        1 => "Mean test reconstruction error per model".to_string(),
        n => format!("Mean test reconstruction error per model (mean ± std over {n} seeds)"),
    };
    figures::bar_chart(&title, "mean test MSE", &bars, stem)
}

/// AUROC per model with its bootstrap 95 % interval.
pub fn auroc_bars(refinement: &Refinement, stem: &Path) -> Result<Figure> {
    let bars: Vec<Bar> = refinement
        .rows
        .iter()
        .map(|row| Bar {
            label: row.model.clone(),
            value: row.auroc.estimate,
            whisker: Some((row.auroc.low, row.auroc.high)),
        })
        .collect();
    figures::bar_chart(
        "Detection quality per model: AUROC with bootstrap 95% CI",
        "AUROC (held-out class vs rest)",
        &bars,
        stem,
    )
}

/// The ROC curve of every detector on the images outside the pool (on the
/// test split for those without unseen scores), AUROC in the legend.
pub fn ladder_roc(detectors: &[DetectorScores], stem: &Path) -> Result<Figure> {
    let series = detectors
        .iter()
        .map(|d| {
            let (scores, labels, on) = match &d.unseen {
                Some(u) => (
                    u.iter().map(|r| r.score).collect::<Vec<_>>(),
                    u.iter().map(|r| r.held_out).collect::<Vec<_>>(),
                    "",
                ),
                None => (d.test.scores(), d.test.held_out_flags(), ", test split"),
            };
            let points = roc_curve(&scores, &labels)?;
            Ok(Series {
                label: format!("{} ({:.3}{on})", d.id, auroc(&scores, &labels)),
                xs: points.iter().map(|p| p.fpr).collect(),
                ys: points.iter().map(|p| p.tpr).collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<DetectorId> = detectors.iter().map(|d| d.id.clone()).collect();
    figures::styled_roc_curves(
        "Every detector on the images outside the pool (AUROC)",
        &series,
        &detector_styles(&ids),
        stem,
    )
}

/// The `n` test images on which two detectors disagree most: the first row
/// those `b` ranks far more anomalous than `a`, the second the reverse.
/// Captions give each image's rank percentile under `a` and `b`; red frames
/// mark true anomalies.
pub fn disagreements(
    prepared: &Prepared,
    a: &DetectorScores,
    b: &DetectorScores,
    n: usize,
    stem: &Path,
) -> Result<Figure> {
    let (ra, rb) = (ranks(&a.test.scores()), ranks(&b.test.scores()));
    let mut order: Vec<usize> = (0..ra.len()).collect();
    order.sort_by(|&i, &j| (rb[j] - ra[j]).total_cmp(&(rb[i] - ra[i])));
    let n = n.clamp(1, order.len() / 2);
    let chosen = order[..n].iter().chain(order.iter().rev().take(n));
    let test = prepared.manifest.indices(Split::Test);
    let tiles: Vec<Tile> = chosen
        .map(|&i| {
            let row = &a.test[i];
            let caption = format!("{} {:.0}→{:.0}%", row.class, 100.0 * ra[i], 100.0 * rb[i]);
            cache_tile(prepared, test[i], caption, row.held_out.then_some(RED))
        })
        .collect();
    let labels = [
        format!("{} ranks higher", b.id),
        format!("{} ranks higher", a.id),
    ];
    figures::image_grid(
        &format!(
            "Where the detectors disagree most (rank percentile: {} → {})",
            a.id, b.id
        ),
        &tiles,
        n,
        Some(&labels),
        stem,
    )
}

/// Each image beside its anomaly map and the map laid over it, one row per
/// image (`maps[i]` of `paths[i]`, labelled `labels[i]`), the images
/// decoded and resized to `size` as the detector saw them. One colour
/// scale for the figure: black is the smallest patch distance shown, pale
/// yellow the largest.
pub fn anomaly_maps(
    paths: &[PathBuf],
    maps: &[AnomalyMap],
    labels: &[String],
    size: usize,
    stem: &Path,
) -> Result<Figure> {
    check_pairs(maps.len(), paths.len())?;
    let values = maps.iter().flat_map(|m| m.values.iter().copied());
    let (low, high) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut tiles = Vec::new();
    for (path, map) in paths.iter().zip(maps) {
        let image = read_resized(path, size, Resize::Bilinear)?;
        let above: Vec<f32> = map.upsampled(size).iter().map(|v| v - low).collect();
        let heat = figures::heatmap_rgb(&above, size, high - low);
        let overlay: Vec<u8> = image
            .iter()
            .zip(&heat)
            .map(|(&a, &b)| ((u16::from(a) + u16::from(b)) / 2) as u8)
            .collect();
        let (row, column) = map.peak();
        let tile = |rgb: Vec<u8>, caption: String| Tile {
            size,
            rgb,
            caption,
            border: None,
        };
        tiles.push(tile(image.clone(), "image".into()));
        tiles.push(tile(heat, format!("score {:.3}", map.score)));
        tiles.push(tile(overlay, format!("peak at row {row}, column {column}")));
    }
    figures::image_grid(
        "Anomaly maps: distance of each patch to the nearest training patch",
        &tiles,
        3,
        Some(labels),
        stem,
    )
}

/// [`anomaly_maps`] of the `n` test images a detector that localises
/// (PatchCore) scores most anomalous and the `n` it scores least
/// (`scores`: its test scores, the files under `data_dir`); an error for a
/// detector that scores whole images.
pub fn anomaly_gallery(
    detector: &dyn ImageScorer,
    scores: &Scores,
    data_dir: &Path,
    n: usize,
    stem: &Path,
) -> Result<Figure> {
    let localiser = detector
        .localiser()
        .ok_or_else(|| no_maps(&detector.id()))?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].score.total_cmp(&scores[a].score));
    let n = n.clamp(1, order.len() / 2);
    let shown: Vec<&ScoreRow> = order[..n]
        .iter()
        .chain(&order[order.len() - n..])
        .map(|&i| &scores[i])
        .collect();
    let paths: Vec<PathBuf> = shown.iter().map(|r| data_dir.join(&r.path)).collect();
    let labels: Vec<String> = shown
        .iter()
        .map(|r| format!("{}{}", r.class, if r.held_out { " (anomaly)" } else { "" }))
        .collect();
    let (maps, side) = localiser.anomaly_maps(&paths)?;
    anomaly_maps(&paths, &maps, &labels, side, stem)
}
