//! Convolutions whose backward pass is LibTorch's own.
//!
//! burn-tch 0.22 runs `conv2d` and `conv_transpose2d` forward with
//! libtorch's kernels but not their backward passes: burn's autodiff falls
//! back to generic formulas (a transposed convolution for the input
//! gradient; for the weight gradient, a convolution over batch-swapped,
//! non-contiguous copies whose "kernel" is the whole output gradient). On the
//! baseline's encoder at 64 px that costs 1.5× libtorch's fused
//! `convolution_backward` (measured in PyTorch 2.9.0 on the same CPU).
//!
//! `NativeConvBackend` (private) is a burn backend extension with one
//! operation: a convolution (plain or transposed) recorded as a single
//! autodiff node. On LibTorch its forward runs under libtorch's autograd and
//! its backward asks libtorch for the gradients, which calls the same fused
//! kernels as PyTorch (oneDNN on CPU, cuDNN on CUDA). [`conv2d`] and [`conv_transpose2d`] take
//! burn's own modules, so weights, records and initialisation are unchanged;
//! on any other backend they are exactly the module's `forward`.
//!
//! An [`Activation`] (ReLU, sigmoid) right after the convolution runs inside
//! the same node, so its backward is libtorch's single kernel too.
//! `tests/conv.rs` checks outputs and gradients against burn's own path.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

/// Everything but the tensors of a libtorch `convolution` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConvSpec {
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
    /// A transposed convolution (weights `[in, out/groups, k, k]`).
    transposed: bool,
    /// Extra rows and columns on a transposed convolution's output.
    output_padding: [i64; 2],
    groups: i64,
    /// Applied to the convolution's output within the same operation.
    activation: Activation,
}

/// An elementwise function fused after a convolution: its backward then runs
/// in libtorch too (one `threshold_backward` for ReLU where burn runs a
/// comparison and a masked fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    Sigmoid,
}

impl Activation {
    /// The activation with burn's own ops.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Identity => x,
            Activation::Relu => relu(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }
}

static NATIVE_BACKWARD: AtomicBool = AtomicBool::new(true);

/// Whether [`conv2d`] and [`conv_transpose2d`] use libtorch's backward on
/// LibTorch (the default). Off, they are burn's modules unchanged: the
/// comparison `bench train --generic-conv` measures.
pub fn set_native_backward(enabled: bool) {
    NATIVE_BACKWARD.store(enabled, Ordering::Relaxed);
}

/// See [`set_native_backward`].
pub fn native_backward() -> bool {
    NATIVE_BACKWARD.load(Ordering::Relaxed)
}

thread_local! {
    static NATIVE_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many convolutions this thread has run through libtorch's own
/// operator so far (the others ran as burn's modules): says which path a
/// model took.
pub fn native_calls() -> usize {
    NATIVE_CALLS.with(std::cell::Cell::get)
}

/// Runs `spec` natively when that is on and `device` is LibTorch's;
/// otherwise hands `x` back (`Err`) for burn's own layer.
#[cfg(feature = "tch")]
fn try_native(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    spec: ConvSpec,
    device: &Device,
) -> Result<Tensor<4>, Tensor<4>> {
    if native_backward() && native::supports(device) {
        NATIVE_CALLS.with(|n| n.set(n.get() + 1));
        Ok(native::run(x, weight, bias, spec))
    } else {
        Err(x)
    }
}

#[cfg(not(feature = "tch"))]
fn try_native(
    x: Tensor<4>,
    _: Tensor<4>,
    _: Tensor<1>,
    _: ConvSpec,
    _: &Device,
) -> Result<Tensor<4>, Tensor<4>> {
    Err(x)
}

fn pair(values: [usize; 2]) -> [i64; 2] {
    values.map(|v| v as i64)
}

/// `activation.apply(conv.forward(x))`, with libtorch's backward on
/// LibTorch.
///
/// # Shapes
/// - x: `[batch, in, H, W]`
/// - output: `[batch, out, H', W']`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        // `Same` (possibly asymmetric) and asymmetric padding stay with burn.
        _ => None,
    };
    let (Some(padding), Some(bias)) = (padding, &conv.bias) else {
        return activation.apply(conv.forward(x));
    };
    let spec = ConvSpec {
        stride: pair(conv.stride),
        padding: pair(padding),
        dilation: pair(conv.dilation),
        transposed: false,
        output_padding: [0, 0],
        groups: conv.groups as i64,
        activation,
    };
    let device = x.device();
    try_native(x, conv.weight.val(), bias.val(), spec, &device)
        .unwrap_or_else(|x| activation.apply(conv.forward(x)))
}

