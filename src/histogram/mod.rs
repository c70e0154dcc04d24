//! A detector without a network: each image's joint colour histogram
//! (`bins` per RGB channel, of the image resized as the split's cache
//! holds it), scored by its mean distance to the `k` nearest train images'
//! histograms. The distance is `1 −` the Bhattacharyya coefficient
//! `Σ √(p q)`: the cosine distance of the histograms' square roots. A
//! scene's colours (sky, foliage, walls) spread unlike an object's on its
//! background, so colour alone tells some of them apart; it is the ladder's
//! floor for what a detector that reads no shape can do.
//!
//! The submodules are private; everything is re-exported here.

mod family;
mod run;

pub use family::*;
pub use run::*;
