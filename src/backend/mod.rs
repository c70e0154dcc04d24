//! Where and how tensors compute: the device, the native-backward
//! convolutions, batch norm and ReLU, mixed precision and the fused Adam step.
//!
//! The submodules are private; everything is re-exported here.

mod batch_norm;
mod conv;
mod device;
mod native_ops;
mod optim;
mod precision;
mod relu;

pub use batch_norm::*;
pub use conv::*;
pub use device::*;
pub use native_ops::*;
pub use optim::*;
pub use precision::*;
pub use relu::*;
