//! The preprocessed-image cache: every manifest image resized to S×S RGB,
//! stored as `u8` in one memory-mapped file.
//!
//! A cache is identified by a key over the manifest's paths (with the digest
//! of each file's bytes, so that an edited dataset is noticed and a copied
//! one is not rebuilt), the size and the resize method. Building one
//! decodes in parallel and writes each image straight to its slot in a
//! temporary file, so memory stays at a few decoded images per thread
//! whatever the dataset size; the finished file is renamed into place, so a
//! torn cache never exists. Opening one maps it: a second `prepare` is
//! near-instant and pixels are converted to `f32` only when a batch is
//! built.
//!
//! Files: `<cache_dir>/<key>.u8` (a 64-byte header, then `count` images of
//! `size * size * 3` bytes, row-major HWC) and `<key>.json` (what was built
//! and which images were skipped).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::caltech::SkippedImage;
use super::digest::file_digests;
use super::image::{DecodeLimits, Resize, RgbImage, decode_jpeg_rgb_into};
use super::split::Manifest;
use crate::error::{Error, IoContext, Result};
use crate::io::{Progress, Step, read_json, write_atomic_with, write_bytes_atomic};
use crate::stats::hex;

const MAGIC: &[u8; 8] = b"CA101IMG";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;

/// How images are preprocessed and where the cache lives. Checked by
/// [`PreprocessConfig::check`] before use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Output side length S: images become S×S.
    pub size: usize,
    /// Folder holding cache files.
    pub cache_dir: PathBuf,
    /// Skip undecodable images with a warning instead of failing.
    pub skip_bad: bool,
    /// Largest accepted image side.
    pub max_side: usize,
    /// Show progress: a bar on a terminal's stderr, a line in a notebook
    /// ([`crate::io`]).
    pub show_progress: bool,
    /// TF's bilinear (the report's) or the antialiased filter.
    #[serde(default)]
    pub resize: Resize,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            size: 256,
            cache_dir: PathBuf::from("data/cache"),
            skip_bad: false,
            max_side: DecodeLimits::default().max_side,
            show_progress: true,
            resize: Resize::default(),
        }
    }
}

impl PreprocessConfig {
    pub fn check(&self) -> Result<()> {
        if !(8..=4096).contains(&self.size) {
            return Err(Error::InvalidParameter(format!(
                "image size {} is outside 8..=4096",
                self.size
            )));
        }
        if self.max_side == 0 {
            return Err(Error::InvalidParameter("max_side must be positive".into()));
        }
        Ok(())
    }
}

/// The cache's sidecar metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheMeta {
    key: String,
    size: usize,
    method: String,
    count: usize,
    /// Manifest rows (of the manifest the key was built from) that failed.
    skipped_rows: Vec<usize>,
    skipped: Vec<SkippedImage>,
}

/// A memory-mapped cache of S×S RGB `u8` images.
#[derive(Debug)]
pub struct ImageCache {
    map: Mmap,
    size: usize,
    count: usize,
    path: PathBuf,
}

impl ImageCache {
    /// Maps a cache file and checks its header against its length.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at(path)?;
        // SAFETY: cache files are only ever created whole by a rename, never
        // modified in place, so the mapping cannot change under us.
        let map = unsafe { Mmap::map(&file) }.at(path)?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if map.len() < HEADER_LEN || &map[..8] != MAGIC {
            return Err(corrupt("not an image cache file".into()));
        }
        let word = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().unwrap()) as usize;
        let version = word(8) as u32;
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "cache format {version}, expected {FORMAT_VERSION}"
            )));
        }
        let size = word(12);
        let count = u64::from_le_bytes(map[24..32].try_into().unwrap()) as usize;
        let expected = HEADER_LEN + count * size * size * 3;
        if word(16) != 3 || map.len() != expected {
            return Err(corrupt(format!(
                "{} bytes, expected {expected} for {count} images of {size}x{size}x3",
                map.len()
            )));
        }
        Ok(Self {
            map,
            size,
            count,
            path: path.to_path_buf(),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Side length S.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes per image (S·S·3).
    pub fn image_len(&self) -> usize {
        self.size * self.size * 3
    }

    /// Image `i` as S×S×3 `u8`, rows top to bottom.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "image {i} of a cache of {}", self.count);
        let len = self.image_len();
        &self.map[HEADER_LEN + i * len..][..len]
    }

    /// Writes images `rows` as a batch in NCHW layout, scaled to [0, 1], into
    /// `out` (length `rows.len() * 3 * S * S`). This is the only place pixels
    /// become `f32`, one batch at a time.
    ///
    /// # Panics
    /// If `out` has the wrong length or a row is out of range.
    pub fn write_batch_nchw(&self, rows: &[usize], out: &mut [f32]) {
        let plane = self.size * self.size;
        assert_eq!(out.len(), rows.len() * 3 * plane, "batch buffer size");
        out.par_chunks_mut(3 * plane)
            .zip(rows.par_iter())
            .for_each(|(dst, &row)| hwc_u8_to_chw_unit(self.image(row), dst));
    }
}

