//! Every figure renders, with text, from realistic data; bad input is
//! rejected. Set `FIGURES_KEEP=DIR` to keep the rendered files for a look.

mod common;

use std::collections::HashSet;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use caltech_anomaly::Error;
use caltech_anomaly::figures::{
    Bar, Dash, Figure, LineStyle, Series, Tile, bar_chart, confusion_matrix, density_plot,
    heatmap_rgb, image_grid, loss_curves, pca_scatter, plot, pr_curve, roc_curve, roc_curves,
    sorted_errors, styled_roc_curves,
};
use caltech_anomaly::scoring::{Backbone, DetectorId};
use common::TempDir;
use plotters::style::RGBColor;

/// A small deterministic generator (xorshift64*), so that the tests need no
/// random-number crate and always draw the same data.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Box-Muller.
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
    }
}

/// The test set of the study: 483 reconstruction errors, 30 of them anomalies
/// with larger errors.
fn errors() -> (Vec<f64>, Vec<bool>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..483)
        .map(|i| {
            let anomaly = i % 16 == 5 && i < 16 * 30;
            let centre = if anomaly { 0.034 } else { 0.021 };
            ((centre * (0.3 * rng.normal()).exp()), anomaly)
        })
        .unzip()
}

/// ROC (fpr, tpr) and PR (recall, precision) points from scores, sweeping the
/// threshold down through the sorted errors.
fn curves(errors: &[f64], labels: &[bool]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by(|&a, &b| errors[b].total_cmp(&errors[a]));
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut fpr, mut tpr, mut recall, mut precision) = (vec![0.0], vec![0.0], vec![], vec![]);
    for i in order {
        if labels[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        fpr.push(fp / negatives);
        tpr.push(tp / positives);
        recall.push(tp / positives);
        precision.push(tp / (tp + fp));
    }
    (fpr, tpr, recall, precision)
}

