//! The images a user points `score` at: a file or a folder, every format
//! the decoder reads, with what was skipped named.
use std::path::{Path, PathBuf};

use crate::data::image::{self};
use crate::data::{SkippedImage, describe_skipped};
use crate::error::{Error, IoContext, Result};
use crate::io::{shown_path, status};

/// The images of a folder or the one file given, and what a folder scan
/// passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageListing {
    /// Sorted by name.
    pub images: Vec<PathBuf>,
    /// Files of the folder that are no image this build reads, named by
    /// file name.
    pub skipped: Vec<SkippedImage>,
}

/// The images in `input`: the file itself (any format the decoder reads,
/// told by its content), or every file of the folder whose extension
/// names a format the decoder reads (JPEG, PNG). Other entries are listed
/// in [`ImageListing::skipped`] with the reason.
///
/// Errors if `input` cannot be read or the folder holds no image.
pub fn list_images(input: &Path) -> Result<ImageListing> {
    let meta = std::fs::metadata(input).at(input)?;
    if !meta.is_dir() {
        return Ok(ImageListing {
            images: vec![input.to_path_buf()],
            skipped: Vec::new(),
        });
    }
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    for entry in std::fs::read_dir(input).at(input)? {
        let path = entry.at(input)?.path();
        match not_an_image(&path) {
            None => images.push(path),
            Some(reason) => skipped.push(SkippedImage {
                path: path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                reason,
            }),
        }
    }
    images.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if images.is_empty() {
        let also = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped {}", describe_skipped(&skipped))
        };
        return Err(Error::InvalidParameter(format!(
            "{} holds no image ({}){also}",
            input.display(),
            image::READ_FORMATS
        )));
    }
    Ok(ImageListing { images, skipped })
}

/// Why a folder entry is not taken as an image, or `None` if it is.
fn not_an_image(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) => return Some(format!("unreadable: {e}")),
        Ok(meta) if meta.is_dir() => return Some("a folder".into()),
        Ok(meta) if !meta.is_file() => return Some("not a regular file".into()),
        Ok(_) => {}
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ::image::ImageFormat::from_extension(extension) {
        Some(format) if format.reading_enabled() => None,
        Some(format) => Some(format!(
            "{format:?} is not a format this build reads ({})",
            image::READ_FORMATS
        )),
        None => Some("not an image".into()),
    }
}

/// The images of a folder (sorted), or the one file given: the images of
/// [`list_images`]. A folder's other files are named (on stderr, or below
/// the cell in a notebook: [`crate::io::status`]), so that none is
/// passed over silently; [`list_images`] returns them instead.
pub fn image_paths(input: &Path) -> Result<Vec<PathBuf>> {
    let listing = list_images(input)?;
    if !listing.skipped.is_empty() {
        let skipped = describe_skipped(&listing.skipped);
        let folder = shown_path(input);
        status(true, &format!("{}: skipped {skipped}", folder.display()));
    }
    Ok(listing.images)
}
