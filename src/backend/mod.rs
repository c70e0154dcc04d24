//! Where and how tensors compute: the device, the native-backward
//! convolutions and ReLU, mixed precision and the fused Adam step.
//!
//! The submodules are private; everything is re-exported here.

mod conv;
mod device;
mod optim;
mod precision;
mod relu;

pub use conv::*;
pub use device::*;
pub use optim::*;
pub use precision::*;
pub use relu::*;
