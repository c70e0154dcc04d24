//! Statistics and small helpers that the report's sections share, at the
//! bottom of the crate: they import nothing of it but [`crate::error`], so
//! any section can use them without pulling in another.
//!
//! - percentiles as numpy computes them, and the one definition of
//!   "flagged" ([`percentile()`], `is_flagged`);
//! - intervals: the Wilson score interval, the bootstrap's resamples
//!   ([`wilson_interval`], [`BOOTSTRAP_RESAMPLES`]);
//! - ranks and their fusion ([`ranks`], [`rank_average`]);
//! - nearest neighbours and Gaussians on feature vectors
//!   ([`knn_distances`], [`Gaussian`], [`ClassGaussian`]) and the small
//!   linear algebra behind them ([`spd_inverse`]), PatchCore's coreset
//!   ([`greedy_coreset`]);
//! - lower-case hexadecimal for keys and digests.
//!
//! The submodules are private; everything is re-exported here.

mod bootstrap;
mod confusion;
mod coreset;
mod curves;
mod gaussian;
mod hex;
mod interval;
mod kde;
mod knn;
mod linalg;
mod pca;
mod percentile;
mod rank;

pub use bootstrap::*;
pub use confusion::*;
pub use coreset::greedy_coreset;
pub use curves::*;
pub use gaussian::{ClassGaussian, Gaussian};
pub(crate) use hex::hex;
pub use interval::{BOOTSTRAP_RESAMPLES, wilson_interval};
pub use kde::*;
pub use knn::knn_distances;
pub use linalg::spd_inverse;
pub use pca::*;
pub use percentile::percentile;
pub(crate) use percentile::{
    check_finite, check_percentile, is_flagged, percentile_of_sorted, sorted,
};
pub use rank::{rank_average, ranks};
