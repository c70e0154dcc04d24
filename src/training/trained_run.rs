//! The one generic run: a [`RunSlot`] (kind, key and folder; loaded under
//! the run's lock when finished, else made there), which every family
//! uses, and [`TrainedRun`], the finished run of a network trained by
//! [`crate::training::fit`], which the classifier and the transformation
//! classifier instantiate with their training config.

use std::fmt::{Debug, Display};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;

use crate::data::{Prepared, Resize};
use crate::error::Result;
use crate::io::status;
use crate::training::{
    CONFIG_FILE, CRATE_VERSION, EpochRecord, HISTORY_FILE, MODEL_FILE, RUN_FILE, Record, RunHeader,
    RunLock, TrainOptions, read_history, read_run_record, record_error,
};

/// One run of a family: its kind, its key and its folder (named after the
/// key). The run is made there at most once: later calls load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSlot {
    /// The kind's tag ([`Record::KIND`]).
    pub kind: &'static str,
    pub key: String,
    pub dir: PathBuf,
}

/// A finished run as loaded: its record's header, and whether it holds
/// everything this version records.
pub trait LoadedRun {
    fn header(&self) -> &RunHeader;

    /// `false` for a run recorded before something it now needs, which is
    /// made again.
    fn complete(&self) -> bool {
        true
    }
}

impl RunSlot {
    /// The header of this run's record, made now on `device` (`cpu`,
    /// `cuda:N`) on the split of `manifest_sha256`.
    pub fn header(&self, manifest_sha256: &str, device: String) -> RunHeader {
        RunHeader::now(self.kind, self.key.clone(), manifest_sha256, device)
    }

    /// Under the run's lock: the run `load`ed from the folder when it is a
    /// finished, complete run of this key; else `make`, which records it
    /// there.
    pub fn finished_or_made<T: LoadedRun>(
        &self,
        load: impl FnOnce(&Path) -> Result<T>,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let _lock = RunLock::acquire(&self.dir)?;
        if let Ok(run) = load(&self.dir)
            && run.header().key == self.key
            && run.complete()
        {
            return Ok(run);
        }
        make()
    }
}

/// The training settings of a network trained into its own run directory,
/// saved there as `config.json`: they name the run's record and network,
/// key the run and name its folder, `<PREFIX>-seed<N>-<key>`.
pub trait NetworkConfig: Config + Clone + PartialEq + Display {
    /// Its runs' `run.json`.
    type Record: Record + Debug;
    /// The trained network.
    type Network: Module + Debug;
    /// The folder name's prefix.
    const PREFIX: &'static str;

    fn seed(&self) -> u64;

    /// The run key of these settings on the split of `manifest_sha256`,
    /// its images resized by `resize`, by `crate_version`.
    fn key(&self, manifest_sha256: &str, resize: Resize, crate_version: &str) -> Result<String>;

    /// The network these settings describe, initialised on `device`.
    fn init_network(&self, device: &Device) -> Result<Self::Network>;
}

/// A finished run of a network trained with `C`, loaded.
#[derive(Debug)]
pub struct TrainedRun<C: NetworkConfig> {
    pub dir: PathBuf,
    pub record: C::Record,
    pub config: C,
    pub history: Vec<EpochRecord>,
    /// The best-on-validation weights, in inference mode.
    pub model: C::Network,
}

impl<C: NetworkConfig> LoadedRun for TrainedRun<C> {
    fn header(&self) -> &RunHeader {
        self.record.header()
    }
}

impl<C: NetworkConfig> TrainedRun<C> {
    /// The run of `config` on `prepared` under `runs_dir`: its key and
    /// folder.
    pub fn slot(runs_dir: &Path, prepared: &Prepared, config: &C) -> Result<RunSlot> {
        let resize = prepared.config.preprocess.resize;
        let key = config.key(&prepared.manifest_sha256, resize, CRATE_VERSION)?;
        let name = format!("{}-seed{}-{key}", C::PREFIX, config.seed());
        Ok(RunSlot {
            kind: <C::Record as Record>::KIND,
            dir: runs_dir.join(name),
            key,
        })
    }

    /// Loads the finished run in `dir`, its weights on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let record = read_run_record(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        let config = C::load(&config_path).map_err(|e| record_error(&config_path, e))?;
        let model_path = dir.join(MODEL_FILE);
        let model = (config.init_network(device)?)
            .try_load_file(&model_path)
            .map_err(|e| record_error(&model_path, e))?;
        Ok(Self {
            history: read_history(&dir.join(HISTORY_FILE))?,
            dir: dir.to_path_buf(),
            record,
            config,
            model,
        })
    }

    /// The run of `config` on `prepared` under `runs_dir`: loaded when
    /// finished with the same key, else `train`ed in its slot (resuming its
    /// checkpoint); a status line says which, and how long it took.
    pub(crate) fn finished_or_trained(
        runs_dir: &Path,
        prepared: &Prepared,
        config: &C,
        device: &Device,
        show_progress: bool,
        train: impl FnOnce(&RunSlot, TrainOptions) -> Result<Self>,
    ) -> Result<Self> {
        let slot = Self::slot(runs_dir, prepared, config)?;
        let options = TrainOptions {
            resume: true,
            show_progress,
        };
        let loaded = slot.dir.join(RUN_FILE).exists();
        let started = Instant::now();
        let run = slot.finished_or_made(|dir| Self::load(dir, device), || train(&slot, options))?;
        status(
            show_progress,
            &train_status(&run.dir, loaded, started.elapsed()),
        );
        Ok(run)
    }
}

/// `run baseline-seed42-<key>: loaded from disk`, or `trained in 7 min
/// 12 s`.
pub fn train_status(run_dir: &Path, loaded: bool, took: Duration) -> String {
    let name = run_dir.file_name().unwrap_or(run_dir.as_os_str());
    let seconds = took.as_secs();
    let what = match (loaded, seconds) {
        (true, _) => "loaded from disk".to_string(),
        (false, 0..60) => format!("trained in {seconds} s"),
        (false, _) => format!("trained in {} min {} s", seconds / 60, seconds % 60),
    };
    format!("run {}: {what}", name.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trained_run_says_whether_it_was_loaded_and_its_key() {
        let dir = Path::new("/study/runs/baseline-seed42-0123456789abcdef");
        assert_eq!(
            train_status(dir, true, Duration::from_secs(2)),
            "run baseline-seed42-0123456789abcdef: loaded from disk"
        );
        assert_eq!(
            train_status(dir, false, Duration::from_secs(432)),
            "run baseline-seed42-0123456789abcdef: trained in 7 min 12 s"
        );
        assert_eq!(
            train_status(dir, false, Duration::from_secs(59)),
            "run baseline-seed42-0123456789abcdef: trained in 59 s"
        );
    }
}
