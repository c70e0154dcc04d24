//! Batch norm in training whose forward and backward are LibTorch's own.
//!
//! burn-tch 0.22 leaves `batch_norm_train` and its backward to burn's
//! generic decompositions: means and variances over swapped and reshaped
//! copies of the channels-last activations, and a dozen elementwise passes
//! in the backward, about a quarter of a bf16 training step of `improved2`
//! (perf, 2026-12-07). [`batch_norm`] runs a training-mode [`BatchNorm`] as
//! libtorch's `native_batch_norm`, differentiated by
//! `native_batch_norm_backward` (`src/backend/batch_norm_backward.cpp`: tch
//! does not bind it), both fused kernels with a channels-last path, and
//! updates the running statistics as burn's [`BatchNorm::forward`] does. In
//! inference, on any other backend, and with
//! [`crate::backend::set_native_backward`] off, it is that `forward`.
//! `tests/conv.rs` checks outputs, gradients and running statistics against
//! burn's.

use burn::nn::BatchNorm;
use burn::tensor::Tensor;

/// `norm.forward(x)`, with libtorch's kernels and backward in training on
/// LibTorch.
///
/// # Shapes
/// - x, output: `[batch, channels, H, W]`
pub fn batch_norm(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "tch")]
    if x.device().is_autodiff()
        && norm.training.is_enabled()
        && crate::backend::runs_natively(&x.device())
    {
        return native_training(norm, x);
    }
    norm.forward(x)
}

/// The training path on LibTorch: libtorch's batch norm, and the running
/// statistics updated as burn's forward updates them.
#[cfg(feature = "tch")]
fn native_training(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let (output, mean, variance) = native::run(x, norm.gamma.val(), norm.beta.val(), norm.epsilon);
    let momentum = norm.momentum;
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach()
    };
    norm.running_mean
        .update(blend(norm.running_mean.value_sync(), mean));
    norm.running_var
        .update(blend(norm.running_var.value_sync(), variance));
    output
}

#[cfg(feature = "tch")]
mod native {
    // burn marks burn-tch deprecated (see `crate::backend`); this is its extension.
    #![allow(deprecated)]

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::libtorch::TchTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{
        Autodiff, AutodiffBackend, Backend, Dispatch, LibTorch, backend_extension,
    };
    use burn::tensor::Tensor;

    use crate::backend::cpp_gradients;

    /// A training-mode batch norm as one autodiff operation with libtorch's
    /// backward.
    #[backend_extension(LibTorch, Autodiff)]
    pub trait NativeBatchNormBackend: Backend {
        /// The normalised `x`, the batch mean and the biased batch variance
        /// (the statistics are constants to autodiff).
        ///
        /// # Shapes
        /// - x, output: `[batch, channels, H, W]`
        /// - gamma, beta, mean, variance: `[channels]`
        fn native_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    }

