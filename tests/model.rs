//! Report section 5: the architectures' shapes and sizes.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use caltech_anomaly::model::{Architecture, ModelConfig};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/device.rs
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
