//! Grading: the verdict rules on hand-made claims and values, the report's
//! own inconsistencies found by computation and stated beside the verdict,
//! the assumptions and the power of the comparisons, and the scoreboard of
//! the two published profiles.

mod common;

use std::path::Path;

use caltech_anomaly::data::{PoolSize, Split};
use caltech_anomaly::io::write_dataframe_csv;
use caltech_anomaly::scoring::ScoreRow;
use caltech_anomaly::stats::wilson_interval;
use caltech_anomaly::stats::{ConfidenceInterval, auroc};
use caltech_anomaly::study::Profile;
use caltech_anomaly::study::{
    ClaimCheck, ClaimTable, DatasetCounts, Evidence, MeasuredAt, ModelScores, Verdict, check,
    parse_claims, published_claims, published_claims_path, report_claims, scoreboard,
};

const HEADER: &str = "section,quantity,subject,report,compare,needs,statement\n";

fn row(class: &str, error: f64, held_out: bool) -> ScoreRow {
    ScoreRow {
        path: format!("{class}/x.jpg"),
        class: class.into(),
        label: if class == "pizza" { 73 } else { 4 },
        split: Split::Test,
        score: error,
        held_out,
    }
}

/// 10 anomalies with errors 1.0..1.9 and 90 normal images: 89 with errors
/// 0.00..0.88 and a pizza with 5.0. The p90 threshold (1.01) flags 9
/// anomalies and the pizza; the p80 one (0.792) flags all 10 anomalies and
/// 10 normal images.
fn scores() -> Vec<ScoreRow> {
    let mut rows: Vec<ScoreRow> = (0..10)
        .map(|i| row("background_google", 1.0 + i as f64 / 10.0, true))
        .collect();
    rows.extend((0..89).map(|i| row("ant", i as f64 / 100.0, false)));
    rows.push(row("pizza", 5.0, false));
    rows
}

fn evidence(image_size: usize) -> Evidence {
    let rows = scores();
    let errors: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let held_out: Vec<bool> = rows.iter().map(|r| r.held_out).collect();
    let model = |name: &str, scale: f64| ModelScores {
        model: name.into(),
        errors: errors.iter().map(|e| e * scale).collect(),
        held_out: held_out.clone(),
        auroc: auroc(&errors, &held_out),
    };
    Evidence {
        measured_at: MeasuredAt {
            profile: Profile::Quick,
            image_size,
            pool: PoolSize::PerClass(30),
        },
        dataset: Some(DatasetCounts {
            images: 9144,
            object_classes: 101,
            background_classes: 1,
        }),
        baseline: Some(rows),
        baseline_auroc: Some(ConfidenceInterval {
            estimate: 0.9,
            low: 0.8,
            high: 0.95,
        }),
        models: vec![model("m1", 3.0), model("m2", 2.0), model("m3", 1.0)],
        resamples: 200,
        seed: 7,
    }
}

fn checked(lines: &str, evidence: &Evidence) -> ClaimTable {
    check(
        &parse_claims(&format!("{HEADER}{lines}")).unwrap(),
        evidence,
    )
    .unwrap()
}

fn verdicts(table: &ClaimTable) -> Vec<Verdict> {
    table.rows.iter().map(|r| r.verdict).collect()
}

/// The verdict on `line`, checked alone (two claims of one quantity with
/// different values would contradict each other).
fn alone(line: &str, evidence: &Evidence) -> ClaimCheck {
    checked(&format!("{line}\n"), evidence).rows.remove(0)
}

