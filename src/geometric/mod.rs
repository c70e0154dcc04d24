//! A self-supervised detector without pretraining (GEOM, RotNet-style):
//! the classifier's network trained from scratch on normal images only to
//! tell which geometric transformation (a quarter-turn, optionally with a
//! translation) was applied, scored by how badly it tells them on an image.
//! Caltech-101's objects are centred and upright; a cluttered scene has no
//! canonical orientation, so the network should be unsure on it.
//!
//! The submodules are private; everything is re-exported here.

mod detector;
mod family;
mod training;
mod transforms;

pub use detector::*;
pub use family::*;
pub use training::*;
pub use transforms::*;
