//! The server window's engine, in the states it can be in. Each state
//! carries what exists in it: a handle and addresses only while listening,
//! the error only when listening failed, so the window cannot offer New key
//! without an engine to ask, or show addresses nobody listens on.

use std::net::SocketAddr;

use common::server::limits::REMOVED_MAX;
use common::{BindError, Member, ServerHandle};

pub enum Engine {
    /// Binding the port (at start, after Listen, or after a rename).
    Starting,
    Listening(Listening),
    /// Could not listen; the window offers another port.
    Failed(BindError),
    /// Stopping, to start again announcing this name.
    Restarting(String),
}

/// A running engine and what it told the window.
pub struct Listening {
    pub handle: ServerHandle,
    /// Where the others can reach it.
    pub addrs: Vec<SocketAddr>,
    /// Why a search cannot find this server, if it cannot (one line).
    pub unsearchable: Option<String>,
    /// Members the user removed, newest last: the engine refuses them until
    /// allowed back or a new key (at most [`REMOVED_MAX`], as the engine).
    pub removed: Vec<Member>,
}

impl Engine {
    pub fn listening(&self) -> Option<&Listening> {
        match self {
            Engine::Listening(listening) => Some(listening),
            _ => None,
        }
    }

    pub fn handle(&self) -> Option<&ServerHandle> {
        self.listening().map(|listening| &listening.handle)
    }
}

impl Listening {
    /// Member `member` was removed: listed with "Allow back".
    pub fn removed(&mut self, member: Member) {
        self.removed.retain(|m| m.id != member.id);
        if self.removed.len() >= REMOVED_MAX {
            self.removed.remove(0);
        }
        self.removed.push(member);
    }

    /// Lets member `id` join again.
    pub fn allow(&mut self, id: &str) {
        self.handle.allow(id);
        self.removed.retain(|m| m.id != id);
    }
}
