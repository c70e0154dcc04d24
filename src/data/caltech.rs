//! Locating and scanning Caltech-101 in its official layout,
//! `<root>/101_ObjectCategories/<Class>/*.jpg`.
//!
//! Labels follow TensorFlow Datasets: the lower-cased folder names in sorted
//! order, counted from 0 (`accordion` = 0, ..., `background_google` = 4).
//! Only files whose name ends in `.jpg` are images: the real archive holds a
//! stray JPEG named `BACKGROUND_Google/tmp`, which TFDS skips, and so do we.
//! Class folders may be symbolic links to folders (datasets are often
//! assembled from links). Whatever the scan passes over is listed in
//! [`Caltech101::skipped_files`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// A file left out, and why: an image that failed with `skip_bad`, or an
/// entry a scan passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedImage {
    pub path: String,
    pub reason: String,
}

/// `files` counted and named in one line (the first ten):
/// `2 files: notes.txt (not an image), old (a folder)`.
pub fn describe_skipped(files: &[SkippedImage]) -> String {
    const NAMED: usize = 10;
    let named: Vec<String> = files
        .iter()
        .take(NAMED)
        .map(|f| format!("{} ({})", f.path, f.reason))
        .collect();
    let more = match files.len().saturating_sub(NAMED) {
        0 => String::new(),
        n => format!(", and {n} more"),
    };
    let plural = if files.len() == 1 { "" } else { "s" };
    format!("{} file{plural}: {}{more}", files.len(), named.join(", "))
}

/// The folder under the dataset root that holds one folder per class.
pub const CATEGORIES_DIR: &str = "101_ObjectCategories";
/// Where the dataset lives when neither `--data-dir` nor the environment says.
pub const DEFAULT_DATA_DIR: &str = "data/caltech101";
/// The environment variable that points at an existing copy.
pub const DATA_DIR_ENV: &str = "CALTECH101_DIR";
/// The label name of the background class, the report's anomalies.
pub const BACKGROUND_CLASS: &str = "background_google";

/// The dataset root, in order of precedence: the explicit `--data-dir`, the
/// `CALTECH101_DIR` environment variable, then [`DEFAULT_DATA_DIR`].
pub fn resolve_data_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(DATA_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// Whether `root` holds the dataset's category folder.
pub fn is_present(root: &Path) -> bool {
    root.join(CATEGORIES_DIR).is_dir()
}

/// One class: its label name (lower case) and the folder it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassInfo {
    pub name: String,
    pub folder: String,
}

/// One image of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Path relative to the dataset root, with `/` separators.
    pub path: String,
    /// Index into [`Caltech101::classes`].
    pub label: u32,
}

/// The result of scanning the dataset folder.
#[derive(Debug, Clone)]
pub struct Caltech101 {
    root: PathBuf,
    classes: Vec<ClassInfo>,
    images: Vec<ImageRef>,
    skipped_classes: Vec<PathBuf>,
    skipped_files: Vec<SkippedImage>,
}

impl Caltech101 {
    /// Scans `root`. An empty class folder is an error unless `skip_bad`,
    /// in which case it keeps its label (ids stay those of TFDS) but
    /// contributes no image, and is listed in [`Self::skipped_classes`].
    pub fn scan(root: &Path, skip_bad: bool) -> Result<Self> {
        let categories = root.join(CATEGORIES_DIR);
        if !categories.is_dir() {
            return Err(Error::DatasetMissing {
                root: root.to_path_buf(),
            });
        }
        let mut skipped_files = Vec::new();
        let folders = class_folders(&categories, &mut skipped_files)?;
        let mut classes: Vec<ClassInfo> = folders
            .into_iter()
            .map(|folder| ClassInfo {
                name: folder.to_lowercase(),
                folder,
            })
            .collect();
        classes.sort_by(|a, b| a.name.cmp(&b.name));

        let mut images = Vec::new();
        let mut skipped_classes = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let dir = categories.join(&class.folder);
            let mut names = jpeg_names(&dir, &class.folder, &mut skipped_files)?;
            if names.is_empty() {
                if !skip_bad {
                    return Err(Error::EmptyClass(dir));
                }
                skipped_classes.push(dir);
                continue;
            }
            names.sort();
            images.extend(names.into_iter().map(|name| ImageRef {
                path: format!("{CATEGORIES_DIR}/{}/{name}", class.folder),
                label: label as u32,
            }));
        }
        skipped_files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self {
            root: root.to_path_buf(),
            classes,
            images,
            skipped_classes,
            skipped_files,
        })
    }

    /// The dataset root this was scanned from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Classes in label order.
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// The label names in label order.
    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name.clone()).collect()
    }

    /// The label id of a class name (case-insensitive).
    pub fn label_of(&self, name: &str) -> Option<u32> {
        let name = name.to_lowercase();
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as u32)
    }

    /// All images, grouped by label, sorted by file name within a class.
    pub fn images(&self) -> &[ImageRef] {
        &self.images
    }

    /// Entries passed over: files beside the class folders, names other
    /// than `*.jpg` in them (such as `BACKGROUND_Google/tmp`), folders
    /// named `*.jpg`.
    pub fn skipped_files(&self) -> &[SkippedImage] {
        &self.skipped_files
    }

    /// Empty class folders passed over with `skip_bad`.
    pub fn skipped_classes(&self) -> &[PathBuf] {
        &self.skipped_classes
    }
}

/// The class folders in `categories` (links to folders included); other
/// entries are added to `skipped`.
fn class_folders(categories: &Path, skipped: &mut Vec<SkippedImage>) -> Result<Vec<String>> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(categories).at(categories)? {
        let path = entry.at(categories)?.path();
        let name = file_name(&path);
        // `metadata` follows links: a linked folder is a class; a link that
        // leads nowhere may be one, so it fails the scan rather than
        // shifting the labels of the classes after it.
        if std::fs::metadata(&path).at(&path)?.is_dir() {
            folders.push(name);
        } else {
            skipped.push(skipped_file(&name, "not a class folder"));
        }
    }
    Ok(folders)
}

/// The `.jpg` names in class folder `dir` (files and links; they fail later
/// if unreadable); other entries are added to `skipped`.
fn jpeg_names(dir: &Path, folder: &str, skipped: &mut Vec<SkippedImage>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let name = file_name(&path);
        let relative = format!("{folder}/{name}");
        if !name.ends_with(".jpg") {
            skipped.push(skipped_file(&relative, "not a .jpg file"));
        } else if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            skipped.push(skipped_file(&relative, "a folder"));
        } else {
            names.push(name);
        }
    }
    Ok(names)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A passed-over entry, named relative to the dataset root.
fn skipped_file(relative: &str, reason: &str) -> SkippedImage {
    SkippedImage {
        path: format!("{CATEGORIES_DIR}/{relative}"),
        reason: reason.into(),
    }
}
