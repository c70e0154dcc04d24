//! What every `run.json` holds first: the [`RunHeader`] (the run's kind and
//! key, its split, the build and the machine), flattened beside each
//! family's own settings and results; the one way a run is keyed
//! ([`run_key_of`]); and the legacy path that still reads a record written
//! before the header, whose kind is guessed from its fields
//! ([`legacy_kind`]).
//!
//! A kind is its tag here, the string `run.json` writes: each family's
//! [`Record::KIND`]. The kinds as one enum, each mapped to its family's
//! loader, sit above the families (`crate::analysis::RunKind`), which this
//! module, below them, cannot name.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend::libtorch_version;
use crate::error::{Error, Result};
use crate::io::{read_json, utc_date, write_bytes_atomic};
use crate::stats::hex;
use crate::training::{RUN_FILE, git_commit, record_error};

/// This crate's version, as a header records it and a run key hashes it.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a header field reads when a record from before the header did not
/// keep it.
pub const UNRECORDED: &str = "unknown";

/// The kind of the run in `run_dir`: its record's `kind` tag; for a
/// record written before the tag, [`legacy_kind`]'s guess.
pub fn recorded_kind(run_dir: &Path) -> Result<String> {
    let path = run_dir.join(RUN_FILE);
    kind_of(&read_json(&path)?, &path)
}

/// The record `record` (read from `path`)'s kind: its tag, else the
/// legacy guess; an error saying how to re-create a run neither names.
fn kind_of(record: &Value, path: &Path) -> Result<String> {
    match record.get("kind") {
        Some(Value::String(tag)) => Ok(tag.clone()),
        Some(other) => Err(record_error(path, format!("`kind` {other} is no tag"))),
        None => legacy_kind(record).map(String::from).ok_or_else(|| {
            record_error(
                path,
                "no `kind`, and not a record this crate wrote before the tag: re-create the run \
                 (`caltech-anomaly train` for an autoencoder, `reproduce` or notebook 06 for \
                 the other detectors)",
            )
        }),
    }
}

/// The legacy path: the kind's tag of a record written before `run.json`
/// carried its `kind`, told by the field only that kind's record had;
/// `None` unless exactly one of them is there. The five kinds of then are
/// all it knows: every later kind writes its tag.
pub fn legacy_kind(record: &Value) -> Option<&'static str> {
    let fields = [
        ("architecture", "autoencoder"),
        ("classes", "classifier"),
        ("transformations", "geometric"),
        ("bank_key", "features"),
        ("bank_patches", "patchcore"),
    ];
    let mut found = (fields.into_iter())
        .filter(|(field, _)| record.get(field).is_some())
        .map(|(_, kind)| kind);
    match (found.next(), found.next()) {
        (Some(kind), None) => Some(kind),
        _ => None,
    }
}

/// A legacy record made readable as its kind's: the guessed `kind` written
/// in, and the header fields it did not keep (every date; the libtorch
/// version, device and commit of all but an autoencoder) [`UNRECORDED`].
fn legacy_record(record: &mut Value, kind: &str) {
    if let Value::Object(fields) = record {
        fields.insert("kind".into(), kind.into());
        for field in ["libtorch_version", "device", "git_commit", "date"] {
            fields.entry(field).or_insert(UNRECORDED.into());
        }
    }
}

/// What every `run.json` starts with, whatever the kind. Only the key
/// identifies the run; the rest describes it and never enters a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHeader {
    /// The kind's tag: its family's [`Record::KIND`].
    pub kind: String,
    /// The run key: a hash of what determines the result ([`run_key_of`]).
    pub key: String,
    /// The split's manifest hash.
    pub manifest_sha256: String,
    pub crate_version: String,
    pub libtorch_version: String,
    /// Where it ran: `cpu` or `cuda:N`.
    pub device: String,
    /// `git describe --always --dirty` of the checkout that built it.
    pub git_commit: String,
    /// The day it was recorded, UTC, `YYYY-MM-DD`.
    pub date: String,
}

