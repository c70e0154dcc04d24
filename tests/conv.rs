//! The native-backward convolutions, batch norm and ReLU agree with burn's
//! own, forward and backward, for every layer shape the autoencoders use; in
//! bf16 within bf16's rounding.

use approx::relative_eq;
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use caltech_anomaly::backend::{Activation, ConvLayer, batch_norm, native_calls, relu};
use caltech_anomaly::backend::{Precision, autocast};

/// fp32 against fp32: the same arithmetic in another order.
const FP32_TOLERANCE: f32 = 1e-5;
/// bf16 (fp32 accumulation) against fp32, in relative L2 norm: each operand
/// rounds to 8 significant bits (2⁻⁹ ≈ 0.2 %), and the sums of a few hundred
/// rounded products here stay within 1 %.
const BF16_TOLERANCE: f32 = 1e-2;
/// The share of a ReLU's outputs whose sign bf16's rounding may flip: only
/// outputs within rounding of 0 can.
const BF16_RELU_MASK_FLIPS: f32 = 1e-2;

/// The CPU, or CUDA when `CALTECH_ANOMALY_TEST_DEVICE=cuda`
/// (`scripts/gpu-check.sh`).
#[allow(deprecated)] // burn-tch is deprecated upstream; see src/backend/device.rs
fn test_device() -> Device {
    match std::env::var("CALTECH_ANOMALY_TEST_DEVICE").as_deref() {
        Ok("cuda") => Device::libtorch_cuda(0),
        _ => Device::libtorch(),
    }
}

fn autodiff_device() -> Device {
    test_device().autodiff()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().iter::<f32>().collect()
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_within(actual, expected, FP32_TOLERANCE, what);
}

/// Every value within `tolerance` of the largest magnitude (at least 1).
fn assert_within(actual: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            relative_eq!(*a / scale, *e / scale, epsilon = tolerance),
            "{what}[{i}]: {a} against {e}"
        );
    }
}

/// The largest difference between two equally long vectors.
fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// `‖actual − expected‖ / ‖expected‖` at most `tolerance`.
fn assert_relative_l2(actual: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
    let error = norm(&mut actual.iter().zip(expected).map(|(a, e)| a - e));
    let relative = error / norm(&mut expected.iter().copied());
    assert!(
        relative <= tolerance,
        "{what}: relative L2 error {relative} over {tolerance}"
    );
}

/// Output, input gradient and parameter gradients of `layer` on `x`
/// against a fixed random cotangent, through `run`.
struct Pass {
    output: Vec<f32>,
    input_grad: Option<Vec<f32>>,
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
}

fn pass<L>(
    layer: &L,
    weight: impl Fn(&L) -> Tensor<4>,
    bias: impl Fn(&L) -> Tensor<1>,
    x: Tensor<4>,
    cotangent: &Tensor<4>,
    run: impl Fn(&L, Tensor<4>) -> Tensor<4>,
) -> Pass {
    let y = run(layer, x.clone());
    let grads = (y.clone() * cotangent.clone()).sum().backward();
    Pass {
        output: values(y),
        input_grad: x.grad(&grads).map(values),
        weight_grad: values(weight(layer).grad(&grads).expect("weight gradient")),
        bias_grad: values(bias(layer).grad(&grads).expect("bias gradient")),
    }
}

fn assert_same(native: Pass, reference: Pass, case: &str) {
    assert_close(
        &native.output,
        &reference.output,
        &format!("{case}: output"),
    );
    assert_eq!(
        native.input_grad.is_some(),
        reference.input_grad.is_some(),
        "{case}: which inputs get a gradient"
    );
    if let (Some(n), Some(r)) = (&native.input_grad, &reference.input_grad) {
        assert_close(n, r, &format!("{case}: input gradient"));
    }
    assert_close(
        &native.weight_grad,
        &reference.weight_grad,
        &format!("{case}: weight gradient"),
    );
    assert_close(
        &native.bias_grad,
        &reference.bias_grad,
        &format!("{case}: bias gradient"),
    );
}

/// `layer.apply_then(x, activation)` against burn's
/// `activation.apply(forward(layer, x))`: outputs and every gradient.
fn compare<L: ConvLayer>(
    layer: &L,
    x: Tensor<4>,
    weight: impl Fn(&L) -> Tensor<4> + Copy,
    bias: impl Fn(&L) -> Tensor<1> + Copy,
    forward: impl Fn(&L, Tensor<4>) -> Tensor<4>,
    activation: Activation,
    case: &str,
) {
    let out_dims = forward(layer, x.clone()).dims();
    let cotangent = Tensor::<4>::random(out_dims, Distribution::Normal(0.0, 1.0), &x.device());
    let before = native_calls();
    let native = pass(layer, weight, bias, x.clone(), &cotangent, |l, x| {
        l.apply_then(x, activation)
    });
    assert_eq!(
        native_calls(),
        before + 1,
        "{case}: the native path did not run"
    );
    let reference = pass(layer, weight, bias, x, &cotangent, |l, x| {
        activation.apply(forward(l, x))
    });
    assert_same(native, reference, case);
}

