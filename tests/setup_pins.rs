//! The conda environment and the setup script pin the same versions as
//! requirements.txt, so that the two ways in cannot drift apart.

use std::collections::BTreeMap;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `name==version` pins found in `text`, ignoring comments.
fn pins(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap()
                .trim()
                .trim_start_matches("- ")
                .trim()
        })
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect()
}

#[test]
fn environment_yml_pins_equal_requirements_txt() {
    let requirements = pins(&read("requirements.txt"));
    assert_eq!(requirements.get("torch").map(String::as_str), Some("2.9.0"));
    assert!(requirements.contains_key("jupyterlab") && requirements.contains_key("nbclient"));
    assert_eq!(pins(&read("environment.yml")), requirements);
}

#[test]
fn evcxr_pin_is_the_same_in_setup_and_environment_yml() {
    let setup = read("scripts/setup-kernel.sh");
    let version = setup
        .lines()
        .find_map(|l| l.strip_prefix("EVCXR_VERSION="))
        .expect("setup-kernel.sh pins EVCXR_VERSION");
    let conda = read("environment.yml");
    assert!(
        conda.contains(&format!("evcxr_jupyter --version ={version} "))
            && conda.contains(&format!("evcxr_jupyter=={version}")),
        "environment.yml does not name evcxr_jupyter {version}"
    );
}
