//! The study's charts: each public function checks its input, then hands a
//! `Chart` to `save_chart` (in [`crate::figures`]), which draws it as PNG
//! and as SVG.

mod bars;
mod confusion;
mod curves;
mod distributions;
mod style;

pub use bars::*;
pub use confusion::*;
pub use curves::*;
pub use distributions::*;
pub use style::*;
