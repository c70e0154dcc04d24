//! caltech_anomaly as one shared library for the notebook kernel (see
//! Cargo.toml): everything it exports, under the same paths.

pub use caltech_anomaly::*;
