//! The tool checks its own reproducibility: a run's results folder
//! (`reproduce --out`) beside a published one (`docs/results/<profile>`),
//! table by table and cell by cell ([`compare_results`]).
//!
//! Every CSV in either folder's `tables/` is compared: a table, row or
//! column on one side only is reported; rows are matched by their key
//! (the first column, or the first two where the first repeats), and each
//! cell beyond [`Tolerance`] (numbers) or unequal (text) is listed, the
//! claims' verdicts that flipped first. Columns of wall time (`seconds`)
//! are not compared: they differ by machine. Where the published run
//! trained more than one seed, a model's numbers are held to their spread
//! over the seeds ([`with_seed_spread`]), and a flipped verdict says
//! whether it already flipped between the published seeds.
//!
//! The submodules are private; everything is re-exported here.

mod diff;
mod report;
mod spread;
mod table;
mod tolerance;

pub use diff::*;
pub use spread::*;
pub use tolerance::*;
