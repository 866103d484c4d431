//! `--headless`: the client in the terminal. Without `--connect` it looks
//! for the server on the LAN with the key alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use common::discovery::{self, Found};
use common::terminal::{self, EndOfInput, KEY_VAR};
use common::text;
use common::{ClientConfig, Config, Key, ServerAddr};
use futures::StreamExt;
use tokio::time::{Instant, timeout_at};

/// After the first server answers, how long to wait for others before
/// connecting to it: one is connected to, several are listed.
const SETTLE: Duration = Duration::from_secs(1);

/// The terminal client's flags.
pub struct Options {
    /// `--connect`: the server's address; `None` looks for it.
    pub connect: Option<String>,
    pub key_file: Option<PathBuf>,
    pub name: String,
    /// The port to look for the server on.
    pub port: u16,
    /// How long to look for it.
    pub discover_timeout: Duration,
    /// `--no-discovery` unset: look for the server, follow it when it moves.
    pub discovery: bool,
    /// `--stay`: what the end of stdin means.
    pub end: EndOfInput,
}

/// `--discover-timeout`: seconds, as a positive number.
pub fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("\"{text}\" is not a number of seconds (e.g. 5 or 0.5)"))
}

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

pub fn run(options: Options) -> ExitCode {
    let server: Option<ServerAddr> = match &options.connect {
        Some(text) => match text.parse() {
            Ok(server) => Some(server),
            Err(e) => {
                eprintln!("error: --connect: {e}");
                return ExitCode::from(2);
            }
        },
        None if !options.discovery => {
            eprintln!(
                "error: with --no-discovery, give the server's address with --connect HOST[:PORT]"
            );
            return ExitCode::from(2);
        }
        None => None,
    };
    let key = match key(options.key_file.as_deref()) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut chat = Config::new(key.clone(), options.name);
    // Terminal mode never shows ciphertext.
    chat.tokens = false;
    if !options.discovery {
        chat.discovery = None;
    }
    terminal::run(options.end, async move {
        let server = match server {
            Some(server) => server,
            None => discover(key, options.port, options.discover_timeout).await?,
        };
        Some(common::client::connect(ClientConfig { chat, server }))
    })
}

/// Looks for servers holding `key` for up to `wait`: the address of the
/// only one that answered, or `None` (said why on stderr) if none or
/// several did.
async fn discover(key: Key, port: u16, wait: Duration) -> Option<ServerAddr> {
    eprintln!("looking for the server on this network (port {port})…");
    let mut search = discovery::search(key, port);
    let mut found: Vec<Found> = Vec::new();
    let mut until = Instant::now() + wait;
    while let Ok(Some(next)) = timeout_at(until, search.next()).await {
        match next {
            Ok(server) => {
                if found.is_empty() {
                    until = Instant::now() + SETTLE;
                }
                found.push(server);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return None;
            }
        }
    }
    let describe = |f: &Found| text::for_terminal(&format!("{} — {}", f.name, f.addr)).into_owned();
    match found.as_slice() {
        [] => eprintln!(
            "error: no server with this key answered within {} s on this network; \
             give its address with --connect HOST[:PORT] (networks that block broadcast, \
             and virtual or container networks, are not searched)",
            wait.as_secs_f32()
        ),
        [one] => {
            eprintln!("found {} in {} ms", describe(one), one.after.as_millis());
            return Some(one.server());
        }
        several => {
            eprintln!("found {} servers with this key:", several.len());
            for server in several {
                eprintln!("  {}", describe(server));
            }
            eprintln!("error: several servers answered; choose one with --connect HOST[:PORT]");
        }
    }
    None
}
