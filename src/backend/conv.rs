//! Convolutions whose backward pass is LibTorch's own.
//!
//! burn-tch 0.22 runs `conv2d` and `conv_transpose2d` forward with
//! libtorch's kernels but not their backward passes: burn's autodiff falls
//! back to generic formulas (a transposed convolution for the input
//! gradient; for the weight gradient, a convolution over batch-swapped,
//! non-contiguous copies whose "kernel" is the whole output gradient). On the
//! baseline's encoder that is slower than libtorch's fused
//! `convolution_backward` (measured, with its date, in
//! `docs/benchmarks.md`).
//!
//! `NativeConvBackend` (private) is a burn backend extension with one
//! operation: a convolution (plain or transposed) recorded as a single
//! autodiff node. On LibTorch its forward is libtorch's convolution (on the
//! CPU channels-last, oneDNN's own layout) and its backward one call of
//! libtorch's `convolution_backward` (`src/backend/conv_backward.cpp`: tch binds
//! neither it nor an autograd backward with given gradients), the fused
//! kernels PyTorch runs (oneDNN on CPU, cuDNN on CUDA). [`conv2d`] and
//! [`conv_transpose2d`] take burn's own modules, so weights, records and
//! initialisation are unchanged; on any other backend they are exactly the
//! module's `forward`.
//!
//! An [`Activation`] (ReLU, ReLU6, sigmoid) right after the convolution runs inside
//! the same node, so its backward is libtorch's single kernel too.
//! `tests/conv.rs` checks outputs and gradients against burn's own path.
//!
//! Under [`crate::backend::autocast`]`(Bf16)` the node computes in bf16,
//! forward and backward, with fp32 tensors in and out (its weight's and
//! input's gradients are rounded to bf16 on the way, as under PyTorch's
//! autocast; the bias gradient is summed in fp32); `tests/conv.rs` checks
//! them against fp32 within bf16's rounding.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use crate::backend::{Precision, compute_precision, runs_natively};

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
    /// Computes in bf16 (fp32 accumulation; fp32 in and out), forward and
    /// backward: [`crate::backend::compute_precision`] when it ran.
    bf16: bool,
}

/// An elementwise function fused after a convolution: its backward then runs
/// in libtorch too (one `threshold_backward` for ReLU where burn runs a
/// comparison and a masked fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    /// `min(max(x, 0), 6)`, the lite networks' activation.
    Relu6,
    Sigmoid,
}