fn check_conv(
    config: Conv2dConfig,
    input: [usize; 4],
    input_needs_grad: bool,
    activation: Activation,
    case: &str,
) {
    let device = autodiff_device();
    let layer: Conv2d = config.init(&device);
    let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device);
    let x = if input_needs_grad {
        x.require_grad()
    } else {
        x
    };
    compare(
        &layer,
        x,
        |l: &Conv2d| l.weight.val(),
        |l: &Conv2d| l.bias.as_ref().unwrap().val(),
        |l: &Conv2d, x| l.forward(x),
        activation,
        case,
    );
}

fn check_transposed(
    config: ConvTranspose2dConfig,
    input: [usize; 4],
    activation: Activation,
    case: &str,
) {
    let device = autodiff_device();
    let layer: ConvTranspose2d = config.init(&device);
    let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
    compare(
        &layer,
        x,
        |l: &ConvTranspose2d| l.weight.val(),
        |l: &ConvTranspose2d| l.bias.as_ref().unwrap().val(),
        |l: &ConvTranspose2d, x| l.forward(x),
        activation,
        case,
    );
}

#[test]
fn same_padded_conv_matches_burn() {
    let config =
        Conv2dConfig::new([3, 8], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    for activation in [
        Activation::Identity,
        Activation::Relu,
        Activation::Relu6,
        Activation::Sigmoid,
    ] {
        let case = format!("3x3 stride 1 padding 1, {activation:?}");
        check_conv(config.clone(), [4, 3, 12, 12], true, activation, &case);
    }
}

#[test]
fn strided_conv_matches_burn() {
    let config = Conv2dConfig::new([5, 6], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    check_conv(
        config,
        [3, 5, 16, 16],
        true,
        Activation::Relu,
        "3x3 stride 2 padding 1",
    );
}

#[test]
fn depthwise_conv_with_relu6_matches_burn_on_both_sides_of_the_clamp() {
    // The lite networks' block: a strided depthwise convolution, then ReLU6.
    // Inputs wide enough that outputs fall below 0 and above 6 alike.
    let device = autodiff_device();
    let layer: Conv2d = Conv2dConfig::new([8, 8], [5, 5])
        .with_stride([2, 2])
        .with_groups(8)
        .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
        .init(&device);
    let x = Tensor::<4>::random([2, 8, 14, 14], Distribution::Normal(0.0, 20.0), &device)
        .require_grad();
    let outputs = values(layer.apply_then(x.clone(), Activation::Relu6));
    for (bound, what) in [(0.0, "at 0"), (6.0, "at 6")] {
        let clamped = outputs.iter().filter(|&&y| y == bound).count();
        assert!(clamped > 0, "no output clamped {what}");
    }
    assert!(
        outputs.iter().any(|&y| y > 0.0 && y < 6.0),
        "every output clamped"
    );
    compare(
        &layer,
        x,
        |l: &Conv2d| l.weight.val(),
        |l: &Conv2d| l.bias.as_ref().unwrap().val(),
        |l: &Conv2d, x| l.forward(x),
        Activation::Relu6,
        "5x5 depthwise stride 2, Relu6",
    );
}

#[test]
fn pointwise_valid_conv_matches_burn() {
    check_conv(
        Conv2dConfig::new([6, 2], [1, 1]),
        [2, 6, 4, 4],
        true,
        Activation::Identity,
        "1x1 valid",
    );
}

#[test]
fn a_first_layer_without_input_gradient_still_trains_its_weights() {
    let config =
        Conv2dConfig::new([3, 4], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    check_conv(
        config,
        [2, 3, 8, 8],
        false,
        Activation::Relu,
        "input without gradient",
    );
}

#[test]
fn size_doubling_transposed_conv_matches_burn() {
    let config = ConvTranspose2dConfig::new([6, 4], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1]);
    for activation in [Activation::Identity, Activation::Relu] {
        let case = format!("3x3 stride 2 padding 1 output padding 1, {activation:?}");
        check_transposed(config.clone(), [3, 6, 5, 5], activation, &case);
    }
}

#[test]
fn inference_without_autodiff_matches_burn() {
    let device = test_device();
    let layer: ConvTranspose2d = ConvTranspose2dConfig::new([4, 3], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(&device);
    let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    for activation in [
        Activation::Identity,
        Activation::Relu,
        Activation::Relu6,
        Activation::Sigmoid,
    ] {
        assert_close(
            &values(layer.apply_then(x.clone(), activation)),
            &values(activation.apply(layer.forward(x.clone()))),
            &format!("inference output, {activation:?}"),
        );
    }
}

#[test]
fn an_activated_output_that_burn_reuses_in_place_still_differentiates() {
    // `y - target` with `y` owned once lets burn-tch overwrite `y`, which
    // the backward of ReLU, ReLU6 and sigmoid still needs.
    let device = autodiff_device();
    let layer: Conv2d = Conv2dConfig::new([3, 4], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
    for activation in [Activation::Relu, Activation::Relu6, Activation::Sigmoid] {
        let weight_grad = |y: Tensor<4>| {
            let grads = (y - target.clone()).powi_scalar(2).sum().backward();
            values(layer.weight.val().grad(&grads).expect("weight gradient"))
        };
        let native = weight_grad(layer.apply_then(x.clone(), activation));
        let reference = weight_grad(activation.apply(layer.forward(x.clone())));
        assert_close(
            &native,
            &reference,
            &format!("{activation:?}: weight gradient"),
        );
    }
}

/// A layer in bf16 against the same layer in fp32 (both native): the output
/// within [`BF16_TOLERANCE`] of its largest value everywhere, every
/// gradient within [`BF16_TOLERANCE`] in relative L2 norm, and not all
/// equal (bf16 ran).
///
/// Through a ReLU, the fp32 gradients compared are those through bf16's own
/// mask: an output that rounds across 0 flips the mask and takes whole terms
/// of the gradients with it, so comparing through each one's own mask
/// measures how many outputs sit near 0 rather than bf16's rounding (3.7 %
/// for PyTorch's own autocast on this layer, more or less from one random
/// draw to the next). The flips themselves are bounded by
/// [`BF16_RELU_MASK_FLIPS`].
fn check_bf16<L: ConvLayer>(
    layer: &L,
    x: Tensor<4>,
    weight: impl Fn(&L) -> Tensor<4> + Copy,
    bias: impl Fn(&L) -> Tensor<1> + Copy,
    activation: Activation,
    case: &str,
) {
    let out_dims = layer.apply(x.clone()).dims();
    let device = x.device();
    let cotangent = Tensor::<4>::random(out_dims, Distribution::Normal(0.0, 1.0), &device);
    let run = |l: &L, x| l.apply_then(x, activation);
    let fp32 = pass(layer, weight, bias, x.clone(), &cotangent, run);
    let bf16 = {
        let _bf16 = autocast(Precision::Bf16);
        pass(layer, weight, bias, x.clone(), &cotangent, run)
    };
    assert_within(
        &bf16.output,
        &fp32.output,
        BF16_TOLERANCE,
        &format!("{case}: bf16 output"),
    );
    assert!(
        max_difference(&bf16.output, &fp32.output) > 1e-6,
        "{case}: the bf16 output equals fp32's: bf16 did not run"
    );
    let reference = match activation {
        Activation::Relu => {
            let mask: Vec<f32> = bf16.output.iter().map(|&y| f32::from(y > 0.0)).collect();
            let flips = mask
                .iter()
                .zip(&fp32.output)
                .filter(|&(&m, &y)| (m > 0.0) != (y > 0.0))
                .count() as f32
                / mask.len() as f32;
            assert!(
                flips <= BF16_RELU_MASK_FLIPS,
                "{case}: bf16 flips the ReLU of {:.2} % of the outputs",
                100.0 * flips
            );
            let mask = Tensor::<4>::from_data(TensorData::new(mask, out_dims), &device);
            let through_mask = |l: &L, x| l.apply_then(x, Activation::Identity);
            pass(layer, weight, bias, x, &(cotangent * mask), through_mask)
        }
        _ => fp32,
    };
    let gradients = [
        (
            "input",
            bf16.input_grad.as_ref().unwrap(),
            reference.input_grad.as_ref().unwrap(),
        ),
        ("weight", &bf16.weight_grad, &reference.weight_grad),
        ("bias", &bf16.bias_grad, &reference.bias_grad),
    ];
    for (what, b, f) in gradients {
        assert_relative_l2(
            b,
            f,
            BF16_TOLERANCE,
            &format!("{case}: bf16 {what} gradient"),
        );
    }
}

#[test]
fn bf16_conv_matches_fp32_within_rounding() {
    let device = autodiff_device();
    let layer: Conv2d = Conv2dConfig::new([16, 32], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    for activation in [Activation::Identity, Activation::Relu, Activation::Sigmoid] {
        let x = Tensor::<4>::random([4, 16, 12, 12], Distribution::Default, &device).require_grad();
        check_bf16(
            &layer,
            x,
            |l: &Conv2d| l.weight.val(),
            |l: &Conv2d| l.bias.as_ref().unwrap().val(),
            activation,
            &format!("3x3 conv, {activation:?}"),
        );
    }
}

#[test]
fn bf16_transposed_conv_matches_fp32_within_rounding() {
    let device = autodiff_device();
    let layer: ConvTranspose2d = ConvTranspose2dConfig::new([16, 8], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(&device);
    let x = Tensor::<4>::random([3, 16, 6, 6], Distribution::Default, &device).require_grad();
    check_bf16(
        &layer,
        x,
        |l: &ConvTranspose2d| l.weight.val(),
        |l: &ConvTranspose2d| l.bias.as_ref().unwrap().val(),
        Activation::Relu,
        "3x3 stride 2 transposed conv, Relu",
    );
}

#[test]
fn relu_matches_burn_and_differentiates_after_its_output_is_reused_in_place() {
    // `y - target` with `y` owned once lets burn-tch overwrite `y`, which
    // the backward reads.
    let device = autodiff_device();
    let x =
        Tensor::<4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let target = Tensor::<4>::random([2, 3, 5, 7], Distribution::Default, &device);
    let pass = |f: fn(Tensor<4>) -> Tensor<4>| {
        let y = f(x.clone());
        let output = values(y.clone());
        let grads = (y - target.clone()).powi_scalar(2).sum().backward();
        (output, values(x.grad(&grads).expect("input gradient")))
    };
    let before = native_calls();
    let (output, gradient) = pass(relu);
    assert_eq!(native_calls(), before + 1, "the native path did not run");
    let (expected, expected_gradient) = pass(burn::tensor::activation::relu);
    assert_eq!(output, expected);
    assert!(output.contains(&0.0) && output.iter().any(|&y| y > 0.0));
    assert_close(&gradient, &expected_gradient, "ReLU input gradient");
}

#[test]
fn batch_norm_in_training_matches_burn_with_its_running_statistics() {
    let device = autodiff_device();
    let channels = 6;
    let gamma = Tensor::<1>::random([channels], Distribution::Uniform(0.5, 2.0), &device);
    let beta = Tensor::<1>::random([channels], Distribution::Normal(0.0, 1.0), &device);
    let layer = || BatchNorm {
        gamma: Param::from_tensor(gamma.clone()),
        beta: Param::from_tensor(beta.clone()),
        ..BatchNormConfig::new(channels).init(&device)
    };
    let x = Tensor::<4>::random([4, channels, 5, 7], Distribution::Normal(1.0, 3.0), &device)
        .require_grad();
    let cotangent = Tensor::<4>::random(x.dims(), Distribution::Normal(0.0, 1.0), &device);
    let pass = |norm: &BatchNorm, run: &dyn Fn(&BatchNorm, Tensor<4>) -> Tensor<4>| {
        // Two steps: the second normalises by its own batch, and both move
        // the running statistics.
        run(norm, x.clone().mul_scalar(0.5));
        let y = run(norm, x.clone());
        let grads = (y.clone() * cotangent.clone()).sum().backward();
        let grad = |t: Tensor<1>| values(t.grad(&grads).expect("parameter gradient"));
        (
            values(y),
            values(x.grad(&grads).expect("input gradient")),
            [grad(norm.gamma.val()), grad(norm.beta.val())],
            [norm.running_mean.value(), norm.running_var.value()].map(values),
        )
    };
    let (native_layer, reference_layer) = (layer(), layer());
    let before = native_calls();
    let native = pass(&native_layer, &|n, x| batch_norm(n, x));
    assert_eq!(native_calls(), before + 2, "the native path did not run");
    let reference = pass(&reference_layer, &|n, x| n.forward(x));
    assert_close(&native.0, &reference.0, "output");
    assert_close(&native.1, &reference.1, "input gradient");
    assert_close(&native.2[0], &reference.2[0], "gamma gradient");
    assert_close(&native.2[1], &reference.2[1], "beta gradient");
    assert_close(&native.3[0], &reference.3[0], "running mean");
    assert_close(&native.3[1], &reference.3[1], "running variance");
}
