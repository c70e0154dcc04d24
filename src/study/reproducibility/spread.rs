//! The published spread over training seeds as the comparison's tolerance
//! ([`with_seed_spread`]): a retrained model's numbers move as much between
//! two honest runs as between two seeds, so a run is held to the spread the
//! published run measured, not to the last digits.

use std::path::Path;

use crate::error::Result;
use crate::study::reproducibility::table::{read_table, table_path};
use crate::study::reproducibility::tolerance::{Tolerance, Tolerances};

/// The table of the spread over seeds (`reproduce` writes it when it
/// trains more than one seed).
pub const SEEDS_TABLE: &str = "comparison_seeds.csv";

/// The table whose cells the spread widens.
pub const SPREAD_TABLE: &str = "comparison.csv";

/// How many standard deviations over seeds a number may move: the
/// difference of two runs, each one draw of the seed's spread, has
/// √2 standard deviations; three covers it at about 97 %.
pub const SPREADS: f64 = 3.0;

/// Each column of [`SPREAD_TABLE`] widened, with the column of
/// [`SEEDS_TABLE`] that holds its standard deviation over seeds.
pub const SPREAD_COLUMNS: [(&str, &str); 7] = [
    ("mean_test_error", "mean_test_error_std"),
    ("auroc", "auroc_std"),
    ("auroc_low", "auroc_std"),
    ("auroc_high", "auroc_std"),
    ("auprc", "auprc_std"),
    ("tpr", "tpr_std"),
    ("fpr", "fpr_std"),
];

/// `tolerances` with every cell of [`SPREAD_TABLE`] that the published
/// folder's [`SEEDS_TABLE`] has a spread for widened to [`SPREADS`]
/// standard deviations (never narrowed: a cell keeps its own tolerance
/// where that is wider). Returns `tolerances` unchanged, and `false`, when
/// the published run trained one seed (no such table). Errors name a table
/// that cannot be read or a cell that is not a number.
pub fn with_seed_spread(published: &Path, tolerances: Tolerances) -> Result<(Tolerances, bool)> {
    let path = table_path(published, SEEDS_TABLE);
    if !path.is_file() {
        return Ok((tolerances, false));
    }
    let table = read_table(&path)?;
    let position = |column: &str| table.header.iter().position(|c| c == column);
    let mut widened = tolerances;
    for row in &table.rows {
        let model = row.first().map_or("", String::as_str);
        for (column, std_column) in SPREAD_COLUMNS {
            let Some(i) = position(std_column) else {
                continue;
            };
            let std: f64 = table.number(&path, row, i)?;
            let own = widened.of_cell(SPREAD_TABLE, model, column);
            let spread = Tolerance::new(SPREADS * std, 0.0)?;
            if spread.absolute > own.absolute {
                let wider = Tolerance {
                    absolute: spread.absolute,
                    ..own
                };
                widened = widened.with_cell((SPREAD_TABLE, model, column), wider);
            }
        }
    }
    Ok((widened, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published_with_seeds(name: &str, rows: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spread-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tables")).unwrap();
        let header = "model,seeds,mean_test_error,mean_test_error_std,auroc,auroc_std,auprc,\
                      auprc_std,tpr,tpr_std,fpr,fpr_std\n";
        std::fs::write(
            dir.join("tables").join(SEEDS_TABLE),
            format!("{header}{rows}"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn each_models_cells_widen_to_three_of_its_standard_deviations() {
        let dir = published_with_seeds(
            "widen",
            "baseline,3,0.034,0.001,0.70,0.02,0.12,0.01,0.37,0.05,0.19,0.0001\n",
        );
        let (tolerances, found) = with_seed_spread(&dir, Tolerances::default()).unwrap();
        assert!(found);
        let of = |column| tolerances.of_cell(SPREAD_TABLE, "baseline", column);
        assert!((of("auroc").absolute - 0.06).abs() < 1e-12);
        assert!((of("auroc_low").absolute - 0.06).abs() < 1e-12);
        assert!((of("tpr").absolute - 0.15).abs() < 1e-12);
        assert_eq!(of("auroc").relative, Tolerance::default().relative);
        // A spread narrower than the default leaves the default.
        assert_eq!(of("fpr"), Tolerance::default());
        assert_eq!(of("parameters"), Tolerance::default());
        let other = tolerances.of_cell(SPREAD_TABLE, "improved1", "auroc");
        assert_eq!(other, Tolerance::default());
        assert_eq!(
            tolerances.of_cell("ladder.csv", "baseline", "auroc"),
            Tolerance::default()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn one_seed_leaves_the_tolerances_and_a_bad_cell_is_an_error() {
        let dir = std::env::temp_dir().join(format!("spread-none-{}", std::process::id()));
        let (tolerances, found) = with_seed_spread(&dir, Tolerances::default()).unwrap();
        assert!(!found);
        assert_eq!(tolerances, Tolerances::default());
        let dir = published_with_seeds(
            "bad",
            "baseline,3,0.034,x,0.70,0.02,0.12,0.01,0.3,0.05,0.1,0.01\n",
        );
        let error = with_seed_spread(&dir, Tolerances::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(SEEDS_TABLE), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
