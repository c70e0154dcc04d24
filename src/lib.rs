//! # caltech_anomaly
//!
//! Anomaly detection on Caltech-101 with convolutional autoencoders and
//! reconstruction-error analysis: a Rust reproduction of the coursework
//! report "Anomaly Detection Using Autoencoder with Reconstruction Error
//! Analysis", built on Burn with the LibTorch backend.
//!
//! The folders, bottom to top (each imports only from those above it in
//! this list):
//!
//! | folder | what it holds |
//! |---|---|
//! | [`error`], [`stats`] | the error type; percentiles, curves, bootstrap intervals, densities, ranks, nearest neighbours, Gaussians, the small linear algebra |
//! | [`io`] | the one file writer, progress, tables and text as a notebook shows them |
//! | [`backend`] | the device, the native-backward convolutions, mixed precision, the fused Adam step |
//! | [`data`] | report section 4: the dataset scan, download, split, image cache, batches |
//! | [`training`] | the training loop every model shares, checkpoints, run directories |
//! | [`scoring`] | per-image scores, the detector contract ([`scoring::ImageScorer`]), calibration, verdicts, the typed detector ids ([`scoring::DetectorId`], with the families' names they are made of) |
//! | [`autoencoder`] | report section 5: the autoencoders, their training, scores, error maps and runs |
//! | [`features`], [`classifier`], [`geometric`], [`histogram`] | detectors beyond reconstruction: EfficientNet-Lite ImageNet features (pooled: kNN, a Gaussian; patches: PatchCore and its anomaly maps); a label-aware CNN without pretraining; a self-supervised CNN predicting rotations and translations; colour histograms without a network |
//! | [`analysis`] | report sections 6-8 (detection, evaluation, refinement), other aggregations, the ladder and its one specification ([`analysis::LadderSpec`]), saved detectors by kind |
//! | [`figures`] | the charts and image grids, and [`figures::plot`]: the figures of the steps' values |
//! | [`study`] | the study directory, profiles, [`study::reproduce`], the grading of the report's claims, the report writer, benchmarks, a run's results checked against the published ones |
//!
//! The `caltech-anomaly` binary and the notebooks call the same functions;
//! [`prelude`] holds the names a notebook needs.

pub mod analysis;
pub mod autoencoder;
pub mod backend;
pub mod classifier;
pub mod data;
pub mod error;
pub mod features;
pub mod figures;
pub mod geometric;
pub mod histogram;
pub mod io;
pub mod scoring;
pub mod stats;
pub mod study;
pub mod training;

pub use error::{Error, Result};

/// The names a notebook or a script needs, in one import.
pub mod prelude {
    pub use crate::analysis::SavedDetector;
    pub use crate::analysis::{
        Aggregation, ScoreQuality, compare_aggregations, quality_dataframe, trivial_baselines,
        trivial_scores,
    };
    pub use crate::analysis::{
        Bootstrap, ErrorDensity, LatentPca, OperatingPoint, PerClassRow, Pr, Roc, error_density,
        latent_pca, operating_point, per_class, per_class_dataframe, pr, roc, summary,
    };
    pub use crate::analysis::{
        DEFAULT_PERCENTILES, DetectionRow, Outlier, class_counts, class_counts_dataframe,
        detection_dataframe, detection_table, missed_anomalies, outliers, outliers_dataframe,
        recommendations,
    };
    pub use crate::analysis::{
        FittedLadder, Ladder, LadderMember, LadderRow, LadderSpec, best_of, false_positives, fused,
        ladder, ladder_detectors, ladder_summary, ladder_table, position, trivial_detectors,
    };
    pub use crate::analysis::{
        Refinement, UnseenComparisonRow, comparison_table, refinement, resize_ablation,
        same_images, seeds_table, unseen_comparison, unseen_comparison_table,
    };
    pub use crate::autoencoder::{Architecture, Autoencoder, ModelConfig};
    pub use crate::autoencoder::{ErrorMap, error_maps, latent_codes, score_split};
    pub use crate::autoencoder::{ModelSummary, architectures};
    pub use crate::autoencoder::{Trained, unseen_scores};
    pub use crate::autoencoder::{TrainingConfig, train};
    pub use crate::backend::{DeviceChoice, select_device};
    pub use crate::backend::{Precision, autocast};
    pub use crate::classifier::{
        ClassIndex, ClassifierConfig, ClassifierFit, ClassifierScore, ClassifierTrainingConfig,
        TrainedClassifier, classifier_detectors,
    };
    pub use crate::data::{
        Caltech101, ImageBatcher, ImageCache, Manifest, ManifestEntry, PoolSize, PrepareConfig,
        Prepared, PreprocessConfig, Resize, Split, SplitConfig, prepare, resolve_data_dir,
    };
    pub use crate::error::{Error, Result};
    pub use crate::features::{AnomalyMap, Backbone, EfficientNetLite, PatchCoreRun, PatchScore};
    pub use crate::features::{DEFAULT_RIDGE, FeatureBank, FeatureRun, FeatureScore};
    pub use crate::figures::Figure;
    pub use crate::figures::plot;
    pub use crate::geometric::{
        GeometricTrainingConfig, TrainedGeometric, Transformation, Transformations,
        geometric_detectors,
    };
    pub use crate::io::Table;
    pub use crate::io::{Markdown, Text, shown_path};
    pub use crate::scoring::{
        Calibration, Verdict, verdicts, verdicts_dataframe, verdicts_skipping_bad,
    };
    pub use crate::scoring::{DetectorId, DetectorScores, ImageScorer, LadderImages, TrivialKind};
    pub use crate::scoring::{ImageListing, Scores, UnseenRow, image_paths, list_images};
    pub use crate::study::{
        ClaimTable, Scoreboard, checkout_root, other_published, published_claims, scoreboard,
    };
    pub use crate::study::{
        Conclusion, autoencoder_conclusion, detection_conclusion, evaluation_conclusion,
        ladder_conclusion, preprocessing_conclusion, refinement_conclusion,
    };
    pub use crate::study::{Evidence, MeasuredAt, ModelScores, check_section, dataset_counts};
    pub use crate::study::{Profile, ProfileSettings};
    pub use crate::study::{ReproduceConfig, reproduce};
    pub use crate::study::{ResultsDiff, Tolerance, Tolerances, compare_results};
    pub use crate::study::{RunSpec, run};
    pub use crate::study::{Study, StudyConfig, StudySettings};
    pub use std::path::{Path, PathBuf};
}
