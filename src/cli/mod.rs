//! The binary's command line: arguments (clap lives here and nowhere in
//! the library) and one function per command, each a composition of library
//! functions.

mod args;
mod bench;
mod commands;
mod hints;
mod score;

pub(crate) use args::*;
pub(crate) use bench::*;
pub(crate) use commands::*;
pub(crate) use hints::*;
pub(crate) use score::*;
