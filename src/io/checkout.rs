//! The checkout the relative defaults refer to (`data/`, `runs/`, the
//! pretrained weights' link), below every module that reads it; and paths
//! as a notebook shows them, relative to the study folder or the checkout.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The checkout whose `data/` and `runs/` relative defaults refer to.
pub const ROOT_ENV: &str = "CALTECH_ANOMALY_ROOT";

/// The checkout: `CALTECH_ANOMALY_ROOT` when set, else this crate's folder.
pub fn checkout_folder() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The folders paths are shown relative to ([`show_paths_under`]).
static SHOWN_UNDER: RwLock<Vec<PathBuf>> = RwLock::new(Vec::new());

/// Shows the paths inside `folders` relative to the first that holds them
/// from now on, in this process ([`shown_path`]). `crate::study::Study::open`
/// calls it with the study folder and the dataset's, so a notebook shows
/// `runs/baseline-seed42-…`, `tables/ladder.csv` and
/// `101_ObjectCategories/…` (as the tables' `path` columns do); the study's
/// own line names its folder, relative to the checkout.
pub fn show_paths_under(folders: &[&Path]) {
    if let Ok(mut shown) = SHOWN_UNDER.write() {
        *shown = folders.iter().map(|f| f.to_path_buf()).collect();
    }
}

/// `path` as a notebook shows it, naming no folder of the machine it ran
/// on: relative to the first folder of [`show_paths_under`] (the study
/// folder opened last, then its dataset) that holds it
/// (`runs/baseline-seed42-…`, `figures/roc.png`), else relative to the
/// checkout when inside it (`data/…`), else as it is.
pub fn shown_path(path: &Path) -> PathBuf {
    let folders = SHOWN_UNDER.read().map(|f| f.clone()).unwrap_or_default();
    let checkout = checkout_folder();
    let roots = folders
        .iter()
        .map(PathBuf::as_path)
        .chain([checkout.as_path()]);
    relative_to_first(path, roots)
}

/// `path` relative to the first of `roots` strictly inside which it lies
/// (a root itself is shown relative to the next), else `path`.
fn relative_to_first<'a>(path: &Path, roots: impl IntoIterator<Item = &'a Path>) -> PathBuf {
    roots
        .into_iter()
        .filter_map(|root| path.strip_prefix(root).ok())
        .find(|rest| !rest.as_os_str().is_empty())
        .map_or_else(|| path.to_path_buf(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_show_relative_to_the_study_else_the_checkout() {
        let (study, checkout) = (Path::new("/c/runs/study-quick"), Path::new("/c"));
        let data = Path::new("/shared/caltech101");
        let shown = |p: &str| relative_to_first(Path::new(p), [study, data, checkout]);
        assert_eq!(
            shown("/c/runs/study-quick/runs/baseline-seed42-0123"),
            Path::new("runs/baseline-seed42-0123")
        );
        assert_eq!(
            shown("/c/runs/study-quick/figures/roc.png"),
            Path::new("figures/roc.png")
        );
        assert_eq!(
            shown("/c/runs/study-quick"),
            Path::new("runs/study-quick"),
            "the study folder itself, from the checkout"
        );
        assert_eq!(
            shown("/c/data/caltech101/x.jpg"),
            Path::new("data/caltech101/x.jpg")
        );
        assert_eq!(
            shown("/shared/caltech101/101_ObjectCategories/emu/image_0001.jpg"),
            Path::new("101_ObjectCategories/emu/image_0001.jpg"),
            "an image as the tables' `path` columns name it"
        );
        assert_eq!(shown("/elsewhere/x.jpg"), Path::new("/elsewhere/x.jpg"));
        assert_eq!(shown("tables/a.csv"), Path::new("tables/a.csv"));
    }
}
