//! The pooled features of every image of the dataset by one backbone,
//! extracted once and cached under a key over the images and the weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::Caltech101;
use crate::data::digest::file_digests;
use crate::error::{Error, Result};
use crate::features::{Backbone, EfficientNetLite, FEATURES, file_features};
use crate::io::{read_f32s, read_json, write_bytes_atomic, write_f32s_atomic};

/// The pretrained features of every image of a dataset, by path.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBank {
    /// Paths relative to the dataset root, in scan order.
    pub paths: Vec<String>,
    /// `paths.len() × FEATURES` values, row-major.
    pub values: Vec<f32>,
    index: HashMap<String, usize>,
    /// A digest of the dataset's files' bytes, the input size and the weights.
    pub key: String,
    /// The network that extracted them.
    pub backbone: Backbone,
    /// The network's input side.
    pub input_size: usize,
    /// Wall-clock seconds of the extraction (as measured when it ran).
    pub seconds: f64,
}

/// What a saved bank records beside its values.
#[derive(Debug, Serialize, Deserialize)]
struct BankRecord {
    key: String,
    paths: Vec<String>,
    input_size: usize,
    seconds: f64,
}

impl FeatureBank {
    /// The features at `input_size` px of every image under `data_dir`:
    /// loaded from `cache_dir` when a bank with the same key (the dataset's
    /// files, the input size, the weights) exists, else extracted and saved
    /// there.
    pub fn of_dataset(
        model: &EfficientNetLite,
        data_dir: &Path,
        input_size: usize,
        cache_dir: &Path,
        device: &burn::tensor::Device,
        show_progress: bool,
    ) -> Result<Self> {
        let dataset = Caltech101::scan(data_dir, false)?;
        let paths: Vec<String> = dataset.images().iter().map(|i| i.path.clone()).collect();
        let backbone = model.backbone();
        let key = bank_key(data_dir, &paths, input_size, backbone);
        let (json, bin) = (
            cache_dir.join(format!("features-{key}.json")),
            cache_dir.join(format!("features-{key}.f32")),
        );
        if let Some(bank) = Self::load(&json, &bin, &key, backbone)? {
            return Ok(bank);
        }
        let started = Instant::now();
        let files: Vec<PathBuf> = paths.iter().map(|p| data_dir.join(p)).collect();
        let rows = file_features(model, &files, input_size, device, show_progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let values: Vec<f32> = rows.into_iter().flatten().collect();
        write_f32s_atomic(&bin, &values)?;
        let record = BankRecord {
            key,
            paths,
            input_size,
            seconds,
        };
        write_bytes_atomic(&json, &serde_json::to_vec(&record)?)?;
        Ok(Self::new(record, values, backbone))
    }

    fn new(record: BankRecord, values: Vec<f32>, backbone: Backbone) -> Self {
        let index = record
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        Self {
            paths: record.paths,
            values,
            index,
            key: record.key,
            backbone,
            input_size: record.input_size,
            seconds: record.seconds,
        }
    }

    fn load(json: &Path, bin: &Path, key: &str, backbone: Backbone) -> Result<Option<Self>> {
        // No values, or a record that cannot be read: no bank.
        if !bin.exists() {
            return Ok(None);
        }
        let record: BankRecord = match read_json(json) {
            Ok(record) => record,
            Err(Error::Io { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if record.key != key {
            return Err(Error::Corrupt {
                path: json.to_path_buf(),
                reason: format!("records key {}, its name says {key}", record.key),
            });
        }
        let values = read_f32s(bin, record.paths.len() * FEATURES)?;
        Ok(Some(Self::new(record, values, backbone)))
    }

    /// The features of the image at `path` (relative to the dataset root).
    pub fn get(&self, path: &str) -> Result<&[f32]> {
        let i = *self.index.get(path).ok_or_else(|| {
            Error::InvalidParameter(format!("no features for {path}: another dataset?"))
        })?;
        Ok(&self.values[i * FEATURES..(i + 1) * FEATURES])
    }

    /// The features of `paths` as rows of a matrix.
    pub fn matrix<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Result<Array2<f32>> {
        let mut values = Vec::new();
        let mut n = 0;
        for path in paths {
            values.extend_from_slice(self.get(path)?);
            n += 1;
        }
        Array2::from_shape_vec((n, FEATURES), values)
            .map_err(|e| Error::InvalidParameter(e.to_string()))
    }
}

/// A key over the dataset's files (each path and the digest of its bytes),
/// the input size and the weights.
pub(crate) fn bank_key(
    root: &Path,
    paths: &[String],
    input_size: usize,
    backbone: Backbone,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("v2 {input_size} {}\n", backbone.weights_sha256()));
    let digests = file_digests(root, paths.iter().map(String::as_str));
    for (path, digest) in paths.iter().zip(digests) {
        hasher.update(format!("{path} {digest}\n"));
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
