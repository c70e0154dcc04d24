//! The report's split, written as a manifest.
//!
//! 1. **Pool**: 30 images per class drawn with a seeded RNG, the convention
//!    of TFDS's `caltech101` "train" split (102 × 30 = 3,060). TFDS draws with
//!    numpy's legacy RNG over the file system's listing order, which no other
//!    program can replay; we draw from the sorted file list with ChaCha8.
//! 2. **Cut**: shuffle the pool with the same seed and cut it at 70 % and
//!    85 %, as the slices `train[:70%]`, `train[70%:85%]`, `train[85%:]` do
//!    (TFDS rounds each boundary to the closest example, ties to even).
//! 3. **Hold out**: remove the held-out classes (default `background_google`)
//!    from train and validation and append them to test.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::caltech::{BACKGROUND_CLASS, Caltech101};
use crate::error::{Error, IoContext, Result};
use crate::io::{column, write_bytes_atomic};
use crate::stats::hex;

/// Which part of the data an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How many images per class enter the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolSize {
    /// At most this many per class, drawn at random (TFDS uses 30).
    PerClass(usize),
    /// Every image of the dataset.
    All,
}

/// Parameters of the split. Checked by [`SplitConfig::check`] before use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    pub seed: u64,
    pub pool: PoolSize,
    /// End of train and end of validation, as fractions of the pool.
    pub cuts: (f64, f64),
    /// Classes moved from train and validation into test (label names).
    pub held_out: Vec<String>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            pool: PoolSize::PerClass(30),
            cuts: (0.70, 0.85),
            held_out: vec![BACKGROUND_CLASS.to_string()],
        }
    }
}

impl SplitConfig {
    /// Rejects values that cannot give a meaningful split.
    pub fn check(&self) -> Result<()> {
        let (a, b) = self.cuts;
        if !(0.0 < a && a <= b && b < 1.0) {
            return Err(Error::InvalidParameter(format!(
                "split cuts must satisfy 0 < train ({a}) <= train+validation ({b}) < 1"
            )));
        }
        if self.pool == PoolSize::PerClass(0) {
            return Err(Error::InvalidParameter(
                "the pool needs at least one image per class".into(),
            ));
        }
        Ok(())
    }
}

/// One row of `manifest.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative to the dataset root, `/`-separated.
    pub path: String,
    pub class: String,
    pub label: u32,
    pub split: Split,
}

/// The images of a run and their split, in a fixed order: train, then
/// validation, then test, each in shuffled order. Row `i` of the image cache
/// is row `i` of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
    /// Label names that were held out of train and validation.
    pub held_out: Vec<String>,
}

/// TFDS's percent-slice boundary: the closest example, ties to even.
fn slice_boundary(fraction: f64, len: usize) -> usize {
    ((fraction * len as f64).round_ties_even() as usize).min(len)
}

