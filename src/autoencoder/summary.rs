//! The autoencoders as a reader wants them: a model summary as Keras prints
//! it ([`ModelConfig::summary`]: each layer, its output shape and its
//! parameters, the total), a line per architecture saying what it changes
//! ([`Architecture::description`]), and the four side by side
//! ([`architectures`]), the report's design told apart from this project's
//! reading of the report's short descriptions.
//!
//! The layers are listed from the configuration, as the builders in
//! `model.rs` make them; the tests check every total against the built
//! model's own count (burn's `num_params`, which, as Keras's total, counts
//! batch norm's running mean and variance).

use std::fmt;

use polars::prelude::{DataFrame, PolarsResult};

use crate::autoencoder::{Architecture, ModelConfig};
use crate::error::Result;
use crate::io::{Markdown, column, thousands};

/// One layer of a [`ModelSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// The field in `model.rs` and what it is: `enc1: conv 3×3, ReLU`.
    pub layer: String,
    /// Height, width, channels of one image's output, as Keras prints it
    /// (the model computes channels first); one value for a dense layer.
    pub output_shape: Vec<usize>,
    /// Weights and biases (and a batch norm's running statistics).
    pub parameters: usize,
}

/// A model summary as Keras prints it: every layer with its output shape
/// and parameters, and the total. Shows in a notebook as a Markdown table.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub architecture: Architecture,
    /// The input side S.
    pub image_size: usize,
    /// The code width in use ([`ModelConfig::code_width`]).
    pub code_width: usize,
    /// The input first.
    pub layers: Vec<LayerSummary>,
}

/// Parameters of a `k×k` conv (or transposed conv) with a bias.
fn conv(input: usize, output: usize, k: usize) -> usize {
    input * output * k * k + output
}

/// Parameters of a batch norm: scale and shift, running mean and variance.
fn batch_norm(channels: usize) -> usize {
    4 * channels
}

impl ModelSummary {
    /// Every parameter of the model.
    pub fn total(&self) -> usize {
        self.layers.iter().map(|l| l.parameters).sum()
    }

    /// The layers as a table: `layer`, `output_shape` (`64 × 64 × 32`),
    /// `parameters`.
    pub fn to_dataframe(&self) -> PolarsResult<DataFrame> {
        DataFrame::new_infer_height(vec![
            column("layer", &self.layers, |l| l.layer.clone()),
            column("output_shape", &self.layers, |l| shape(&l.output_shape)),
            column("parameters", &self.layers, |l| l.parameters as u64),
        ])
    }

    /// The summary as a Markdown table, as Keras prints it: a title line,
    /// the layers, then the total.
    pub fn to_markdown(&self) -> Markdown {
        Markdown(self.to_string())
    }

    /// Shows the summary as a Markdown table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        self.to_markdown().evcxr_display();
    }
}

/// The Markdown table [`ModelSummary::to_markdown`] shows.
impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.image_size;
        writeln!(
            f,
            "**{}** for {s}×{s}×3 images, code width {}: {}\n",
            self.architecture,
            self.code_width,
            self.architecture.description()
        )?;
        writeln!(f, "| layer | output shape (H × W × C) | parameters |")?;
        writeln!(f, "|---|---|---:|")?;
        for l in &self.layers {
            writeln!(
                f,
                "| {} | {} | {} |",
                l.layer,
                shape(&l.output_shape),
                thousands(l.parameters as u64)
            )?;
        }
        write!(
            f,
            "| **total** | | **{}** |",
            thousands(self.total() as u64)
        )
    }
}

