//! The study as a whole: its directory, the profiles, `reproduce`, the
//! grading of the report's claims, the report writer, the benchmarks, and
//! the `train` command's single run.
//!
//! The submodules are private; everything is re-exported here.

mod bench;
mod claims;
mod directory;
mod profile;
mod report;
mod reproduce;
mod standalone;

pub use bench::*;
pub use claims::*;
pub use directory::*;
pub use profile::*;
pub use report::*;
pub use reproduce::*;
pub use standalone::*;
