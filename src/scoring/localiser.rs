//! Detectors that say where in an image they find the anomaly: the
//! [`Localiser`] an [`crate::scoring::ImageScorer`] may offer
//! ([`crate::scoring::ImageScorer::localiser`]), and the [`AnomalyMap`] it
//! makes of each image.

use std::path::PathBuf;

use crate::error::Result;

/// A detector's maps of where in each image it finds the anomaly.
pub trait Localiser {
    /// The anomaly map of each image file, in order, and the side the maps
    /// were computed at (to lay them over the image).
    fn anomaly_maps(&self, paths: &[PathBuf]) -> Result<(Vec<AnomalyMap>, usize)>;
}

/// An image's anomaly map: how anomalous each patch is (PatchCore: its
/// distance to the memory bank), row-major on a `grid × grid` lattice over
/// the image, and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyMap {
    pub grid: usize,
    pub values: Vec<f32>,
    /// The largest patch distance.
    pub score: f64,
}

impl AnomalyMap {
    /// The map of `values` on a `grid × grid` lattice, its score the
    /// largest.
    pub fn of(grid: usize, values: Vec<f32>) -> Self {
        let score = f64::from(values.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        Self {
            grid,
            values,
            score,
        }
    }

    /// The map at `size × size` (bilinear, half-pixel centres, edges
    /// clamped: PyTorch's `interpolate(mode="bilinear")`), to lay over the
    /// image.
    pub fn upsampled(&self, size: usize) -> Vec<f32> {
        let scale = self.grid as f32 / size as f32;
        let last = self.grid - 1;
        let taps: Vec<(usize, usize, f32)> = (0..size)
            .map(|o| {
                let x = ((o as f32 + 0.5) * scale - 0.5).clamp(0.0, last as f32);
                let low = x.floor() as usize;
                (low, (low + 1).min(last), x - low as f32)
            })
            .collect();
        let at = |r: usize, c: usize| self.values[r * self.grid + c];
        let mut out = Vec::with_capacity(size * size);
        for &(r0, r1, fy) in &taps {
            for &(c0, c1, fx) in &taps {
                let top = at(r0, c0) * (1.0 - fx) + at(r0, c1) * fx;
                let bottom = at(r1, c0) * (1.0 - fx) + at(r1, c1) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
        out
    }

    /// The `(row, column)` of the most anomalous patch.
    pub fn peak(&self) -> (usize, usize) {
        let i = (0..self.values.len())
            .max_by(|&a, &b| self.values[a].total_cmp(&self.values[b]))
            .unwrap_or(0);
        (i / self.grid, i % self.grid)
    }
}
