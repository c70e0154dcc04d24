//! The generated pages: `docs/results.md` whole, and README.md's headline
//! block, written from the published results folders (`docs/results/quick/`
//! and `docs/results/full/`: `tables/*.csv` and `metrics.json`, as
//! `reproduce` wrote them), so that no number on them can drift from the
//! data. `caltech-anomaly pages` writes them; `pages --check` and
//! `tests/pages.rs` fail when the committed pages differ.

mod beyond;
mod folders;
mod format;
mod grading;
mod published;
mod readme;
mod results_page;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::io::write_bytes_atomic;

use published::Published;
pub use readme::{HEADLINE_BEGIN, HEADLINE_END};

/// The published results folders the pages quote, under `docs/results/`,
/// in the order the pages show them.
pub const PUBLISHED_PROFILES: [&str; 2] = ["quick", "full"];

/// The README, relative to the checkout.
pub const README_PAGE: &str = "README.md";
/// The results page, relative to the checkout.
pub const RESULTS_PAGE: &str = "docs/results.md";

/// A generated page: its path relative to the checkout and its full text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub path: PathBuf,
    pub text: String,
}

/// Both pages as the generator writes them from `root/docs/results/`: the
/// whole of `docs/results.md`, and `README.md` with the block between its
/// marker lines ([`HEADLINE_BEGIN`], [`HEADLINE_END`]) replaced. Errors
/// name the file that is missing or unreadable.
pub fn render_pages(root: &Path) -> Result<Vec<Page>> {
    let results = root.join("docs").join("results");
    let runs = PUBLISHED_PROFILES
        .iter()
        .map(|name| Published::read(&results, name))
        .collect::<Result<Vec<_>>>()?;
    let readme_path = root.join(README_PAGE);
    let readme = std::fs::read_to_string(&readme_path).at(&readme_path)?;
    Ok(vec![
        Page {
            path: README_PAGE.into(),
            text: readme::readme(&readme, &readme_path, &runs)?,
        },
        Page {
            path: RESULTS_PAGE.into(),
            text: results_page::results_page(&runs)?,
        },
    ])
}

/// The pages (relative paths) whose text under `root` differs from what
/// [`render_pages`] writes, or that are missing.
pub fn drifted_pages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut drifted = Vec::new();
    for page in render_pages(root)? {
        if !holds(&root.join(&page.path), &page.text)? {
            drifted.push(page.path);
        }
    }
    Ok(drifted)
}

/// Writes every page that differs from [`render_pages`]'s text, each
/// atomically; returns the relative paths written.
pub fn write_pages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for page in render_pages(root)? {
        let path = root.join(&page.path);
        if !holds(&path, &page.text)? {
            write_bytes_atomic(&path, page.text.as_bytes())?;
            written.push(page.path);
        }
    }
    Ok(written)
}

/// Whether the file at `path` holds exactly `text`; `false` when it is
/// missing.
fn holds(path: &Path, text: &str) -> Result<bool> {
    match std::fs::read_to_string(path) {
        Ok(current) => Ok(current == text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at(path),
    }
}
