//! Where the `llm-proxy` binary under test lives: next to the test executable's `deps/`
//! directory (`target/<profile>/llm-proxy`), built by `cargo build -p llm-proxy`.

use std::path::PathBuf;

/// The binary's path; panics with instructions when it has not been built.
pub fn llm_proxy() -> PathBuf {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("cannot find the test executable: {e}"),
    };
    // target/<profile>/deps/<test>-<hash> → target/<profile>/llm-proxy
    let profile_dir = exe
        .parent()
        .filter(|dir| dir.ends_with("deps"))
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| {
            panic!(
                "test executable {} is not in a deps/ directory",
                exe.display()
            )
        });
    let binary = profile_dir.join("llm-proxy");
    assert!(
        binary.is_file(),
        "{} is not built; run `cargo build -p llm-proxy` (scripts/test.sh builds the whole \
         workspace) before the end-to-end tests",
        binary.display()
    );
    binary
}
