//! `--headless`: the server in the terminal.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use common::terminal::{self, EndOfInput, KEY_VAR};
use common::{Config, Key, Server, ServerConfig};

/// The key to use: `FERNET_CHAT_KEY` if set, otherwise a new one.
pub fn key() -> Result<Key, String> {
    match std::env::var(KEY_VAR) {
        Ok(text) => Key::parse(&text).map_err(|e| format!("{KEY_VAR}: {e}")),
        Err(_) => Key::generate().map_err(|e| format!("could not generate a key: {e}")),
    }
}

/// The room the command line asks for.
pub struct Room {
    pub port: u16,
    pub bind: Option<IpAddr>,
    pub name: String,
    /// Answer discovery probes (`--no-discovery` unset).
    pub discovery: bool,
    pub max_members: usize,
}

pub fn run(key: Key, room: Room, end: EndOfInput) -> ExitCode {
    let mut chat = Config::new(key.clone(), room.name);
    // Terminal mode never shows ciphertext.
    chat.tokens = false;
    if !room.discovery {
        chat.discovery = None;
    }
    let config = ServerConfig {
        chat,
        port: room.port,
        bind: room.bind,
        max_members: room.max_members,
    };
    terminal::run(end, async {
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("error: {e}");
                return None;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "key: {key}");
        for addr in server.addrs() {
            let _ = writeln!(out, "listening: {addr}");
        }
        let _ = out.flush();
        drop(out);
        if let Some(e) = server.discovery_error() {
            eprintln!("warning: {e}");
        }
        eprintln!("waiting for someone to connect…");
        // Terminal mode only chats: no new key, nobody to remove.
        let (handle, events) = server.start();
        Some((handle.shared().clone(), events))
    })
}
