//! The training loop every model shares (epochs, validation, early
//! stopping, checkpoints and resume) and the run directory it writes.
//!
//! The submodules are private; everything is re-exported here.

mod checkpoint;
mod learner;
mod run_dir;

pub(crate) use checkpoint::*;
pub use learner::*;
pub use run_dir::*;
