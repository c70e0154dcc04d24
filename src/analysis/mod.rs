//! The report's analysis (sections 6-8: detection, evaluation,
//! refinement), the aggregations beyond it, the ladder of every detector
//! with its one specification, the kind enum ([`RunKind`]: every family of
//! saved detectors, each with its loader) and any saved detector loaded by
//! its kind.
//!
//! The submodules are private; everything is re-exported here.

mod aggregation;
mod detection;
mod evaluation;
mod guard;
mod image_scores;
mod ladder;
mod ladder_spec;
mod refinement;
mod run_kind;
mod saved;

pub use aggregation::*;
pub use detection::*;
pub use evaluation::*;
pub use guard::*;
pub use image_scores::*;
pub use ladder::*;
pub use ladder_spec::*;
pub use refinement::*;
pub use run_kind::*;
pub use saved::*;
