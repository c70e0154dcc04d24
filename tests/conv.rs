//! The native-backward convolutions agree with burn's own, forward and
//! backward, for every layer shape the autoencoders use.

use approx::relative_eq;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use caltech_anomaly::conv::{Activation, ConvLayer, native_calls};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/device.rs
fn autodiff_cpu() -> Device {
    Device::libtorch().autodiff()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().iter::<f32>().collect()
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            relative_eq!(*a / scale, *e / scale, epsilon = 1e-5),
            "{what}[{i}]: {a} against {e}"
        );
    }
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
    let device = autodiff_cpu();
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
    let device = autodiff_cpu();
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
    for activation in [Activation::Identity, Activation::Relu, Activation::Sigmoid] {
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
    #[allow(deprecated)]
    let device = Device::libtorch();
    let layer: ConvTranspose2d = ConvTranspose2dConfig::new([4, 3], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(&device);
    let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    for activation in [Activation::Identity, Activation::Relu, Activation::Sigmoid] {
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
    // ReLU's and sigmoid's backward still need.
    let device = autodiff_cpu();
    let layer: Conv2d = Conv2dConfig::new([3, 4], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
    for activation in [Activation::Relu, Activation::Sigmoid] {
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