    /// libtorch's forward: the output, the batch mean and `1/√(var + ε)`.
    fn forward(
        x: &TchTensor,
        gamma: &TchTensor,
        beta: &TchTensor,
        epsilon: f64,
    ) -> (tch::Tensor, tch::Tensor, tch::Tensor) {
        let _no_graph = tch::no_grad_guard();
        x.tensor.native_batch_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            None::<&tch::Tensor>,
            None::<&tch::Tensor>,
            true,
            0.0,
            epsilon,
        )
    }

    /// The biased variance from the saved `1/√(var + ε)`.
    fn variance(inverse_std: &tch::Tensor, epsilon: f64) -> tch::Tensor {
        let _no_graph = tch::no_grad_guard();
        inverse_std.square().reciprocal() - epsilon
    }

    impl NativeBatchNormBackend for LibTorch {
        fn native_batch_norm_train(
            x: TchTensor,
            gamma: TchTensor,
            beta: TchTensor,
            epsilon: f64,
        ) -> (TchTensor, TchTensor, TchTensor) {
            let (output, mean, inverse_std) = forward(&x, &gamma, &beta, epsilon);
            let variance = variance(&inverse_std, epsilon);
            (
                TchTensor::new(output),
                TchTensor::new(mean),
                TchTensor::new(variance),
            )
        }
    }

    unsafe extern "C" {
        /// `src/backend/batch_norm_backward.cpp`.
        fn caltech_batch_norm_backward(
            grad_output: *const torch_sys::C_tensor,
            input: *const torch_sys::C_tensor,
            weight: *const torch_sys::C_tensor,
            save_mean: *const torch_sys::C_tensor,
            save_invstd: *const torch_sys::C_tensor,
            epsilon: f64,
            mask: *const std::ffi::c_int,
            grads: *mut *mut torch_sys::C_tensor,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> std::ffi::c_int;
    }

    /// What the backward reads: the input, gamma and the forward's saved
    /// statistics, each with its burn storage handle, so that burn-tch never
    /// reuses that memory in place while the graph holds it.
    #[derive(Debug, Clone)]
    struct GraphState {
        x: TchTensor,
        gamma: TchTensor,
        mean: TchTensor,
        inverse_std: TchTensor,
        epsilon: f64,
    }

    /// libtorch's `native_batch_norm_backward`: the gradients of the input,
    /// gamma and beta that `wanted` asks for.
    fn batch_norm_backward(
        grad_output: &tch::Tensor,
        state: &GraphState,
        wanted: [bool; 3],
    ) -> [Option<tch::Tensor>; 3] {
        let operation = "native_batch_norm_backward";
        cpp_gradients(operation, wanted, |mask, grads, error, error_len| {
            // SAFETY: every pointer is a live tensor or an array of the
            // length the C++ side reads (3 for the mask and the outputs).
            unsafe {
                caltech_batch_norm_backward(
                    grad_output.as_ptr(),
                    state.x.tensor.as_ptr(),
                    state.gamma.tensor.as_ptr(),
                    state.mean.tensor.as_ptr(),
                    state.inverse_std.tensor.as_ptr(),
                    state.epsilon,
                    mask,
                    grads,
                    error,
                    error_len,
                )
            }
        })
    }

    #[derive(Debug)]
    struct NativeBatchNormBackward;

    impl Backward<LibTorch, 3> for NativeBatchNormBackward {
        type State = GraphState;

        fn backward(self, ops: Ops<GraphState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let output_grad = grads.consume::<LibTorch>(&ops.node);
            let wanted = ops.parents.each_ref().map(Option::is_some);
            if wanted == [false; 3] {
                return;
            }
            let gradients = batch_norm_backward(&output_grad.tensor, &ops.state, wanted);
            for (parent, gradient) in ops.parents.iter().zip(gradients) {
                if let (Some(parent), Some(gradient)) = (parent, gradient) {
                    grads.register::<LibTorch>(parent.id, TchTensor::new(gradient));
                }
            }
        }
    }

    impl<C: CheckpointStrategy> NativeBatchNormBackend for Autodiff<LibTorch, C> {
        fn native_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let nodes = [x.node(), gamma.node(), beta.node()];
            let [x, gamma, beta] = [x, gamma, beta].map(Self::inner);
            let (output, mean, inverse_std) = forward(&x, &gamma, &beta, epsilon);
            // One storage handle for the mean the caller gets and the one the
            // backward reads: burn-tch then never scales it in place.
            let mean = TchTensor::new(mean);
            let statistics = (
                mean.clone(),
                TchTensor::new(variance(&inverse_std, epsilon)),
            );
            let output = TchTensor::new(output);
            let output = match NativeBatchNormBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let state = GraphState {
                        x,
                        gamma,
                        mean,
                        inverse_std: TchTensor::new(inverse_std),
                        epsilon,
                    };
                    prep.finish(state, output)
                }
                OpsKind::UnTracked(prep) => prep.finish(output),
            };
            (
                output,
                Self::from_inner(statistics.0),
                Self::from_inner(statistics.1),
            )
        }
    }

    /// The output, the batch mean and the biased batch variance.
    pub(super) fn run(
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        epsilon: f64,
    ) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
        let (output, mean, variance) =
            <Dispatch as NativeBatchNormBackend>::native_batch_norm_train(
                x.into_dispatch(),
                gamma.into_dispatch(),
                beta.into_dispatch(),
                epsilon,
            );
        (
            Tensor::from_dispatch(output),
            Tensor::from_dispatch(mean),
            Tensor::from_dispatch(variance),
        )
    }
}
