//! The classifier's network: a small CNN over the 101 object classes.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::autoencoder::{Stage, conv3x3};
use crate::error::{Error, Result};

/// The classifier's architecture, saved beside its weights.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    /// Input side S; must be divisible by 8.
    pub image_size: usize,
    /// Number of normal classes.
    pub classes: usize,
    /// Channels of the first stage; the second and third have 2× and 4×,
    /// and the penultimate features 4× as many values.
    #[config(default = 32)]
    pub width: usize,
}

impl ClassifierConfig {
    pub fn check(&self) -> Result<()> {
        if self.image_size < 8 || !self.image_size.is_multiple_of(8) {
            return Err(Error::InvalidParameter(format!(
                "image size {} must be a positive multiple of 8",
                self.image_size
            )));
        }
        if self.classes < 2 || self.width == 0 {
            return Err(Error::InvalidParameter(format!(
                "a classifier needs at least 2 classes and a positive width (got {} classes, \
                 width {})",
                self.classes, self.width
            )));
        }
        Ok(())
    }

    /// Builds the classifier on `device` with fresh weights.
    pub fn init(&self, device: &Device) -> Result<Classifier> {
        self.check()?;
        let w = self.width;
        let stage = |i, o, stride| Stage::new(conv3x3(i, o, stride, device), o, true, device);
        Ok(Classifier {
            down1: stage(3, w, 2),
            conv1: stage(w, w, 1),
            down2: stage(w, 2 * w, 2),
            conv2: stage(2 * w, 2 * w, 1),
            down3: stage(2 * w, 4 * w, 2),
            conv3: stage(4 * w, 4 * w, 1),
            head: LinearConfig::new(4 * w, self.classes).init(device),
        })
    }
}

/// Three stages of two 3×3 conv + batch norm + ReLU layers (the first
/// strided), global average pooling and a linear layer to the class logits.
#[derive(Module, Debug)]
pub struct Classifier {
    down1: Stage<Conv2d>,
    conv1: Stage<Conv2d>,
    down2: Stage<Conv2d>,
    conv2: Stage<Conv2d>,
    down3: Stage<Conv2d>,
    conv3: Stage<Conv2d>,
    pub(crate) head: Linear,
}

impl Classifier {
    /// The penultimate features: the last stage, averaged over space.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`, values in [0, 1]
    /// - output: `[batch, 4 · width]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.conv1.forward(self.down1.forward(images));
        let x = self.conv2.forward(self.down2.forward(x));
        let x = self.conv3.forward(self.down3.forward(x));
        x.mean_dim(3).mean_dim(2).flatten(1, 3)
    }

    /// The class logits.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(images))
    }
}