/// A Gaussian KDE with Scott's bandwidth on 200 points; returns the curve and h.
fn kde(samples: &[f64], lo: f64, hi: f64) -> (Series, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let sd = (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let h = sd * n.powf(-0.2);
    let xs: Vec<f64> = (0..200)
        .map(|i| lo + (hi - lo) * i as f64 / 199.0)
        .collect();
    let ys = xs
        .iter()
        .map(|x| {
            samples
                .iter()
                .map(|s| (-0.5 * ((x - s) / h).powi(2)).exp())
                .sum::<f64>()
                / (n * h * (2.0 * PI).sqrt())
        })
        .collect();
    let series = Series {
        label: String::new(),
        xs,
        ys,
    };
    (series, h)
}

fn stem(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Copies the figure's files to `$FIGURES_KEEP`, when set.
fn keep(figure: &Figure) {
    let Ok(dir) = std::env::var("FIGURES_KEEP") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for path in std::iter::once(&figure.png).chain(&figure.svg) {
        std::fs::copy(path, Path::new(&dir).join(path.file_name().unwrap())).unwrap();
    }
}

/// Decodes the PNG, checks its size, and checks that it is not blank: many
/// colours (antialiased text and data), and dark title text in the top band.
fn check_png(path: &Path, size: (u32, u32)) -> image::RgbImage {
    let png = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(png.dimensions(), size, "{}", path.display());
    let colours: std::collections::HashSet<_> = png.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 20,
        "{}: {} colours",
        path.display(),
        colours.len()
    );
    let dark_in_title = (0..png.width())
        .flat_map(|x| (0..48).map(move |y| (x, y)))
        .filter(|&(x, y)| png.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count();
    assert!(dark_in_title > 40, "{}: no title text", path.display());
    png
}

/// Checks both files of a chart: 800×560 PNG, and an SVG with the title text.
fn check_chart(figure: &Figure, title: &str) {
    assert_eq!(figure.title, title);
    check_png(&figure.png, (800, 560));
    let svg_path = figure.svg.as_ref().expect("charts have an SVG");
    let svg = std::fs::read_to_string(svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains(title), "SVG lacks the title text");
    assert!(svg.trim_end().ends_with("</svg>"));
    keep(figure);
}

fn assert_invalid<T: std::fmt::Debug>(result: caltech_anomaly::Result<T>) {
    match result {
        Err(Error::InvalidParameter(_)) => {}
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn loss_curves_render() {
    let dir = TempDir::new().unwrap();
    let epochs: Vec<usize> = (1..=10).collect();
    let train: Vec<f64> = epochs
        .iter()
        .map(|&e| 0.02 + 0.03 * (-(e as f64 - 1.0) / 2.5).exp())
        .collect();
    let val: Vec<f64> = train
        .iter()
        .zip(&epochs)
        .map(|(t, &e)| t + 0.002 + 0.0004 * (e as f64 - 7.0).max(0.0))
        .collect();
    let title = "Training and validation loss";
    let figure = loss_curves(title, &epochs, &train, &val, 7, &stem(&dir, "loss")).unwrap();
    assert_eq!(figure.png, dir.path().join("loss.png"));
    assert_eq!(figure.svg, Some(dir.path().join("loss.svg")));
    check_chart(&figure, title);

    // One epoch: a degenerate range on both axes.
    let one = loss_curves("One epoch", &[1], &[0.03], &[0.03], 1, &stem(&dir, "loss1"));
    check_chart(&one.unwrap(), "One epoch");

    assert_invalid(loss_curves("t", &[], &[], &[], 1, &stem(&dir, "x")));
    assert_invalid(loss_curves(
        "t",
        &[1, 2],
        &[0.1],
        &[0.1, 0.1],
        1,
        &stem(&dir, "x"),
    ));
    assert_invalid(loss_curves(
        "t",
        &[1],
        &[f64::NAN],
        &[0.1],
        1,
        &stem(&dir, "x"),
    ));
    assert_invalid(loss_curves(
        "t",
        &[1, 2],
        &[0.1, 0.1],
        &[0.1, 0.1],
        3,
        &stem(&dir, "x"),
    ));
}

#[test]
fn roc_and_pr_curves_render() {
    let dir = TempDir::new().unwrap();
    let (errors, labels) = errors();
    let (fpr, tpr, recall, precision) = curves(&errors, &labels);
    let title = "ROC curve, test set";
    let roc = roc_curve(
        title,
        &fpr,
        &tpr,
        0.812,
        Some((0.751, 0.866)),
        &stem(&dir, "roc"),
    );
    check_chart(&roc.unwrap(), title);
    let svg = std::fs::read_to_string(dir.path().join("roc.svg")).unwrap();
    assert!(svg.contains("AUROC 0.812 [0.751, 0.866]"));

    let title = "Precision-recall curve, test set";
    let prevalence = 30.0 / 483.0;
    let pr = pr_curve(
        title,
        &recall,
        &precision,
        0.214,
        None,
        prevalence,
        &stem(&dir, "pr"),
    );
    check_chart(&pr.unwrap(), title);
    let svg = std::fs::read_to_string(dir.path().join("pr.svg")).unwrap();
    assert!(svg.contains("AUPRC 0.214"));

    // A single point is drawable.
    check_chart(
        &roc_curve(
            "Single point",
            &[0.5],
            &[0.5],
            0.5,
            None,
            &stem(&dir, "roc1"),
        )
        .unwrap(),
        "Single point",
    );

    assert_invalid(roc_curve("t", &[], &[], 0.5, None, &stem(&dir, "x")));
    assert_invalid(roc_curve(
        "t",
        &[0.0, 1.0],
        &[1.0],
        0.5,
        None,
        &stem(&dir, "x"),
    ));
    assert_invalid(roc_curve(
        "t",
        &[f64::NAN],
        &[0.0],
        0.5,
        None,
        &stem(&dir, "x"),
    ));
    assert_invalid(roc_curve(
        "t",
        &[0.0],
        &[0.0],
        f64::NAN,
        None,
        &stem(&dir, "x"),
    ));
    assert_invalid(roc_curve("t", &[0.0], &[1.5], 0.5, None, &stem(&dir, "x")));
    assert_invalid(roc_curve(
        "t",
        &[0.0],
        &[0.0],
        0.5,
        Some((0.6, 0.4)),
        &stem(&dir, "x"),
    ));
    assert_invalid(pr_curve(
        "t",
        &[0.0],
        &[1.0],
        0.5,
        None,
        f64::NAN,
        &stem(&dir, "x"),
    ));
    assert_invalid(pr_curve(
        "t",
        &[0.0, 1.0],
        &[1.0],
        0.5,
        None,
        0.1,
        &stem(&dir, "x"),
    ));
}

/// The published `quick` ladder's detectors, in its order.
fn published_ladder() -> Vec<DetectorId> {
    let csv = include_str!("../docs/results/quick/tables/ladder.csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect()
}

#[test]
fn the_ladder_roc_draws_each_detector_in_its_own_style_with_the_legend_beside() {
    let ids = published_ladder();
    let styles = plot::detector_styles(&ids);
    let unique: HashSet<LineStyle> = styles.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "no two detectors alike: {styles:?}"
    );
    let random = LineStyle {
        color: RGBColor(110, 110, 110),
        dash: Dash::Dashed,
    };
    assert!(
        !unique.contains(&random),
        "none drawn as the random classifier"
    );
    // Chosen from what each detector is, not from its place in a list.
    for (id, style) in ids.iter().zip(&styles) {
        assert_eq!(plot::detector_style(id), *style, "{id}");
    }
    let reversed: Vec<DetectorId> = ids.iter().rev().cloned().collect();
    let again: Vec<LineStyle> = plot::detector_styles(&reversed).into_iter().rev().collect();
    assert_eq!(again, styles);
    // Two alike (two kNN of one backbone) are moved apart.
    let knn = |k| DetectorId::Knn {
        backbone: Backbone::Lite0,
        k,
    };
    let two = plot::detector_styles(&[knn(5), knn(10)]);
    assert_ne!(two[0], two[1]);
    assert_eq!(two[0], plot::detector_style(&knn(5)));

    // Drawn: the plot on the left, the legend in the band to its right.
    let dir = TempDir::new().unwrap();
    let (errors, labels) = errors();
    let (fpr, tpr, ..) = curves(&errors, &labels);
    let series: Vec<Series> = ids
        .iter()
        .map(|id| Series {
            label: format!("{id} (0.812)"),
            xs: fpr.clone(),
            ys: tpr.clone(),
        })
        .collect();
    let title = "Every detector";
    let figure = styled_roc_curves(title, &series, &styles, &stem(&dir, "ladder_roc")).unwrap();
    let png = check_png(&figure.png, (1240, 620));
    keep(&figure);
    let svg = std::fs::read_to_string(figure.svg.as_ref().unwrap()).unwrap();
    assert!(svg.contains("PatchCore mean, EfficientNet-Lite0 (1 % coreset) (0.812)"));
    // Every style's colour appears in the legend band, right of the plot.
    let band: HashSet<[u8; 3]> = (660..png.width())
        .flat_map(|x| (0..png.height()).map(move |y| (x, y)))
        .map(|(x, y)| png.get_pixel(x, y).0)
        .collect();
    for style in &styles {
        let RGBColor(r, g, b) = style.color;
        assert!(band.contains(&[r, g, b]), "{style:?} has no legend entry");
    }
    assert_invalid(styled_roc_curves(
        title,
        &series,
        &styles[1..],
        &stem(&dir, "x"),
    ));
    // Without styles, the curves take the palette's colours, then dashes.
    let plain = roc_curves(title, &series, &stem(&dir, "plain")).unwrap();
    check_png(&plain.png, (1240, 620));
}

#[test]
fn confusion_matrix_renders() {
    let dir = TempDir::new().unwrap();
    let title = "Confusion matrix, p80 threshold";
    let subtitle = "threshold p80 = 0.0123 · precision 0.41 · recall 0.63 · F1 0.50 · FPR 0.12";
    let figure = confusion_matrix(title, 19, 11, 78, 375, subtitle, &stem(&dir, "cm")).unwrap();
    check_chart(&figure, title);
    let svg = std::fs::read_to_string(figure.svg.as_ref().unwrap()).unwrap();
    for text in [
        "TP",
        "FN",
        "FP",
        "TN",
        "375",
        "predicted anomaly",
        "actual normal",
    ] {
        assert!(svg.contains(text), "SVG lacks {text}");
    }

    // Zero counts, and an empty row, are drawable.
    let zeros = confusion_matrix("All normal", 0, 0, 0, 483, "", &stem(&dir, "cm0"));
    check_chart(&zeros.unwrap(), "All normal");
    assert_invalid(confusion_matrix("t", 0, 0, 0, 0, "", &stem(&dir, "x")));
}

#[test]
fn density_plot_renders() {
    let dir = TempDir::new().unwrap();
    let (errors, labels) = errors();
    let normals: Vec<f64> = errors
        .iter()
        .zip(&labels)
        .filter(|&(_, &a)| !a)
        .map(|(e, _)| *e)
        .collect();
    let anomalies: Vec<f64> = errors
        .iter()
        .zip(&labels)
        .filter(|&(_, &a)| a)
        .map(|(e, _)| *e)
        .collect();
    let (mut all, h_all) = kde(&errors, 0.0, 0.07);
    all.label = "all test images".to_owned();
    let (mut normal, _) = kde(&normals, 0.0, 0.07);
    normal.label = "normal".to_owned();
    let (mut anomaly, h_anomaly) = kde(&anomalies, 0.0, 0.07);
    anomaly.label = "anomaly".to_owned();
    let markers = [("p80".to_owned(), 0.0265), ("p95".to_owned(), 0.0331)];
    let note =
        format!("Gaussian KDE, Scott's rule: h = {h_all:.4} (all), {h_anomaly:.4} (anomaly)");
    let title = "Reconstruction error density";
    let figure = density_plot(
        title,
        "reconstruction error (MSE)",
        &[all, normal, anomaly],
        &markers,
        &note,
        &stem(&dir, "density"),
    )
    .unwrap();
    check_chart(&figure, title);
    let svg = std::fs::read_to_string(figure.svg.as_ref().unwrap()).unwrap();
    assert!(svg.contains("Gaussian KDE"));
    assert!(svg.contains("p80 = 0.0265"));

    // A flat curve of one value, no markers, no note.
    let flat = Series {
        label: "flat".to_owned(),
        xs: vec![0.02; 3],
        ys: vec![0.0; 3],
    };
    let figure = density_plot(
        "Flat",
        "x",
        std::slice::from_ref(&flat),
        &[],
        "",
        &stem(&dir, "flat"),
    );
    check_chart(&figure.unwrap(), "Flat");

    assert_invalid(density_plot("t", "x", &[], &[], "", &stem(&dir, "x")));
    let mut short = flat.clone();
    short.ys.pop();
    assert_invalid(density_plot("t", "x", &[short], &[], "", &stem(&dir, "x")));
    let mut nan = flat.clone();
    nan.ys[1] = f64::NAN;
    assert_invalid(density_plot("t", "x", &[nan], &[], "", &stem(&dir, "x")));
    let empty = Series {
        label: "empty".to_owned(),
        xs: vec![],
        ys: vec![],
    };
    assert_invalid(density_plot("t", "x", &[empty], &[], "", &stem(&dir, "x")));
    let bad_marker = [("p80".to_owned(), f64::INFINITY)];
    assert_invalid(density_plot(
        "t",
        "x",
        &[flat],
        &bad_marker,
        "",
        &stem(&dir, "x"),
    ));
}

#[test]
fn pca_scatter_renders() {
    let dir = TempDir::new().unwrap();
    let (errors, labels) = errors();
    let mut rng = Rng(7);
    let points: Vec<[f64; 2]> = labels
        .iter()
        .map(|&a| {
            let shift = if a { 2.5 } else { 0.0 };
            [3.0 * rng.normal() + shift, 1.5 * rng.normal() - shift / 2.0]
        })
        .collect();
    let flagged: Vec<bool> = errors.iter().map(|&e| e > 0.0265).collect();
    let title = "PCA of latent codes";
    let note = "encoder latent codes, 256-d, 483 test images";
    let figure = pca_scatter(
        title,
        &points,
        &labels,
        &flagged,
        [0.342, 0.117],
        note,
        &stem(&dir, "pca"),
    )
    .unwrap();
    check_chart(&figure, title);
    let svg = std::fs::read_to_string(figure.svg.as_ref().unwrap()).unwrap();
    assert!(svg.contains("PC1 (34.2 % of variance)"));
    assert!(svg.contains(note));

    let one = pca_scatter(
        "One point",
        &[[1.0, 1.0]],
        &[true],
        &[true],
        [1.0, 0.0],
        "",
        &stem(&dir, "pca1"),
    );
    check_chart(&one.unwrap(), "One point");

    assert_invalid(pca_scatter(
        "t",
        &[],
        &[],
        &[],
        [0.5, 0.2],
        "",
        &stem(&dir, "x"),
    ));
    assert_invalid(pca_scatter(
        "t",
        &[[0.0, 0.0]],
        &[],
        &[false],
        [0.5, 0.2],
        "",
        &stem(&dir, "x"),
    ));
    assert_invalid(pca_scatter(
        "t",
        &[[0.0, f64::NAN]],
        &[false],
        &[false],
        [0.5, 0.2],
        "",
        &stem(&dir, "x"),
    ));
    assert_invalid(pca_scatter(
        "t",
        &[[0.0, 0.0]],
        &[false],
        &[false],
        [34.2, 11.7],
        "",
        &stem(&dir, "x"),
    ));
}

#[test]
fn sorted_errors_render() {
    let dir = TempDir::new().unwrap();
    let (errors, labels) = errors();
    let title = "Reconstruction errors, sorted";
    let figure = sorted_errors(
        title,
        &errors,
        &labels,
        0.0265,
        "p80 threshold 0.0265",
        &stem(&dir, "sorted"),
    )
    .unwrap();
    check_chart(&figure, title);
    let png = image::open(&figure.png).unwrap().to_rgb8();
    let red = png.pixels().filter(|p| p.0 == [214, 39, 40]).count();
    assert!(red > 100, "anomaly bars missing ({red} red pixels)");

    let same = sorted_errors(
        "All equal",
        &[0.02; 5],
        &[false; 5],
        0.02,
        "t",
        &stem(&dir, "s1"),
    );
    check_chart(&same.unwrap(), "All equal");

    assert_invalid(sorted_errors("t", &[], &[], 0.1, "t", &stem(&dir, "x")));
    assert_invalid(sorted_errors(
        "t",
        &[0.1],
        &[true, false],
        0.1,
        "t",
        &stem(&dir, "x"),
    ));
    assert_invalid(sorted_errors(
        "t",
        &[f64::NAN],
        &[true],
        0.1,
        "t",
        &stem(&dir, "x"),
    ));
    assert_invalid(sorted_errors(
        "t",
        &[0.1],
        &[true],
        f64::NAN,
        "t",
        &stem(&dir, "x"),
    ));
}

#[test]
fn bar_chart_renders() {
    let dir = TempDir::new().unwrap();
    let bar = |label: &str, value: f64, whisker: Option<(f64, f64)>| Bar {
        label: label.to_owned(),
        value,
        whisker,
    };
    let bars = [
        bar("baseline AE", 0.742, Some((0.681, 0.797))),
        bar("deeper AE", 0.768, Some((0.709, 0.822))),
        bar("latent 64", 0.701, Some((0.633, 0.764))),
        bar("augmented training", 0.812, Some((0.751, 0.866))),
        bar("denoising", 0.655, None),
    ];
    let title = "AUROC by model";
    let figure = bar_chart(title, "AUROC", &bars, &stem(&dir, "bars")).unwrap();
    check_chart(&figure, title);
    let svg = std::fs::read_to_string(figure.svg.as_ref().unwrap()).unwrap();
    assert!(svg.contains("0.812") && svg.contains("baseline AE"));

    // One bar at zero; a negative bar.
    check_chart(
        &bar_chart("Zero", "v", &[bar("zero", 0.0, None)], &stem(&dir, "b1")).unwrap(),
        "Zero",
    );
    let mixed = [
        bar("up", 0.3, Some((0.2, 0.4))),
        bar("down", -0.2, Some((-0.3, -0.1))),
    ];
    check_chart(
        &bar_chart("Mixed", "difference", &mixed, &stem(&dir, "b2")).unwrap(),
        "Mixed",
    );

    assert_invalid(bar_chart("t", "v", &[], &stem(&dir, "x")));
    assert_invalid(bar_chart(
        "t",
        "v",
        &[bar("nan", f64::NAN, None)],
        &stem(&dir, "x"),
    ));
    assert_invalid(bar_chart(
        "t",
        "v",
        &[bar("w", 0.5, Some((0.6, 0.4)))],
        &stem(&dir, "x"),
    ));
}

/// A recognisable S×S test image: colour gradients varying with `seed`.
fn pattern(size: usize, seed: usize) -> Vec<u8> {
    (0..size * size)
        .flat_map(|i| {
            let (y, x) = (i / size, i % size);
            [
                (x * 255 / size) as u8,
                (y * 255 / size) as u8,
                ((seed * 37) % 256) as u8,
            ]
        })
        .collect()
}

#[test]
fn image_grid_renders() {
    let dir = TempDir::new().unwrap();
    let labels: Vec<String> = ["input", "reconstruction", "error map", "anomalies (ringed)"]
        .map(String::from)
        .to_vec();
    for size in [32, 64] {
        let tiles: Vec<Tile> = (0..32)
            .map(|i| {
                let rgb = if i / 8 == 2 {
                    let values: Vec<f32> = (0..size * size)
                        .map(|p| ((p % size) as f32 / size as f32) * 0.04)
                        .collect();
                    heatmap_rgb(&values, size, 0.03)
                } else {
                    pattern(size, i)
                };
                Tile {
                    size,
                    rgb,
                    caption: if i % 8 == 0 {
                        format!("Faces_easy image_{i:04}.jpg · err 0.0213")
                    } else {
                        format!("err 0.0{}", 12 + i)
                    },
                    border: (i / 8 == 3 && i % 3 == 0).then_some(RGBColor(214, 39, 40)),
                }
            })
            .collect();
        let title = format!("Test images, {size} px");
        let out = stem(&dir, &format!("grid{size}"));
        let figure = image_grid(&title, &tiles, 8, Some(&labels), &out).unwrap();
        assert_eq!(figure.svg, None);
        let cell = if size == 32 { 96 } else { 128 };
        let expected = (
            16 * 2 + 170 + 8 * cell + 7 * 14,
            56 + 4 * (cell + 22) + 3 * 14 + 16,
        );
        let png = check_png(&figure.png, expected);
        // The first tile, scaled up by a whole factor: its top-left pixel
        // block is the source's top-left pixel.
        let (x0, y0) = (16 + 170, 56);
        assert_eq!(png.get_pixel(x0 as u32, y0).0, [0, 0, 0]);
        assert_eq!(png.get_pixel(x0 as u32 + 1, y0 + 1).0, [0, 0, 0]);
        keep(&figure);
    }

    // Without row labels, one small tile.
    let tile = Tile {
        size: 8,
        rgb: pattern(8, 1),
        caption: "tiny".to_owned(),
        border: None,
    };
    let figure = image_grid(
        "One tile",
        std::slice::from_ref(&tile),
        4,
        None,
        &stem(&dir, "one"),
    )
    .unwrap();
    check_png(&figure.png, (480, 56 + 96 + 22 + 16));

    // Mixed sizes: cells fit the largest (100 px); the 8-px tile, shown at
    // 96 px, is centred in its cell, and the 246-px-wide grid in the figure.
    let large = Tile {
        size: 100,
        rgb: pattern(100, 2),
        caption: "large".to_owned(),
        border: Some(RGBColor(0, 0, 0)),
    };
    let mixed = [tile.clone(), large];
    let figure = image_grid("Mixed sizes", &mixed, 2, None, &stem(&dir, "mixed")).unwrap();
    let png = check_png(&figure.png, (480, 56 + 100 + 22 + 16));
    let left = (480 - 246) / 2 + 16;
    assert_eq!(png.get_pixel(left + 1, 56 + 1).0, [255, 255, 255]);
    assert_eq!(png.get_pixel(left + 2, 56 + 2).0, pattern(8, 1)[..3]);
    keep(&figure);

    assert_invalid(image_grid("t", &[], 4, None, &stem(&dir, "x")));
    assert_invalid(image_grid(
        "t",
        std::slice::from_ref(&tile),
        0,
        None,
        &stem(&dir, "x"),
    ));
    let two = ["a".to_owned(), "b".to_owned()];
    assert_invalid(image_grid(
        "t",
        std::slice::from_ref(&tile),
        4,
        Some(&two),
        &stem(&dir, "x"),
    ));
    let mut torn = tile;
    torn.rgb.pop();
    assert_invalid(image_grid("t", &[torn], 4, None, &stem(&dir, "x")));
}

#[test]
fn heatmap_runs_dark_to_bright() {
    let values = [0.0, 0.01, 0.02, 0.03, 0.06, f32::NAN, -1.0, 0.015, 0.025];
    let rgb = heatmap_rgb(&values, 3, 0.03);
    assert_eq!(rgb.len(), 9 * 3);
    let luma = |i: usize| {
        rgb[3 * i..3 * i + 3]
            .iter()
            .map(|&c| u32::from(c))
            .sum::<u32>()
    };
    assert!(luma(0) < luma(1) && luma(1) < luma(2) && luma(2) < luma(3));
    assert_eq!(&rgb[9..12], &rgb[12..15], "values above max clip");
    assert_eq!(&rgb[0..3], &rgb[15..18], "NaN maps to 0");
    assert_eq!(&rgb[0..3], &rgb[18..21], "negative values clip to 0");
    assert!(rgb[0..3].iter().all(|&c| c < 10), "0 is black");
    assert!(rgb[9] > 240 && rgb[10] > 240, "max is pale yellow");
    // Not a grey ramp: the middle of the scale is coloured.
    assert!(rgb[6] > rgb[8] + 100, "2/3 of the scale is orange");
    assert_eq!(heatmap_rgb(&[0.5], 1, 0.0), heatmap_rgb(&[0.0], 1, 1.0));
}

#[test]
#[should_panic(expected = "values for a 2×2 map")]
fn heatmap_rejects_wrong_length() {
    heatmap_rgb(&[0.0; 3], 2, 1.0);
}

#[test]
fn outputs_go_where_asked() {
    let dir = TempDir::new().unwrap();
    // A missing parent directory is created; a dot in the stem is kept.
    let out = dir.path().join("nested/figs/roc.p80");
    let figure = roc_curve("ROC", &[0.0, 1.0], &[0.0, 1.0], 0.5, None, &out).unwrap();
    assert_eq!(figure.png, dir.path().join("nested/figs/roc.p80.png"));
    assert_eq!(figure.svg, Some(dir.path().join("nested/figs/roc.p80.svg")));
    let names: Vec<_> = std::fs::read_dir(dir.path().join("nested/figs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");

    let content = figure.evcxr_content().unwrap();
    assert!(content.starts_with("EVCXR_BEGIN_CONTENT image/png\niVBORw0KGgo"));
    assert!(content.ends_with("\nEVCXR_END_CONTENT\n"));
    let missing = Figure {
        png: dir.path().join("missing.png"),
        ..figure
    };
    assert!(missing.evcxr_content().is_err());
}
