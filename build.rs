//! Embeds the folders of the shared libraries the binaries and tests load,
//! so that they run without LD_LIBRARY_PATH: libtorch's (torch-sys reports
//! it through its `links = "tch"` metadata) and the Rust standard library's
//! (`.cargo/config.toml` links it dynamically, as the notebook kernel does).
//! Also records libtorch's version for `run.json`, and compiles
//! `src/backend/conv_backward.cpp` (libtorch's convolution backward, for
//! `src/backend/conv.rs`), `src/backend/batch_norm_backward.cpp` (its
//! batch-norm backward, for `src/backend/batch_norm.rs`) and
//! `src/backend/bf16_support.cpp` (its bf16 queries, for
//! `src/backend/precision.rs`) against libtorch's headers.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(dir) = std_library_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    compile_conv_backward(Path::new(&lib));
    // A PyTorch wheel keeps `__version__ = '2.9.0+cu128'` beside lib/.
    let version_py = Path::new(&lib).join("../version.py");
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

/// The folder holding `libstd-*.so` for the target being built.
fn std_library_dir() -> Option<String> {
    let rustc = std::env::var("RUSTC").ok()?;
    let target = std::env::var("TARGET").ok()?;
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", &target])
        .output()
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| dir.trim().to_string())
}

/// `src/backend/conv_backward.cpp`, `src/backend/batch_norm_backward.cpp` and
/// `src/backend/bf16_support.cpp`, with the C++ ABI torch-sys builds its own
/// bindings with (`LIBTORCH_CXX11_ABI`, default 1: PyTorch's wheels).
fn compile_conv_backward(lib: &Path) {
    println!("cargo:rerun-if-changed=src/backend/conv_backward.cpp");
    println!("cargo:rerun-if-changed=src/backend/batch_norm_backward.cpp");
    println!("cargo:rerun-if-changed=src/backend/native_backward.h");
    println!("cargo:rerun-if-changed=src/backend/bf16_support.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/backend/conv_backward.cpp")
        .file("src/backend/batch_norm_backward.cpp")
        .file("src/backend/bf16_support.cpp")
        .include(lib.join("../include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .warnings(false)
        .compile("caltech_conv_backward");
}
