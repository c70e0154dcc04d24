//! Scores and the detector contract: per-image scores and their files,
//! the images a user points at, [`ImageScorer`] with its calibration (and
//! the [`Localiser`] of a detector that maps where it finds an anomaly),
//! verdicts on new images, [`DetectorId`], the typed name of every
//! detector (with the families' names it is made of: why those live here
//! is in its module's documentation), and what each family offers the
//! kind enum ([`SavedFamily`]) and the ladder ([`LadderFamily`]).
//!
//! The submodules are private; everything is re-exported here.

mod detector;
mod detector_id;
mod detector_scores;
mod images;
mod ladder_family;
mod localiser;
mod saved;
mod scores;
mod verdict;

pub use detector::*;
pub use detector_id::*;
pub use detector_scores::*;
pub use images::*;
pub use ladder_family::*;
pub use localiser::*;
pub use saved::*;
pub use scores::*;
pub use verdict::*;