/// `activation.apply(conv.forward(x))`, with libtorch's backward on
/// LibTorch.
///
/// # Shapes
/// - x: `[batch, in, H, W]`
/// - output: `[batch, out, H', W']`
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    let Some(bias) = &conv.bias else {
        return activation.apply(conv.forward(x));
    };
    let spec = ConvSpec {
        stride: pair(conv.stride),
        padding: pair(conv.padding),
        dilation: pair(conv.dilation),
        transposed: true,
        output_padding: pair(conv.padding_out),
        groups: conv.groups as i64,
        activation,
    };
    let device = x.device();
    try_native(x, conv.weight.val(), bias.val(), spec, &device)
        .unwrap_or_else(|x| activation.apply(conv.forward(x)))
}

/// A convolution layer of burn's, run through [`conv2d`] or
/// [`conv_transpose2d`].
pub trait ConvLayer {
    /// `activation.apply(self.forward(x))`.
    ///
    /// # Shapes
    /// - x: `[batch, in, H, W]`
    /// - output: `[batch, out, H', W']`
    fn apply_then(&self, x: Tensor<4>, activation: Activation) -> Tensor<4>;

    /// `self.forward(x)`.
    ///
    /// # Shapes
    /// - x: `[batch, in, H, W]`
    /// - output: `[batch, out, H', W']`
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        self.apply_then(x, Activation::Identity)
    }
}

impl ConvLayer for Conv2d {
    fn apply_then(&self, x: Tensor<4>, activation: Activation) -> Tensor<4> {
        conv2d(self, x, activation)
    }
}

impl ConvLayer for ConvTranspose2d {
    fn apply_then(&self, x: Tensor<4>, activation: Activation) -> Tensor<4> {
        conv_transpose2d(self, x, activation)
    }
}

#[cfg(feature = "tch")]
mod native {
    // burn marks burn-tch deprecated (see `crate::device`); this is its extension.
    #![allow(deprecated)]

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::libtorch::TchTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{
        Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, LibTorch, backend_extension,
    };
    use burn::tensor::{Device, Tensor};

    use super::{Activation, ConvSpec};

    /// A convolution as one autodiff operation with libtorch's backward.
    #[backend_extension(LibTorch, Autodiff)]
    pub trait NativeConvBackend: Backend {
        /// # Shapes
        /// - x: `[batch, in, H, W]`
        /// - weight: `[out, in/groups, kH, kW]`, or `[in, out/groups, kH, kW]`
        ///   when transposed
        /// - bias: `[out]`
        /// - output: `[batch, out, H', W']`
        fn native_conv(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            spec: ConvSpec,
        ) -> FloatTensor<Self>;
    }

    /// The convolution and its activation; in place where no graph is
    /// recorded.
    fn torch_conv(
        x: &tch::Tensor,
        weight: &tch::Tensor,
        bias: &tch::Tensor,
        spec: &ConvSpec,
    ) -> tch::Tensor {
        let (x, weight) = if x.device() == tch::Device::Cpu {
            (channels_last(x), channels_last(weight))
        } else {
            (x.shallow_clone(), weight.shallow_clone())
        };
        let mut y = x.convolution(
            &weight,
            Some(bias),
            spec.stride,
            spec.padding,
            spec.dilation,
            spec.transposed,
            spec.output_padding,
            spec.groups,
        );
        let recording = y.requires_grad();
        match (spec.activation, recording) {
            (Activation::Identity, _) => y,
            (Activation::Relu, true) => y.relu(),
            (Activation::Sigmoid, true) => y.sigmoid(),
            (Activation::Relu, false) => y.relu_(),
            (Activation::Sigmoid, false) => y.sigmoid_(),
        }
    }

    /// NCHW: NHWC's permutation when `t` is laid out channels-last,
    /// otherwise the identity; `t.permute(order)` is then contiguous.
    fn memory_order(t: &tch::Tensor) -> [i64; 4] {
        const NHWC: [i64; 4] = [0, 2, 3, 1];
        if t.permute(NHWC).is_contiguous() {
            NHWC
        } else {
            [0, 1, 2, 3]
        }
    }

