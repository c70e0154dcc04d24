//! Fetches Caltech-101 when no copy is at hand.
//!
//! [`download_dataset`] turns a dataset directory `root` (missing or without
//! a dataset) into one that holds `root/101_ObjectCategories/<Class>/*.jpg`:
//!
//! 1. **Download** the official zip to `root/.download/caltech-101.zip.part`.
//!    An existing `.part` file is resumed with an HTTP `Range` request. A
//!    transfer that ends early keeps the partial file, so that the next run
//!    picks up where this one stopped.
//! 2. **Verify** the MD5 of the whole file. A mismatch deletes it, since
//!    resuming a corrupt file can never succeed.
//! 3. **Extract** the inner `101_ObjectCategories.tar.gz`, streamed straight
//!    out of the zip, into the temporary folder `root/.extract-<pid>`. Every
//!    tar entry is checked before anything is written: only regular files and
//!    directories with plain relative paths under `101_ObjectCategories/` are
//!    accepted; any other entry aborts the extraction with an error naming it.
//! 4. **Install** by renaming the extracted folder to
//!    `root/101_ObjectCategories`. This is one atomic step, so an interrupted
//!    or failed run never leaves something that looks like a dataset.
//! 5. **Clean up** the temporary folder and the zip.
//!
//! If `root/101_ObjectCategories` already exists, nothing is done.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use crate::error::{Error, IoContext, Result};

/// Where the official Caltech-101 archive is published.
pub const CALTECH101_URL: &str =
    "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1";

/// MD5 of the archive at [`CALTECH101_URL`].
pub const CALTECH101_MD5: &str = "3138e1922a9193bfa496528edbbc45d0";

/// The folder of the dataset root that holds one sub-folder per class.
const CLASSES_DIR: &str = "101_ObjectCategories";
/// The file name of the zip entry that holds the images.
const INNER_ARCHIVE: &str = "101_ObjectCategories.tar.gz";
/// Where the zip is downloaded to, below the dataset root.
const DOWNLOAD_DIR: &str = ".download";
const PART_FILE: &str = "caltech-101.zip.part";

/// What to download and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadConfig {
    /// `http://` or `https://` address of the zip archive.
    pub url: String,
    /// Expected MD5 of the zip archive, 32 hexadecimal digits.
    pub md5: String,
    /// Draw progress bars on stderr.
    pub show_progress: bool,
}

impl Default for DownloadConfig {
    /// The official archive, with progress bars.
    fn default() -> Self {
        Self {
            url: CALTECH101_URL.to_owned(),
            md5: CALTECH101_MD5.to_owned(),
            show_progress: true,
        }
    }
}

impl DownloadConfig {
    /// Checks the url scheme and the checksum's format.
    pub fn check(&self) -> Result<()> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::InvalidParameter(format!(
                "download url must start with http:// or https://, got {:?}",
                self.url
            )));
        }
        if self.md5.len() != 32 || !self.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidParameter(format!(
                "md5 must be 32 hexadecimal digits, got {:?}",
                self.md5
            )));
        }
        Ok(())
    }
}

/// What [`download_dataset`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// `root/101_ObjectCategories` existed already; nothing was done.
    AlreadyPresent,
    /// The archive was downloaded, verified and extracted.
    Downloaded {
        /// Size of the whole archive.
        bytes: u64,
        /// Bytes already on disk from an earlier, interrupted run (0 when
        /// the download started from scratch).
        resumed_from: u64,
    },
}

/// Downloads, verifies and extracts Caltech-101 so that
/// `root/101_ObjectCategories/<Class>/*.jpg` exists (see the module docs).
///
/// Every failure of the download or the extraction is an
/// [`Error::Download`]; an invalid `config` is an [`Error::InvalidParameter`].
pub fn download_dataset(root: &Path, config: &DownloadConfig) -> Result<DownloadOutcome> {
    config.check()?;
    if root.join(CLASSES_DIR).exists() {
        return Ok(DownloadOutcome::AlreadyPresent);
    }
    let download_dir = root.join(DOWNLOAD_DIR);
    fs::create_dir_all(&download_dir).at(&download_dir)?;
    let part = download_dir.join(PART_FILE);

    let resumed_from = fetch(&config.url, &part, config.show_progress)?;
    let bytes = verify_md5(&part, &config.md5)?;
    extract(&part, root, config.show_progress)?;

    fs::remove_file(&part).at(&part)?;
    fs::remove_dir(&download_dir).at(&download_dir)?;
    Ok(DownloadOutcome::Downloaded {
        bytes,
        resumed_from,
    })
}

