//! Report section 6 through the public API: percentiles, the detection
//! table, its CSV and DataFrame forms, class counts and the outlier list.

mod common;

use approx::assert_abs_diff_eq;
use caltech_anomaly::Error;
use caltech_anomaly::analysis::{
    ClassCount, DEFAULT_PERCENTILES, DetectionRow, ThresholdSource, class_counts,
    class_counts_dataframe, detection_dataframe, detection_table, outliers, write_detection_csv,
};
use caltech_anomaly::data::Split;
use caltech_anomaly::scoring::ScoreRow;
use caltech_anomaly::stats::percentile;

fn row(class: &str, error: f64, held_out: bool) -> ScoreRow {
    ScoreRow {
        path: format!("{class}/image_{:04}.jpg", (error * 1000.0) as u32),
        class: class.into(),
        label: 0,
        split: Split::Test,
        score: error,
        held_out,
    }
}

/// Six clean images (0.1..=0.6) and four anomalies (0.35, 0.7, 0.8, 0.9).
fn test_set() -> Vec<ScoreRow> {
    vec![
        row("ant", 0.1, false),
        row("BACKGROUND_Google", 0.7, true),
        row("ant", 0.2, false),
        row("pizza", 0.6, false),
        row("BACKGROUND_Google", 0.35, true),
        row("pizza", 0.3, false),
        row("BACKGROUND_Google", 0.9, true),
        row("accordion", 0.4, false),
        row("accordion", 0.5, false),
        row("BACKGROUND_Google", 0.8, true),
    ]
}

fn invalid<T: std::fmt::Debug>(result: caltech_anomaly::Result<T>) -> bool {
    matches!(result, Err(Error::InvalidParameter(_)))
}

#[test]
fn percentile_matches_numpy() {
    // Expected values from numpy.percentile (numpy 2.4, default "linear").
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile(&v, 75.0).unwrap(), 3.25);
    assert_eq!(percentile(&v, 25.0).unwrap(), 1.75);
    assert_eq!(percentile(&v, 50.0).unwrap(), 2.5);
    assert_abs_diff_eq!(percentile(&v, 90.0).unwrap(), 3.7, epsilon = 1e-12);
    // Order of the input does not matter.
    let v = [50.0, 15.0, 40.0, 20.0, 35.0];
    assert_abs_diff_eq!(percentile(&v, 40.0).unwrap(), 29.0, epsilon = 1e-12);
}

#[test]
fn percentile_is_monotone_and_bounded() {
    let v: Vec<f64> = (0..37).map(|i| ((i * 17 % 37) as f64).sqrt()).collect();
    let (min, max) = (0.0, 36f64.sqrt());
    let mut previous = f64::NEG_INFINITY;
    for step in 0..=200 {
        let q = percentile(&v, step as f64 / 2.0).unwrap();
        assert!(
            q >= previous && (min..=max).contains(&q),
            "p = {}",
            step as f64 / 2.0
        );
        previous = q;
    }
    assert_eq!(percentile(&v, 0.0).unwrap(), min);
    assert_eq!(percentile(&v, 100.0).unwrap(), max);
}

#[test]
fn percentile_rejects_bad_input() {
    assert!(invalid(percentile(&[], 50.0)));
    assert!(invalid(percentile(&[1.0, f64::NAN], 50.0)));
    assert!(invalid(percentile(&[1.0, f64::INFINITY], 50.0)));
    assert!(invalid(percentile(&[1.0], -1.0)));
    assert!(invalid(percentile(&[1.0], 100.01)));
    assert!(invalid(percentile(&[1.0], f64::NAN)));
}

