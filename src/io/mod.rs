//! Helpers at the bottom of the crate: the one file writer, progress
//! display, tables and text as a notebook shows them, the checkout's root.
//!
//! The submodules are private; everything is re-exported here.

mod checkout;
mod files;
mod progress;
mod table;
mod text;

pub use checkout::*;
pub use files::*;
pub use progress::*;
pub use table::*;
pub use text::*;