#[test]
fn exact_about_and_member_claims() {
    use Verdict::*;
    let e = evidence(64);
    for (line, verdict) in [
        ("2,images,,9146,about:0.01,,about 9146", Reproduced),
        ("2,images,,9500,about:0.01,,about 9500", NotReproduced),
        ("2,object_classes,,101,exact,,101", Reproduced),
        ("6,test_images,,484,exact,,484", NotReproduced),
        ("6,flagged,90,10,exact,,10 flagged", Reproduced),
        ("6,flagged_class,90,pizza:73,member,,a pizza", Reproduced),
        (
            "6,flagged_class,90,airplanes:1,member,,an airplane",
            NotReproduced,
        ),
    ] {
        assert_eq!(alone(line, &e).verdict, verdict, "{line}");
    }
    assert!(
        alone("6,flagged_class,90,pizza:73,member,,a pizza", &e)
            .reason
            .contains("as in the report")
    );
    assert_eq!(alone("6,test_images,,484,exact,,484", &e).ours, "100");
}

#[test]
fn rates_inside_and_outside_our_interval() {
    use Verdict::*;
    let e = evidence(64);
    // Ours at p80: all 10 anomalies flagged (10/10), 10 of 90 normal ones.
    for (line, verdict) in [
        ("7,held_out_flagged,80,9/10,rate,,TP 9 of 10", Reproduced),
        ("7,held_out_flagged,80,3/10,rate,,TP 3 of 10", NotReproduced),
        ("7,clean_flagged,80,12/90,rate,,FP 12 of 90", Reproduced),
        ("7,clean_passed,80,40/90,rate,,TN 40 of 90", NotReproduced),
    ] {
        assert_eq!(alone(line, &e).verdict, verdict, "{line}");
    }
    let tp = alone("7,held_out_flagged,80,9/10,rate,,TP", &e);
    assert_eq!(tp.ours, "10/10 = 1.000");
    let fp = alone("7,clean_flagged,80,12/90,rate,,FP", &e);
    let (low, high) = (fp.low.unwrap(), fp.high.unwrap());
    assert!(low < 10.0 / 90.0 && 10.0 / 90.0 < high);
}

#[test]
fn a_setting_the_run_does_not_share_makes_a_claim_not_comparable() {
    use Verdict::*;
    let line = "7,threshold,80,0.5,interval,size,threshold 0.5";
    let at_64 = alone(line, &evidence(64));
    assert_eq!(at_64.verdict, NotComparable);
    assert!(at_64.reason.contains("64 px"));
    // At the report's size the same quantity is compared: our p80 is 0.792,
    // so 0.79 lies inside its bootstrap interval and 0.5 and 3.0 do not.
    let e = evidence(256);
    let half = alone(line, &e);
    assert_eq!(half.verdict, NotReproduced);
    assert_eq!(
        alone("7,threshold,80,0.79,interval,size,t", &e).verdict,
        Reproduced
    );
    assert_eq!(
        alone("7,threshold,80,3.0,interval,size,t", &e).verdict,
        NotReproduced
    );
    let (low, high) = (half.low.unwrap(), half.high.unwrap());
    assert!(0.5 < low && high < 3.0, "[{low}, {high}]");
    let mut pool = evidence(256);
    pool.measured_at.pool = PoolSize::PerClass(4);
    let smoke = alone("6,test_images,,100,exact,pool,100", &pool);
    assert_eq!(smoke.verdict, NotComparable);
    assert!(
        smoke
            .reason
            .ends_with("this run's from a pool of 4 images per class"),
        "{}",
        smoke.reason
    );
}

#[test]
fn two_values_for_one_quantity_are_inconsistent() {
    let table = checked(
        "6,clean_flagged,90,39/455,rate,,39 clean\n\
         6,clean_flagged,90,38/455,rate,,38 false positives\n\
         6,held_out_flagged,90,10/29,rate,,10 background\n",
        &evidence(64),
    );
    let contradiction = table.rows[0].report_consistency.as_deref().unwrap();
    assert!(
        contradiction.contains("object images flagged at p90 as 39/455 and as 38/455"),
        "{contradiction}"
    );
    assert!(table.rows[1].report_consistency.is_some());
    assert_eq!(table.rows[2].report_consistency, None);
    // The comparison is made all the same: ours at p90 is 1/90 (the pizza).
    assert_eq!(table.rows[0].verdict, Verdict::NotReproduced);
    assert!(table.rows[0].reason.contains("outside our 95% CI"));
    assert_eq!(
        table.rows[0].consistency_text(),
        format!("contradicts itself: {contradiction}")
    );
    assert_eq!(table.rows[2].consistency_text(), "no contradiction found");
}

