//! A run directory: its lock, the saved config and weights, the history of
//! epochs. Its record, `run.json`, is written and read by
//! [`crate::training::write_run_record`] and
//! [`crate::training::read_run_record`].

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use burn::config::Config;
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::io::{read_csv, read_json, write_atomic, write_atomic_with, write_bytes_atomic};
use crate::training::{CHECKPOINT_DIR, CHECKPOINT_STATE, CheckpointState};

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const HISTORY_FILE: &str = "history.csv";

/// One row of `history.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub seconds: f64,
}

/// Writes `config.json` into `run_dir`, refusing an unfinished run without
/// `resume` and a resume with other settings.
pub(crate) fn claim_run_dir<C: Config + PartialEq + std::fmt::Display>(
    run_dir: &Path,
    config: &C,
    resume: bool,
) -> Result<()> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let config_path = run_dir.join(CONFIG_FILE);
    if checkpoint_dir.join(CHECKPOINT_STATE).exists() && !resume {
        return Err(Error::UnfinishedRun {
            dir: run_dir.to_path_buf(),
        });
    }
    if resume && config_path.exists() {
        let saved = C::load(&config_path).map_err(|e| record_error(&config_path, e))?;
        if &saved != config {
            return Err(Error::ResumeMismatch {
                differences: config_differences(&config_path, config),
                config: config_path,
            });
        }
    }
    std::fs::create_dir_all(&checkpoint_dir).at(&checkpoint_dir)?;
    write_bytes_atomic(&config_path, config.to_string().as_bytes())
}

/// The settings in which the configuration saved at `path` differs from
/// `config`, as `name: saved → now`; the whole file when it cannot be
/// read.
pub(crate) fn config_differences<C: std::fmt::Display>(path: &Path, config: &C) -> Vec<String> {
    let saved: serde_json::Value = match read_json(path) {
        Ok(saved) => saved,
        Err(e) => return vec![format!("{e}")],
    };
    let now: serde_json::Value = serde_json::from_str(&config.to_string()).unwrap_or_default();
    let mut differences = Vec::new();
    json_differences("", &saved, &now, &mut differences);
    differences
}

/// Appends the leaves in which `a` and `b` differ, by dotted name.
fn json_differences(
    name: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a_fields), Value::Object(b_fields)) => {
            let mut keys: Vec<&String> = a_fields.keys().chain(b_fields.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if name.is_empty() {
                    key.clone()
                } else {
                    format!("{name}.{key}")
                };
                let null = Value::Null;
                let a = a_fields.get(key).unwrap_or(&null);
                let b = b_fields.get(key).unwrap_or(&null);
                json_differences(&child, a, b, out);
            }
        }
        _ if a != b => out.push(format!("{name}: {a} in the run, {b} now")),
        _ => {}
    }
}

/// Loads the best weights into `fresh` (a model on the inference device),
/// publishes them and the history into `run_dir` and drops the checkpoint.
pub(crate) fn publish<M: Module>(
    run_dir: &Path,
    fresh: M,
    state: CheckpointState,
) -> Result<(M, CheckpointState)> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let best = fresh
        .try_load_file(checkpoint_dir.join("best.bpk"))
        .map_err(|e| record_error(&checkpoint_dir, e))?;
    save_module(&best, &run_dir.join(MODEL_FILE))?;
    write_history(&run_dir.join(HISTORY_FILE), &state.history)?;
    std::fs::remove_dir_all(&checkpoint_dir).at(&checkpoint_dir)?;
    Ok((best, state))
}

/// Reads `history.csv`.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    read_csv(path)
}

fn write_history(path: &Path, history: &[EpochRecord]) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in history {
            writer.serialize(row)?;
        }
        writer.flush().at(path)
    })
}

pub(crate) fn record_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Saves weights through a temporary file and a rename.
pub(crate) fn save_module<M: Module>(model: &M, path: &Path) -> Result<()> {
    write_atomic_with(path, |tmp| {
        model
            .clone()
            .save_file(tmp)
            .map_err(|e| record_error(path, e))
    })
}

pub const RUN_FILE: &str = "run.json";

/// Held while a process trains or records the run.
pub const LOCK_FILE: &str = ".lock";

/// Wall-clock seconds of each stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub prepare_s: f64,
    pub train_s: f64,
    pub score_s: f64,
}

/// How long [`RunLock::acquire`] retries a lock held elsewhere before it
/// reports the run in use. A child process forked by any thread (`git`,
/// a peer script) shares the parent's open files until it execs, so a lock
/// this process has just released can stay held for that instant; the
/// tests, which train in parallel threads, met it.
const LOCK_GRACE: Duration = Duration::from_millis(500);

/// An exclusive lock on a run directory, released on drop: a second process
/// that wants the same run stops with a clear error instead of writing
/// beside the first.
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] File);

impl RunLock {
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).at(dir)?;
        let path = dir.join(LOCK_FILE);
        // Opened, never truncated: the lock holds no content to replace.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self(file)),
                Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_GRACE => {
                    std::thread::sleep(LOCK_GRACE / 25)
                }
                Err(TryLockError::WouldBlock) => return Err(Error::RunInUse(dir.to_path_buf())),
                Err(TryLockError::Error(source)) => return Err(Error::Io { path, source }),
            }
        }
    }
}

/// `git describe --always --dirty` of the crate's checkout, if any, as it
/// was at this process's first call: every record of one process names the
/// same commit, even when the checkout changes while it runs.
pub(crate) fn git_commit() -> String {
    static COMMIT: OnceLock<String> = OnceLock::new();
    COMMIT
        .get_or_init(|| {
            std::process::Command::new("git")
                .args([
                    "-C",
                    env!("CARGO_MANIFEST_DIR"),
                    "describe",
                    "--always",
                    "--dirty",
                ])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        })
        .clone()
}
