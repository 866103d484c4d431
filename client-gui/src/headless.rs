//! `--headless`: the client in the terminal.

use std::path::Path;
use std::process::ExitCode;

use common::terminal::{self, KEY_VAR};
use common::{ClientConfig, Config, Key, ServerAddr};

fn key(key_file: Option<&Path>) -> Result<Key, String> {
    let text = match key_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?,
        None => std::env::var(KEY_VAR)
            .map_err(|_| format!("no key: set {KEY_VAR} or pass --key-file PATH"))?,
    };
    let source = key_file.map_or(KEY_VAR.to_owned(), |p| p.display().to_string());
    Key::parse(&text).map_err(|e| format!("{source}: {e}"))
}

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
