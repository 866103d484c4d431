//! The window's commands as the engine reads them, and whether the user has
//! asked to finish.
//!
//! "Close" is a state, not a moment: after it the engine still delivers what
//! was typed (the server waiting for someone, the client reconnecting), and
//! says `bye` only then. So the flag lives here, beside the commands, where
//! every loop of the engine sees it.

use tokio::sync::mpsc;

use crate::event::Command;

#[derive(Debug)]
pub(crate) struct Commands {
    rx: mpsc::UnboundedReceiver<Command>,
    /// Every handle was dropped: counts as a close, and there is nothing
    /// more to read.
    ended: bool,
    /// The user asked to finish once everything is delivered.
    pub closing: bool,
}

impl Commands {
    pub fn new(rx: mpsc::UnboundedReceiver<Command>) -> Commands {
        Commands {
            rx,
            ended: false,
            closing: false,
        }
    }

    /// The next command. Dropping every handle reads as one `Close`, after
    /// which this never returns (so a `select!` does not spin on it).
    pub async fn recv(&mut self) -> Command {
        if self.ended {
            return std::future::pending().await;
        }
        match self.rx.recv().await {
            Some(cmd) => self.note(cmd),
            None => {
                self.ended = true;
                self.note(Command::Close)
            }
        }
    }

    /// A command already queued, if any.
    pub fn try_recv(&mut self) -> Option<Command> {
        if self.ended {
            return None;
        }
        self.rx.try_recv().ok().map(|cmd| self.note(cmd))
    }

    fn note(&mut self, cmd: Command) -> Command {
        if matches!(cmd, Command::Close) {
            self.closing = true;
        }
        cmd
    }
}
