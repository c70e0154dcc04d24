//! File-system helpers. Every file the crate writes goes through one writer,
//! [`WritePolicy::write_with`]:
//!
//! - atomic: the content goes to a temporary file in the target's folder,
//!   which is then renamed (or linked) into place, so readers see either
//!   the old content or the complete new one;
//! - a symbolic link is written through: its target receives the content
//!   and the link stays;
//! - something that is not a regular file (a folder, a device such as
//!   `/dev/full`, a pipe) is never replaced;
//! - a file the command reads ([`WritePolicy::protecting`]) is never
//!   replaced;
//! - an existing file is replaced only where the policy says so
//!   ([`IfExists`]): the tool's own artifacts are rewritten as a run
//!   progresses, a path the user named is not without `--force`, and a
//!   default name moves aside to a free one.
//!
//! Readers name the file in every error.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, IoContext, Result};

/// A sibling path for writing `path` before it is renamed into place. The
/// process id and a counter keep concurrent writers apart.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// What a write does when its path already holds a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    /// Replace it: the tool's own artifacts, rewritten as a run progresses.
    Replace,
    /// Refuse with [`Error::OutputExists`]: a path the user named, without
    /// `--force`.
    Refuse,
    /// Write beside it under the first free name (`name-1.ext`,
    /// `name-2.ext`, ...): a default output name.
    NewName,
}

/// A file or folder a command reads: no write of that command replaces it
/// (a folder protects every file under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    /// What it is, for the error: "a file of the run being scored".
    pub what: String,
}

/// How a file is written: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePolicy {
    pub if_exists: IfExists,
    pub inputs: Vec<Input>,
}

impl WritePolicy {
    /// The policy of the tool's own artifacts: an existing file is replaced.
    pub fn artifact() -> Self {
        Self::new(IfExists::Replace)
    }

    pub fn new(if_exists: IfExists) -> Self {
        Self {
            if_exists,
            inputs: Vec::new(),
        }
    }

    /// The same policy, also refusing to replace `path` (and, for a folder,
    /// anything under it).
    pub fn protecting(mut self, path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        self.inputs.push(Input {
            path: path.into(),
            what: what.into(),
        });
        self
    }

    /// Where a write of `path` would go, checked as the write checks it,
    /// so that a command can refuse its output before it does the work.
    pub fn check(&self, path: &Path) -> Result<PathBuf> {
        if self.if_exists == IfExists::NewName {
            // Nothing is replaced: a taken name (a file, link or anything
            // else) is passed over at commit.
            return Ok(path.to_path_buf());
        }
        let target = resolve_links(path)?;
        match fs::metadata(&target) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(target),
            Err(source) => {
                return Err(Error::Io {
                    path: target,
                    source,
                });
            }
            Ok(meta) if !meta.is_file() => {
                return Err(refused(
                    path,
                    "it exists and is not a regular file (a folder, device, pipe or socket): \
                     only a regular file is ever replaced",
                ));
            }
            Ok(_) => {}
        }
        if let Some(input) = self.input_at(&target)? {
            return Err(refused(
                path,
                &format!(
                    "it is {}, which this command reads: choose another path",
                    input.what
                ),
            ));
        }
        match self.if_exists {
            IfExists::Refuse => Err(Error::OutputExists(path.to_path_buf())),
            IfExists::Replace | IfExists::NewName => Ok(target),
        }
    }

    /// The input that `target` (an existing file) is or lies in, if any.
    fn input_at(&self, target: &Path) -> Result<Option<&Input>> {
        let canonical = fs::canonicalize(target).at(target)?;
        let meta = fs::metadata(&canonical).at(&canonical)?;
        for input in &self.inputs {
            let Ok(input_path) = fs::canonicalize(&input.path) else {
                continue;
            };
            let Ok(input_meta) = fs::metadata(&input_path) else {
                continue;
            };
            let hit = if input_meta.is_dir() {
                canonical.starts_with(&input_path)
            } else {
                (input_meta.dev(), input_meta.ino()) == (meta.dev(), meta.ino())
            };
            if hit {
                return Ok(Some(input));
            }
        }
        Ok(None)
    }

    /// Writes `path` by the policy through a [`BufWriter`]; returns the
    /// path written (another one under [`IfExists::NewName`], a link's
    /// target for a symbolic link).
    pub fn write(
        &self,
        path: &Path,
        write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
    ) -> Result<PathBuf> {
        self.write_with(path, |tmp| {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(tmp)
                .at(tmp)?;
            let mut writer = BufWriter::new(file);
            write(&mut writer)?;
            writer.flush().at(tmp)?;
            writer
                .into_inner()
                .map_err(|e| e.into_error())
                .at(tmp)?
                .sync_all()
                .at(tmp)
        })
    }

    /// Writes `path` by the policy: `write` creates the temporary file it
    /// is given (for writers that take a path), which is then moved into
    /// place. Returns the path written.
    pub fn write_with(
        &self,
        path: &Path,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let target = self.check(path)?;
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).at(parent)?;
        }
        let tmp = temp_sibling(&target);
        let result = (|| {
            write(&tmp)?;
            self.commit(&tmp, &target, path)
        })();
        // Best effort: the error that matters is the one being returned;
        // after a link (not a rename) the temporary name is left over.
        if result.is_err() || tmp.exists() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Moves the finished `tmp` into place at `target` (checked), or beside
    /// it under a free name.
    fn commit(&self, tmp: &Path, target: &Path, asked: &Path) -> Result<PathBuf> {
        match self.if_exists {
            IfExists::Replace => {
                fs::rename(tmp, target).at(target)?;
                Ok(target.to_path_buf())
            }
            IfExists::Refuse if link_new(tmp, target)? => Ok(target.to_path_buf()),
            IfExists::Refuse => Err(Error::OutputExists(asked.to_path_buf())),
            IfExists::NewName => {
                for n in 0..10_000 {
                    let candidate = numbered(target, n);
                    if link_new(tmp, &candidate)? {
                        return Ok(candidate);
                    }
                }
                Err(refused(asked, "no free name beside it (tried 10,000)"))
            }
        }
    }
}

