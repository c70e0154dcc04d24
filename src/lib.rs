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
//! | 4 Loading and preprocess | [`data`]: dataset scan, download, split, image cache, batches |
//! | 5 Autoencoder | [`model`], [`train`], [`score`]; runs and their keys in [`run`] |
//! | 6 Anomaly detection | [`detect`] |
//! | 7 Evaluation | [`evaluate`] |
//! | 8 Model refinement | [`refine`] |
//! | figures | [`plot`] (of the steps' values), drawn by [`figures`] |
//! | all, end to end | [`study`] (the study directory), [`reproduce`] (every section in one run), [`report`] |
//! | beyond the report | [`aggregate`]: other error aggregations, trivial baselines; [`classifier`] (a label-aware CNN, no pretraining), [`pretrained`] (EfficientNet-Lite0 with ImageNet weights) and [`detectors`]: scores beyond reconstruction and the ladder |
//! | grading | [`claims`]: the report's numeric claims beside ours, with verdicts |
//! | shared by the sections | [`stats`]: percentiles, intervals, ranks, nearest neighbours, Gaussians |
//!
//! The `caltech-anomaly` binary and the notebooks call the same functions.

pub mod aggregate;
pub mod bench;
pub mod checkout;
pub mod claims;
pub mod classifier;
pub mod conv;
pub mod data;
pub mod detect;
pub mod detectors;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod figures;
pub mod fsutil;
pub mod model;
pub mod optim;
pub mod plot;
pub mod precision;
pub mod pretrained;
pub mod profile;
pub mod progress;
pub mod refine;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod saved;
pub mod score;
pub mod stats;
pub mod study;
pub mod table;
pub mod train;

pub use error::{Error, Result};

/// The names a notebook or a script needs, in one import.
pub mod prelude {
    pub use crate::aggregate::{
        Aggregation, ScoreQuality, compare_aggregations, quality_dataframe, trivial_baselines,
        trivial_scores,
    };
    pub use crate::claims::{Evidence, MeasuredAt, ModelScores, check_section, dataset_counts};
    pub use crate::classifier::{
        ClassIndex, ClassifierConfig, ClassifierFit, ClassifierScore, ClassifierTrainingConfig,
        TrainedClassifier, classifier_detectors,
    };
    pub use crate::data::{
        Caltech101, ImageBatcher, ImageCache, Manifest, ManifestEntry, PoolSize, PrepareConfig,
        Prepared, PreprocessConfig, Resize, Split, SplitConfig, prepare, resolve_data_dir,
    };
    pub use crate::detect::{
        Calibration, DEFAULT_PERCENTILES, DetectionRow, Outlier, Verdict, class_counts,
        class_counts_dataframe, detection_dataframe, detection_table, missed_anomalies, outliers,
        outliers_dataframe, recommendations, verdicts, verdicts_dataframe, verdicts_skipping_bad,
    };
    pub use crate::detectors::{
        DEFAULT_RIDGE, DetectorScores, FeatureBank, FeatureRun, FeatureScore, LadderRow,
        autoencoder_detectors, best_of, false_positives, fused, ladder, ladder_summary,
        ladder_table, position, trivial_detectors,
    };
    pub use crate::device::{DeviceChoice, select_device};
    pub use crate::error::{Error, Result};
    pub use crate::evaluate::{
        Bootstrap, ErrorDensity, LatentPca, OperatingPoint, PerClassRow, Pr, Roc, error_density,
        latent_pca, operating_point, per_class, per_class_dataframe, pr, roc, summary,
    };
    pub use crate::figures::Figure;
    pub use crate::model::{Architecture, Autoencoder, ModelConfig};
    pub use crate::plot;
    pub use crate::precision::{Precision, autocast};
    pub use crate::pretrained::{EfficientNetLite0, weights_path};
    pub use crate::profile::{Profile, ProfileSettings};
    pub use crate::refine::{
        Refinement, UnseenComparisonRow, comparison_table, refinement, resize_ablation,
        same_images, seeds_table, unseen_comparison, unseen_comparison_table, unseen_scores,
    };
    pub use crate::report::{Markdown, Text};
    pub use crate::reproduce::{ReproduceConfig, reproduce};
    pub use crate::run::{RunSpec, Trained, run};
    pub use crate::saved::SavedDetector;
    pub use crate::score::{
        ErrorMap, ImageListing, Scores, UnseenRow, error_maps, image_paths, latent_codes,
        list_images, score_split,
    };
    pub use crate::study::{Study, StudyConfig};
    pub use crate::table::Table;
    pub use crate::train::{TrainingConfig, train};
    pub use std::path::{Path, PathBuf};
}
