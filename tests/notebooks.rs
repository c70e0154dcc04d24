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
