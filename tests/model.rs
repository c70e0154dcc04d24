//! Report section 5: the architectures' shapes and sizes, and Improved3's
//! SSIM training term.

use approx::{assert_abs_diff_eq, assert_relative_eq};
use burn::module::Module;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Distribution, Tensor};
use caltech_anomaly::autoencoder::{Architecture, ModelConfig};
use caltech_anomaly::autoencoder::{SSIM_WINDOW, TrainingConfig, ssim, train_step};
use caltech_anomaly::backend::{Precision, autocast};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/backend/device.rs
fn cpu() -> Device {
    Device::libtorch()
}

#[test]
fn baseline_parameter_counts_match_the_report_design() {
    let device = cpu();
    for (size, expected) in [(64, 4_536_707), (256, 67_574_147)] {
        let model = ModelConfig::new(Architecture::Baseline, size)
            .init(&device)
            .unwrap();
        assert_eq!(model.num_params(), expected, "S = {size}");
    }
}

#[test]
fn every_architecture_reconstructs_the_input_shape_in_the_unit_interval() {
    let device = cpu();
    for architecture in Architecture::ALL {
        for size in [32, 64] {
            let model = ModelConfig::new(architecture, size).init(&device).unwrap();
            let x = Tensor::<4>::random([2, 3, size, size], Distribution::Default, &device);
            let y = model.forward(x.clone());
            assert_eq!(y.dims(), [2, 3, size, size], "{architecture} at {size}");
            let values: Vec<f32> = y.into_data().iter::<f32>().collect();
            assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
            let code = model.encode(x);
            let expected = match architecture {
                Architecture::Baseline => 256,
                _ => 16 * (size / 8).pow(2),
            };
            assert_eq!(code.dims(), [2, expected], "{architecture} code at {size}");
        }
    }
}

#[test]
fn improved_models_are_much_smaller_than_the_baseline() {
    let device = cpu();
    let count = |a| ModelConfig::new(a, 64).init(&device).unwrap().num_params();
    let baseline = count(Architecture::Baseline);
    for architecture in [
        Architecture::Improved1,
        Architecture::Improved2,
        Architecture::Improved3,
    ] {
        assert!(count(architecture) * 10 < baseline, "{architecture}");
    }
}

#[test]
fn sizes_not_divisible_by_eight_are_rejected() {
    let err = ModelConfig::new(Architecture::Baseline, 60)
        .init(&cpu())
        .unwrap_err();
    assert!(err.to_string().contains("multiple of 8"), "{err}");
}

/// SSIM by its definition, in f64: every 7×7 window of every channel.
fn ssim_by_definition(a: &[f32], b: &[f32], planes: usize, h: usize, w: usize) -> f64 {
    let (c1, c2, k) = (1e-4, 9e-4, SSIM_WINDOW);
    let mut sum = 0.0;
    let mut windows = 0;
    for p in 0..planes {
        for y in 0..=h - k {
            for x in 0..=w - k {
                let at =
                    |v: &[f32], i: usize| f64::from(v[p * h * w + (y + i / k) * w + x + i % k]);
                let n = (k * k) as f64;
                let mean = |v: &[f32]| (0..k * k).map(|i| at(v, i)).sum::<f64>() / n;
                let (ma, mb) = (mean(a), mean(b));
                let moment = |u: &[f32], mu: f64, v: &[f32], mv: f64| {
                    (0..k * k)
                        .map(|i| (at(u, i) - mu) * (at(v, i) - mv))
                        .sum::<f64>()
                        / n
                };
                let (va, vb, cov) = (
                    moment(a, ma, a, ma),
                    moment(b, mb, b, mb),
                    moment(a, ma, b, mb),
                );
                sum += (2.0 * ma * mb + c1) * (2.0 * cov + c2)
                    / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                windows += 1;
            }
        }
    }
    sum / f64::from(windows)
}

#[test]
fn ssim_is_one_for_identical_images_and_matches_its_definition() {
    let device = cpu();
    let dims = [2, 3, 12, 10];
    let a = Tensor::<4>::random(dims, Distribution::Default, &device);
    let noise = Tensor::<4>::random(dims, Distribution::Uniform(-0.2, 0.2), &device);
    let b = (a.clone() * 0.7 + noise).clamp(0.0, 1.0);
    let scalar = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());

    assert_abs_diff_eq!(scalar(ssim(a.clone(), a.clone())), 1.0, epsilon = 1e-5);
    let values = |t: &Tensor<4>| t.clone().into_data().iter::<f32>().collect::<Vec<_>>();
    let expected = ssim_by_definition(&values(&a), &values(&b), 6, 12, 10);
    let measured = scalar(ssim(a.clone(), b.clone()));
    assert!(expected < 0.9, "{expected}");
    assert_relative_eq!(measured, expected, max_relative = 1e-4);
    assert_relative_eq!(scalar(ssim(b, a)), measured, max_relative = 1e-5);
}