/// `64 × 64 × 32`, or `256`.
fn shape(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Appends a layer to `layers`.
fn push(
    layers: &mut Vec<LayerSummary>,
    layer: String,
    output_shape: Vec<usize>,
    parameters: usize,
) {
    layers.push(LayerSummary {
        layer,
        output_shape,
        parameters,
    });
}

/// The baseline's layers after the input (`model.rs`'s `Baseline`).
fn baseline_layers(layers: &mut Vec<LayerSummary>, s: usize, code: usize) {
    let side = s / 8;
    let flat = 128 * side * side;
    let mut input = 3;
    for (i, width) in [32, 64, 128].into_iter().enumerate() {
        let at = s >> i;
        let conv_name = format!("enc{}: conv 3×3, ReLU", i + 1);
        push(
            layers,
            conv_name,
            vec![at, at, width],
            conv(input, width, 3),
        );
        push(
            layers,
            "pool: max pool 2×2".into(),
            vec![at / 2, at / 2, width],
            0,
        );
        input = width;
    }
    push(layers, "flatten".into(), vec![flat], 0);
    let to_code = "to_code: dense, ReLU (the code)".into();
    push(layers, to_code, vec![code], flat * code + code);
    let from_code = "from_code: dense, ReLU".into();
    push(layers, from_code, vec![flat], code * flat + flat);
    push(layers, "reshape".into(), vec![side, side, 128], 0);
    let mut input = 128;
    for (i, width) in [128, 64, 32].into_iter().enumerate() {
        let at = side << (i + 1);
        let name = format!("dec{}: transposed conv 3×3, stride 2, ReLU", i + 1);
        push(layers, name, vec![at, at, width], conv(input, width, 3));
        input = width;
    }
}

/// Improved1-3's layers after the input (`model.rs`'s `FullyConv`), a
/// batch norm after every hidden conv when `norm`.
fn fully_conv_layers(layers: &mut Vec<LayerSummary>, s: usize, code: usize, norm: bool) {
    // A hidden conv: its ReLU, or its batch norm and ReLU as a layer of
    // their own, as Keras lists them.
    let stage = |layers: &mut Vec<LayerSummary>,
                 field: &str,
                 what: &str,
                 shape: Vec<usize>,
                 parameters: usize| {
        let channels = shape[2];
        if norm {
            push(
                layers,
                format!("{field}: {what}"),
                shape.clone(),
                parameters,
            );
            let norm_name = format!("{field}: batch norm, ReLU");
            push(layers, norm_name, shape, batch_norm(channels));
        } else {
            push(layers, format!("{field}: {what}, ReLU"), shape, parameters);
        }
    };
    let mut input = 3;
    for (i, width) in [32, 64, 128].into_iter().enumerate() {
        let at = s >> (i + 1);
        let field = format!("down{}", i + 1);
        let shape = vec![at, at, width];
        stage(
            layers,
            &field,
            "conv 3×3, stride 2",
            shape,
            conv(input, width, 3),
        );
        input = width;
    }
    let side = s / 8;
    let to_code = "to_code: conv 1×1, linear (the code)".into();
    push(layers, to_code, vec![side, side, code], conv(128, code, 1));
    let shape = vec![side, side, 128];
    stage(layers, "from_code", "conv 1×1", shape, conv(code, 128, 1));
    let mut input = 128;
    for (i, width) in [64, 32, 32].into_iter().enumerate() {
        let at = side << (i + 1);
        let field = format!("up{}", i + 1);
        let what = "transposed conv 3×3, stride 2";
        stage(
            layers,
            &field,
            what,
            vec![at, at, width],
            conv(input, width, 3),
        );
        input = width;
    }
}

impl ModelConfig {
    /// The model's layers, their output shapes and parameters, as Keras's
    /// `model.summary()` prints them; fails as [`Self::check`] does.
    pub fn summary(&self) -> Result<ModelSummary> {
        self.check()?;
        let (s, code) = (self.image_size, self.code_width());
        let mut layers = vec![LayerSummary {
            layer: "input".into(),
            output_shape: vec![s, s, 3],
            parameters: 0,
        }];
        match self.architecture {
            Architecture::Baseline => baseline_layers(&mut layers, s, code),
            a => fully_conv_layers(&mut layers, s, code, a != Architecture::Improved1),
        }
        let out = "out: conv 3×3, sigmoid".into();
        push(&mut layers, out, vec![s, s, 3], conv(32, 3, 3));
        Ok(ModelSummary {
            architecture: self.architecture,
            image_size: s,
            code_width: code,
            layers,
        })
    }
}

/// Whose a design is: [`Architecture::source`].
pub const REPORTS_DESIGN: &str = "the report's";

/// [`Architecture::source`] of Improved1-3.
pub const OUR_READING: &str = "this project's reading of the report's short description";

impl Architecture {
    /// What the architecture is, or what it changes from the one before
    /// it, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Architecture::Baseline => {
                "the report's autoencoder: three conv + max-pool stages, a dense code (256 \
                 values by default) and a dense layer back, three transposed convs"
            }
            Architecture::Improved1 => {
                "fully convolutional: stride-2 convs down to S/8, a 1×1-conv code (16 channels \
                 by default), transposed convs up; no dense layer, so its weights do not grow \
                 with the image size"
            }
            Architecture::Improved2 => {
                "Improved1 with batch norm after every hidden conv, for better-conditioned \
                 training"
            }
            Architecture::Improved3 => {
                "Improved2 trained on MSE + 0.1 · (1 − SSIM), a structural-similarity term; \
                 still scored by the per-image MSE"
            }
        }
    }

    /// Whose design it is: [`REPORTS_DESIGN`] for the baseline (the layers
    /// the report gives); [`OUR_READING`] for Improved1-3, which the report
    /// names and describes in a few words, and whose layers, widths and
    /// loss here are this project's reading of those words.
    pub fn source(self) -> &'static str {
        match self {
            Architecture::Baseline => REPORTS_DESIGN,
            _ => OUR_READING,
        }
    }

    /// The training objective by default.
    pub fn loss(self) -> String {
        let w = self.default_ssim_weight();
        if w > 0.0 {
            format!("MSE + {w} · (1 − SSIM, 7×7 windows)")
        } else {
            "MSE".into()
        }
    }

    /// The layers in words.
    fn layers_in_words(self) -> &'static str {
        match self {
            Architecture::Baseline => {
                "3 × (conv 3×3 + ReLU, max pool 2×2), dense code (ReLU), dense back, \
                 3 transposed convs 3×3 stride 2, conv 3×3 + sigmoid"
            }
            Architecture::Improved1 => {
                "3 convs 3×3 stride 2 + ReLU, conv 1×1 code, conv 1×1 back, 3 transposed \
                 convs 3×3 stride 2, conv 3×3 + sigmoid"
            }
            Architecture::Improved2 | Architecture::Improved3 => {
                "as Improved1, with batch norm after each hidden conv"
            }
        }
    }

    /// The channels down, the code, the channels up.
    fn widths(self, image_size: usize, code: usize) -> String {
        let side = image_size / 8;
        match self {
            Architecture::Baseline => format!("32, 64, 128 → {code} → 128, 64, 32"),
            _ => format!("32, 64, 128 → {code} × {side} × {side} → 128, 64, 32, 32"),
        }
    }
}

