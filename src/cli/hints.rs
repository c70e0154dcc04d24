//! The command-line flag that answers a library error. The library also
//! runs in notebooks, so its errors name remedies in its own terms (an
//! option, a function); the binary adds the flag of the command that
//! failed, matching on the error's variant, never on its text.

use caltech_anomaly::Error;

use crate::cli::Command;

/// The command that failed, as far as its flags answer errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// `train`: --resume, --restart, --out, --skip-bad, --lr.
    Train,
    /// `prepare`: --skip-bad.
    Prepare,
    /// `score --images`: --force, --out, --skip-bad.
    ScoreImages,
    /// `compare`: `score --unseen` makes what it lacks.
    Compare,
    /// Any other command: only the global --data-dir.
    Other,
}

impl Failed {
    pub(crate) fn of(command: &Command) -> Self {
        match command {
            Command::Train(_) => Self::Train,
            Command::Prepare(_) => Self::Prepare,
            Command::Score(args) if !args.unseen => Self::ScoreImages,
            Command::Compare { .. } => Self::Compare,
            _ => Self::Other,
        }
    }
}

/// The flags of `failed` that answer `error`, in words; `None` when no
/// flag of that command does.
pub(crate) fn flag_hint(failed: Failed, error: &Error) -> Option<String> {
    use Failed::{Compare, Prepare, ScoreImages, Train};
    let hint = match (error, failed) {
        (Error::DatasetMissing { .. }, _) => {
            "pass --data-dir DIR (or set CALTECH101_DIR=DIR) to use an existing copy, or run \
             `caltech-anomaly download`"
        }
        (Error::Download(_), _) => {
            "pass --data-dir DIR (or set CALTECH101_DIR=DIR) to use an existing copy"
        }
        (
            Error::EmptyClass(_) | Error::BadImage { .. } | Error::BadImages { .. },
            Train | Prepare | ScoreImages,
        ) => "pass --skip-bad to go on without them",
        (Error::OutputExists(_), ScoreImages) => {
            "pass --force to replace it, or choose another --out"
        }
        (Error::UnfinishedRun { .. }, Train) => {
            "pass --resume to continue it, --restart to discard it and start over, or choose \
             another --out"
        }
        (Error::ResumeMismatch { .. }, Train) => {
            "pass --restart to discard the unfinished run, or choose another --out"
        }
        (Error::CheckpointUnusable { .. }, Train) => "pass --restart to start the run over",
        (Error::RecordUnreadable { .. }, Train) => {
            "pass --restart to train the run again from scratch, or choose another --out"
        }
        (Error::OtherFinishedRun { .. }, Train) => "choose another --out",
        (Error::Diverged { .. }, Train) => "pass a lower --lr",
        (Error::UnseenScoresMissing { run, .. }, Compare) => {
            return Some(format!(
                "run `caltech-anomaly score --run {} --unseen` first",
                run.display()
            ));
        }
        _ => return None,
    };
    Some(hint.into())
}

/// What the binary prints when `failed` ends in `error`: the library's
/// message, and a line with the flag that answers it.
pub(crate) fn error_report(failed: Failed, error: &Error) -> String {
    match flag_hint(failed, error) {
        Some(hint) => format!("error: {error}\nhint: {hint}"),
        None => format!("error: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn bad_image() -> Error {
        Error::BadImage {
            path: PathBuf::from("new/broken.jpg"),
            reason: "empty file".into(),
        }
    }

    /// Each case of the library's errors whose remedy is a flag of `train`:
    /// the error, the command whose flag answers it, the flag, and a command
    /// without that flag (`None` for flags every command has).
    fn train_cases() -> Vec<(Error, Failed, &'static str, Option<Failed>)> {
        use Failed::*;
        let run = PathBuf::from("runs/baseline");
        vec![
            (
                Error::UnfinishedRun { dir: run.clone() },
                Train,
                "--resume",
                Some(ScoreImages),
            ),
            (
                Error::ResumeMismatch {
                    config: run.join("config.json"),
                    differences: vec!["epochs: 1 in the run, 3 now".into()],
                },
                Train,
                "--restart",
                Some(Other),
            ),
            (
                Error::CheckpointUnusable {
                    path: run.join("checkpoint/state.json"),
                    reason: "EOF".into(),
                    checkpoint: run.join("checkpoint"),
                },
                Train,
                "--restart",
                Some(Other),
            ),
            (
                Error::RecordUnreadable {
                    path: run.join("run.json"),
                    reason: "EOF".into(),
                },
                Train,
                "--restart",
                Some(ScoreImages),
            ),
            (
                Error::OtherFinishedRun {
                    dir: run.clone(),
                    key: "a".into(),
                    wanted: "b".into(),
                    difference: "differing: epochs".into(),
                },
                Train,
                "--out",
                Some(Other),
            ),
            (
                Error::Diverged {
                    epoch: 2,
                    train_loss: f64::NAN,
                    val_loss: f64::NAN,
                },
                Train,
                "--lr",
                Some(Other),
            ),
        ]
    }

    /// The cases of the other commands' flags, as [`train_cases`].
    fn other_cases() -> Vec<(Error, Failed, &'static str, Option<Failed>)> {
        use Failed::*;
        let run = PathBuf::from("runs/baseline");
        vec![
            (
                Error::OutputExists(PathBuf::from("v.csv")),
                ScoreImages,
                "--force",
                Some(Train),
            ),
            (bad_image(), ScoreImages, "--skip-bad", Some(Other)),
            (
                Error::EmptyClass(PathBuf::from("ant")),
                Prepare,
                "--skip-bad",
                Some(Other),
            ),
            (
                Error::BadImages {
                    count: 2,
                    first: Box::new(bad_image()),
                },
                Train,
                "--skip-bad",
                Some(Compare),
            ),
            (
                Error::DatasetMissing {
                    root: PathBuf::from("nowhere"),
                },
                Other,
                "--data-dir",
                None,
            ),
            (
                Error::Download("cannot fetch".into()),
                Prepare,
                "--data-dir",
                None,
            ),
            (
                Error::UnseenScoresMissing {
                    path: run.join("unseen_scores.csv"),
                    run: run.clone(),
                },
                Compare,
                "--unseen",
                Some(Other),
            ),
        ]
    }

    /// Each case: the library's text names no flag, the failed command's
    /// report does, and a command without that flag adds none.
    #[test]
    fn the_failed_command_adds_its_flag() {
        for (error, failed, flag, without) in train_cases().into_iter().chain(other_cases()) {
            assert!(!error.to_string().contains("--"), "{error}");
            let report = error_report(failed, &error);
            assert!(
                report.starts_with(&format!("error: {error}\nhint: ")),
                "{report}"
            );
            assert!(report.contains(flag), "{report}");
            if let Some(other) = without {
                assert_eq!(flag_hint(other, &error), None, "{error} in {other:?}");
            }
        }
    }

    #[test]
    fn errors_without_a_flag_are_printed_as_they_are() {
        let error = Error::InvalidParameter("epochs 0: must be at least 1".into());
        assert_eq!(
            error_report(Failed::Train, &error),
            "error: invalid parameter: epochs 0: must be at least 1"
        );
    }
}