fn refused(path: &Path, reason: &str) -> Error {
    Error::WriteRefused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Publishes `tmp` at `target` only if nothing is there: a hard link fails
/// on an existing name, so a file that appeared since the check is not
/// replaced. False when the name is taken.
fn link_new(tmp: &Path, target: &Path) -> Result<bool> {
    match fs::hard_link(tmp, target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: check, then rename.
        Err(_) if fs::symlink_metadata(target).is_ok() => Ok(false),
        Err(_) => fs::rename(tmp, target).at(target).map(|()| true),
    }
}

/// `path` with `-n` before its extension (`n` = 0: `path` itself).
fn numbered(path: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// `path` with every symbolic link at its end followed (a dangling link
/// gives the path it points to).
fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).at(&current)?;
                current = match current.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(refused(path, "too many levels of symbolic links"))
}

/// Writes an artifact through a temporary sibling and a rename, so that
/// readers see either the old content or the complete new one, never a torn
/// file ([`WritePolicy::artifact`]).
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    WritePolicy::artifact().write(path, write).map(drop)
}

/// [`write_atomic`] for writers that take a path (model weights).
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    WritePolicy::artifact().write_with(path, write).map(drop)
}

/// [`write_atomic`] for content already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).at(path))
}

/// Writes `rows` as CSV with a header row, atomically.
pub fn write_csv_atomic<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    write_csv_with(&WritePolicy::artifact(), path, rows).map(drop)
}

/// Writes `rows` as CSV with a header row by `policy`; returns the path
/// written.
pub fn write_csv_with<T: Serialize>(
    policy: &WritePolicy,
    path: &Path,
    rows: &[T],
) -> Result<PathBuf> {
    policy.write(path, |w| {
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

/// Reads a CSV file written by [`write_csv_atomic`]; errors name the file.
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = File::open(path).at(path)?;
    csv::Reader::from_reader(std::io::BufReader::new(file))
        .deserialize()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt(path, e))
}

/// Reads a JSON file; errors name the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).at(path)?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e))
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fsutil-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(policy: &WritePolicy, path: &Path, text: &str) -> Result<PathBuf> {
        policy.write(path, |w| w.write_all(text.as_bytes()).at(path))
    }

    #[test]
    fn refuse_keeps_an_existing_file_and_new_name_moves_aside() {
        let dir = scratch("exists");
        let path = dir.join("out.csv");
        fs::write(&path, "old").unwrap();
        let err = write(&WritePolicy::new(IfExists::Refuse), &path, "new").unwrap_err();
        assert!(matches!(err, Error::OutputExists(_)), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        let written = write(&WritePolicy::new(IfExists::NewName), &path, "new").unwrap();
        assert_eq!(written, dir.join("out-1.csv"));
        assert_eq!(fs::read_to_string(&written).unwrap(), "new");
        write(&WritePolicy::artifact(), &path, "replaced").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "replaced");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_is_written_through_and_inputs_are_never_replaced() {
        let dir = scratch("links");
        let target = dir.join("target.csv");
        fs::write(&target, "old").unwrap();
        let link = dir.join("link.csv");
        std::os::unix::fs::symlink("target.csv", &link).unwrap();
        write(&WritePolicy::artifact(), &link, "new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");

        let policy = WritePolicy::artifact().protecting(&target, "the input");
        let err = write(&policy, &link, "x").unwrap_err().to_string();
        assert!(err.contains("it is the input"), "{err}");
        let folder = WritePolicy::artifact().protecting(&dir, "in the run");
        assert!(write(&folder, &target, "x").is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        // A new file in a protected folder replaces nothing.
        write(&folder, &dir.join("fresh.csv"), "x").unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_is_not_a_regular_file_is_never_replaced() {
        let dir = scratch("special");
        let err = write(&WritePolicy::artifact(), &dir, "x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = write(&WritePolicy::artifact(), Path::new("/dev/null"), "x").unwrap_err();
        assert!(matches!(err, Error::WriteRefused { .. }), "{err}");
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