#[test]
fn an_auc_beyond_the_reports_own_operating_point_is_inconsistent() {
    let matrix = "7,held_out_flagged,80,15/29,rate,,TP\n7,clean_flagged,80,82/455,rate,,FP\n";
    // 1 − (82/455)·(1 − 15/29) = 0.9130
    let bound = 1.0 - 82.0 / 455.0 * (1.0 - 15.0 / 29.0);
    // Ours is [0.8, 0.95]: 1.0 is outside it, 0.92 and 0.91 inside; the
    // comparison is made whether or not the report contradicts itself.
    for (auc, inconsistent, verdict) in [
        (1.0, true, Verdict::NotReproduced),
        (0.92, true, Verdict::Reproduced),
        (0.91, false, Verdict::Reproduced),
    ] {
        let table = checked(
            &format!("{matrix}7,auroc,,{auc},interval,,AUC\n"),
            &evidence(64),
        );
        let row = &table.rows[2];
        assert_eq!(
            row.report_consistency.is_some(),
            inconsistent,
            "AUC {auc} against the bound {bound}"
        );
        assert_eq!(row.verdict, verdict, "AUC {auc}");
        if let Some(contradiction) = &row.report_consistency {
            assert!(contradiction.contains(&format!("{bound:.3}")));
            assert!(
                row.verdict_text().starts_with(&format!(
                    "{}; and the report contradicts itself: an AUC of {auc}",
                    verdict.as_str()
                )),
                "{}",
                row.verdict_text()
            );
        }
    }
}

#[test]
fn rates_over_another_test_set_than_the_reports_are_inconsistent() {
    let table = checked(
        "6,test_images,,484,exact,,484\n\
         6,test_held_out,,29,exact,,29\n\
         7,held_out_flagged,80,15/30,rate,,TP of 30\n\
         7,clean_flagged,80,82/455,rate,,FP of 455\n",
        &evidence(64),
    );
    let contradiction = table.rows[2].report_consistency.as_deref().unwrap();
    assert!(contradiction.contains("29"), "{contradiction}");
    assert_eq!(table.rows[3].report_consistency, None);
    // Both are compared as rates over our own 10 anomalies and 90 objects.
    assert_eq!(table.rows[2].verdict, Verdict::NotReproduced);
    let assumption = table.rows[2].assumption.as_deref().unwrap();
    assert!(
        assumption.contains("the report counts 30 anomalies in its test set, ours holds 10"),
        "{assumption}"
    );
}

#[test]
fn an_undefined_metric_is_matched_against_candidate_definitions() {
    // At p80 every model flags all 10 anomalies and 10 normal images:
    // accuracy 0.9, precision 0.5, recall 1, F1 0.667.
    let table = checked(
        "6,test_images,,200,exact,,200\n\
         6,test_held_out,,12,exact,,12\n\
         8,accuracy,m1,0.50,definition,,m1\n\
         8,accuracy,m2,0.06,definition,,m2\n\
         8,accuracy,m4,0.5,definition,,m4\n",
        &evidence(64),
    );
    assert_eq!(table.rows[2].verdict, Verdict::Reproduced);
    assert!(table.rows[2].reason.contains("precision"));
    assert_eq!(table.rows[3].verdict, Verdict::NotReproduced);
    assert!(
        table.rows[3].reason.contains("prevalence 12/200"),
        "{}",
        table.rows[3].reason
    );
    assert_eq!(table.rows[4].verdict, Verdict::NotMeasured);
}