/// One row of [`architectures`].
struct ArchitectureRow {
    model: Architecture,
    layers: &'static str,
    widths: String,
    parameters: usize,
    loss: String,
    changes: &'static str,
    source: &'static str,
}

fn architecture_rows(image_size: usize) -> Result<Vec<ArchitectureRow>> {
    Architecture::ALL
        .into_iter()
        .map(|model| {
            let config = ModelConfig::new(model, image_size);
            Ok(ArchitectureRow {
                model,
                layers: model.layers_in_words(),
                widths: model.widths(image_size, config.code_width()),
                parameters: config.summary()?.total(),
                loss: model.loss(),
                changes: model.description(),
                source: model.source(),
            })
        })
        .collect()
}

/// The four architectures at `image_size` with their default code widths:
/// `model`, `layers`, `widths` (channels down → the code → channels up),
/// `parameters`, `loss`, `description`, `source` ([`Architecture::source`]:
/// the report's design, or this project's reading of the report's short
/// description).
pub fn architectures_dataframe(image_size: usize) -> Result<DataFrame> {
    let rows = architecture_rows(image_size)?;
    Ok(DataFrame::new_infer_height(vec![
        column("model", &rows, |r| r.model.name()),
        column("layers", &rows, |r| r.layers),
        column("widths", &rows, |r| r.widths.clone()),
        column("parameters", &rows, |r| r.parameters as u64),
        column("loss", &rows, |r| r.loss.clone()),
        column("description", &rows, |r| r.changes),
        column("source", &rows, |r| r.source),
    ])?)
}