#[test]
fn detection_table_counts_by_hand() {
    let test = test_set();
    let table = detection_table(&test, None, &[50.0, 80.0]).unwrap();
    assert_eq!(table.len(), 2);

    // Sorted errors: .1 .2 .3 .35 .4 .5 .6 .7 .8 .9; median = (.4 + .5) / 2.
    let median = &table[0];
    assert_eq!(median.source, ThresholdSource::TestPercentile);
    assert_eq!(median.percentile, 50.0);
    assert_abs_diff_eq!(median.threshold, 0.45, epsilon = 1e-12);
    // Above 0.45: clean 0.5, 0.6; anomalies 0.7, 0.8, 0.9.
    assert_eq!(median.flagged, 5);
    assert_eq!(median.clean_flagged, 2);
    assert_eq!(median.held_out_flagged, 3);
    assert_eq!((median.clean_total, median.held_out_total), (6, 4));
    assert_abs_diff_eq!(median.expected_fpr, 0.5, epsilon = 1e-12);
    assert_abs_diff_eq!(median.achieved_fpr, 2.0 / 6.0, epsilon = 1e-12);
    assert_abs_diff_eq!(median.tpr, 0.75, epsilon = 1e-12);

    // Rank 0.8 · 9 = 7.2: 0.7 + 0.2 · 0.1 = 0.72; only 0.8 and 0.9 above.
    let p80 = &table[1];
    assert_abs_diff_eq!(p80.threshold, 0.72, epsilon = 1e-12);
    assert_eq!((p80.clean_flagged, p80.held_out_flagged), (0, 2));
    assert_abs_diff_eq!(p80.expected_fpr, 0.2, epsilon = 1e-12);
    assert_eq!(p80.achieved_fpr, 0.0);
    assert_abs_diff_eq!(p80.tpr, 0.5, epsilon = 1e-12);
}

#[test]
fn an_error_equal_to_the_threshold_is_not_flagged() {
    // Odd count: the median is the middle error itself.
    let test = vec![
        row("ant", 1.0, false),
        row("ant", 2.0, false),
        row("BACKGROUND_Google", 3.0, true),
    ];
    let table = detection_table(&test, None, &[50.0, 100.0]).unwrap();
    assert_eq!(table[0].threshold, 2.0);
    assert_eq!((table[0].clean_flagged, table[0].held_out_flagged), (0, 1));
    // The 100th percentile is the maximum: nothing lies above it.
    assert_eq!(table[1].flagged, 0);
    assert!(outliers(&test, 3.0).is_empty());
}

#[test]
fn validation_rows_follow_test_rows() {
    let test = test_set();
    let validation = [0.05, 0.15, 0.25, 0.35, 0.45];
    let table = detection_table(&test, Some(&validation), &DEFAULT_PERCENTILES).unwrap();
    assert_eq!(table.len(), 2 * DEFAULT_PERCENTILES.len());
    for (pair, &p) in table.chunks(2).zip(&DEFAULT_PERCENTILES) {
        assert_eq!(pair[0].source, ThresholdSource::TestPercentile);
        assert_eq!(pair[1].source, ThresholdSource::ValidationPercentile);
        assert_eq!((pair[0].percentile, pair[1].percentile), (p, p));
        assert_eq!(pair[1].threshold, percentile(&validation, p).unwrap());
    }
    // p = 75 on validation: rank 3, exactly 0.35. Above it: clean 0.4, 0.5,
    // 0.6 and anomalies 0.7, 0.8, 0.9 (0.35 itself is not above).
    let v75 = &table[1];
    assert_abs_diff_eq!(v75.threshold, 0.35, epsilon = 1e-12);
    assert_eq!((v75.clean_flagged, v75.held_out_flagged), (3, 3));
    assert_abs_diff_eq!(v75.achieved_fpr, 0.5, epsilon = 1e-12);
}

#[test]
fn higher_percentiles_flag_fewer_images() {
    let test = test_set();
    let table = detection_table(&test, None, &DEFAULT_PERCENTILES).unwrap();
    assert_eq!(DEFAULT_PERCENTILES, [75.0, 80.0, 85.0, 90.0, 95.0]);
    for pair in table.windows(2) {
        assert!(pair[1].threshold >= pair[0].threshold);
        assert!(pair[1].flagged <= pair[0].flagged);
    }
}

#[test]
fn rates_are_nan_without_a_group() {
    let clean_only = vec![row("ant", 0.1, false), row("ant", 0.2, false)];
    let table = detection_table(&clean_only, None, &[50.0]).unwrap();
    assert_eq!(table[0].held_out_total, 0);
    assert!(table[0].tpr.is_nan());
    assert_eq!(table[0].achieved_fpr, 0.5);
}

