//! What the operations with libtorch's own kernels and backward share
//! (convolutions, batch norm, ReLU): the switch that turns them on, the
//! count of their calls, whether one runs on a device, and the call into
//! their C++ backward functions (`src/backend/*_backward.cpp`).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;

static NATIVE_BACKWARD: AtomicBool = AtomicBool::new(true);

/// Whether [`crate::backend::conv2d`], [`crate::backend::conv_transpose2d`],
/// [`crate::backend::batch_norm`] and [`crate::backend::relu`] use
/// libtorch's kernels and backward on LibTorch (the default). Off, they are
/// burn's modules and function unchanged: the comparison `bench train
/// --generic-conv` measures.
pub fn set_native_backward(enabled: bool) {
    NATIVE_BACKWARD.store(enabled, Ordering::Relaxed);
}

/// See [`set_native_backward`].
pub fn native_backward() -> bool {
    NATIVE_BACKWARD.load(Ordering::Relaxed)
}

thread_local! {
    static NATIVE_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// How many convolutions, batch norms and ReLUs this thread has run through
/// libtorch's own operators so far (the others ran as burn's): says which
/// path a model took.
pub fn native_calls() -> usize {
    NATIVE_CALLS.with(Cell::get)
}

/// Whether an operation on `device` runs natively (the switch is on and the
/// device is LibTorch's); if so, counts it.
pub(crate) fn runs_natively(device: &Device) -> bool {
    let native = cfg!(feature = "tch")
        && native_backward()
        && crate::backend::libtorch_device(device).is_some();
    if native {
        NATIVE_CALLS.with(|n| n.set(n.get() + 1));
    }
    native
}

/// Calls a C++ backward of `src/backend/*_backward.cpp` with the mask of the
/// gradients `wanted` and room for three, and takes ownership of those it
/// wrote. `call` gets the mask, the three output slots and an error buffer
/// with its length, and returns the C++ side's status; a failure panics
/// with libtorch's message, naming `operation`.
#[cfg(feature = "tch")]
pub(crate) fn cpp_gradients(
    operation: &str,
    wanted: [bool; 3],
    call: impl FnOnce(
        *const std::ffi::c_int,
        *mut *mut torch_sys::C_tensor,
        *mut std::ffi::c_char,
        usize,
    ) -> std::ffi::c_int,
) -> [Option<tch::Tensor>; 3] {
    let mut grads = [std::ptr::null_mut(); 3];
    let mut error = [0 as std::ffi::c_char; 512];
    let mask = wanted.map(std::ffi::c_int::from);
    let status = call(
        mask.as_ptr(),
        grads.as_mut_ptr(),
        error.as_mut_ptr(),
        error.len(),
    );
    if status != 0 {
        // SAFETY: the C++ side wrote a NUL-terminated message.
        let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) };
        panic!("libtorch {operation}: {}", message.to_string_lossy());
    }
    // SAFETY: each non-null slot is a fresh `at::Tensor*` the C++ side
    // allocated for the caller, which tch then owns.
    grads.map(|g| (!g.is_null()).then(|| unsafe { tch::Tensor::from_ptr(g) }))
}
