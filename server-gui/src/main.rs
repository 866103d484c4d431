//! fernet-chat server: generates a key, listens, and chats with whoever
//! connects with it. Opens a window, or runs in the terminal with `--headless`.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use common::config::MAX_MEMBERS_LIMIT;
use common::settings::Store;
use common::terminal::EndOfInput;
use common::ui::desktop;
use common::{Config, DEFAULT_MAX_MEMBERS, ServerConfig};
use server_gui::App;
use server_gui::remember::Remembered;

mod headless;

/// Private chat on your LAN: this side generates the key and waits.
///
/// Give the other person the key and one of the addresses it shows; they
/// open the client with them. Every message is a Fernet token
/// (AES-128-CBC + HMAC-SHA256).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Chat in the terminal instead of opening a window: prints `key: KEY`
    /// and `listening: IP:PORT` lines on stdout, sends each stdin line,
    /// prints received messages as `NAME: TEXT`, and on EOF delivers what
    /// was typed, then says bye (Ctrl+C or SIGTERM leaves at once).
    #[arg(long)]
    headless: bool,
    /// Terminal mode: keep the room open when stdin ends, until Ctrl+C or
    /// SIGTERM (to host from a script or a service, where stdin is empty).
    #[arg(long, requires = "headless")]
    stay: bool,
    /// TCP port to listen on [default: 7878; the window: the port it used
    /// last time].
    #[arg(long)]
    port: Option<u16>,
    /// Listen on this address only (default: every IPv4 and IPv6 interface).
    #[arg(long, value_name = "ADDR")]
    bind: Option<IpAddr>,
    /// Your name as the other person sees it (default: your user name; the
    /// window: the name it used last time).
    #[arg(long)]
    name: Option<String>,
    /// Do not answer discovery probes: clients must type an address.
    #[arg(long)]
    no_discovery: bool,
    /// How many people the room holds at most, you included; the next one
    /// is turned away ("the room is full").
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_MEMBERS, value_parser = max_members)]
    max_members: usize,
}

/// `--max-members`: a number from 2 (you and one more) to what a roster
/// can list.
fn max_members(text: &str) -> Result<usize, String> {
    let limit = MAX_MEMBERS_LIMIT;
    match text.trim().parse::<usize>() {
        Ok(n) if (2..=limit).contains(&n) => Ok(n),
        _ => Err(format!(
            "a room holds 2 to {limit} members, you included; `{text}` is not one of those numbers"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let key = match headless::key() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.headless {
        let name = args.name.unwrap_or_else(server_gui::remember::default_name);
        let port = args.port.unwrap_or(common::DEFAULT_PORT);
        let room = headless::Room {
            port,
            bind: args.bind,
            name,
            discovery: !args.no_discovery,
            max_members: args.max_members,
        };
        return headless::run(key, room, EndOfInput::stay(args.stay));
    }
    if let Some(why) = desktop::missing_display() {
        eprintln!("error: {why}");
        return ExitCode::from(2);
    }
    // The command line first, then what the window used last time.
    let remembered = Remembered::load(Store::locate());
    let mut config = ServerConfig {
        chat: Config::new(key, remembered.name(args.name)),
        port: remembered.port(args.port),
        bind: args.bind,
        max_members: args.max_members,
    };
    if args.no_discovery {
        config.chat.discovery = None;
    }
    let result = iced::application(
        move || App::boot(config.clone(), remembered.clone()),
        App::update,
        App::view,
    )
    .subscription(App::subscription)
    .title(App::title)
    .window(iced::window::Settings {
        size: iced::Size::new(720.0, 640.0),
        min_size: Some(iced::Size::new(480.0, 420.0)),
        // Closing says goodbye to the peer first (App::update exits).
        exit_on_close_request: false,
        ..iced::window::Settings::default()
    })
    .run();
    desktop::exit(result)
}