/// One image from HWC `u8` to CHW `f32` in [0, 1] (`dst.len() == src.len()`).
pub fn hwc_u8_to_chw_unit(src: &[u8], dst: &mut [f32]) {
    let plane = src.len() / 3;
    let (r, rest) = dst.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (p, px) in src.chunks_exact(3).enumerate() {
        r[p] = f32::from(px[0]) / 255.0;
        g[p] = f32::from(px[1]) / 255.0;
        b[p] = f32::from(px[2]) / 255.0;
    }
}

/// The cache key: size, method, and each manifest path with the digest of
/// its file's bytes ([`file_digests`]).
fn cache_key(root: &Path, manifest: &Manifest, size: usize, resize: Resize) -> String {
    let mut hasher = Sha256::new();
    let method = resize.description();
    hasher.update(format!("v{FORMAT_VERSION} content\n{size}\n{method}\n"));
    let paths = manifest.entries.iter().map(|e| e.path.as_str());
    for (entry, digest) in manifest.entries.iter().zip(file_digests(root, paths)) {
        hasher.update(format!("{}\t{digest}\n", entry.path));
    }
    hex(&hasher.finalize())
}

/// The result of [`preprocess`].
#[derive(Debug)]
pub struct Preprocessed {
    /// The input manifest less the skipped images: row `i` is cache image `i`.
    pub manifest: Manifest,
    pub cache: ImageCache,
    pub skipped: Vec<SkippedImage>,
    /// Whether an existing cache was reused.
    pub reused: bool,
}

/// Resizes every manifest image into the cache, or reuses the cache when
/// one with the same key exists.
pub fn preprocess(
    root: &Path,
    manifest: &Manifest,
    config: &PreprocessConfig,
) -> Result<Preprocessed> {
    config.check()?;
    let key = cache_key(root, manifest, config.size, config.resize);
    let data_path = config.cache_dir.join(format!("{key}.u8"));
    let meta_path = config.cache_dir.join(format!("{key}.json"));

    if let Some(meta) = read_meta(&meta_path)?.filter(|_| data_path.is_file()) {
        let cache = ImageCache::open(&data_path)?;
        if cache.len() == meta.count && cache.size() == config.size {
            return Ok(Preprocessed {
                manifest: manifest.without_rows(&meta.skipped_rows),
                cache,
                skipped: meta.skipped,
                reused: true,
            });
        }
    }

    let mut built = None;
    write_atomic_with(&data_path, |tmp| {
        let (skipped_rows, skipped) = build(root, manifest, config, tmp)?;
        let meta = CacheMeta {
            key,
            size: config.size,
            method: config.resize.description().into(),
            count: manifest.len() - skipped_rows.len(),
            skipped_rows,
            skipped,
        };
        // Metadata first: a data file without its metadata is never trusted.
        write_bytes_atomic(&meta_path, &serde_json::to_vec_pretty(&meta)?)?;
        built = Some(meta);
        Ok(())
    })?;
    let meta = built.expect("the cache's metadata is written with it");
    Ok(Preprocessed {
        manifest: manifest.without_rows(&meta.skipped_rows),
        cache: ImageCache::open(&data_path)?,
        skipped: meta.skipped,
        reused: false,
    })
}

/// The cache's metadata; `None` when it is missing or unparsable (the
/// cache is rebuilt).
fn read_meta(path: &Path) -> Result<Option<CacheMeta>> {
    match read_json(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Error::Corrupt { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Per-thread buffers, reused from image to image.
struct Scratch {
    file: Vec<u8>,
    decoded: RgbImage,
    resized: Vec<u8>,
}

/// One image: read, decode, resize into `scratch.resized`.
fn load_resized(
    path: &Path,
    size: usize,
    resize: Resize,
    limits: DecodeLimits,
    scratch: &mut Scratch,
) -> std::result::Result<(), String> {
    scratch.file.clear();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut scratch.file))
        .map_err(|e| format!("cannot read ({e})"))?;
    decode_jpeg_rgb_into(&scratch.file, limits, &mut scratch.decoded)?;
    resize.apply(&scratch.decoded, size, size, &mut scratch.resized);
    Ok(())
}

/// Decodes all images into the file at `tmp`. Returns the failed rows.
fn build(
    root: &Path,
    manifest: &Manifest,
    config: &PreprocessConfig,
    tmp: &Path,
) -> Result<(Vec<usize>, Vec<SkippedImage>)> {
    let image_len = config.size * config.size * 3;
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(tmp)
        .at(tmp)?;
    file.set_len((HEADER_LEN + manifest.len() * image_len) as u64)
        .at(tmp)?;
    let outcomes = decode_pool(tmp)?.install(|| decode_all(root, manifest, config, &file, tmp))?;
    let (rows, skipped): (Vec<usize>, Vec<SkippedImage>) = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(row, s)| s.map(|s| (row, s)))
        .unzip();
    if let Some(first) = skipped.first() {
        let first = Error::BadImage {
            path: root.join(&first.path),
            reason: first.reason.clone(),
        };
        if !config.skip_bad {
            return Err(if rows.len() == 1 {
                first
            } else {
                Error::BadImages {
                    count: rows.len(),
                    first: Box::new(first),
                }
            });
        }
        compact(&file, tmp, manifest.len(), image_len, &rows)?;
    }
    // No fsync: the rename makes the cache appear whole to every process,
    // and forcing 1.8 GB to disk would triple the build time. After a power
    // loss, delete the cache folder; it is rebuilt from the dataset.
    write_header(&file, tmp, config.size, manifest.len() - rows.len())?;
    Ok((rows, skipped))
}

