//! Report section 6: anomaly detection by thresholding the reconstruction
//! error. An image is flagged when its error lies strictly above a
//! threshold; the true anomalies are the held-out class
//! (`BACKGROUND_Google` in the report).

use std::path::Path;

use polars::prelude::{DataFrame, PolarsResult};
use serde::Serialize;

use crate::analysis::PerClassRow;
use crate::error::{Error, Result};
use crate::io::{Markdown, column, write_csv_atomic};
use crate::scoring::ScoreRow;
use crate::stats::{check_finite, check_percentile, is_flagged, percentile_of_sorted, sorted};

/// The report's percentile sweep.
pub const DEFAULT_PERCENTILES: [f64; 5] = [75.0, 80.0, 85.0, 90.0, 95.0];

/// The percentile of the report's outlier gallery.
pub const GALLERY_PERCENTILE: f64 = 90.0;

/// Where a detection threshold comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    /// The report's definition: the p-th percentile of the test errors
    /// themselves. It uses no label, but it does look at the test set, so
    /// about `1 − p/100` of all test images are flagged by construction.
    TestPercentile,
    /// The p-th percentile of the validation errors, which hold normal
    /// images only: a threshold fixed before the test set is seen.
    ValidationPercentile,
}

impl ThresholdSource {
    /// The name in the CSV and DataFrame `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdSource::TestPercentile => "test_percentile",
            ThresholdSource::ValidationPercentile => "validation_percentile",
        }
    }
}

impl std::fmt::Display for ThresholdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the detection table (the report's `get_detection_result`
/// for one percentile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionRow {
    pub percentile: f64,
    pub source: ThresholdSource,
    pub threshold: f64,
    /// Test images with an error strictly above the threshold.
    pub flagged: usize,
    /// Normal images flagged: false positives.
    pub clean_flagged: usize,
    /// Held-out images flagged: true positives.
    pub held_out_flagged: usize,
    pub clean_total: usize,
    pub held_out_total: usize,
    /// `1 − p/100`: the fraction of normal images expected above a
    /// percentile threshold when they follow the distribution it was taken
    /// from (for [`ThresholdSource::TestPercentile`], that is the whole test
    /// set, anomalies included).
    pub expected_fpr: f64,
    /// `clean_flagged / clean_total`; NaN without normal images.
    pub achieved_fpr: f64,
    /// `held_out_flagged / held_out_total`; NaN without held-out images.
    pub tpr: f64,
}

/// The detection table: for every percentile, a row with the report's
/// test-percentile threshold and, when `validation_errors` is given, a row
/// with the validation-percentile threshold right after it.
///
/// Errors on empty `test`, `percentiles` or `validation_errors`, on
/// non-finite errors and on percentiles outside `0..=100`.
///
/// ```
/// use caltech_anomaly::data::Split;
/// use caltech_anomaly::analysis::{ThresholdSource, detection_table};
/// use caltech_anomaly::scoring::ScoreRow;
///
/// let row = |score: f64, held_out: bool| ScoreRow {
///     path: String::new(),
///     class: if held_out { "BACKGROUND_Google" } else { "ant" }.into(),
///     label: 0,
///     split: Split::Test,
///     score,
///     held_out,
/// };
/// let test = [row(0.1, false), row(0.2, false), row(0.3, false), row(0.9, true)];
/// let table = detection_table(&test, Some(&[0.1, 0.15, 0.2]), &[50.0])?;
/// // Test median 0.25: one clean image and the anomaly lie above it.
/// assert_eq!(table[0].source, ThresholdSource::TestPercentile);
/// assert_eq!((table[0].clean_flagged, table[0].held_out_flagged), (1, 1));
/// // Validation median 0.15: two clean images lie above it.
/// assert_eq!((table[1].clean_flagged, table[1].held_out_flagged), (2, 1));
/// # Ok::<(), caltech_anomaly::Error>(())
/// ```
pub fn detection_table(
    test: &[ScoreRow],
    validation_errors: Option<&[f64]>,
    percentiles: &[f64],
) -> Result<Vec<DetectionRow>> {
    let test_errors: Vec<f64> = test.iter().map(|r| r.score).collect();
    check_finite(&test_errors, "test errors")?;
    if percentiles.is_empty() {
        return Err(Error::InvalidParameter("no percentile given".into()));
    }
    for &p in percentiles {
        check_percentile(p)?;
    }
    let test_sorted = sorted(&test_errors);
    let validation_sorted = match validation_errors {
        Some(errors) => {
            check_finite(errors, "validation errors")?;
            Some(sorted(errors))
        }
        None => None,
    };

    let mut rows = Vec::with_capacity(percentiles.len() * 2);
    for &p in percentiles {
        rows.push(detection_row(
            test,
            p,
            ThresholdSource::TestPercentile,
            percentile_of_sorted(&test_sorted, p),
        ));
        if let Some(validation) = &validation_sorted {
            rows.push(detection_row(
                test,
                p,
                ThresholdSource::ValidationPercentile,
                percentile_of_sorted(validation, p),
            ));
        }
    }
    Ok(rows)
}

fn detection_row(
    test: &[ScoreRow],
    percentile: f64,
    source: ThresholdSource,
    threshold: f64,
) -> DetectionRow {
    let (mut clean_flagged, mut held_out_flagged, mut held_out_total) = (0, 0, 0);
    for row in test {
        let flagged = is_flagged(row.score, threshold);
        if row.held_out {
            held_out_total += 1;
            held_out_flagged += usize::from(flagged);
        } else {
            clean_flagged += usize::from(flagged);
        }
    }
    let clean_total = test.len() - held_out_total;
    DetectionRow {
        percentile,
        source,
        threshold,
        flagged: clean_flagged + held_out_flagged,
        clean_flagged,
        held_out_flagged,
        clean_total,
        held_out_total,
        expected_fpr: 1.0 - percentile / 100.0,
        achieved_fpr: clean_flagged as f64 / clean_total as f64,
        tpr: held_out_flagged as f64 / held_out_total as f64,
    }
}