/// Downloads `url` into `part`, resuming the bytes already there. Returns the
/// offset the transfer resumed from.
fn fetch(url: &str, part: &Path, show_progress: bool) -> Result<u64> {
    let have = match fs::metadata(part) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).at(part),
    };
    let agent = ureq::Agent::config_builder()
        // Statuses are handled below: 206 and 416 are not failures here.
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled connection becomes an interrupted transfer, which resumes.
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    // Byte ranges must address the file itself, not a compressed encoding of it.
    let mut request = agent.get(url).header("Accept-Encoding", "identity");
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request
        .call()
        .map_err(|e| Error::Download(format!("cannot fetch {url}: {e}")))?;

    let status = response.status().as_u16();
    let (offset, total) = match status {
        206 => {
            let range = response
                .headers()
                .get("Content-Range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let Some((start, total)) = parse_content_range(range) else {
                return Err(Error::Download(format!(
                    "{url} answered a range request with an unreadable Content-Range {range:?}"
                )));
            };
            if start != have {
                fs::remove_file(part).at(part)?;
                return Err(Error::Download(format!(
                    "{url} resumed at byte {start} instead of {have}; the partial file {} \
                     was deleted, re-run to download from the start",
                    part.display()
                )));
            }
            let total = total.or_else(|| response.body().content_length().map(|n| start + n));
            (start, total)
        }
        // The server ignored the range (or there was none): start over.
        200 => (0, response.body().content_length()),
        // Nothing left to send: an earlier run finished the transfer but not
        // the extraction. The checksum decides whether the file is good.
        416 if have > 0 => return Ok(have),
        _ => {
            return Err(Error::Download(format!("{url} answered HTTP {status}")));
        }
    };

    receive(response, url, part, (offset, total), show_progress)?;
    Ok(offset)
}