impl Activation {
    /// The activation with burn's own ops.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Identity => x,
            Activation::Relu => relu(x),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Sigmoid => sigmoid(x),
        }
    }
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
    if runs_natively(device) {
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
        bf16: compute_precision() == Precision::Bf16,
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
        bf16: compute_precision() == Precision::Bf16,
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

    use super::{Activation, ConvSpec};
    use crate::backend::cpp_gradients;

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

    /// `t` with its sizes unchanged and its memory channels-last (NHWC),
    /// oneDNN's native layout, on the CPU: in NCHW every convolution and its
    /// backward reorder their tensors to it and back. Shares `t`'s memory
    /// (and burn's storage handle) when `t` already is laid out so.
    fn channels_last(t: &TchTensor) -> TchTensor {
        if t.tensor.device() != tch::Device::Cpu {
            return t.clone();
        }
        let nhwc = t.tensor.permute([0, 2, 3, 1]).contiguous();
        TchTensor::from_existing(nhwc.permute([0, 3, 1, 2]), t.storage.clone())
    }

    /// A convolution operand as the convolution reads it: channels-last,
    /// and in bf16 when `spec.bf16` (the cast keeps the layout, and is
    /// one pass when `t` already is channels-last, as a previous
    /// convolution's output is).
    fn operand(t: &TchTensor, spec: &ConvSpec) -> TchTensor {
        let t = channels_last(t);
        if spec.bf16 {
            TchTensor::new(t.tensor.to_kind(tch::Kind::BFloat16))
        } else {
            t
        }
    }

    /// The convolution of the [`operand`]s `x` and `weight` and its
    /// activation, in place; fp32 out.
    fn torch_conv(
        x: &TchTensor,
        weight: &TchTensor,
        bias: &TchTensor,
        spec: &ConvSpec,
    ) -> tch::Tensor {
        let _no_graph = tch::no_grad_guard();
        let bias = bias.tensor.to_kind(x.tensor.kind());
        let mut y = x.tensor.convolution(
            &weight.tensor,
            Some(&bias),
            spec.stride,
            spec.padding,
            spec.dilation,
            spec.transposed,
            spec.output_padding,
            spec.groups,
        );
        let y = match spec.activation {
            Activation::Identity => y,
            Activation::Relu => y.relu_(),
            Activation::Relu6 => y.clamp_(0.0, 6.0),
            Activation::Sigmoid => y.sigmoid_(),
        };
        y.to_kind(tch::Kind::Float)
    }

    unsafe extern "C" {
        /// `src/backend/conv_backward.cpp`.
        fn caltech_convolution_backward(
            grad_output: *const torch_sys::C_tensor,
            input: *const torch_sys::C_tensor,
            weight: *const torch_sys::C_tensor,
            bias_size: i64,
            stride: *const i64,
            padding: *const i64,
            dilation: *const i64,
            transposed: std::ffi::c_int,
            output_padding: *const i64,
            groups: i64,
            mask: *const std::ffi::c_int,
            grads: *mut *mut torch_sys::C_tensor,
            error: *mut std::ffi::c_char,
            error_len: usize,
        ) -> std::ffi::c_int;
    }

    /// libtorch's `convolution_backward`: the gradients of `x`, `weight` and
    /// `bias` that `wanted` asks for.
    fn convolution_backward(
        grad_output: &tch::Tensor,
        [x, weight]: [&tch::Tensor; 2],
        bias_size: i64,
        spec: &ConvSpec,
        wanted: [bool; 3],
    ) -> [Option<tch::Tensor>; 3] {
        cpp_gradients(
            "convolution_backward",
            wanted,
            |mask, grads, error, error_len| {
                // SAFETY: every pointer is a live tensor or array of the lengths
                // the C++ side reads (2 per pair, 3 for the mask and the outputs).
                unsafe {
                    caltech_convolution_backward(
                        grad_output.as_ptr(),
                        x.as_ptr(),
                        weight.as_ptr(),
                        bias_size,
                        spec.stride.as_ptr(),
                        spec.padding.as_ptr(),
                        spec.dilation.as_ptr(),
                        spec.transposed.into(),
                        spec.output_padding.as_ptr(),
                        spec.groups,
                        mask,
                        grads,
                        error,
                        error_len,
                    )
                }
            },
        )
    }

    impl NativeConvBackend for LibTorch {
        fn native_conv(
            x: TchTensor,
            weight: TchTensor,
            bias: TchTensor,
            spec: ConvSpec,
        ) -> TchTensor {
            let (x, weight) = (operand(&x, &spec), operand(&weight, &spec));
            TchTensor::new(torch_conv(&x, &weight, &bias, &spec))
        }
    }

    /// What the backward reads: the convolution's input and weight as it ran
    /// them (the bf16 copies under bf16), and an activation's output (the
    /// derivatives of ReLU, ReLU6 and sigmoid are functions of it). Each keeps
    /// its burn storage handle, so that burn-tch never reuses that memory in
    /// place while the graph holds it.
    #[derive(Debug, Clone)]
    struct GraphState {
        x: TchTensor,
        weight: TchTensor,
        bias_size: i64,
        activated: Option<TchTensor>,
        spec: ConvSpec,
    }

    #[derive(Debug)]
    struct NativeConvBackward;

    impl Backward<LibTorch, 3> for NativeConvBackward {
        type State = GraphState;

        fn backward(self, ops: Ops<GraphState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let output_grad = grads.consume::<LibTorch>(&ops.node);
            let state = ops.state;
            let wanted = ops.parents.each_ref().map(Option::is_some);
            if wanted == [false; 3] {
                return;
            }
            let g = &output_grad.tensor;
            let output_grad = match (state.spec.activation, &state.activated) {
                (Activation::Relu, Some(y)) => y.tensor.threshold_backward(g, 0.0),
                // The clamped output is inside (0, 6) exactly where the input is.
                (Activation::Relu6, Some(y)) => y.tensor.hardtanh_backward(g, 0.0, 6.0),
                (Activation::Sigmoid, Some(y)) => tch::Tensor::sigmoid_backward(g, &y.tensor),
                _ => output_grad.tensor,
            };
            let gradients = native_gradients(&output_grad, &state, wanted);
            for (parent, gradient) in ops.parents.iter().zip(gradients) {
                if let (Some(parent), Some(gradient)) = (parent, gradient) {
                    grads.register::<LibTorch>(parent.id, TchTensor::new(gradient));
                }
            }
        }
    }

    /// The input, weight and bias gradients that `wanted` asks for, in
    /// fp32, from the gradient of the convolution's output. Under bf16 the
    /// convolution's backward runs in bf16. The bias gradient is a plain sum
    /// in fp32 either way: oneDNN computes a transposed convolution's with
    /// its reference kernel, 8 % of an fp32 training step of `improved2`.
    fn native_gradients(
        output_grad: &tch::Tensor,
        state: &GraphState,
        wanted: [bool; 3],
    ) -> [Option<tch::Tensor>; 3] {
        let leaves = [&state.x.tensor, &state.weight.tensor];
        let [wanted_x, wanted_weight, wanted_bias] = wanted;
        let kind = if state.spec.bf16 {
            tch::Kind::BFloat16
        } else {
            tch::Kind::Float
        };
        let [x, weight, _] = convolution_backward(
            &output_grad.to_kind(kind),
            leaves,
            state.bias_size,
            &state.spec,
            [wanted_x, wanted_weight, false],
        );
        let bias = wanted_bias
            .then(|| output_grad.sum_dim_intlist([0i64, 2, 3].as_slice(), false, tch::Kind::Float));
        let fp32 = |g: tch::Tensor| g.to_kind(tch::Kind::Float);
        [x.map(fp32), weight.map(fp32), bias]
    }

    impl<C: CheckpointStrategy> NativeConvBackend for Autodiff<LibTorch, C> {
        fn native_conv(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            spec: ConvSpec,
        ) -> FloatTensor<Self> {
            let nodes = [x.node(), weight.node(), bias.node()];
            let [x, weight, bias] = [x, weight, bias].map(Self::inner);
            match NativeConvBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (x, weight) = (operand(&x, &spec), operand(&weight, &spec));
                    let output = TchTensor::new(torch_conv(&x, &weight, &bias, &spec));
                    // A bare convolution's output is burn's alone; an
                    // activation's is read by the backward too.
                    let activated =
                        (spec.activation != Activation::Identity).then(|| output.clone());
                    let state = GraphState {
                        x,
                        weight,
                        bias_size: bias.tensor.size()[0],
                        activated,
                        spec,
                    };
                    prep.finish(state, output)
                }
                OpsKind::UnTracked(prep) => {
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
}