#[test]
fn detection_table_rejects_bad_input() {
    let test = test_set();
    assert!(invalid(detection_table(&[], None, &[50.0])));
    assert!(invalid(detection_table(&test, None, &[])));
    assert!(invalid(detection_table(&test, None, &[80.0, 120.0])));
    assert!(invalid(detection_table(&test, None, &[f64::NAN])));
    assert!(invalid(detection_table(&test, Some(&[]), &[50.0])));
    assert!(invalid(detection_table(
        &test,
        Some(&[0.1, f64::NAN]),
        &[50.0]
    )));
    let mut nan = test.clone();
    nan[3].score = f64::NAN;
    assert!(invalid(detection_table(&nan, None, &[50.0])));
}

#[test]
fn detection_csv_is_written_atomically_with_a_header() {
    let dir = common::TempDir::new().unwrap();
    let path = dir.path().join("nested").join("detection.csv");
    let rows = detection_table(&test_set(), Some(&[0.1, 0.2, 0.3]), &[80.0, 90.0]).unwrap();
    write_detection_csv(&path, &rows).unwrap();

    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "percentile",
            "source",
            "threshold",
            "flagged",
            "clean_flagged",
            "held_out_flagged",
            "clean_total",
            "held_out_total",
            "expected_fpr",
            "achieved_fpr",
            "tpr"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 4);
    assert_eq!(&records[0][1], "test_percentile");
    assert_eq!(&records[1][1], "validation_percentile");
    assert_eq!(records[0][3].parse::<usize>().unwrap(), rows[0].flagged);
    assert_eq!(
        records[2][2].parse::<f64>().unwrap(),
        rows[2].threshold,
        "thresholds round-trip exactly"
    );
    // Only the final file remains: no temporary sibling.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["detection.csv"]);
}

#[test]
fn detection_dataframe_has_one_row_per_line() {
    let rows: Vec<DetectionRow> = detection_table(&test_set(), None, &DEFAULT_PERCENTILES).unwrap();
    let df = detection_dataframe(&rows).unwrap();
    assert_eq!(df.shape(), (5, 11));
    let flagged = df.column("flagged").unwrap().u64().unwrap();
    assert_eq!(flagged.get(0), Some(rows[0].flagged as u64));
    let source = df.column("source").unwrap().str().unwrap();
    assert_eq!(source.get(4), Some("test_percentile"));
    let tpr = df.column("tpr").unwrap().f64().unwrap();
    assert_eq!(tpr.get(2), Some(rows[2].tpr));
}

#[test]
fn class_counts_most_frequent_first() {
    let counts = class_counts(&test_set());
    let count = |class: &str, images, held_out| ClassCount {
        class: class.into(),
        images,
        held_out,
    };
    assert_eq!(
        counts,
        [
            count("BACKGROUND_Google", 4, true),
            count("accordion", 2, false),
            count("ant", 2, false),
            count("pizza", 2, false),
        ]
    );
    assert!(class_counts(&[]).is_empty());

    let df = class_counts_dataframe(&counts).unwrap();
    assert_eq!(df.shape(), (4, 3));
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["class", "images", "held_out"]);
    assert_eq!(df.column("images").unwrap().u64().unwrap().get(0), Some(4));
    assert_eq!(
        df.column("held_out").unwrap().bool().unwrap().get(1),
        Some(false)
    );
}

#[test]
fn outliers_are_sorted_by_error_descending() {
    let test = test_set();
    let found = outliers(&test, 0.55);
    let got: Vec<(usize, &str, f64, bool)> = found
        .iter()
        .map(|o| (o.index, o.class.as_str(), o.error, o.is_anomaly))
        .collect();
    assert_eq!(
        got,
        [
            (6, "BACKGROUND_Google", 0.9, true),
            (9, "BACKGROUND_Google", 0.8, true),
            (1, "BACKGROUND_Google", 0.7, true),
            (3, "pizza", 0.6, false),
        ]
    );
    assert_eq!(found[3].path, test[3].path);
    assert!(outliers(&test, f64::NAN).is_empty());
    assert_eq!(outliers(&test, f64::NEG_INFINITY).len(), test.len());
}

#[test]
fn outliers_with_equal_errors_keep_test_order() {
    let test = vec![
        row("ant", 0.5, false),
        row("pizza", 0.9, false),
        row("BACKGROUND_Google", 0.5, true),
    ];
    let indices: Vec<usize> = outliers(&test, 0.1).iter().map(|o| o.index).collect();
    assert_eq!(indices, [1, 0, 2]);
}
