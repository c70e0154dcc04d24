//! The training loop every model shares (epochs, validation, early
//! stopping, checkpoints and resume), the run directory it writes, the
//! record every detector's run writes (`run.json`: a [`RunHeader`] with the
//! run's kind, its family's [`Record::KIND`] tag) and the one generic run
//! ([`RunSlot`], [`TrainedRun`]).
//!
//! The submodules are private; everything is re-exported here.

mod checkpoint;
mod learner;
mod run_dir;
mod run_record;
mod trained_run;

pub(crate) use checkpoint::*;
pub use learner::*;
pub use run_dir::*;
pub use run_record::*;
pub use trained_run::*;
