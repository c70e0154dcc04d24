//! Report section 5: the convolutional autoencoders.
//!
//! | architecture | design | rationale |
//! |---|---|---|
//! | [`Baseline`](Architecture::Baseline) | the report's: 3 conv+pool stages, a dense 256-d code, a dense layer back, 3 transposed convs | the reference; its two dense layers hold 93 % of its weights |
//! | [`Improved1`](Architecture::Improved1) | fully convolutional: stride-2 convs down to S/8, a 1×1 conv bottleneck of 16 channels, transposed convs up | keeps spatial layout in the code, 20× fewer weights, no dense layer whose size grows with S² |
//! | [`Improved2`](Architecture::Improved2) | Improved1 with batch norm after every hidden conv | better-conditioned training: lower error in the same epochs |
//! | [`Improved3`](Architecture::Improved3) | Improved2 trained on MSE + 0.1 · (1 − SSIM), a structural-similarity term over 7×7 windows (Bergmann et al. 2019); the score stays the report's per-image MSE | the MSE rewards blurred reconstructions of edges and texture; SSIM compares local structure, so the model spends its capacity on the structure of object images, and backgrounds, whose structure it has not learned, stand out more |
//!
//! The measured effect of each step, on reconstruction error and on anomaly
//! AUROC, is in the README.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use crate::backend::{Activation, ConvLayer, batch_norm, relu};
use crate::error::{Error, Result};

pub use crate::scoring::Architecture;

/// The architectures' defaults (their identity, names and parsing are in
/// [`crate::scoring`], where the detector ids can name them).
impl Architecture {
    /// The code width the README's measurements use: the report's 256 for
    /// the baseline, 16 channels for the fully convolutional models.
    pub fn default_encoding_dim(self) -> usize {
        match self {
            Architecture::Baseline => 256,
            _ => 16,
        }
    }

    /// Weight of the `1 − SSIM` term in the training objective by default:
    /// 0.1 for Improved3, 0 (the MSE alone) for the others.
    pub fn default_ssim_weight(self) -> f64 {
        match self {
            Architecture::Improved3 => 0.1,
            _ => 0.0,
        }
    }
}

/// The autoencoder's configuration, saved beside its weights.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    /// Input side S; must be divisible by 8.
    pub image_size: usize,
    /// The code width (the report's `encoding_dim`): the size of the
    /// baseline's dense code, the channels of Improved1-3's `S/8 × S/8`
    /// code. `None` takes [`Architecture::default_encoding_dim`].
    #[config(default = "None")]
    pub encoding_dim: Option<usize>,
}

impl ModelConfig {
    /// Rejects sizes the architectures cannot take.
    pub fn check(&self) -> Result<()> {
        if self.image_size < 8 || !self.image_size.is_multiple_of(8) {
            return Err(Error::InvalidParameter(format!(
                "image size {} must be a positive multiple of 8 (three halvings)",
                self.image_size
            )));
        }
        if self.encoding_dim == Some(0) {
            return Err(Error::InvalidParameter(
                "encoding_dim must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The code width in use: [`Self::encoding_dim`] or the architecture's
    /// default.
    pub fn code_width(&self) -> usize {
        self.encoding_dim
            .unwrap_or_else(|| self.architecture.default_encoding_dim())
    }

    /// Builds the model on `device` with fresh weights.
    pub fn init(&self, device: &Device) -> Result<Autoencoder> {
        self.check()?;
        let code = self.code_width();
        Ok(match self.architecture {
            Architecture::Baseline => {
                Autoencoder::Baseline(Baseline::new(self.image_size, code, device))
            }
            Architecture::Improved1 => Autoencoder::Improved(FullyConv::new(code, false, device)),
            Architecture::Improved2 | Architecture::Improved3 => {
                Autoencoder::Improved(FullyConv::new(code, true, device))
            }
        })
    }
}

/// Any of the autoencoders.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per model, never in a collection
pub enum Autoencoder {
    Baseline(Baseline),
    Improved(FullyConv),
}

impl Autoencoder {
    /// Reconstructs a batch.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`, values in [0, 1]
    /// - output: `[batch, 3, S, S]`, values in (0, 1)
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Autoencoder::Baseline(m) => m.decode(m.encode(images)),
            Autoencoder::Improved(m) => m.decode(m.encode(images)),
        }
    }

    /// The latent code of each image, flattened.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`
    /// - output: `[batch, code]`: `encoding_dim` for the baseline,
    ///   `channels · (S/8)²` for the fully convolutional models
    pub fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Autoencoder::Baseline(m) => m.encode(images),
            Autoencoder::Improved(m) => m.encode(images).flatten(1, 3),
        }
    }
}