/// Workers for [`decode_all`]: twice rayon's thread count. Buffered writes
/// to the one cache file serialise on its inode lock, and a worker waiting
/// there (or for its JPEG's read) leaves its core idle; a second worker per
/// core keeps decoding meanwhile (measured, with its date, in
/// `docs/benchmarks.md`). A failure to start them names `tmp`, the cache
/// being built.
fn decode_pool(tmp: &Path) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2 * rayon::current_num_threads())
        .thread_name(|i| format!("preprocess-{i}"))
        .build()
        .map_err(|e| Error::Io {
            path: tmp.to_path_buf(),
            source: std::io::Error::other(format!("cannot start the decoding threads: {e}")),
        })
}

/// Decodes and resizes every manifest image on all cores into its slot of
/// `file`; one entry per row, `Some` for an image that failed.
fn decode_all(
    root: &Path,
    manifest: &Manifest,
    config: &PreprocessConfig,
    file: &File,
    tmp: &Path,
) -> Result<Vec<Option<SkippedImage>>> {
    let image_len = config.size * config.size * 3;
    let step = Step {
        name: "preprocess",
        unit: "images",
        bar: "preprocess {bar:40} {pos}/{len} images {per_sec} ETA {eta} {msg}",
    };
    let progress = Progress::new(config.show_progress, step, manifest.len() as u64);
    let limits = DecodeLimits {
        max_side: config.max_side,
    };
    // Without --skip-bad the first failure stops the remaining work.
    let stop = AtomicBool::new(false);
    let scratch = || Scratch {
        file: Vec::new(),
        decoded: RgbImage {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        },
        resized: vec![0u8; image_len],
    };
    let outcomes = manifest
        .entries
        .par_iter()
        .enumerate()
        .map_init(scratch, |scratch, (row, entry)| {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let path = root.join(&entry.path);
            let result = match load_resized(&path, config.size, config.resize, limits, scratch) {
                Ok(()) => file
                    .write_all_at(&scratch.resized, (HEADER_LEN + row * image_len) as u64)
                    .at(tmp)
                    .map(|()| None),
                Err(reason) => Ok(Some(SkippedImage {
                    path: entry.path.clone(),
                    reason,
                })),
            };
            if matches!(result, Ok(Some(_))) && !config.skip_bad {
                stop.store(true, Ordering::Relaxed);
            }
            progress.inc(1);
            result
        })
        .collect::<Result<_>>();
    progress.finish();
    outcomes
}

/// Moves the good images down over the slots of the failed `rows` (sorted)
/// and truncates the file.
fn compact(file: &File, path: &Path, count: usize, image_len: usize, rows: &[usize]) -> Result<()> {
    let mut buf = vec![0u8; image_len];
    let mut next = 0;
    let mut failed = rows.iter().peekable();
    for row in 0..count {
        if failed.peek() == Some(&&row) {
            failed.next();
            continue;
        }
        if next != row {
            file.read_exact_at(&mut buf, (HEADER_LEN + row * image_len) as u64)
                .at(path)?;
            file.write_all_at(&buf, (HEADER_LEN + next * image_len) as u64)
                .at(path)?;
        }
        next += 1;
    }
    file.set_len((HEADER_LEN + next * image_len) as u64)
        .at(path)
}

fn write_header(file: &File, path: &Path, size: usize, count: usize) -> Result<()> {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(size as u32).to_le_bytes());
    header[16..20].copy_from_slice(&3u32.to_le_bytes());
    header[24..32].copy_from_slice(&(count as u64).to_le_bytes());
    file.write_all_at(&header, 0).at(path)
}
