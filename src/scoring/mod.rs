//! Scores and the detector contract: per-image scores and their files,
//! the images a user points at, [`ImageScorer`] with its calibration, and
//! verdicts on new images.
//!
//! The submodules are private; everything is re-exported here.

mod detector;
mod detector_scores;
mod images;
mod scores;
mod verdict;

pub use detector::*;
pub use detector_scores::*;
pub use images::*;
pub use scores::*;
pub use verdict::*;