/// Writes the detection table as CSV, atomically.
pub fn write_detection_csv(path: &Path, rows: &[DetectionRow]) -> Result<()> {
    write_csv_atomic(path, rows)
}

/// The detection table as a polars DataFrame, for notebooks.
pub fn detection_dataframe(rows: &[DetectionRow]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("percentile", rows, |r| r.percentile),
        column("source", rows, |r| r.source.as_str()),
        column("threshold", rows, |r| r.threshold),
        column("flagged", rows, |r| r.flagged as u64),
        column("clean_flagged", rows, |r| r.clean_flagged as u64),
        column("held_out_flagged", rows, |r| r.held_out_flagged as u64),
        column("clean_total", rows, |r| r.clean_total as u64),
        column("held_out_total", rows, |r| r.held_out_total as u64),
        column("expected_fpr", rows, |r| r.expected_fpr),
        column("achieved_fpr", rows, |r| r.achieved_fpr),
        column("tpr", rows, |r| r.tpr),
    ])
}

/// How many test images a class has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    pub class: String,
    pub images: usize,
    /// Whether the class is held out (its images are the anomalies).
    pub held_out: bool,
}

/// Images per class of the test set, most frequent first (ties by class
/// name).
pub fn class_counts(test: &[ScoreRow]) -> Vec<ClassCount> {
    let mut counts: Vec<ClassCount> = Vec::new();
    for row in test {
        match counts.iter_mut().find(|c| c.class == row.class) {
            Some(count) => {
                count.images += 1;
                count.held_out |= row.held_out;
            }
            None => counts.push(ClassCount {
                class: row.class.clone(),
                images: 1,
                held_out: row.held_out,
            }),
        }
    }
    counts.sort_by(|a, b| b.images.cmp(&a.images).then_with(|| a.class.cmp(&b.class)));
    counts
}

/// [`class_counts`] as a polars DataFrame with columns `class`, `images`,
/// `held_out`.
pub fn class_counts_dataframe(counts: &[ClassCount]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("class", counts, |c| c.class.as_str()),
        column("images", counts, |c| c.images as u64),
        column("held_out", counts, |c| c.held_out),
    ])
}

/// A flagged test image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlier {
    /// Its row in the test slice.
    pub index: usize,
    pub path: String,
    pub class: String,
    pub error: f64,
    /// Whether it is a true anomaly (held-out class).
    pub is_anomaly: bool,
}

/// The test images with an error strictly above `threshold`, largest error
/// first (ties in test order). A NaN threshold flags nothing.
pub fn outliers(test: &[ScoreRow], threshold: f64) -> Vec<Outlier> {
    let mut found: Vec<Outlier> = test
        .iter()
        .enumerate()
        .filter(|(_, row)| is_flagged(row.score, threshold))
        .map(|(index, row)| Outlier {
            index,
            path: row.path.clone(),
            class: row.class.clone(),
            error: row.score,
            is_anomaly: row.held_out,
        })
        .collect();
    // Stable sort: equal errors keep their test order.
    found.sort_by(|a, b| b.error.total_cmp(&a.error));
    found
}

/// [`outliers`] as a table.
pub fn outliers_dataframe(flagged: &[Outlier]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("index", flagged, |o| o.index as u64),
        column("class", flagged, |o| o.class.as_str()),
        column("error", flagged, |o| o.error),
        column("anomaly", flagged, |o| o.is_anomaly),
        column("path", flagged, |o| o.path.as_str()),
    ])
}

/// The held-out test images at or below `threshold`: the anomalies missed.
pub fn missed_anomalies(test: &[ScoreRow], threshold: f64) -> Vec<Outlier> {
    test.iter()
        .enumerate()
        .filter(|(_, r)| r.held_out && !is_flagged(r.score, threshold))
        .map(|(index, row)| Outlier {
            index,
            path: row.path.clone(),
            class: row.class.clone(),
            error: row.score,
            is_anomaly: true,
        })
        .collect()
}

/// The evidence behind the report's dataset recommendations, in words: the
/// normal classes flagged most often at the `p`-th percentile `threshold`
/// (`classes` from [`crate::analysis::per_class`]) and the anomalies missed.
pub fn recommendations(
    test: &[ScoreRow],
    classes: &[PerClassRow],
    threshold: f64,
    p: f64,
) -> Markdown {
    let mut text = format!(
        "At the p{p} threshold ({threshold:.4}), these normal classes are flagged most \
         often (false alarms):\n\n"
    );
    for c in classes.iter().filter(|c| c.flagged > 0).take(8) {
        text.push_str(&format!(
            "- `{}`: {} of {} test images flagged, mean error {:.4}\n",
            c.class, c.flagged, c.images, c.mean_error
        ));
    }
    let held_total = test.iter().filter(|r| r.held_out).count();
    text.push_str(&format!(
        "\n{} of {held_total} held-out images are missed: their error is at or below the \
         threshold, as low as that of the unflagged object images. Which images fall on each \
         side is listed in the tables and shown in the outlier gallery; such cases are the \
         evidence behind the report's advice for the dataset: crop objects to cut the error \
         that comes from their backgrounds, keep objects of known classes out of the \
         background class, and cover common background patterns (including plain, \
         monochromatic ones).",
        missed_anomalies(test, threshold).len(),
    ));
    Markdown(text)
}