/// [`architectures_dataframe`] as a Markdown table (long text wraps),
/// with a note on whose each design is: what notebook 05 shows.
pub fn architectures(image_size: usize) -> Result<Markdown> {
    let rows = architecture_rows(image_size)?;
    let mut text = format!(
        "The four autoencoders at {image_size}×{image_size}×3 (default code widths)\n\n\
         | model | layers | widths (down → code → up) | parameters | loss | \
         what it is or changes | whose |\n\
         |---|---|---|---:|---|---|---|\n"
    );
    for r in &rows {
        let whose = if r.source == REPORTS_DESIGN {
            "the report's"
        } else {
            "our reading"
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {whose} |\n",
            r.model,
            r.layers,
            r.widths,
            thousands(r.parameters as u64),
            r.loss,
            r.changes
        ));
    }
    text.push_str(
        "\n*the report's*: the baseline's layers, its MSE loss and Adam are the report's. \
         *our reading*: the report names Improved1-3 and describes each in a few words; their \
         layers, widths and losses here are this project's reading of those words.",
    );
    Ok(Markdown(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::Device;

    #[test]
    fn the_totals_are_the_models_own_parameter_counts() {
        let device = Device::default();
        for architecture in Architecture::ALL {
            for (size, code) in [(32, None), (64, None), (64, Some(8)), (48, Some(32))] {
                let config = ModelConfig::new(architecture, size).with_encoding_dim(code);
                let summary = config.summary().unwrap();
                let model = config.init(&device).unwrap();
                assert_eq!(
                    summary.total(),
                    model.num_params(),
                    "{architecture} at {size} px, code {code:?}"
                );
            }
        }
    }

    #[test]
    fn the_published_counts_at_64_px() {
        // docs/results/quick/tables/comparison.csv's `parameters`.
        let totals: Vec<usize> = Architecture::ALL
            .into_iter()
            .map(|a| ModelConfig::new(a, 64).summary().unwrap().total())
            .collect();
        assert_eq!(totals, [4536707, 199859, 201779, 201779]);
    }

    #[test]
    fn a_summary_lists_each_layer_with_its_output_shape() {
        let summary = ModelConfig::new(Architecture::Baseline, 64)
            .summary()
            .unwrap();
        let first = &summary.layers[1];
        assert_eq!(first.layer, "enc1: conv 3×3, ReLU");
        assert_eq!(
            (first.output_shape.clone(), first.parameters),
            (vec![64, 64, 32], 896)
        );
        assert_eq!(summary.layers.last().unwrap().output_shape, [64, 64, 3]);
        let text = summary.to_string();
        assert!(
            text.contains("| to_code: dense, ReLU (the code) | 256 | 2,097,408 |"),
            "{text}"
        );
        assert!(text.ends_with("| **total** | | **4,536,707** |"), "{text}");
        assert!(
            !text.contains("Explicit") && !text.contains("_0"),
            "no debug dump"
        );
        let improved2 = ModelConfig::new(Architecture::Improved2, 64)
            .summary()
            .unwrap();
        let norms = improved2
            .layers
            .iter()
            .filter(|l| l.layer.contains("batch norm"));
        assert_eq!(norms.count(), 7, "after every hidden conv");
        assert_eq!(
            summary.to_dataframe().unwrap().shape(),
            (summary.layers.len(), 3)
        );
        assert!(
            ModelConfig::new(Architecture::Baseline, 60)
                .summary()
                .is_err()
        );
    }

    #[test]
    fn the_architectures_table_tells_the_reports_design_from_our_reading() {
        let df = architectures_dataframe(64).unwrap();
        assert_eq!(df.height(), 4);
        let source = df.column("source").unwrap();
        assert_eq!(source.str().unwrap().get(0), Some(REPORTS_DESIGN));
        assert_eq!(source.str().unwrap().get(3), Some(OUR_READING));
        let text = architectures(64).unwrap().0;
        assert!(text.contains("| improved3 |"), "{text}");
        assert!(
            text.contains("MSE + 0.1 · (1 − SSIM, 7×7 windows)"),
            "{text}"
        );
        assert!(
            text.contains("| 4,536,707 |") && text.contains("our reading"),
            "{text}"
        );
    }
}
