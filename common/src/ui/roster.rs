//! The online list beside the chat: who is in the room (name, address,
//! since when; "you" marked). In a narrow window it folds into an "N
//! online" button above the chat that shows it on demand.
//!
//! The list is what the engine said ([`crate::ClientEvent::Roster`], and
//! [`crate::ChatEvent::Joined`] and `Left` in either window), at most [`MAX_ROSTER`] members: a room never holds more, and
//! a hostile server cannot make the window keep more.

use iced::widget::{Column, button, column, container, responsive, row, rule, scrollable, text};
use iced::{Element, Fill, Font};

use super::entry::clock_time;
use super::style;
use crate::event::Member;
use crate::payload::MAX_ROSTER;
use crate::text::for_window;

/// Narrower than this, the list folds away behind its "N online" button
/// (the chat keeps the room it needs for its header and message box).
pub const BESIDE_MIN_WIDTH: f32 = 620.0;
/// The list's width beside the chat.
const WIDTH: f32 = 210.0;

#[derive(Debug, Clone)]
pub enum Message {
    /// Show or hide the folded list.
    Toggle,
    /// The server's user clicked Remove on member `id`.
    Remove(String),
}

/// Who is in the room, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    members: Vec<Member>,
    /// The folded list is shown.
    open: bool,
}

impl Roster {
    /// Everyone in the room now (the start of a session).
    pub fn set(&mut self, mut members: Vec<Member>) {
        members.truncate(MAX_ROSTER);
        self.members = members;
    }

    /// A member joined or came back (its entry is replaced: a new address
    /// or a new `since`).
    pub fn joined(&mut self, member: Member) {
        let full = self.members.len() >= MAX_ROSTER;
        match self.members.iter_mut().find(|m| m.id == member.id) {
            Some(known) => *known = member,
            None if !full => self.members.push(member),
            None => {}
        }
    }

    /// A member left; false if it was not listed (a room emptied at once
    /// by New key announces no one twice).
    pub fn left(&mut self, id: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.id != id);
        self.members.len() < before
    }

    /// Everyone but us.
    pub fn others(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| !m.you)
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Our own entry, as the room knows us.
    pub fn you(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.you)
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn update(&mut self, message: &Message) {
        if let Message::Toggle = message {
            self.open = !self.open;
        }
    }

    /// `chat` with the list beside it, or folded above it when the space
    /// is narrower than [`BESIDE_MIN_WIDTH`]. `removable` offers Remove on
    /// every member but us (the server window).
    pub fn around<'a, M: Clone + 'a>(
        &'a self,
        chat: impl Fn() -> Element<'a, M> + 'a,
        removable: bool,
        on: impl Fn(Message) -> M + Copy + 'a,
    ) -> Element<'a, M> {
        responsive(move |size| {
            if size.width >= BESIDE_MIN_WIDTH {
                row![
                    container(chat()).width(Fill),
                    rule::vertical(1),
                    container(self.list(removable, on)).width(WIDTH),
                ]
                .into()
            } else {
                let mut col = column![self.toggle(on)].spacing(4);
                if self.open {
                    col =
                        col.push(container(self.list(removable, on)).max_height(size.height / 3.0));
                }
                col.push(chat()).into()
            }
        })
        .into()
    }

    /// The folded list's button: "3 online" with a hint of what it does.
    fn toggle<'a, M: Clone + 'a>(&'a self, on: impl Fn(Message) -> M) -> Element<'a, M> {
        let label = format!(
            "{} online {}",
            self.members.len(),
            if self.open { "▴" } else { "▾" }
        );
        container(
            button(text(label).size(13))
                .style(button::secondary)
                .on_press(on(Message::Toggle)),
        )
        .padding([6, 12])
        .into()
    }

    fn list<'a, M: Clone + 'a>(
        &'a self,
        removable: bool,
        on: impl Fn(Message) -> M,
    ) -> Element<'a, M> {
        let mut list = Column::new().spacing(8).padding(12);
        list = list.push(text(format!("Online ({})", self.members.len())).size(14));
        for member in &self.members {
            list = list.push(self.entry(member, removable, &on));
        }
        scrollable(list).height(Fill).into()
    }

    fn entry<'a, M: Clone + 'a>(
        &'a self,
        member: &'a Member,
        removable: bool,
        on: &impl Fn(Message) -> M,
    ) -> Element<'a, M> {
        let mut name = row![text(for_window(&member.name).into_owned()).size(14)].spacing(6);
        if member.you {
            name = name.push(
                container(text("you").size(11))
                    .padding([0, 6])
                    .style(style::badge),
            );
        }
        let place = match member.addr {
            Some(addr) => addr.to_string(),
            None => "the server".to_owned(),
        };
        let mut col = column![
            name,
            text(place)
                .size(11)
                .font(Font::MONOSPACE)
                .style(text::secondary),
            text(since(member.since)).size(11).style(text::secondary),
        ]
        .spacing(1);
        if removable && !member.you {
            col = col.push(
                button(text("Remove").size(11))
                    .style(button::text)
                    .padding([0, 0])
                    .on_press(on(Message::Remove(member.id.clone()))),
            );
        }
        col.into()
    }
}

/// "since 14:02".
pub fn since(ms: u64) -> String {
    format!("since {}", clock_time(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: usize) -> Member {
        Member {
            id: format!("m{n}"),
            name: format!("member {n}"),
            addr: Some("10.0.0.5:51234".parse().unwrap()),
            since: 0,
            you: false,
        }
    }

    #[test]
    fn the_list_never_holds_more_than_a_room_can() {
        let mut roster = Roster::default();
        roster.set((0..MAX_ROSTER + 10).map(member).collect());
        assert_eq!(roster.members().len(), MAX_ROSTER);
        roster.joined(member(MAX_ROSTER + 20));
        assert_eq!(roster.members().len(), MAX_ROSTER);
        // One who comes back is updated in place, not added.
        let mut back = member(3);
        back.since = 7;
        roster.joined(back);
        assert_eq!(roster.members().len(), MAX_ROSTER);
        assert_eq!(roster.members()[3].since, 7);
        roster.left("m3");
        assert!(roster.members().iter().all(|m| m.id != "m3"));
    }
}