/// Appends the response body to `part` from byte `offset` of `total`;
/// errors on a transfer that stops short, keeping what arrived.
fn receive(
    response: ureq::http::Response<ureq::Body>,
    url: &str,
    part: &Path,
    (offset, total): (u64, Option<u64>),
    show_progress: bool,
) -> Result<()> {
    let mut file = if offset == 0 {
        File::create(part)
    } else {
        OpenOptions::new().append(true).open(part)
    }
    .at(part)?;
    let bar = download_bar(show_progress, total, offset);
    let mut reader = response.into_body().into_reader();
    let mut buf = vec![0; 1 << 16];
    let mut received = offset;
    let interrupted = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                file.write_all(&buf[..n]).at(part)?;
                received += n as u64;
                bar.inc(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    let short = total.is_some_and(|t| received < t);
    if interrupted.is_some() || short {
        bar.abandon();
        let of_total = total.map_or_else(String::new, |t| format!(" of {t}"));
        let reason = interrupted.unwrap_or_else(|| "connection closed early".to_owned());
        return Err(Error::Download(format!(
            "transfer of {url} stopped after {received}{of_total} bytes ({reason}); the partial \
             file {} is kept and re-running the download resumes it",
            part.display()
        )));
    }
    bar.finish_and_clear();
    Ok(())
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`) into START and TOTAL.
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.parse().ok()?, total))
}

fn download_bar(show: bool, total: Option<u64>, position: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "downloading {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::no_length(),
            "downloading {spinner} {bytes} {binary_bytes_per_sec}",
        ),
    };
    let bar = bar.with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(position);
    // Rate and ETA count this run's bytes, not the resumed ones.
    bar.reset_eta();
    bar
}

/// Checks the MD5 of `part` against `expected`; deletes the file on mismatch.
/// Returns its size.
fn verify_md5(part: &Path, expected: &str) -> Result<u64> {
    let mut file = File::open(part).at(part)?;
    let mut hasher = Md5::new();
    let bytes = io::copy(&mut file, &mut hasher).at(part)?;
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !actual.eq_ignore_ascii_case(expected) {
        fs::remove_file(part).at(part)?;
        return Err(Error::Download(format!(
            "checksum mismatch for {}: expected MD5 {expected}, got {actual}; the file was \
             deleted, re-run to download it again",
            part.display()
        )));
    }
    Ok(bytes)
}

/// Extracts the images from the zip at `zip_path` into `root/101_ObjectCategories`.
fn extract(zip_path: &Path, root: &Path, show_progress: bool) -> Result<()> {
    let file = File::open(zip_path).at(zip_path)?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        Error::Download(format!(
            "{} is not a readable zip archive: {e}",
            zip_path.display()
        ))
    })?;
    let index = (0..zip.len())
        .find(|&i| zip.name_for_index(i).is_some_and(is_inner_archive))
        .ok_or_else(|| {
            Error::Download(format!("{} holds no {INNER_ARCHIVE}", zip_path.display()))
        })?;
    let inner = zip
        .by_index(index)
        .map_err(|e| Error::Download(format!("cannot read {INNER_ARCHIVE} in the zip: {e}")))?;

    let staging = root.join(format!(".extract-{}", std::process::id()));
    // A folder left by an earlier process with the same pid would mix in stale files.
    if staging.exists() {
        fs::remove_dir_all(&staging).at(&staging)?;
    }
    fs::create_dir(&staging).at(&staging)?;
    let _cleanup = RemoveDirOnDrop(staging.clone());

    let bar = if show_progress {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("extracting {spinner} {pos} entries")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    unpack_checked(inner, &staging, &bar)?;
    bar.finish_and_clear();

    let extracted = staging.join(CLASSES_DIR);
    if !extracted.is_dir() {
        return Err(Error::Download(format!(
            "{INNER_ARCHIVE} holds no {CLASSES_DIR}/ folder"
        )));
    }
    let target = root.join(CLASSES_DIR);
    fs::rename(&extracted, &target).map_err(|e| {
        Error::Download(format!(
            "cannot move {} to {}: {e}",
            extracted.display(),
            target.display()
        ))
    })
}

/// Whether a zip entry is the images' tarball. macOS resource forks under
/// `__MACOSX/` can carry similar names but are not archives.
fn is_inner_archive(name: &str) -> bool {
    !name.starts_with("__MACOSX/") && name.rsplit('/').next() == Some(INNER_ARCHIVE)
}

/// Removes a temporary folder however its scope is left, so that a failed
/// extraction leaves nothing behind. Best effort: a failure to remove only
/// leaves a hidden folder, which never looks like a dataset.
struct RemoveDirOnDrop(PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Unpacks the gzip tar stream `tar_gz` into `dest`, refusing any entry that
/// could write outside `dest/101_ObjectCategories` or create anything other
/// than plain files and folders.
///
/// Files are written with default permissions; the archive's modes, owners
/// and times are ignored, so that no entry can make the folder unremovable.
fn unpack_checked(tar_gz: impl Read, dest: &Path, bar: &ProgressBar) -> Result<()> {
    let corrupt = |e: io::Error| Error::Download(format!("{INNER_ARCHIVE} is corrupt: {e}"));
    let mut archive = tar::Archive::new(GzDecoder::new(tar_gz));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        // A pax global header holds metadata for the archive, not a file.
        if kind.is_pax_global_extensions() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let refuse = |reason: &str| {
            Error::Download(format!(
                "refusing archive entry {name:?} in {INNER_ARCHIVE}: {reason}"
            ))
        };
        if !(kind.is_file() || kind.is_dir()) {
            return Err(refuse(&format!(
                "it is not a regular file or a directory (type {kind:?})"
            )));
        }
        let relative = entry
            .path()
            .map_err(|e| refuse(&format!("unreadable path: {e}")))?
            .into_owned();
        check_entry_path(&relative).map_err(refuse)?;

        let target = dest.join(&relative);
        if kind.is_dir() {
            fs::create_dir_all(&target).at(&target)?;
        } else {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).at(parent)?;
            }
            let mut out = File::create(&target).at(&target)?;
            io::copy(&mut entry, &mut out)
                .map_err(|e| Error::Download(format!("cannot extract {name:?}: {e}")))?;
        }
        bar.inc(1);
    }
    Ok(())
}

/// Accepts only plain relative paths below `101_ObjectCategories/`. A
/// leading `./`, which some tar writers add, stays inside the target.
fn check_entry_path(path: &Path) -> std::result::Result<(), &'static str> {
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("its path has a `..` component"),
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
        }
    }
    if path
        .strip_prefix(".")
        .unwrap_or(path)
        .starts_with(CLASSES_DIR)
    {
        Ok(())
    } else {
        Err("it is not below 101_ObjectCategories/")
    }
}
