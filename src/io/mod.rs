//! Helpers at the bottom of the crate: the one file writer, progress
//! display, tables, numbers, text and paths as a notebook shows them, the
//! checkout's root, the date a record carries.
//!
//! The submodules are private; everything is re-exported here.

mod checkout;
mod date;
mod files;
mod frame;
mod progress;
mod readable;
mod table;
mod text;

pub use checkout::*;
pub use date::*;
pub use files::*;
pub use frame::*;
pub use progress::*;
pub use readable::*;
pub use table::*;
pub use text::*;
