//! `--headless`: the client in the terminal.

use std::path::Path;
use std::process::ExitCode;

use common::terminal::{self, KEY_VAR};
use common::text;
use common::{ClientConfig, Config, Key, ServerAddr};

fn key(key_file: Option<&Path>) -> Result<Key, String> {
    let text = match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
            warn_if_shared(path);
            text
        }
        None => std::env::var(KEY_VAR)
            .map_err(|_| format!("no key: set {KEY_VAR} or pass --key-file PATH"))?,
    };
    let source = key_file.map_or(KEY_VAR.to_owned(), |p| p.display().to_string());
    Key::parse(&text).map_err(|e| format!("{source}: {e}"))
}

/// The key is the chat's only secret (whoever reads it can read and forge
/// every message), so a key file that other users may open gets a warning,
/// as ssh does for private keys.
#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let path = text::for_terminal(&path.display().to_string()).into_owned();
        eprintln!(
            "warning: other users have access to the key file {path} (mode {mode:03o}); \
             only you should: chmod 600 {path}"
        );
    }
}

/// Windows has no mode bits; its ACLs usually keep a file in the user's
/// profile to its owner.
#[cfg(not(unix))]
fn warn_if_shared(_: &Path) {}

pub fn run(server: &str, key_file: Option<&Path>, name: String) -> ExitCode {
    let server: ServerAddr = match server.parse() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: --connect: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match key(key_file) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = ClientConfig {
        chat: Config::new(key, name),
        server,
    };
    terminal::run(async { Some(common::client::connect(config)) })
}
