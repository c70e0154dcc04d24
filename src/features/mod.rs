//! ImageNet-pretrained features (the EfficientNet-Lite family), their bank
//! over the dataset, and the detectors fitted on them: nearest neighbours
//! and a Gaussian on pooled features, PatchCore on patch features.
//!
//! The submodules are private; everything is re-exported here.

mod bank;
mod efficientnet;
mod family;
mod patchcore;
mod run;

pub use bank::*;
pub use efficientnet::*;
pub use family::*;
pub use patchcore::*;
pub use run::*;
