//! The workspace's own programs, as the end-to-end tests run them.

use std::path::PathBuf;

/// The path of one of the workspace's programs (`server-gui`,
/// `client-gui`), built beside the test binaries by `cargo test` at the
/// workspace root.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` at the workspace root",
        path.display()
    );
    path
}