impl Manifest {
    /// Draws the pool, cuts it and moves the held-out classes to test.
    pub fn split(dataset: &Caltech101, config: &SplitConfig) -> Result<Self> {
        config.check()?;
        let mut held_out_labels = Vec::new();
        for name in &config.held_out {
            let label = dataset.label_of(name).ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "held-out class {name:?} is not a class of the dataset"
                ))
            })?;
            held_out_labels.push(label);
        }

        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut by_class: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for image in dataset.images() {
            by_class.entry(image.label).or_default().push(&image.path);
        }
        let mut pool: Vec<(&str, u32)> = Vec::new();
        for (&label, paths) in &by_class {
            let chosen: Vec<&str> = match config.pool {
                PoolSize::All => paths.clone(),
                PoolSize::PerClass(n) => {
                    let mut picked: Vec<&str> =
                        paths.choose_multiple(&mut rng, n).copied().collect();
                    picked.sort_unstable();
                    picked
                }
            };
            pool.extend(chosen.into_iter().map(|p| (p, label)));
        }
        pool.shuffle(&mut rng);

        let train_end = slice_boundary(config.cuts.0, pool.len());
        let val_end = slice_boundary(config.cuts.1, pool.len());
        let classes = dataset.classes();
        let make = |(path, label): (&str, u32), split| ManifestEntry {
            path: path.to_string(),
            class: classes[label as usize].name.clone(),
            label,
            split,
        };
        let mut kept = Vec::with_capacity(pool.len());
        let mut moved = Vec::new();
        for (i, item) in pool.into_iter().enumerate() {
            let split = if i < train_end {
                Split::Train
            } else if i < val_end {
                Split::Validation
            } else {
                Split::Test
            };
            if split != Split::Test && held_out_labels.contains(&item.1) {
                moved.push(make(item, Split::Test));
            } else {
                kept.push(make(item, split));
            }
        }
        // Train and validation rows come first; appending the moved rows
        // after the original test rows keeps the order `split` promises.
        kept.extend(moved);
        Ok(Self {
            entries: kept,
            held_out: config.held_out.iter().map(|n| n.to_lowercase()).collect(),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Row indices of one split, in manifest order.
    pub fn indices(&self, split: Split) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.split == split)
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether a row belongs to a held-out class (an anomaly in the report).
    pub fn is_held_out(&self, row: usize) -> bool {
        self.held_out.contains(&self.entries[row].class)
    }

    /// The manifest as CSV bytes, columns `path,class,label,split`.
    pub fn to_csv_bytes(&self) -> Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for entry in &self.entries {
            writer.serialize(entry)?;
        }
        writer
            .into_inner()
            .map_err(|e| Error::Csv(e.into_error().into()))
    }

    /// SHA-256 of the CSV form: identifies the manifest in caches and runs.
    pub fn hash(&self) -> Result<String> {
        Ok(hex(&Sha256::digest(self.to_csv_bytes()?)))
    }

    /// Writes `manifest.csv` atomically and returns its [`Manifest::hash`].
    pub fn save(&self, path: &Path) -> Result<String> {
        let bytes = self.to_csv_bytes()?;
        write_bytes_atomic(path, &bytes)?;
        Ok(hex(&Sha256::digest(&bytes)))
    }

    /// Reads a manifest written by [`Manifest::save`]. The held-out classes
    /// are not stored in the CSV and are given by the caller.
    pub fn load(path: &Path, held_out: &[String]) -> Result<Self> {
        let mut text = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut text))
            .at(path)?;
        let mut reader = csv::Reader::from_reader(text.as_slice());
        let headers = reader.headers()?.clone();
        if headers != vec!["path", "class", "label", "split"] {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("expected columns path,class,label,split, found {headers:?}"),
            });
        }
        let entries = reader
            .deserialize()
            .collect::<std::result::Result<Vec<ManifestEntry>, _>>()?;
        Ok(Self {
            entries,
            held_out: held_out.iter().map(|n| n.to_lowercase()).collect(),
        })
    }

    /// Drops rows by index (sorted, unique), keeping the order of the rest.
    pub fn without_rows(&self, rows: &[usize]) -> Self {
        let mut drop = rows.iter().peekable();
        let entries = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                if drop.peek() == Some(&i) {
                    drop.next();
                    false
                } else {
                    true
                }
            })
            .map(|(_, e)| e.clone())
            .collect();
        Self {
            entries,
            held_out: self.held_out.clone(),
        }
    }

    /// Counts per split, and of the held-out classes per split.
    pub fn summary(&self) -> SplitSummary {
        let mut rows = Split::ALL.map(|split| SplitCount {
            split,
            images: 0,
            held_out: 0,
        });
        for (i, entry) in self.entries.iter().enumerate() {
            let row = &mut rows[entry.split as usize];
            row.images += 1;
            row.held_out += usize::from(self.is_held_out(i));
        }
        SplitSummary {
            rows: rows.to_vec(),
            held_out: self.held_out.clone(),
        }
    }
}

/// One line of the split table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SplitCount {
    pub split: Split,
    pub images: usize,
    pub held_out: usize,
}

/// The split table that `prepare` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitSummary {
    pub rows: Vec<SplitCount>,
    pub held_out: Vec<String>,
}

impl SplitSummary {
    pub fn count(&self, split: Split) -> SplitCount {
        self.rows[split as usize]
    }

    /// The table as a polars DataFrame, for notebooks.
    pub fn to_dataframe(&self) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        let held_out = format!("held out ({})", self.held_out.join("+"));
        polars::prelude::DataFrame::new_infer_height(vec![
            column("split", &self.rows, |r| r.split.as_str()),
            column("images", &self.rows, |r| r.images as u64),
            column(&held_out, &self.rows, |r| r.held_out as u64),
        ])
    }

    /// Shows the table as plain text in an evcxr notebook.
    pub fn evcxr_display(&self) {
        crate::io::Text(self.to_string()).evcxr_display();
    }
}

impl fmt::Display for SplitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held_out = self.held_out.join(", ");
        writeln!(f, "{:<12} {:>7} {:>10}", "split", "images", "held out")?;
        for row in &self.rows {
            writeln!(
                f,
                "{:<12} {:>7} {:>10}",
                row.split, row.images, row.held_out
            )?;
        }
        let total: usize = self.rows.iter().map(|r| r.images).sum();
        let total_held: usize = self.rows.iter().map(|r| r.held_out).sum();
        writeln!(f, "{:<12} {:>7} {:>10}", "total", total, total_held)?;
        write!(f, "held-out classes: {held_out}")
    }
}
