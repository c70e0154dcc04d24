//! Embeds libtorch's library folder as an rpath, so that the binary and the
//! tests run without LD_LIBRARY_PATH, and records libtorch's version for
//! `run.json`. torch-sys reports the folder through its `links = "tch"`
//! metadata.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // A PyTorch wheel keeps `__version__ = '2.9.0+cu128'` beside lib/.
    let version_py = std::path::Path::new(&lib).join("../version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    let version = std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim_matches(['\'', '"']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CALTECH_ANOMALY_LIBTORCH_VERSION={version}");
}
