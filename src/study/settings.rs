//! The settings every notebook of a study shares: chosen once (notebook
//! 02's settings cell), saved in the study folder as `settings.json`, and
//! read back by the notebooks after it, so that a change made in 02 is the
//! run that 03-06 load rather than a default they would train again.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::autoencoder::{Architecture, ModelConfig, TrainingConfig};
use crate::data::{PoolSize, SplitConfig};
use crate::error::{Error, IoContext, Result};
use crate::io::{read_json, write_bytes_atomic};
use crate::study::{ProfileSettings, ReproduceConfig, StudyConfig};

/// The study folder's settings file.
pub const SETTINGS_FILE: &str = "settings.json";

/// A study's split, training seeds and one training configuration per
/// model (the study's main model first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySettings {
    pub split: SplitConfig,
    /// Training seeds: each model is trained once per seed.
    pub seeds: Vec<u64>,
    pub models: Vec<TrainingConfig>,
}

impl StudySettings {
    /// What `reproduce` runs at this profile: the report's split (seed 42,
    /// 70 / 15 / 15, `background_google` held out), seed 42, and the four
    /// models at the profile's image size, epochs and batch, Adam at 1e-3.
    pub fn of_profile(settings: &ProfileSettings) -> Self {
        let reproduce = ReproduceConfig::new(StudyConfig::new("", ""));
        Self {
            split: SplitConfig {
                pool: settings.pool,
                ..SplitConfig::default()
            },
            seeds: settings.training_seeds(reproduce.seed),
            models: Architecture::ALL
                .iter()
                .map(|&m| {
                    TrainingConfig::new(ModelConfig::new(m, settings.image_size))
                        .with_epochs(settings.epochs)
                        .with_batch_size(settings.batch_size)
                        .with_seed(reproduce.seed)
                })
                .collect(),
        }
    }

    /// The training configuration of `architecture` at the first seed
    /// (what a notebook that trains one run of it trains); errors when the
    /// study trains no such model.
    pub fn model(&self, architecture: Architecture) -> Result<TrainingConfig> {
        self.models
            .iter()
            .find(|c| c.model.architecture == architecture)
            .map(|c| self.at_first_seed(c))
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "the study's settings train no {architecture} model (they train {})",
                    self.model_names()
                ))
            })
    }

    /// The study's main model (the first one) at the first seed.
    pub fn main_model(&self) -> Result<TrainingConfig> {
        self.models
            .first()
            .map(|c| self.at_first_seed(c))
            .ok_or_else(|| Error::InvalidParameter("the study's settings train no model".into()))
    }

    /// `config` with the first of [`Self::seeds`] (its own seed without
    /// any).
    fn at_first_seed(&self, config: &TrainingConfig) -> TrainingConfig {
        match self.seeds.first() {
            Some(&seed) => config.clone().with_seed(seed),
            None => config.clone(),
        }
    }

    /// The image side every model takes, the main model's (the side the
    /// notebooks prepare the split at); 0 without a model.
    pub fn image_size(&self) -> usize {
        self.models.first().map_or(0, |c| c.model.image_size)
    }

    /// These settings on `split` (e.g. the one notebook 02 prepared).
    pub fn with_split(self, split: SplitConfig) -> Self {
        Self { split, ..self }
    }

    /// These settings with `config` replacing the configuration of its
    /// architecture (or added last, when the study had none).
    pub fn with_model(mut self, config: TrainingConfig) -> Self {
        let architecture = config.model.architecture;
        match self
            .models
            .iter_mut()
            .find(|c| c.model.architecture == architecture)
        {
            Some(slot) => *slot = config,
            None => self.models.push(config),
        }
        self
    }

    /// These settings with every model's configuration changed by `edit`
    /// (e.g. more epochs for all of them).
    pub fn with_every_model(mut self, edit: impl Fn(TrainingConfig) -> TrainingConfig) -> Self {
        self.models = self.models.into_iter().map(edit).collect();
        self
    }

    /// These settings trained once per seed of `seeds` (any number).
    pub fn with_seeds(mut self, seeds: impl Into<Vec<u64>>) -> Self {
        self.seeds = seeds.into();
        self
    }

    /// Errors on no model, no seed, two configurations of one
    /// architecture, models of different image sizes (the notebooks prepare
    /// one split at one size), or a split or model that does not check.
    pub fn check(&self) -> Result<()> {
        self.split.check()?;
        if self.seeds.is_empty() {
            return Err(Error::InvalidParameter(
                "the study's settings have no seed".into(),
            ));
        }
        self.main_model()?;
        for (i, config) in self.models.iter().enumerate() {
            config.model.check()?;
            let architecture = config.model.architecture;
            if self.models[..i]
                .iter()
                .any(|c| c.model.architecture == architecture)
            {
                return Err(Error::InvalidParameter(format!(
                    "the study's settings configure {architecture} twice"
                )));
            }
            if config.model.image_size != self.image_size() {
                return Err(Error::InvalidParameter(format!(
                    "the study's models take one image size: {architecture} takes {} px, {} \
                     takes {} px",
                    config.model.image_size,
                    self.models[0].model.architecture,
                    self.image_size()
                )));
            }
        }
        Ok(())
    }

    fn model_names(&self) -> String {
        let names: Vec<String> = self
            .models
            .iter()
            .map(|c| c.model.architecture.to_string())
            .collect();
        names.join(", ")
    }

    /// Reads `dir`'s settings file, if it has one.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(SETTINGS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let settings: Self = read_json(&path)?;
        settings.check()?;
        Ok(Some(settings))
    }

    /// Checks the settings and writes them into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.check()?;
        std::fs::create_dir_all(dir).at(dir)?;
        write_bytes_atomic(&dir.join(SETTINGS_FILE), &serde_json::to_vec_pretty(self)?)
    }

    /// Shows the settings as one line of Markdown in an evcxr notebook.
    pub fn evcxr_display(&self) {
        crate::io::Markdown(self.to_string()).evcxr_display();
    }
}