/// SSIM with burn's `avg_pool2d` as the window mean, fp32: the reference
/// for the library's depthwise convolution and its gradient.
fn ssim_by_pooling(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let (c1, c2) = (1e-4, 9e-4);
    let options = AvgPoolOptions::new([SSIM_WINDOW, SSIM_WINDOW]).with_stride([1, 1]);
    let window = |x: Tensor<4>| avg_pool2d(x, options.clone());
    let (ma, mb) = (window(a.clone()), window(b.clone()));
    let va = window(a.clone().powi_scalar(2)) - ma.clone().powi_scalar(2);
    let vb = window(b.clone().powi_scalar(2)) - mb.clone().powi_scalar(2);
    let cov = window(a * b) - ma.clone() * mb.clone();
    let numerator = (ma.clone() * mb.clone()).mul_scalar(2.0).add_scalar(c1)
        * cov.mul_scalar(2.0).add_scalar(c2);
    let denominator =
        (ma.powi_scalar(2) + mb.powi_scalar(2)).add_scalar(c1) * (va + vb).add_scalar(c2);
    (numerator / denominator).mean()
}

#[test]
fn ssim_and_its_gradient_match_average_pooling_and_stay_fp32_under_bf16() {
    let device = cpu().autodiff();
    let dims = [3, 3, 16, 13];
    let a = Tensor::<4>::random(dims, Distribution::Default, &device);
    let noise = Tensor::<4>::random(dims, Distribution::Uniform(-0.1, 0.1), &device);
    let b = (a.clone() * 0.9 + noise).clamp(0.0, 1.0);
    let with_gradient = |f: fn(Tensor<4>, Tensor<4>) -> Tensor<1>| {
        let x = a.clone().require_grad();
        let value = f(x.clone(), b.clone());
        let grads = value.backward();
        let gradient: Vec<f32> = x.grad(&grads).unwrap().into_data().iter().collect();
        (value.into_scalar::<f32>(), gradient)
    };
    let (value, gradient) = with_gradient(ssim);
    let (expected, expected_gradient) = with_gradient(ssim_by_pooling);
    assert_relative_eq!(value, expected, max_relative = 1e-5);
    let scale = expected_gradient.iter().fold(0f32, |m, g| m.max(g.abs()));
    assert!(scale > 0.0);
    for (i, (g, e)) in gradient.iter().zip(&expected_gradient).enumerate() {
        assert_abs_diff_eq!(*g, *e, epsilon = 1e-4 * scale);
        assert!(g.is_finite(), "gradient[{i}]");
    }
    let under_bf16 = {
        let _bf16 = autocast(Precision::Bf16);
        with_gradient(ssim)
    };
    assert!(
        under_bf16 == (value, gradient),
        "bf16 reached the SSIM: {} against {value}",
        under_bf16.0
    );
}

#[test]
fn only_improved3_adds_the_ssim_term_and_it_changes_the_update() {
    for architecture in Architecture::ALL {
        let config = TrainingConfig::new(ModelConfig::new(architecture, 32));
        assert_eq!(
            config.ssim_weight() > 0.0,
            architecture == Architecture::Improved3
        );
        // A training setting: any model can take it, and a bad one is refused.
        assert_eq!(
            config.clone().with_ssim_weight(Some(0.3)).ssim_weight(),
            0.3
        );
        assert!(config.with_ssim_weight(Some(-1.0)).check().is_err());
    }
    let device = cpu().autodiff();
    let step = |ssim_weight: f64| {
        device.seed(3);
        let config = TrainingConfig::new(ModelConfig::new(Architecture::Improved3, 16));
        let model = config.model.init(&device).unwrap();
        let mut optimizer = config.optimizer();
        let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Default, &device);
        let mse = (model.forward(x.clone()) - x.clone()).powi_scalar(2).mean();
        let (model, loss) = train_step(model, &mut optimizer, x.clone(), ssim_weight, 1e-3);
        let after: Vec<f32> = model.forward(x).into_data().iter::<f32>().collect();
        (mse.into_scalar::<f32>(), loss.into_scalar::<f32>(), after)
    };
    let (mse, loss, plain) = step(0.0);
    let (mse_again, loss_with_ssim, with_ssim) = step(0.1);
    // The step reports the MSE before the update, whatever the objective.
    assert_eq!((mse, mse_again), (loss, loss_with_ssim));
    let change = plain
        .iter()
        .zip(&with_ssim)
        .map(|(p, s)| (p - s).abs())
        .fold(0.0, f32::max);
    assert!(change > 1e-4, "{change}");
}

#[test]
fn encoding_dim_sets_the_code_width_of_every_architecture() {
    let device = cpu();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
    for architecture in Architecture::ALL {
        let default = ModelConfig::new(architecture, 32);
        assert_eq!(default.code_width(), architecture.default_encoding_dim());
        let narrow = default.clone().with_encoding_dim(Some(4));
        let model = narrow.init(&device).unwrap();
        // The baseline's dense code has 4 values; improved1-3 have 4
        // channels at (32/8)² positions.
        let per_position = if architecture == Architecture::Baseline {
            1
        } else {
            16
        };
        assert_eq!(model.encode(x.clone()).dims(), [2, 4 * per_position]);
        assert_eq!(model.forward(x.clone()).dims(), [2, 3, 32, 32]);
        let wide = default.init(&device).unwrap();
        assert!(wide.num_params() > model.num_params(), "{architecture}");
        assert!(default.with_encoding_dim(Some(0)).check().is_err());
    }
}
