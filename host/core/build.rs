//! Embeds the bundled AWS key policy evaluator (`guest/aws-key-policy`, the component
//! `scripts/build-guests` builds to `<target>/wasm32-wasip2/guest/aws_key_policy.wasm`)
//! in the host, so that whoever can write the data directory cannot replace it: its bytes,
//! and so its measurement, are part of the `kastell` binary. `KASTELL_AWS_KEY_POLICY_WASM`
//! names another file. A host built before the guests embeds nothing, and refuses to
//! store or enforce AWS key policies (fail closed) until it is rebuilt after
//! `scripts/build-guests`.

use std::path::{Path, PathBuf};

const OVERRIDE: &str = "KASTELL_AWS_KEY_POLICY_WASM";
const COMPONENT: &str = "wasm32-wasip2/guest/aws_key_policy.wasm";

fn main() {
    println!("cargo::rerun-if-env-changed={OVERRIDE}");
    println!("cargo::rerun-if-env-changed=CARGO_TARGET_DIR");
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("cargo sets OUT_DIR for build scripts");
    };
    let source =
        std::env::var_os(OVERRIDE).map_or_else(|| target_dir(&out).join(COMPONENT), PathBuf::from);
    let bytes = if source.is_file() {
        println!("cargo::rerun-if-changed={}", source.display());
        match std::fs::read(&source) {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot read {}: {e}", source.display()),
        }
    } else {
        // Watch the folder the component will be built into, so that the host embeds it
        // once `scripts/build-guests` has run.
        if let Some(dir) = source.parent() {
            let _ = std::fs::create_dir_all(dir);
            println!("cargo::rerun-if-changed={}", dir.display());
        }
        Vec::new()
    };
    if let Err(e) = std::fs::write(out.join("aws_key_policy.wasm"), bytes) {
        panic!("cannot write the embedded component: {e}");
    }
}

/// The target directory: `CARGO_TARGET_DIR`, else the ancestor of `OUT_DIR`
/// (`<target>[/<triple>]/<profile>/build/<package>/out`) that holds cargo's
/// `CACHEDIR.TAG`.
fn target_dir(out: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| out.ancestors().nth(4))
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}