/// One line: the image size, epochs, batch, learning rate and precision
/// of the main model, the split, the seeds, and each model with its code
/// width and whatever of its training differs from the main model's.
impl fmt::Display for StudySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(main) = self.models.first() else {
            return write!(f, "no model");
        };
        let models: Vec<String> = self.models.iter().map(|c| model_text(c, main)).collect();
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let pool = match self.split.pool {
            PoolSize::PerClass(n) => format!("{n} images per class"),
            PoolSize::All => "every image".into(),
        };
        write!(
            f,
            "**{} px**, {} epoch{}, batch {}, learning rate {}, precision {} · split: seed {}, \
             {pool}, {} held out · training seed{} {} · models: {}",
            main.model.image_size,
            main.epochs,
            plural(main.epochs),
            main.batch_size,
            main.learning_rate,
            main.precision,
            self.split.seed,
            self.split.held_out.join(", "),
            plural(self.seeds.len()),
            seeds.join(", "),
            models.join(", "),
        )
    }
}

/// `baseline (code 256)`, or with what differs from `main`'s training:
/// `improved3 (code 16, 5 epochs, SSIM weight 0.2)`.
fn model_text(config: &TrainingConfig, main: &TrainingConfig) -> String {
    let mut parts = vec![format!("code {}", config.model.code_width())];
    if config.epochs != main.epochs {
        parts.push(format!("{} epochs", config.epochs));
    }
    if config.batch_size != main.batch_size {
        parts.push(format!("batch {}", config.batch_size));
    }
    if config.learning_rate != main.learning_rate {
        parts.push(format!("learning rate {}", config.learning_rate));
    }
    if config.precision != main.precision {
        parts.push(format!("precision {}", config.precision));
    }
    if config.ssim_weight.is_some() {
        parts.push(format!("SSIM weight {}", config.ssim_weight()));
    }
    format!("{} ({})", config.model.architecture, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::Profile;

    fn quick() -> StudySettings {
        StudySettings::of_profile(&Profile::Quick.settings())
    }

    #[test]
    fn the_profile_defaults_are_what_reproduce_trains() {
        let reproduce = ReproduceConfig::new(StudyConfig::new("", ""));
        let settings = quick();
        assert_eq!(settings.models, reproduce.training_configs(Profile::Quick));
        assert_eq!(settings.split, reproduce.split(Profile::Quick));
        assert_eq!(settings.seeds, reproduce.training_seeds(Profile::Quick));
        assert_eq!(settings.seeds, vec![42, 43, 44]);
    }

    #[test]
    fn a_model_is_replaced_by_its_architecture_and_seeds_take_any_length() {
        let wider = TrainingConfig {
            model: ModelConfig::new(Architecture::Baseline, 64).with_encoding_dim(Some(64)),
            ..quick().main_model().unwrap()
        };
        let settings = quick()
            .with_model(wider.clone())
            .with_seeds([42, 43, 44, 45]);
        assert_eq!(settings.models.len(), 4);
        assert_eq!(settings.model(Architecture::Baseline).unwrap(), wider);
        assert_eq!(settings.seeds, vec![42, 43, 44, 45]);
        settings.check().unwrap();
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let no_seed = quick().with_seeds(Vec::new());
        assert!(no_seed.check().unwrap_err().to_string().contains("no seed"));
        let mut twice = quick();
        twice.models.push(twice.models[0].clone());
        assert!(twice.check().unwrap_err().to_string().contains("twice"));
        let mut none = quick();
        none.models.clear();
        assert!(none.model(Architecture::Improved1).is_err());
    }

    #[test]
    fn one_line_shows_each_model_and_what_differs_without_debug_dumps() {
        let narrow = TrainingConfig::new(
            ModelConfig::new(Architecture::Baseline, 64).with_encoding_dim(Some(64)),
        );
        let settings = quick()
            .with_model(narrow)
            .with_every_model(|c| c.with_epochs(10).with_batch_size(64))
            .with_model(
                TrainingConfig::new(ModelConfig::new(Architecture::Improved3, 64))
                    .with_epochs(5)
                    .with_batch_size(64)
                    .with_ssim_weight(Some(0.2)),
            )
            .with_seeds(vec![42, 43]);
        let line = settings.to_string();
        assert!(
            line.starts_with("**64 px**, 10 epochs, batch 64, learning rate 0.001, precision auto"),
            "{line}"
        );
        assert!(line.contains("30 images per class"), "{line}");
        assert!(line.contains("training seeds 42, 43"), "{line}");
        assert!(line.contains("baseline (code 64)"), "{line}");
        assert!(
            line.contains("improved3 (code 16, 5 epochs, SSIM weight 0.2)"),
            "{line}"
        );
        assert!(
            !line.contains('\n') && !line.contains("PerClass("),
            "{line}"
        );
    }

    #[test]
    fn a_model_is_trained_at_the_first_seed_and_at_the_studys_image_size() {
        let settings = quick().with_seeds(vec![7, 8]);
        assert_eq!(settings.model(Architecture::Improved1).unwrap().seed, 7);
        assert_eq!(settings.main_model().unwrap().seed, 7);
        assert_eq!(settings.image_size(), 64);
        let mixed = quick().with_model(TrainingConfig::new(ModelConfig::new(
            Architecture::Improved2,
            32,
        )));
        let error = mixed.check().unwrap_err().to_string();
        assert!(error.contains("one image size"), "{error}");
        let split = SplitConfig {
            seed: 3,
            ..quick().split
        };
        assert_eq!(quick().with_split(split.clone()).split, split);
    }

    #[test]
    fn settings_round_trip_through_the_study_folder() {
        let dir = std::env::temp_dir().join(format!("study-settings-{}", std::process::id()));
        assert_eq!(StudySettings::load(&dir).unwrap(), None);
        let settings = quick().with_seeds([7]);
        settings.save(&dir).unwrap();
        assert_eq!(StudySettings::load(&dir).unwrap(), Some(settings));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
