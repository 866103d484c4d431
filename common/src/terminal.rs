//! The `--headless` terminal mode both binaries offer: each stdin line is a
//! message, received messages go to stdout as `<name>: <text>`, everything
//! else (status, notices, errors) to stderr. EOF on stdin or Ctrl+C says
//! `bye`.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

use crate::error::ConnectError;
use crate::event::{Ended, Event, Handle, SendError};

/// How a terminal chat ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// EOF on stdin, or the peer ended the chat.
    Done,
    /// The client could not connect.
    Failed(ConnectError),
}

/// The environment variable that holds a key (never the command line, where
/// `ps` shows it).
pub const KEY_VAR: &str = "FERNET_CHAT_KEY";

/// A binary's whole `--headless` run: on a runtime of its own, `start`
/// brings up an engine (or says why not on stderr and gives `None`), then
/// the terminal is relayed to it. Returns the process's exit code.
pub fn run(start: impl Future<Output = Option<(Handle, mpsc::Receiver<Event>)>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let Some((handle, events)) = start.await else {
            return ExitCode::FAILURE;
        };
        // Ctrl+C ends the chat like end of input: `bye` once what was typed
        // is delivered, so the peer is not left reconnecting.
        let closer = handle.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                closer.close();
            }
        });
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        match relay(handle, events, stdin, std::io::stdout(), std::io::stderr()).await {
            Exit::Done => ExitCode::SUCCESS,
            Exit::Failed(_) => ExitCode::FAILURE,
        }
    });
    // A blocked read of stdin must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// Relays between the terminal and an engine until the engine stops.
pub async fn relay(
    handle: Handle,
    mut events: mpsc::Receiver<Event>,
    mut input: impl AsyncBufRead + Unpin,
    mut out: impl Write,
    mut err: impl Write,
) -> Exit {
    let mut reading = true;
    let mut line = Vec::new();
    loop {
        tokio::select! {
            read = input.read_until(b'\n', &mut line), if reading => {
                match read {
                    Ok(0) | Err(_) => {
                        reading = false;
                        handle.close();
                    }
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.strip_suffix('\n').unwrap_or(&text);
                        let text = text.strip_suffix('\r').unwrap_or(text);
                        match handle.send(text) {
                            // Blank lines are not messages.
                            Ok(_) | Err(SendError::Empty) => {}
                            Err(e) => {
                                let _ = writeln!(err, "not sent: {e}");
                            }
                        }
                    }
                }
                line.clear();
            }
            event = events.recv() => match event {
                None => return Exit::Done,
                Some(Event::Failed(e)) => {
                    let _ = writeln!(err, "error: {e}");
                    return Exit::Failed(e);
                }
                Some(Event::Received { from, text, .. }) => {
                    let _ = writeln!(out, "{from}: {text}");
                    let _ = out.flush();
                }
                Some(event) => {
                    if let Some(status) = describe(&event) {
                        let _ = writeln!(err, "{status}");
                    }
                }
            },
        }
    }
}

/// The stderr line for an event, if it deserves one.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Connecting { attempt: 1, server } => format!("connecting to {server}…"),
        Event::Connecting { attempt, server } => {
            format!("reconnecting to {server} (attempt {attempt})…")
        }
        Event::Retrying { delay, error, .. } => {
            format!("{error}; trying again in {:.1} s", delay.as_secs_f32())
        }
        Event::Connected { peer, resent } => {
            let mut line = format!("connected to {} ({})", peer.name, peer.addr);
            if *resent > 0 {
                line += &format!("; sent {resent} waiting message(s)");
            }
            line
        }
        Event::ClockOffset { secs } => format!(
            "note: the other computer's clock is {} s {} yours; messages still work",
            secs.unsigned_abs(),
            if *secs > 0 { "ahead of" } else { "behind" }
        ),
        Event::Disconnected(Ended::Alert(alert)) => {
            format!("SECURITY ALERT: {alert}; connection closed")
        }
        Event::Disconnected(ended) => format!("disconnected: {ended}"),
        Event::Rejected { addr, reason } => format!("{} {reason}", addr.ip()),
        Event::Failed(e) => format!("error: {e}"),
        Event::Received { .. }
        | Event::Sent { .. }
        | Event::Acked { .. }
        | Event::Typing { .. }
        | Event::KeyChanged(_)
        | Event::Closed => return None,
    })
}
