//! ReLU whose backward is LibTorch's own.
//!
//! burn differentiates `relu` with a comparison and a masked fill; on the
//! CPU libtorch runs that masked fill through its generic element loop,
//! 18 % of an fp32 training step of `improved2` (perf, 2026-12-07), whose
//! batch-normalised stages cannot fuse the ReLU into the convolution
//! ([`crate::backend::Activation`]). [`relu`] is one autodiff operation on
//! LibTorch: libtorch's `relu` forward, its single `threshold_backward`
//! (vectorised) backward. On any other backend, and with
//! [`crate::backend::set_native_backward`] off, it is burn's `relu`.
//! `tests/conv.rs` checks it against burn's.

use burn::tensor::Tensor;
use burn::tensor::activation::relu as burn_relu;

/// `max(x, 0)`, with libtorch's backward on LibTorch.
///
/// # Shapes
/// - x, output: any, the same
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "tch")]
    if crate::backend::runs_natively(&x.device()) {
        return native::run(x);
    }
    burn_relu(x)
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

    /// ReLU as one autodiff operation with libtorch's backward.
    #[backend_extension(LibTorch, Autodiff)]
    pub trait NativeReluBackend: Backend {
        fn native_relu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    }

    impl NativeReluBackend for LibTorch {
        fn native_relu(x: TchTensor) -> TchTensor {
            let _no_graph = tch::no_grad_guard();
            TchTensor::new(x.tensor.relu())
        }
    }

    /// The backward reads the output (the input was positive exactly where
    /// it is), kept with its burn storage handle so that burn-tch never
    /// reuses that memory in place while the graph holds it.
    #[derive(Debug)]
    struct NativeReluBackward;

    impl Backward<LibTorch, 1> for NativeReluBackward {
        type State = TchTensor;

        fn backward(self, ops: Ops<TchTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let output_grad = grads.consume::<LibTorch>(&ops.node);
            let [parent] = ops.parents;
            if let Some(parent) = parent {
                let _no_graph = tch::no_grad_guard();
                let grad = ops
                    .state
                    .tensor
                    .threshold_backward(&output_grad.tensor, 0.0);
                grads.register::<LibTorch>(parent.id, TchTensor::new(grad));
            }
        }
    }

    impl<C: CheckpointStrategy> NativeReluBackend for Autodiff<LibTorch, C> {
        fn native_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let nodes = [x.node()];
            let x = Self::inner(x);
            match NativeReluBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let output = LibTorch::native_relu(x);
                    prep.finish(output.clone(), output)
                }
                OpsKind::UnTracked(prep) => prep.finish(LibTorch::native_relu(x)),
            }
        }
    }

    pub(super) fn run<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        Tensor::from_dispatch(<Dispatch as NativeReluBackend>::native_relu(
            x.into_dispatch(),
        ))
    }
}
