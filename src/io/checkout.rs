//! The checkout the relative defaults refer to (`data/`, `runs/`, the
//! pretrained weights' link), below every module that reads it.

/// The checkout whose `data/` and `runs/` relative defaults refer to.
pub const ROOT_ENV: &str = "CALTECH_ANOMALY_ROOT";