impl RunHeader {
    /// The header of a run of `kind` and `key` on the split of
    /// `manifest_sha256`, made by this build on `device` today.
    pub fn now(kind: &str, key: String, manifest_sha256: &str, device: String) -> Self {
        Self {
            kind: kind.into(),
            key,
            manifest_sha256: manifest_sha256.into(),
            crate_version: CRATE_VERSION.into(),
            libtorch_version: libtorch_version().into(),
            device,
            git_commit: git_commit(),
            date: utc_date(std::time::SystemTime::now()),
        }
    }
}

/// A family's `run.json`: a [`RunHeader`] (`#[serde(flatten)]`) beside the
/// family's own fields.
pub trait Record: Serialize + DeserializeOwned {
    /// The tag of the kind whose runs write this record (`run.json`'s
    /// `kind`, in snake case): written into every record, never changed,
    /// or the runs written before are not found again.
    const KIND: &'static str;
    fn header(&self) -> &RunHeader;
}

/// Reads `run_dir`'s `run.json` as `R`; an error when it is another kind's.
/// A record from before the header is read through the legacy path.
pub fn read_run_record<R: Record>(run_dir: &Path) -> Result<R> {
    let path = run_dir.join(RUN_FILE);
    let mut record: Value = read_json(&path)?;
    let kind = kind_of(&record, &path)?;
    if kind != R::KIND {
        return Err(Error::InvalidParameter(format!(
            "{} holds a {kind} run, not a {} run",
            run_dir.display(),
            R::KIND
        )));
    }
    if record.get("kind").is_none() {
        legacy_record(&mut record, &kind);
    }
    serde_json::from_value(record).map_err(|e| record_error(&path, e))
}

/// Writes `record` as `run_dir`'s `run.json`: written last, it says the run
/// is complete.
pub fn write_run_record<R: Record>(run_dir: &Path, record: &R) -> Result<()> {
    debug_assert_eq!(record.header().kind, R::KIND);
    let path = run_dir.join(RUN_FILE);
    write_bytes_atomic(&path, &serde_json::to_vec_pretty(record)?)
}

/// A run key: 16 hex digits of the SHA-256 of `identity`'s JSON, where
/// `identity` is what determines the run's result (each family's own:
/// settings, the split's manifest hash, the crate version). A family's
/// identity must not change, or its finished runs are not found again;
/// each family pins one key in a test.
pub fn run_key_of(identity: &impl Serialize) -> Result<String> {
    Ok(hex(&Sha256::digest(serde_json::to_vec(identity)?)[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_guess_needs_exactly_one_telling_field() {
        let guess = |json: &str| legacy_kind(&serde_json::from_str(json).unwrap());
        assert_eq!(
            guess(r#"{"key":"k","architecture":"baseline"}"#),
            Some("autoencoder")
        );
        assert_eq!(guess(r#"{"bank_patches":3}"#), Some("patchcore"));
        assert_eq!(guess(r#"{"key":"k"}"#), None);
        assert_eq!(guess(r#"{"classes":{},"bank_key":"b"}"#), None);
    }

    #[test]
    fn a_tag_wins_over_the_legacy_guess_and_an_untold_record_says_what_to_do() {
        let path = Path::new("run.json");
        let unknown = kind_of(&serde_json::json!({"kind": 3}), path).unwrap_err();
        assert!(unknown.to_string().contains("no tag"), "{unknown}");
        let untold = kind_of(&serde_json::json!({"key": "k"}), path).unwrap_err();
        assert!(untold.to_string().contains("re-create"), "{untold}");
        let tagged = serde_json::json!({"kind": "features", "architecture": "baseline"});
        assert_eq!(kind_of(&tagged, path).unwrap(), "features");
    }

    #[test]
    fn a_legacy_record_gets_its_kind_and_unrecorded_header_fields() {
        let mut record = serde_json::json!({"key": "k", "manifest_sha256": "m",
            "crate_version": "0.1.0", "device": "cuda:0"});
        legacy_record(&mut record, "classifier");
        let header: RunHeader = serde_json::from_value(record).unwrap();
        assert_eq!(header.kind, "classifier");
        assert_eq!(header.device, "cuda:0");
        assert_eq!(
            (header.date.as_str(), header.git_commit.as_str()),
            (UNRECORDED, UNRECORDED)
        );
    }
}
