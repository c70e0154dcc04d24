//! `make lab` (scripts/lab.sh) starts JupyterLab as root and as any other
//! user: JupyterLab refuses root without `--allow-root`, which is passed
//! for root only.

use std::process::Command;

/// The words of the command `scripts/lab.sh` runs for user `uid` (this
/// user when `None`).
fn lab_command(uid: Option<&str>) -> Vec<String> {
    let output = Command::new("bash")
        .args(["scripts/lab.sh", "--print"])
        .args(uid)
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn root_gets_allow_root_and_no_one_else_does() {
    let lab = [".venv/bin/jupyter", "lab", "notebooks/"];
    assert_eq!(lab_command(Some("1000")), lab);
    assert_eq!(
        lab_command(Some("0")),
        [&lab[..], &["--allow-root"]].concat()
    );
}

#[test]
fn the_flag_follows_the_user_who_runs_it() {
    let id = Command::new("id").arg("-u").output().expect("id runs");
    let root = String::from_utf8(id.stdout).unwrap().trim() == "0";
    let command = lab_command(None);
    assert_eq!(
        command.contains(&"--allow-root".to_string()),
        root,
        "{command:?}"
    );
    assert_eq!(command[..3], [".venv/bin/jupyter", "lab", "notebooks/"]);
}

#[test]
fn make_lab_runs_the_script() {
    let makefile = std::fs::read_to_string("Makefile").unwrap();
    let recipe: Vec<&str> = makefile
        .lines()
        .skip_while(|l| !l.starts_with("lab:"))
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .collect();
    assert_eq!(recipe, ["\tbash scripts/lab.sh"]);
}
