//! The window's commands as the engine reads them, and whether the user has
//! asked to finish.
//!
//! "Close" is a state, not a moment: after it the engine still delivers what
//! was typed (the server waiting for someone, the client reconnecting), and
//! says `bye` only then. So the flag lives here, beside the commands, where
//! every loop of the engine sees it.

use tokio::sync::mpsc;

use crate::event::{Command, ServerCommand};

/// A command type an engine reads: the shared [`Command`]s, and maybe its
/// own.
pub(crate) trait EngineCommand: From<Command> {
    /// The shared command this is, if it is one.
    fn shared(&self) -> Option<&Command>;
}

impl EngineCommand for Command {
    fn shared(&self) -> Option<&Command> {
        Some(self)
    }
}

impl EngineCommand for ServerCommand {
    fn shared(&self) -> Option<&Command> {
        match self {
            ServerCommand::Chat(cmd) => Some(cmd),
            ServerCommand::SetKey(_) | ServerCommand::Remove(_) | ServerCommand::Allow(_) => None,
        }
    }
}

/// The client engine reads [`Command`]s, the server's hub
/// [`ServerCommand`]s.
#[derive(Debug)]
pub(crate) struct Commands<C = Command> {
    rx: mpsc::UnboundedReceiver<C>,
    /// Every handle was dropped: counts as a close, and there is nothing
    /// more to read.
    ended: bool,
    /// The user asked to finish once everything is delivered.
    pub closing: bool,
}

impl<C: EngineCommand> Commands<C> {
    pub fn new(rx: mpsc::UnboundedReceiver<C>) -> Commands<C> {
        Commands {
            rx,
            ended: false,
            closing: false,
        }
    }

    /// The next command. Dropping every handle reads as one `Close`, after
    /// which this never returns (so a `select!` does not spin on it).
    pub async fn recv(&mut self) -> C {
        if self.ended {
            return std::future::pending().await;
        }
        match self.rx.recv().await {
            Some(cmd) => self.note(cmd),
            None => {
                self.ended = true;
                self.note(Command::Close.into())
            }
        }
    }

    /// A command already queued, if any.
    pub fn try_recv(&mut self) -> Option<C> {
        if self.ended {
            return None;
        }
        self.rx.try_recv().ok().map(|cmd| self.note(cmd))
    }

    fn note(&mut self, cmd: C) -> C {
        if matches!(cmd.shared(), Some(Command::Close)) {
            self.closing = true;
        }
        cmd
    }
}
