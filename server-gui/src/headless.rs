//! `--headless`: the server in the terminal.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use common::terminal::{self, Exit};
use common::{Config, Key, Server, ServerConfig};

/// The environment variable that holds a key to reuse instead of a new one.
pub const KEY_VAR: &str = "FERNET_CHAT_KEY";

/// The key to use: `FERNET_CHAT_KEY` if set, otherwise a new one.
pub fn key() -> Result<Key, String> {
    match std::env::var(KEY_VAR) {
        Ok(text) => Key::parse(&text).map_err(|e| format!("{KEY_VAR}: {e}")),
        Err(_) => Key::generate().map_err(|e| format!("could not generate a key: {e}")),
    }
}

pub fn run(key: Key, port: u16, bind: Option<IpAddr>, name: String) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = ServerConfig {
        chat: Config::new(key.clone(), name),
        port,
        bind,
    };
    let code = runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "key: {key}");
        for addr in server.addrs() {
            let _ = writeln!(out, "listening: {addr}");
        }
        let _ = out.flush();
        drop(out);
        eprintln!("waiting for someone to connect…");
        let (handle, events) = server.start();
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        match terminal::relay(handle, events, stdin, std::io::stdout(), std::io::stderr()).await {
            Exit::Done => ExitCode::SUCCESS,
            Exit::Failed(_) => ExitCode::FAILURE,
        }
    });
    // A blocked read of stdin must not keep the process alive.
    runtime.shutdown_background();
    code
}
