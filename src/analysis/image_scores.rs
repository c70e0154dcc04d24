//! Every detector's score of every image, as one published table: what
//! anyone needs to recompute each AUROC, interval and confusion of the
//! ladder with their own tools (written exact:
//! [`crate::io::write_dataframe_csv_exact`]).

use polars::prelude::{Column, DataFrame, NamedFrom, Series};

use crate::error::{Error, Result};
use crate::scoring::DetectorScores;

/// One row per image (the test split's, then the unseen images'), with the
/// columns `set` (`test` or `unseen`), `path` (relative to the dataset
/// root), `class`, `held_out` (a true anomaly), and one column per
/// detector, named as on the ladder, holding its score (higher is more
/// anomalous; empty where a detector does not score the unseen images).
/// Errors when the detectors scored other images or another order than the
/// first one.
pub fn image_scores_table(detectors: &[DetectorScores]) -> Result<DataFrame> {
    let Some(first) = detectors.first() else {
        return Err(Error::InvalidParameter(
            "no detector to tabulate scores of".into(),
        ));
    };
    let unseen = detectors
        .iter()
        .find_map(|d| d.unseen.as_deref())
        .unwrap_or_default();
    let test_paths: Vec<&str> = first.test.iter().map(|r| r.path.as_str()).collect();
    let unseen_paths: Vec<&str> = unseen.iter().map(|r| r.path.as_str()).collect();
    let mut columns = vec![
        column(
            "set",
            (test_paths.iter().map(|_| "test"))
                .chain(unseen_paths.iter().map(|_| "unseen"))
                .collect::<Vec<_>>(),
        ),
        column("path", [test_paths.clone(), unseen_paths.clone()].concat()),
        column(
            "class",
            (first.test.iter().map(|r| r.class.as_str()))
                .chain(unseen.iter().map(|r| r.class.as_str()))
                .collect::<Vec<_>>(),
        ),
        Series::new(
            "held_out".into(),
            (first.test.iter().map(|r| r.held_out))
                .chain(unseen.iter().map(|r| r.held_out))
                .collect::<Vec<_>>(),
        )
        .into(),
    ];
    for detector in detectors {
        columns.push(scores_column(detector, &test_paths, &unseen_paths)?);
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

fn column(name: &str, values: Vec<&str>) -> Column {
    Series::new(name.into(), values).into()
}

/// `detector`'s scores in the table's row order, after checking that it
/// scored the same images.
fn scores_column(
    detector: &DetectorScores,
    test_paths: &[&str],
    unseen_paths: &[&str],
) -> Result<Column> {
    let same = |paths: Vec<&str>, expected: &[&str]| paths == expected;
    let mismatch = |set: &str| {
        Error::InvalidParameter(format!(
            "detector {:?} scored other {set} images than the first detector",
            detector.id.label()
        ))
    };
    if !same(
        detector.test.iter().map(|r| r.path.as_str()).collect(),
        test_paths,
    ) {
        return Err(mismatch("test"));
    }
    let mut values: Vec<Option<f64>> = detector.test.iter().map(|r| Some(r.score)).collect();
    match &detector.unseen {
        Some(rows) => {
            if !same(rows.iter().map(|r| r.path.as_str()).collect(), unseen_paths) {
                return Err(mismatch("unseen"));
            }
            values.extend(rows.iter().map(|r| Some(r.score)));
        }
        None => values.extend(unseen_paths.iter().map(|_| None)),
    }
    Ok(Series::new(detector.id.label().into(), values).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use crate::scoring::{Backbone, DetectorId, ScoreRow, Scores, TrivialKind, UnseenRow};

    const TRIVIAL: DetectorId = DetectorId::Trivial(TrivialKind::DeflateBytes);
    const KNN: DetectorId = DetectorId::Knn {
        backbone: Backbone::Lite0,
        k: 5,
    };

    fn detector(
        id: DetectorId,
        test: &[(&str, f64)],
        unseen: Option<&[(&str, f64)]>,
    ) -> DetectorScores {
        DetectorScores {
            id,
            pretrained: false,
            test: Scores(
                test.iter()
                    .map(|&(path, error)| ScoreRow {
                        path: path.into(),
                        class: "c".into(),
                        label: 0,
                        split: Split::Test,
                        score: error,
                        held_out: path.starts_with("bg"),
                    })
                    .collect(),
            ),
            unseen: unseen.map(|rows| {
                rows.iter()
                    .map(|&(path, error)| UnseenRow {
                        path: path.into(),
                        class: "c".into(),
                        score: error,
                        held_out: path.starts_with("bg"),
                    })
                    .collect()
            }),
            seconds: 0.0,
            bank_bytes: None,
        }
    }

    #[test]
    fn one_row_per_image_and_one_column_per_detector() {
        let test = [("a.jpg", 0.1), ("bg1.jpg", 0.9)];
        let unseen = [("b.jpg", 0.2), ("bg2.jpg", 0.7), ("c.jpg", 0.3)];
        let df = image_scores_table(&[
            detector(TRIVIAL, &test, None),
            detector(KNN, &test, Some(&unseen)),
        ])
        .unwrap();
        assert_eq!(df.shape(), (5, 6));
        let knn = df.column(&KNN.label()).unwrap().f64().unwrap();
        assert_eq!(knn.get(3), Some(0.7));
        let trivial = df.column(&TRIVIAL.label()).unwrap().f64().unwrap();
        assert_eq!((trivial.get(1), trivial.get(2)), (Some(0.9), None));
        let held_out = df.column("held_out").unwrap().bool().unwrap();
        assert_eq!(held_out.get(3), Some(true));
        let set = df.column("set").unwrap().str().unwrap();
        assert_eq!((set.get(1), set.get(2)), (Some("test"), Some("unseen")));
    }

    #[test]
    fn the_csv_keeps_every_score_exact() {
        let scores = [("a.jpg", 0.123456789012), ("bg1.jpg", 1.0 / 3.0)];
        let df = image_scores_table(&[detector(TRIVIAL, &scores, None)]).unwrap();
        let dir = std::env::temp_dir().join(format!("image-scores-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("image_scores.csv");
        crate::io::write_dataframe_csv_exact(&path, &df).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("set,path,class,held_out,{}", TRIVIAL.label())
        );
        assert_eq!(lines[1], "test,a.jpg,c,false,0.123456789012");
        let third: f64 = lines[2].rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(third, 1.0 / 3.0);
    }

    #[test]
    fn detectors_of_other_images_are_refused() {
        let a = detector(TRIVIAL, &[("x.jpg", 0.1)], None);
        let b = detector(KNN, &[("y.jpg", 0.1)], None);
        assert!(image_scores_table(&[a, b]).is_err());
        assert!(image_scores_table(&[]).is_err());
    }
}