#[test]
fn the_lowest_and_highest_mean_error_are_named() {
    let table = checked(
        "8,lowest_mean_error,m1|m2|m3,m3,exact,,m3 lowest\n\
         8,highest_mean_error,m1|m2|m3,m3,exact,,m3 highest\n\
         8,lowest_mean_error,m1|m9,m1,exact,,m9 missing\n",
        &evidence(64),
    );
    use Verdict::*;
    assert_eq!(verdicts(&table), [Reproduced, NotReproduced, NotMeasured]);
    assert!(table.rows[1].ours.starts_with("m1"));
}

#[test]
fn the_reports_claims_parse_and_its_two_known_inconsistencies_are_found() {
    let claims = report_claims().unwrap();
    assert!(claims.len() >= 20);
    let table = check(&claims, &evidence(64)).unwrap();
    let inconsistent: Vec<&str> = table
        .rows
        .iter()
        .filter(|r| r.report_consistency.is_some())
        .map(|r| r.statement.as_str())
        .collect();
    assert_eq!(inconsistent.len(), 5, "{inconsistent:?}");
    assert_eq!(table.contradictions(), 5);
    assert!(inconsistent.iter().any(|s| s.contains("ROC AUC")));
    assert_eq!(inconsistent.iter().filter(|s| s.contains("p90")).count(), 4);
    // The AUC is both not reproduced (1.0 outside ours, [0.8, 0.95]) and
    // ruled out by the report's own p80 matrix.
    let auc = find(&table, "ROC AUC");
    assert_eq!(auc.verdict, Verdict::NotReproduced);
    assert!(auc.reason.contains("outside our 95% CI"), "{}", auc.reason);
    let contradiction = auc.report_consistency.as_deref().unwrap();
    assert!(contradiction.contains("0.913"), "{contradiction}");
    let improved1 = table
        .rows
        .iter()
        .find(|r| r.statement.contains("Improved1: 0.06"))
        .unwrap();
    assert_eq!(improved1.verdict, Verdict::NotMeasured);
    let markdown = table.to_markdown().0;
    assert!(
        markdown.contains("**not reproduced**; and the report contradicts itself: an AUC of 1"),
        "{markdown}"
    );
    let df = table.to_dataframe().unwrap();
    assert_eq!(df.height(), claims.len());
    for column in ["verdict", "report_consistency", "assumption", "power"] {
        assert!(df.column(column).is_ok(), "no column {column}");
    }
}

fn find<'a>(table: &'a ClaimTable, statement: &str) -> &'a ClaimCheck {
    table
        .rows
        .iter()
        .find(|r| r.statement.contains(statement))
        .unwrap_or_else(|| panic!("no claim {statement:?}"))
}

#[test]
fn the_threshold_and_the_undefined_accuracy_state_their_assumption() {
    let table = check(&report_claims().unwrap(), &evidence(256)).unwrap();
    let threshold = find(&table, "threshold 0.0058");
    let assumption = threshold.assumption.as_deref().unwrap();
    assert!(
        assumption.contains("does not say which percentile") && assumption.contains("p80"),
        "{assumption}"
    );
    assert!(
        find(&table, "Improved3 has the lowest")
            .assumption
            .as_deref()
            .unwrap()
            .contains("one training seed")
    );
    assert!(
        find(&table, "\"accuracy\" of Improved3")
            .assumption
            .as_deref()
            .unwrap()
            .contains("does not define")
    );
    // A claim that assumes nothing says nothing.
    assert_eq!(find(&table, "101 object classes").assumption, None);
    let markdown = table.to_markdown().0;
    assert!(markdown.contains("| assumed |"), "{markdown}");
}

