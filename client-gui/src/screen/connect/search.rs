//! Looking for servers with the key: which search runs, what it found, and
//! how the connect screen shows it. The search itself is
//! `common::discovery::search`, run as the window's subscription while
//! [`Search::running`] says so; its results come back tagged with the
//! generation they belong to, so nothing from a search the user replaced
//! (a new key) or stopped is ever listed.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use common::discovery::{self, SearchConfig};
use common::{Clock, DEFAULT_PORT, Key};
use iced::Subscription;
use iced::futures::{Stream, StreamExt};
use iced::widget::{Column, button, column, row, text};
use iced::{Element, Fill};

pub use common::discovery::{Found, Reach};

/// After this long with nothing found, the screen says so and suggests
/// typing the address (the search goes on).
pub const QUIET_AFTER: Duration = Duration::from_secs(3);

/// At most this many servers are listed: every answer comes from a key
/// holder, but a key holder is no friend of the screen's memory either.
pub const MAX_FOUND: usize = 16;

#[derive(Debug, Clone)]
pub enum Message {
    /// Search `generation` found a server.
    Found(u64, Found),
    /// Search `generation` cannot run here (why, for the person).
    Failed(u64, String),
    /// [`QUIET_AFTER`] has passed since search `generation` started.
    Quiet(u64),
    Stop,
    Again,
    /// Connect to the found server at this index.
    Connect(usize),
}

/// One search: the key it looks with, numbered so that a new key, or a
/// search started again, is a new subscription.
#[derive(Debug, Clone)]
pub struct Run {
    pub generation: u64,
    pub key: Key,
}

/// Where the search is. Each state holds only what it can show.
#[derive(Debug, Clone, Default)]
pub enum Search {
    /// No valid key: nothing to look with.
    #[default]
    Idle,
    /// Looking; what answered so far (nothing yet: "Searching…").
    Searching { run: Run, found: Vec<Found> },
    /// Still looking, but nothing answered within [`QUIET_AFTER`].
    Quiet { run: Run },
    /// Stopped by the user, or because a connection started; what was found
    /// stays listed.
    Stopped { found: Vec<Found> },
    /// Searching is impossible here.
    Failed(String),
    /// Turned off (`--no-discovery`): addresses are typed.
    Off,
}

impl Search {
    /// The search to run as a subscription, if one should run.
    pub fn running(&self) -> Option<&Run> {
        match self {
            Search::Searching { run, .. } | Search::Quiet { run } => Some(run),
            _ => None,
        }
    }

    pub fn found(&self) -> &[Found] {
        match self {
            Search::Searching { found, .. } | Search::Stopped { found } => found,
            _ => &[],
        }
    }

