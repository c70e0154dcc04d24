//! Report section 5: the convolutional autoencoders, their training,
//! their reconstruction scores and error maps, and their keyed runs.
//!
//! The submodules are private; everything is re-exported here.

mod model;
mod run;
mod score;
mod summary;
mod train;

pub use model::*;
pub use run::*;
pub use score::*;
pub use summary::*;
pub use train::*;