    /// `t` with its sizes unchanged and its memory channels-last (NHWC),
    /// oneDNN's native layout on the CPU: in NCHW every convolution and its
    /// backward reorder their tensors to it and back. A no-op when `t`
    /// already is; recorded by libtorch's autograd when `t` requires a
    /// gradient.
    fn channels_last(t: &tch::Tensor) -> tch::Tensor {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    }

    impl NativeConvBackend for LibTorch {
        fn native_conv(
            x: TchTensor,
            weight: TchTensor,
            bias: TchTensor,
            spec: ConvSpec,
        ) -> TchTensor {
            let _no_graph = tch::no_grad_guard();
            TchTensor::new(torch_conv(&x.tensor, &weight.tensor, &bias.tensor, &spec))
        }
    }

    /// What the backward needs: the output, still attached to libtorch's
    /// autograd graph, and the three leaves it was computed from. Each leaf keeps
    /// its burn tensor's storage handle, so that burn-tch never reuses that
    /// memory in place while the graph still reads it.
    #[derive(Debug, Clone)]
    struct GraphState {
        output: TchTensor,
        leaves: [TchTensor; 3],
    }

    #[derive(Debug)]
    struct NativeConvBackward;

    impl Backward<LibTorch, 3> for NativeConvBackward {
        type State = GraphState;

        fn backward(self, ops: Ops<GraphState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let output_grad = grads.consume::<LibTorch>(&ops.node);
            let GraphState { output, leaves } = ops.state;
            let wanted: Vec<_> = ops
                .parents
                .iter()
                .zip(&leaves)
                .filter_map(|(parent, leaf)| {
                    parent.as_ref().map(|parent| (parent.id, &leaf.tensor))
                })
                .collect();
            if wanted.is_empty() {
                return;
            }
            // ∂ sum(y · g) / ∂θ = gᵀ ∂y/∂θ: one libtorch backward through the
            // recorded convolution, for the inputs that need a gradient only.
            // Both flattened in the output's memory order, so that neither
            // is copied into the other's layout.
            let order = memory_order(&output.tensor);
            let flat = |t: &tch::Tensor| t.permute(order).contiguous().reshape([-1]);
            let objective = flat(&output.tensor).dot(&flat(&output_grad.tensor));
            let inputs: Vec<&tch::Tensor> = wanted.iter().map(|(_, leaf)| *leaf).collect();
            let gradients = tch::Tensor::run_backward(&[objective], &inputs, false, false);
            for ((id, _), gradient) in wanted.into_iter().zip(gradients) {
                grads.register::<LibTorch>(id, TchTensor::new(gradient));
            }
        }
    }

    impl<C: CheckpointStrategy> NativeConvBackend for Autodiff<LibTorch, C> {
        fn native_conv(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            spec: ConvSpec,
        ) -> FloatTensor<Self> {
            let nodes = [x.node(), weight.node(), bias.node()];
            let inputs = [x, weight, bias].map(Self::inner);
            match NativeConvBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let leaves = inputs.map(|input| TchTensor {
                        tensor: input.tensor.detach().set_requires_grad(true),
                        storage: input.storage,
                    });
                    let [x, weight, bias] = leaves.each_ref().map(|leaf| &leaf.tensor);
                    let output = tch::with_grad(|| torch_conv(x, weight, bias, &spec));
                    let output = TchTensor::new(output);
                    let detached = output.tensor.detach();
                    // ReLU's and sigmoid's backward read their output: burn
                    // must not overwrite it in place, so it shares the graph's
                    // storage handle. A bare convolution's output is free.
                    let result = match spec.activation {
                        Activation::Identity => TchTensor::new(detached),
                        Activation::Relu | Activation::Sigmoid => TchTensor {
                            tensor: detached,
                            storage: output.storage.clone(),
                        },
                    };
                    let state = GraphState { output, leaves };
                    prep.finish(state, result)
                }
                OpsKind::UnTracked(prep) => {
                    let [x, weight, bias] = inputs;
                    prep.finish(LibTorch::native_conv(x, weight, bias, spec))
                }
            }
        }
    }

    pub(super) fn run(
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        spec: ConvSpec,
    ) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as NativeConvBackend>::native_conv(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            spec,
        ))
    }

    pub(super) fn supports(device: &Device) -> bool {
        matches!(
            device.as_dispatch().clone().inner(),
            DispatchDevice::LibTorch(_)
        )
    }
}