#[test]
fn interval_and_rate_claims_state_the_power_of_the_test() {
    let table = checked(
        "7,held_out_flagged,80,9/10,rate,,TP\n\
         7,clean_flagged,80,12/90,rate,,FP\n\
         7,auroc,,0.9,interval,,AUC\n\
         7,threshold,80,0.79,interval,size,t\n\
         2,object_classes,,101,exact,,101\n",
        &evidence(256),
    );
    let power = |i: usize| table.rows[i].power.clone().unwrap_or_default();
    let half = |i: usize| (table.rows[i].high.unwrap() - table.rows[i].low.unwrap()) / 2.0;
    assert!(
        power(0).starts_with("set by our 10 anomalies: the Wilson 95 % interval of 10/10 spans ±"),
        "{}",
        power(0)
    );
    assert!(
        power(1).starts_with("set by our 90 object images: the Wilson 95 % interval of 10/90"),
        "{}",
        power(1)
    );
    // The AUROC's interval is given ([0.8, 0.95]): ±0.075.
    assert_eq!(
        power(2),
        "set by our 10 anomalies beside 90 object images: the stratified bootstrap 95 % \
         interval spans ±0.0750"
    );
    assert!(
        power(3).starts_with(
            "set by our 100 test errors: the stratified bootstrap 95 % interval of their p80"
        ),
        "{}",
        power(3)
    );
    for i in [0, 1, 3] {
        let text = power(i);
        let after = text
            .split('±')
            .nth(1)
            .unwrap_or_else(|| panic!("{text} has no ±"));
        let shown: f64 = after
            .split(|c: char| c != '.' && !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (shown - half(i)).abs() <= 0.0005,
            "{text}: ±{shown} is not ±{}",
            half(i)
        );
    }
    assert_eq!(table.rows[4].power, None);
}

#[test]
fn an_accuracy_at_a_fixed_percentile_is_bounded_by_the_counts() {
    // At p80 every model flags 20 of the 100 images, which hold 10
    // anomalies: at best 10 are wrong (accuracy 0.9), at worst 30 (0.7).
    let table = checked(
        "8,accuracy,m3,0.98,definition,,m3\n8,accuracy,m1,0.80,definition,,m1\n",
        &evidence(64),
    );
    let power = table.rows[0].power.as_deref().unwrap();
    assert!(
        power.contains("20 of our 100 images, which hold 10 anomalies (prevalence 0.100)"),
        "{power}"
    );
    assert!(power.contains("1 − p/100 = 20 %"), "{power}");
    assert!(power.contains("[0.700, 0.900]"), "{power}");
    assert!(
        power.ends_with("so 0.98 is out of reach as an accuracy"),
        "{power}"
    );
    let within = table.rows[1].power.as_deref().unwrap();
    assert!(
        within.ends_with("so 0.80 is within reach as an accuracy"),
        "{within}"
    );
}

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_scoreboard_of_the_published_profiles_counts_and_lists_the_flips() {
    let quick = published_claims(checkout(), Profile::Quick).unwrap();
    let full = published_claims(checkout(), Profile::Full).unwrap();
    assert_eq!(quick.rows.len(), report_claims().unwrap().len());
    // The published files may be of the older layout, where the report's
    // contradiction stood in place of the verdict: the comparison is made
    // again, and the AUC reads as both facts.
    for table in [&quick, &full] {
        let auc = find(table, "ROC AUC");
        assert_eq!(auc.verdict, Verdict::NotReproduced);
        assert!(auc.report_consistency.as_deref().unwrap().contains("0.913"));
        assert_eq!(table.contradictions(), 5);
    }
    let board = scoreboard(&quick, &full);
    assert_eq!(board.profiles, [Profile::Quick, Profile::Full]);
    let flipped: Vec<&str> = board.flips.iter().map(|f| f.statement.as_str()).collect();
    assert_eq!(
        flipped,
        [
            "confusion matrix at p80: TP 15",
            "confusion matrix at p80: FN 14",
            "sorted-error chart: threshold 0.0058",
            "Improved3 has the lowest mean reconstruction error of Improved1-3",
        ]
    );
    let threshold = &board.flips[2];
    assert_eq!(
        threshold.verdicts,
        [Verdict::NotComparable, Verdict::NotReproduced]
    );
    assert!(
        threshold.reasons[0].contains("64 px"),
        "{:?}",
        threshold.reasons
    );
    assert!(threshold.reasons[1].contains("outside our 95% CI"));
    // At quick 11 reproduced, 5 not, 1 not comparable as published, and the
    // 5 contradicted claims compared again: the four p90 rates inside our
    // intervals, the AUC outside; at full 8 and 9, and the same five.
    assert_eq!(board.count(Verdict::Reproduced), [15, 12]);
    assert_eq!(board.count(Verdict::NotReproduced), [6, 10]);
    assert_eq!(board.count(Verdict::NotComparable), [1, 0]);
    assert_eq!(board.contradictions, [5, 5]);
    for (i, table) in [&quick, &full].into_iter().enumerate() {
        let total: usize = board.counts.iter().map(|(_, n)| n[i]).sum();
        assert_eq!(total, table.rows.len());
    }
    let markdown = board.to_markdown().0;
    assert!(markdown.contains("4 claims whose verdict differs between `quick` and `full`"));
    assert!(!markdown.contains(env!("CARGO_MANIFEST_DIR")), "{markdown}");
    // Beside each other, a section's claims show both profiles' verdicts.
    let beside = quick.section(7).beside(&full).0;
    assert!(beside.contains("verdict at `quick`") && beside.contains("verdict at `full`"));
    assert!(
        beside.contains("docs/results/full/tables/claims.csv"),
        "{beside}"
    );
    assert!(!beside.contains(env!("CARGO_MANIFEST_DIR")), "{beside}");
}

