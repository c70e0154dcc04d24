//! The study as a whole: its directory, the profiles, `reproduce`, the
//! grading of the report's claims, the report writer, the benchmarks, the
//! `train` command's single run, and [`reproducibility`]: a run's results
//! beside the published ones.
//!
//! The submodules are private but `reproducibility`; everything is
//! re-exported here, and `reproducibility`'s main names.

mod bench;
mod claims;
mod conclusion;
mod directory;
pub mod pages;
mod profile;
mod report;
mod reproduce;
pub mod reproducibility;
mod settings;
mod standalone;

pub use bench::*;
pub use claims::*;
pub use conclusion::*;
pub use directory::*;
pub use pages::{Page, drifted_pages, render_pages, write_pages};
pub use profile::*;
pub use report::*;
pub use reproduce::*;
pub use reproducibility::{ResultsDiff, Tolerance, Tolerances, compare_results, with_seed_spread};
pub use settings::*;
pub use standalone::*;
