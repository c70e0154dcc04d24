//! A label-aware detector without pretraining: a small CNN trained from
//! scratch to tell the 101 object classes apart, scored by how unsure it
//! is.
//!
//! The submodules are private; everything is re-exported here.

mod detector;
mod family;
mod model;
mod training;

pub use detector::*;
pub use family::*;
pub use model::*;
pub use training::*;
