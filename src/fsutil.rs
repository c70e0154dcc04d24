//! File-system helpers: every artifact is written atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, IoContext, Result};

/// A sibling path for writing `path` before it is renamed into place. The
/// process id keeps two concurrent writers apart.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes a file through a temporary sibling and a rename, so that readers
/// see either the old content or the complete new one, never a torn file.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).at(parent)?;
    }
    let tmp = temp_sibling(path);
    let result = (|| {
        let file = File::create(&tmp).at(&tmp)?;
        let mut writer = BufWriter::new(file);
        write(&mut writer)?;
        writer.flush().at(&tmp)?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .at(&tmp)?
            .sync_all()
            .at(&tmp)?;
        fs::rename(&tmp, path).at(path)
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] for content already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).at(path))
}

/// Writes `rows` as CSV with a header row, atomically.
pub fn write_csv_atomic<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in rows {
            writer.serialize(row)?;
        }
        writer.flush().at(path)
    })
}

/// Writes `values` as little-endian `f32`s, atomically.
pub fn write_f32s_atomic(path: &Path, values: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_bytes_atomic(path, &bytes)
}

/// Reads a file written by [`write_f32s_atomic`] that must hold `len`
/// values.
pub fn read_f32s(path: &Path, len: usize) -> Result<Vec<f32>> {
    let bytes = fs::read(path).at(path)?;
    if bytes.len() != len * 4 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{} bytes, expected {len} f32 values", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Reads a CSV file written by [`write_csv_atomic`].
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut reader = csv::Reader::from_path(path)?;
    Ok(reader
        .deserialize()
        .collect::<std::result::Result<_, _>>()?)
}
