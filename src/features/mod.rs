//! ImageNet-pretrained features (EfficientNet-Lite0), their bank over the
//! dataset, and the detectors fitted on them.
//!
//! The submodules are private; everything is re-exported here.

mod bank;
mod efficientnet;
mod run;

pub use bank::*;
pub use efficientnet::*;
pub use run::*;
