//! Batches of cached images as tensors, shared by training, scoring and the
//! analysis: burn's `Batcher` convention (`batch(items, device)`), over
//! cache rows. Burn's trait itself lives behind its `dataset` feature,
//! which would add `burn-dataset` and its dependencies to every build (and
//! to every notebook kernel's), for a loader this crate does not use.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::ImageCache;
use super::cache::hwc_u8_to_chw_unit;
use super::image::{Resize, read_resized};

/// Builds `[n, 3, S, S]` batches, values in [0, 1], from rows of a cache.
#[derive(Debug, Clone, Copy)]
pub struct ImageBatcher<'a> {
    cache: &'a ImageCache,
}

impl<'a> ImageBatcher<'a> {
    pub fn new(cache: &'a ImageCache) -> Self {
        Self { cache }
    }

    /// The batch of cache rows `rows`, in that order.
    ///
    /// # Shapes
    /// - output: `[rows.len(), 3, S, S]`
    pub fn batch(&self, rows: &[usize], device: &Device) -> Tensor<4> {
        let s = self.cache.size();
        let mut values = vec![0f32; rows.len() * 3 * s * s];
        self.cache.write_batch_nchw(rows, &mut values);
        Tensor::from_data(TensorData::new(values, [rows.len(), 3, s, s]), device)
    }
}

/// Image files decoded and resized as a cache holds its images (one file
/// per core), as one batch of values in [0, 1].
///
/// # Shapes
/// - output: `[paths.len(), 3, size, size]`
pub fn files_batch(
    paths: &[PathBuf],
    size: usize,
    resize: Resize,
    device: &Device,
) -> crate::Result<Tensor<4>> {
    let decoded = paths
        .par_iter()
        .map(|p| read_resized(p, size, resize))
        .collect::<crate::Result<Vec<_>>>()?;
    let plane = 3 * size * size;
    let mut values = vec![0f32; paths.len() * plane];
    for (image, dst) in decoded.iter().zip(values.chunks_exact_mut(plane)) {
        hwc_u8_to_chw_unit(image, dst);
    }
    Ok(Tensor::from_data(
        TensorData::new(values, [paths.len(), 3, size, size]),
        device,
    ))
}