    /// The server Enter connects to: the only one found.
    pub fn preselected(&self) -> Option<&Found> {
        match self.found() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Stops looking; what was found stays listed.
    pub fn stop(&mut self) {
        if self.running().is_some() {
            let found = std::mem::take(self).found().to_vec();
            *self = Search::Stopped { found };
        }
    }

    /// Handles a result or a timer; returns the index of a server to connect
    /// to when one's Connect is clicked. Results of another generation than
    /// the running search are dropped.
    pub fn update(&mut self, message: Message) -> Option<usize> {
        let current = self.running().map(|run| run.generation);
        match message {
            Message::Found(generation, found) if current == Some(generation) => {
                self.add(found);
            }
            Message::Failed(generation, why) if current == Some(generation) => {
                *self = Search::Failed(why);
            }
            Message::Quiet(generation) => {
                if let Search::Searching { run, found } = self
                    && run.generation == generation
                    && found.is_empty()
                {
                    *self = Search::Quiet { run: run.clone() };
                }
            }
            Message::Stop => self.stop(),
            Message::Connect(index) if index < self.found().len() => return Some(index),
            Message::Found(..) | Message::Failed(..) | Message::Again | Message::Connect(_) => {}
        }
        None
    }

    fn add(&mut self, new: Found) {
        if let Search::Quiet { run } = self {
            *self = Search::Searching {
                run: run.clone(),
                found: Vec::new(),
            };
        }
        if let Search::Searching { found, .. } = self
            && found.len() < MAX_FOUND
            && !found.iter().any(|f| f.addr == new.addr)
        {
            found.push(new);
        }
    }

    pub fn view(&self, key_typed: bool) -> Element<'_, Message> {
        let mut col = Column::new().spacing(6);
        let status: Element<'_, Message> = match self {
            Search::Idle if key_typed => text("").size(13).into(),
            Search::Idle => {
                text("Paste the key: the servers that use it are found on this network.")
                    .style(text::secondary)
                    .into()
            }
            Search::Searching { found, .. } => row![
                text(match found.len() {
                    0 => "Searching…".to_owned(),
                    1 => "Found 1 server. Still searching…".to_owned(),
                    n => format!("Found {n} servers. Still searching…"),
                })
                .style(text::secondary),
                stop(),
            ]
            .spacing(12)
            .align_y(iced::Center)
            .into(),
            Search::Quiet { .. } => column![
                row![text("Searching…").style(text::secondary), stop()]
                    .spacing(12)
                    .align_y(iced::Center),
                text(format!(
                    "No server with this key answered in {} s. This network may block \
                     the search (guest Wi-Fi often does): type the address the server \
                     window shows below.",
                    QUIET_AFTER.as_secs()
                ))
                .style(text::warning),
            ]
            .spacing(6)
            .into(),
            Search::Stopped { found } => row![
                text(if found.is_empty() {
                    "Search stopped."
                } else {
                    "Search stopped; these answered."
                })
                .style(text::secondary),
                button("Search again")
                    .style(button::secondary)
                    .on_press(Message::Again),
            ]
            .spacing(12)
            .align_y(iced::Center)
            .into(),
            Search::Off => text("Looking for servers is turned off: type the address below.")
                .style(text::secondary)
                .into(),
            Search::Failed(why) => text(format!(
                "Cannot search for servers here ({why}): type the address below."
            ))
            .style(text::warning)
            .into(),
        };
        col = col.push(status);
        let preselected = self.preselected().is_some();
        for (index, found) in self.found().iter().enumerate() {
            let connect = button("Connect")
                .style(if preselected {
                    button::primary
                } else {
                    button::secondary
                })
                .on_press(Message::Connect(index));
            col = col.push(
                row![
                    text(describe(found)).width(Fill),
                    text(format!("found in {} ms", found.after.as_millis()))
                        .size(12)
                        .style(text::secondary),
                    connect,
                ]
                .spacing(10)
                .align_y(iced::Center),
            );
        }
        col.into()
    }
}

/// Where a search looks: the servers' port on the LAN by default; tests
/// look on loopback only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub port: u16,
    pub reach: Reach,
}

impl Default for Scope {
    fn default() -> Scope {
        Scope {
            port: DEFAULT_PORT,
            reach: Reach::Lan,
        }
    }
}

/// A search subscription's identity and settings: a new generation is a new
/// search (the key is in it, not hashed: the generation changes with it).
#[derive(Debug, Clone)]
pub struct Params {
    pub run: Run,
    pub scope: Scope,
}

impl Hash for Params {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.run.generation, &self.scope).hash(state);
    }
}

/// The search as a subscription: dropping it (no longer returning it)
/// stops the search.
pub fn subscription(params: Params) -> Subscription<Message> {
    Subscription::run_with(params, stream)
}

/// The discovery engine's results as this screen's messages, tagged with
/// the search's generation.
pub fn stream(params: &Params) -> impl Stream<Item = Message> + use<> {
    let generation = params.run.generation;
    discovery::search_with(SearchConfig {
        key: params.run.key.clone(),
        port: params.scope.port,
        reach: params.scope.reach.clone(),
        clock: Clock::system(),
    })
    .map(move |result| match result {
        Ok(found) => Message::Found(generation, found),
        Err(e) => Message::Failed(generation, e.to_string()),
    })
}

fn stop<'a>() -> Element<'a, Message> {
    button("Stop")
        .style(button::secondary)
        .on_press(Message::Stop)
        .into()
}

/// "alice — 192.168.1.20:7878" (the discovery engine cleaned the name like
/// any peer's).
pub fn describe(found: &Found) -> String {
    format!("{} — {}", found.name, found.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quiet timer fires [`QUIET_AFTER`] after the start whatever
    /// answered meanwhile: once a server is listed it changes nothing.
    #[test]
    fn a_quiet_timer_after_an_answer_keeps_the_server_listed() {
        let run = Run {
            generation: 1,
            key: Key::generate().expect("a key"),
        };
        let mut search = Search::Searching {
            run,
            found: Vec::new(),
        };
        let addr = "192.168.1.20:7878".parse().expect("an address");
        let bob = Found {
            name: "bob".into(),
            addr,
            addrs: vec![addr],
            after: Duration::from_millis(40),
        };
        search.update(Message::Found(1, bob));
        search.update(Message::Quiet(1));
        assert!(matches!(search, Search::Searching { .. }), "{search:?}");
        assert_eq!(search.found().len(), 1);
    }
}
