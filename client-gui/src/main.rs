//! fernet-chat client: connects to a fernet-chat server with its key. Opens
//! a window, or runs in the terminal with `--headless`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod headless;

/// Private chat on your LAN: this side connects to the server's address
/// with the key the server shows.
///
/// In the terminal the key comes from the FERNET_CHAT_KEY environment
/// variable or --key-file, never from the command line (where `ps` shows it).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Chat in the terminal instead of opening a window: sends each stdin
    /// line, prints received messages as `NAME: TEXT`, and says bye on EOF.
    #[arg(long, requires = "connect")]
    headless: bool,
    /// The server's address: HOST, HOST:PORT, or [IPv6]:PORT (port 7878 if
    /// not given).
    #[arg(long, value_name = "HOST[:PORT]")]
    connect: Option<String>,
    /// Read the key from this file (surrounding white space is ignored);
    /// otherwise it comes from FERNET_CHAT_KEY.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Your name as the other person sees it (default: your user name).
    #[arg(long)]
    name: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = args.name.unwrap_or_else(common::config::default_name);
    if args.headless {
        let server = args.connect.unwrap_or_default();
        return headless::run(&server, args.key_file.as_deref(), name);
    }
    eprintln!(
        "The client window is not built yet: run with --headless --connect HOST (see --help)."
    );
    ExitCode::from(2)
}