#[test]
fn a_claims_csv_of_the_new_layout_reads_back_every_fact() {
    let tmp = common::TempDir::new().unwrap();
    let mut table = check(&report_claims().unwrap(), &evidence(64)).unwrap();
    for row in &mut table.rows {
        row.profile = Profile::Full;
    }
    let path = tmp.path().join(published_claims_path(Profile::Full));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_dataframe_csv(&path, &table.to_dataframe().unwrap()).unwrap();
    let read = published_claims(tmp.path(), Profile::Full).unwrap();
    assert_eq!(read.rows.len(), table.rows.len());
    for (a, b) in table.rows.iter().zip(&read.rows) {
        assert_eq!(
            (
                &a.verdict,
                &a.reason,
                &a.report_consistency,
                &a.assumption,
                &a.power
            ),
            (
                &b.verdict,
                &b.reason,
                &b.report_consistency,
                &b.assumption,
                &b.power
            ),
        );
    }
    assert!(scoreboard(&table, &read).flips.is_empty());
}

#[test]
fn bad_claims_are_rejected_with_their_line() {
    for (lines, expected) in [
        ("6,flagged,90,49,roughly,,x\n", "line 2"),
        ("6,clean_flagged,90,39,rate,,x\n", "not a value"),
        (
            "2,images,,9146,exact,,x\n6,flagged,90,49,exact,resolution,x\n",
            "line 3",
        ),
        ("7,auroc,,high,interval,,x\n", "not a value"),
    ] {
        let error = parse_claims(&format!("{HEADER}{lines}")).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
    assert!(parse_claims(&format!("{HEADER}6,no_such_quantity,,1,exact,,x\n")).is_err());
}

#[test]
fn wilson_intervals_hold_their_rate_and_narrow_with_the_sample() {
    for (k, n) in [(0, 10), (3, 10), (10, 10), (15, 29), (82, 455)] {
        let (low, high) = wilson_interval(k, n);
        let rate = k as f64 / n as f64;
        assert!((0.0..=rate).contains(&low.max(0.0)) && low <= rate + 1e-12);
        assert!(high >= rate - 1e-12 && high <= 1.0 + 1e-12);
        let (low4, high4) = wilson_interval(4 * k, 4 * n);
        assert!(high4 - low4 < high - low);
    }
}
