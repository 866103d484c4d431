//! fernet-chat client: connects to a fernet-chat server with its key. Opens
//! a window, or runs in the terminal with `--headless`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use client_gui::App;
use client_gui::screen::connect::search::{Reach, Scope};
use common::settings::Store;
use common::terminal::EndOfInput;
use common::ui::desktop;

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
    /// line, prints received messages as `NAME: TEXT`, and on EOF delivers
    /// what was typed, then says bye (Ctrl+C or SIGTERM leaves at once).
    ///
    /// Without --connect it looks for the server on this network with the
    /// key alone: one found is connected to, several are listed.
    #[arg(long)]
    headless: bool,
    /// Terminal mode: keep chatting when stdin ends, until Ctrl+C or
    /// SIGTERM (to follow a room from a script or a service, where stdin
    /// is empty).
    #[arg(long, requires = "headless")]
    stay: bool,
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
    /// Terminal mode without --connect: how long to look for the server,
    /// in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = headless::seconds)]
    discover_timeout: std::time::Duration,
    /// The port to look for the server on (its TCP port).
    #[arg(long, default_value_t = common::DEFAULT_PORT)]
    port: u16,
    /// Do not look for the server on the network, nor follow it to a new
    /// address when the connection is lost (terminal mode then needs
    /// --connect).
    #[arg(long)]
    no_discovery: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.headless {
        let name = args.name.unwrap_or_else(common::config::default_name);
        return headless::run(headless::Options {
            connect: args.connect,
            key_file: args.key_file,
            name,
            port: args.port,
            discover_timeout: args.discover_timeout,
            discovery: !args.no_discovery,
            end: EndOfInput::stay(args.stay),
        });
    }
    if let Some(why) = desktop::missing_display() {
        eprintln!("error: {why}");
        return ExitCode::from(2);
    }
    let scope = (!args.no_discovery).then_some(Scope {
        port: args.port,
        reach: Reach::Lan,
    });
    let result = iced::application(
        move || App::boot(args.name.clone(), Store::locate(), scope.clone()),
        App::update,
        App::view,
    )
    .subscription(App::subscription)
    .title(App::title)
    .window(iced::window::Settings {
        size: iced::Size::new(640.0, 600.0),
        min_size: Some(iced::Size::new(440.0, 420.0)),
        // Closing says goodbye to the peer first (App::update exits).
        exit_on_close_request: false,
        ..iced::window::Settings::default()
    })
    .run();
    desktop::exit(result)
}