pub(crate) fn conv3x3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// A 3×3 transposed conv that doubles the size (padding 1, output padding 1).
fn up3x3(input: usize, output: usize, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([input, output], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(device)
}

/// The report's design (see the module docs).
#[derive(Module, Debug)]
pub struct Baseline {
    enc1: Conv2d,
    enc2: Conv2d,
    enc3: Conv2d,
    pool: MaxPool2d,
    to_code: Linear,
    from_code: Linear,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    dec3: ConvTranspose2d,
    out: Conv2d,
    /// S/8, the side of the feature map around the dense code.
    side: usize,
}

impl Baseline {
    fn new(image_size: usize, encoding_dim: usize, device: &Device) -> Self {
        let side = image_size / 8;
        let flat = 128 * side * side;
        Self {
            enc1: conv3x3(3, 32, 1, device),
            enc2: conv3x3(32, 64, 1, device),
            enc3: conv3x3(64, 128, 1, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            to_code: LinearConfig::new(flat, encoding_dim).init(device),
            from_code: LinearConfig::new(encoding_dim, flat).init(device),
            dec1: up3x3(128, 128, device),
            dec2: up3x3(128, 64, device),
            dec3: up3x3(64, 32, device),
            out: conv3x3(32, 3, 1, device),
            side,
        }
    }

    /// # Shapes
    /// - input: `[batch, 3, S, S]`
    /// - output: `[batch, encoding_dim]`
    fn encode(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.enc1.apply_then(x, Activation::Relu));
        let x = self.pool.forward(self.enc2.apply_then(x, Activation::Relu));
        let x = self.pool.forward(self.enc3.apply_then(x, Activation::Relu));
        relu(self.to_code.forward(x.flatten(1, 3)))
    }

    /// # Shapes
    /// - input: `[batch, encoding_dim]`
    /// - output: `[batch, 3, S, S]`
    fn decode(&self, code: Tensor<2>) -> Tensor<4> {
        let batch = code.dims()[0];
        let x = relu(self.from_code.forward(code)).reshape([batch, 128, self.side, self.side]);
        let x = self.dec1.apply_then(x, Activation::Relu);
        let x = self.dec2.apply_then(x, Activation::Relu);
        let x = self.dec3.apply_then(x, Activation::Relu);
        self.out.apply_then(x, Activation::Sigmoid)
    }
}

/// A conv (or transposed conv) stage with optional batch norm and a ReLU.
#[derive(Module, Debug)]
pub(crate) struct Stage<L: Module> {
    layer: L,
    norm: Option<BatchNorm>,
}

impl<L: Module + ConvLayer> Stage<L> {
    pub(crate) fn new(layer: L, channels: usize, batch_norm: bool, device: &Device) -> Self {
        Self {
            layer,
            norm: batch_norm.then(|| BatchNormConfig::new(channels).init(device)),
        }
    }

    /// # Shapes
    /// - x: `[batch, in, H, W]`
    /// - output: `[batch, channels, H', W']`
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.norm {
            Some(norm) => relu(batch_norm(norm, self.layer.apply(x))),
            None => self.layer.apply_then(x, Activation::Relu),
        }
    }
}

/// The fully convolutional family, Improved1-3 (see the module docs).
#[derive(Module, Debug)]
pub struct FullyConv {
    down1: Stage<Conv2d>,
    down2: Stage<Conv2d>,
    down3: Stage<Conv2d>,
    /// 1×1 conv to the code channels; linear, as the code is.
    to_code: Conv2d,
    from_code: Stage<Conv2d>,
    up1: Stage<ConvTranspose2d>,
    up2: Stage<ConvTranspose2d>,
    up3: Stage<ConvTranspose2d>,
    out: Conv2d,
}

impl FullyConv {
    fn new(code_channels: usize, batch_norm: bool, device: &Device) -> Self {
        let conv = |i, o, stride| Stage::new(conv3x3(i, o, stride, device), o, batch_norm, device);
        let up = |i, o| Stage::new(up3x3(i, o, device), o, batch_norm, device);
        let pointwise = |i, o| Conv2dConfig::new([i, o], [1, 1]).init(device);
        Self {
            down1: conv(3, 32, 2),
            down2: conv(32, 64, 2),
            down3: conv(64, 128, 2),
            to_code: pointwise(128, code_channels),
            from_code: Stage::new(pointwise(code_channels, 128), 128, batch_norm, device),
            up1: up(128, 64),
            up2: up(64, 32),
            up3: up(32, 32),
            out: conv3x3(32, 3, 1, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, 3, S, S]`
    /// - output: `[batch, code_channels, S/8, S/8]`
    fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.down1.forward(x);
        let x = self.down2.forward(x);
        let x = self.down3.forward(x);
        self.to_code.apply(x)
    }

    /// # Shapes
    /// - input: `[batch, code_channels, S/8, S/8]`
    /// - output: `[batch, 3, S, S]`
    fn decode(&self, code: Tensor<4>) -> Tensor<4> {
        let x = self.from_code.forward(code);
        let x = self.up1.forward(x);
        let x = self.up2.forward(x);
        let x = self.up3.forward(x);
        self.out.apply_then(x, Activation::Sigmoid)
    }
}
