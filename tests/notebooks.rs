//! The notebooks' cells keep what makes a warm kernel fast: every variable a
//! cell keeps has its type written, so the patched kernel
//! (scripts/evcxr/lazy-analysis.patch) stores it without running
//! rust-analyzer over the dependencies.

use std::path::PathBuf;

fn notebooks() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("notebooks")
        .expect("notebooks/")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    paths.sort();
    paths
}

fn code_cells(path: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let notebook: serde_json::Value = serde_json::from_str(&text).unwrap();
    notebook["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|cell| cell["cell_type"] == "code")
        .map(|cell| match &cell["source"] {
            serde_json::Value::String(s) => s.clone(),
            lines => lines
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect(),
        })
        .collect()
}

/// A cell's top-level `let` (column 0) that names no type before its `=`.
fn untyped_let(line: &str) -> bool {
    line.strip_prefix("let ")
        .and_then(|rest| rest.split_once(" = "))
        .is_some_and(|(binding, _)| !binding.contains(':'))
}

#[test]
fn untyped_let_is_recognised() {
    assert!(untyped_let("let study = Study::open(config)?;"));
    assert!(untyped_let("let (a, b) = pair;"));
    assert!(!untyped_let("let study: Study = Study::open(config)?;"));
    assert!(!untyped_let("let (a, b): (u8, u8) = pair;"));
    assert!(!untyped_let("    let inner = 1;"));
}

#[test]
fn every_kept_variable_has_its_type_written() {
    let paths = notebooks();
    assert!(paths.len() >= 6, "found {paths:?}");
    let mut lets = 0;
    for path in &paths {
        for cell in code_cells(path) {
            for line in cell.lines().filter(|l| l.starts_with("let ")) {
                lets += 1;
                assert!(
                    !untyped_let(line),
                    "{}: `{line}` keeps a variable without its type",
                    path.display()
                );
            }
        }
    }
    assert!(lets > 50, "only {lets} top-level lets found");
}

/// The Python that runs the notebooks: the checkout's venv (nbclient,
/// nbformat), else the system's (enough for `--self-test`).
fn python() -> PathBuf {
    let venv = PathBuf::from(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// run_notebooks.py's display checks refuse what a reader should not see
/// (an absolute path, a Rust debug dump, a bare `()`, a long number or an
/// oversized table, a figure without its caption): its self-test plants
/// each in a notebook of its own and fails when one passes.
#[test]
fn the_display_checks_refuse_planted_bad_outputs() {
    let out = std::process::Command::new(python())
        .args(["scripts/run_notebooks.py", "--self-test"])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("planted bad outputs refused"), "{stdout}");
}

/// The text every output of `notebook` (an executed copy) shows.
fn outputs(notebook: &std::path::Path) -> String {
    let text = std::fs::read_to_string(notebook).expect("the executed copy");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let joined = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        _ => String::new(),
    };
    let mut shown = String::new();
    for cell in json["cells"].as_array().unwrap() {
        for output in cell["outputs"].as_array().into_iter().flatten() {
            shown += &joined(&output["text"]);
            for (kind, value) in output["data"].as_object().into_iter().flatten() {
                if kind.starts_with("text/") {
                    shown += &joined(value);
                }
            }
            shown.push('\n');
        }
    }
    shown
}

/// `command` without the variables cargo sets for a test (`CARGO_*`,
/// `OUT_DIR`, ...): the kernel's cargo would pass them to the build scripts
/// that read them (ring's, torch-sys's), find them changed and rebuild
/// those crates, which `cargo test` then rebuilds back.
fn without_cargo_env(mut command: std::process::Command) -> std::process::Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO") || name.starts_with("RUSTC") || name == "OUT_DIR" {
            command.env_remove(name);
        }
    }
    command
}

/// `baseline-seed42-<key>` from a line `run baseline-seed42-<key>: ...`.
fn baseline_run(shown: &str) -> Option<(&str, &str)> {
    shown.lines().find_map(|line| {
        let rest = line.strip_prefix("run baseline-")?;
        let (name, what) = rest.split_once(": ")?;
        Some((name, what))
    })
}

/// Notebook 02's settings cell is what 03 trains and loads: a copy of 02
/// with another code width for the baseline, executed headless at `smoke`
/// in a study folder of its own, then 03; 03's settings line shows 02's
/// code width and it loads the very run 02 trained, where the default
/// settings would have trained another.
#[test]
#[ignore = "needs CALTECH101_DIR"]
fn notebook_settings_carry_from_02_to_03() {
    let data = std::env::var("CALTECH101_DIR").expect("CALTECH101_DIR names a Caltech-101 copy");
    // Inside the checkout (target/tmp), which the notebooks show relative.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("notebook-settings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let original = std::fs::read_to_string("notebooks/02_autoencoder.ipynb").unwrap();
    let default = "with_encoding_dim(Some(256))";
    assert_eq!(
        original.matches(default).count(),
        1,
        "notebook 02's settings cell sets the baseline's code width once"
    );
    let copy = dir.join("02_autoencoder.ipynb");
    std::fs::write(
        &copy,
        original.replace(default, "with_encoding_dim(Some(24))"),
    )
    .unwrap();
    let executed = dir.join("executed");
    let run = without_cargo_env(std::process::Command::new(python()))
        .arg("scripts/run_notebooks.py")
        .arg("--out")
        .arg(&executed)
        .arg(&copy)
        .arg("notebooks/03_anomaly_detection.ipynb")
        .env("CALTECH101_DIR", data)
        .env("CALTECH_ANOMALY_PROFILE", "smoke")
        .env("CALTECH_ANOMALY_DEVICE", "cpu")
        .env("CALTECH_ANOMALY_OUT", dir.join("study"))
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let (shown_02, shown_03) = (
        outputs(&executed.join("02_autoencoder.ipynb")),
        outputs(&executed.join("03_anomaly_detection.ipynb")),
    );
    assert!(
        shown_02.contains("baseline (code 24)") && shown_03.contains("baseline (code 24)"),
        "both settings lines show 02's code width:\n{shown_03}"
    );
    let (trained, how) = baseline_run(&shown_02).expect("02 names its baseline run");
    assert!(how.starts_with("trained in"), "a new study trains: {how}");
    let (loaded, how) = baseline_run(&shown_03).expect("03 names its baseline run");
    assert_eq!(loaded, trained, "03 uses the run 02 trained");
    assert_eq!(how, "loaded from disk", "03 trains nothing of its own");
    std::fs::remove_dir_all(&dir).unwrap();
}
