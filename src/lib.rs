//! # caltech_anomaly
//!
//! Anomaly detection on Caltech-101 with convolutional autoencoders and
//! reconstruction-error analysis: a Rust reproduction of the coursework
//! report "Anomaly Detection Using Autoencoder with Reconstruction Error
//! Analysis", built on Burn with the LibTorch backend.
//!
//! Modules follow the report's sections:
//!
//! | report section | module |
//! |---|---|
//! | 4 Loading and preprocess | [`data`]: dataset scan, download, split, image cache |
//! | 5 Autoencoder | [`model`], [`train`], [`score`], run orchestration in [`run`] |
//! | 6 Anomaly detection | [`detect`] |
//! | 7 Evaluation | [`evaluate`] |
//! | 8 Model refinement | [`refine`] |
//! | all, end to end | [`study`] (step by step, for the notebooks), [`reproduce`] (one run), [`figures`], [`report`] |
//! | beyond the report | [`aggregate`]: other error aggregations, trivial baselines |
//! | grading | [`claims`]: the report's numeric claims beside ours, with verdicts |
//!
//! The `caltech-anomaly` binary and the notebooks call the same functions.

pub mod aggregate;
pub mod bench;
pub mod claims;
pub mod conv;
pub mod data;
pub mod detect;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod figures;
pub mod fsutil;
pub mod model;
pub mod profile;
pub mod refine;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod score;
pub mod study;
pub mod table;
pub mod train;

pub use error::{Error, Result};

/// The names a notebook or a script needs, in one import.
pub mod prelude {
    pub use crate::data::{
        Caltech101, ImageCache, Manifest, ManifestEntry, PoolSize, PrepareConfig, Prepared,
        PreprocessConfig, Split, SplitConfig, prepare, resolve_data_dir,
    };
    pub use crate::device::{DeviceChoice, select_device};
    pub use crate::error::{Error, Result};
    pub use crate::figures::Figure;
    pub use crate::model::{Architecture, Autoencoder, ModelConfig};
    pub use crate::profile::Profile;
    pub use crate::report::Markdown;
    pub use crate::reproduce::reproduce;
    pub use crate::run::{RunSpec, run};
    pub use crate::study::{Study, StudyConfig};
    pub use crate::train::{TrainingConfig, train};
}
