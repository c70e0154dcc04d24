//! Batches of cached images as tensors, shared by training, scoring and the
//! analysis: burn's `Batcher` convention (`batch(items, device)`), over
//! cache rows. Burn's trait itself lives behind its `dataset` feature,
//! which would add `burn-dataset` and its dependencies to every build (and
//! to every notebook kernel's), for a loader this crate does not use.

use burn::tensor::{Device, Tensor, TensorData};

use super::ImageCache;

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
