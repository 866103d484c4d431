//! The client engine while one runs, and what exists only then: its handle
//! (once started), a reconnect countdown, the Disconnect in progress and
//! where the server moved to. Outside a session none of these can be set.

use std::net::SocketAddr;
use tokio::time::Instant;

use common::Handle;
use common::ui::engine::ClientParams;

pub struct Session {
    /// What the engine subscription runs with.
    pub params: ClientParams,
    /// `None` until the engine has started.
    pub handle: Option<Handle>,
    /// While a reconnect is pending: when it starts, and why the last
    /// attempt failed.
    pub retry: Option<(Instant, String)>,
    /// Disconnect was clicked: the engine delivers what is still
    /// undelivered before it says goodbye (it keeps reconnecting for that),
    /// and this is what the banner says meanwhile.
    pub leaving: Option<String>,
    /// The server moved here during this session (the engine followed it):
    /// the address to remember.
    pub moved_to: Option<SocketAddr>,
}

impl Session {
    pub fn new(params: ClientParams) -> Session {
        Session {
            params,
            handle: None,
            retry: None,
            leaving: None,
            moved_to: None,
        }
    }

    /// Disconnect was clicked with `undelivered` messages: the first click
    /// closes once they are delivered (the banner to show), a second
    /// leaves at once (what is undelivered is dropped: the user asked
    /// twice).
    pub fn leave(&mut self, undelivered: usize) -> Option<String> {
        let handle = self.handle.as_ref()?;
        if self.leaving.is_some() {
            handle.quit();
            return None;
        }
        handle.close();
        let banner = match undelivered {
            0 => "Saying goodbye…".to_owned(),
            n => format!(
                "Leaving once {n} undelivered message{} {} delivered. \
                 Click Disconnect again to leave now.",
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" },
            ),
        };
        self.leaving = Some(banner.clone());
        Some(banner)
    }
}
