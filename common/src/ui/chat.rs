//! The chat view both windows use: history, input box, header.
//!
//! Only the newest [`WINDOW`] entries are laid out (more on request), so a
//! history of thousands of messages costs no more per frame than a short one.

use std::collections::HashMap;
use std::time::Duration;

use iced::keyboard::{self, key};
use iced::widget::text_editor::{self, Binding};
use iced::widget::{
    Column, TextEditor, button, checkbox, column, container, mouse_area, operation, row,
    scrollable, space, text, toggler,
};
use iced::{Element, Fill, Font, Task};

use super::attention::Attention;
use super::entry::{ChatMessage, Delivery, Entry, LONG_BYTES, More, Tone, clock_time};
use super::roster::{self, Roster};
use super::style;
use super::typing::Typing;
use crate::event::{Ciphertext, Handle, Peer, SendError};
use crate::payload::MAX_TEXT_BYTES;
use crate::text::for_window;

mod events;

/// How many of the newest entries are laid out by default (at least).
pub const WINDOW: usize = 200;

/// Bytes the history keeps: its entries, with their text and tokens. A peer can
/// send messages for as long as it likes; past this the oldest entries go,
/// down to three quarters of it (in one step, so the bookkeeping is not
/// redone for every message), and the log says how many went.
pub const HISTORY_BYTES: usize = 32 * 1024 * 1024;
/// The first entry laid out moves in steps of this many, so that a new
/// message is appended to the laid-out list rather than shifting every entry
/// in it by one, which would make iced shape all their text again (measured:
/// 3.6 ms per message instead of well under 1 ms; see the README).
const STEP: usize = 100;
/// Stop telling the peer we type after this long without a keystroke.
const TYPING_IDLE: Duration = Duration::from_secs(3);
/// Longest token shown under a message with "Show ciphertext".
const TOKEN_SHOWN: usize = 400;

const LOG: &str = "chat-log";
/// The desktop notifications setting's label.
pub const NOTIFY: &str = "Notify me";
/// The input box's widget id.
pub const INPUT: &str = "chat-input";

#[derive(Debug, Clone)]
pub enum Message {
    /// The user edited the draft.
    Edit(text_editor::Action),
    /// Enter: send the draft.
    Submit,
    /// No keystroke for a while (the number tells which keystroke).
    TypingIdle(u64),
    ShowCiphertext(bool),
    /// The history was scrolled.
    Scrolled(scrollable::Viewport),
    /// Lay out more of the older history.
    ShowEarlier,
    /// Copy the text of entry `index`.
    Copy(usize),
    /// Lay out all of long message `index`, not only its first lines.
    ShowAll(usize),
    /// Show the part before (-1) or after (1) the one shown of a message
    /// read in parts.
    Turn(usize, isize),
    /// The pointer entered message `index`: its text becomes selectable.
    Hover(usize),
    /// Selecting in the selectable message (edits are ignored).
    Select(text_editor::Action),
    Disconnect,
    /// The online list's button was clicked.
    Roster(roster::Message),
    /// The "Notify me" box was ticked or unticked.
    Notifications(bool),
}

/// What the window around the chat must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Put this on the clipboard.
    Copy(String),
    /// The user asked to disconnect.
    Disconnect,
    /// Server: the user asked to remove member `id` from the room.
    Remove(String),
    /// Desktop notifications were turned on or off (to remember).
    Notifications(bool),
}

/// The chat's state; it outlives connections, so history stays on screen.
pub struct Chat {
    entries: Vec<Entry>,
    /// What `entries` holds, in [`Entry::bytes`].
    history_bytes: usize,
    /// Entries dropped from the front to stay under [`HISTORY_BYTES`].
    forgotten: usize,
    /// Index in `entries` of each of our messages, by id.
    mine: HashMap<String, usize>,
    draft: text_editor::Content,
    input_error: Option<String>,
    show_ciphertext: bool,
    peer: Option<Peer>,
    /// Who is in the room (beside the chat once someone else is).
    roster: Roster,
    /// The online list offers Remove (the server window).
    can_remove: bool,
    typing: Typing,
    /// Unread count and notifications while the window is not looked at.
    attention: Attention,
    typing_sent: bool,
    keystrokes: u64,
    /// Stick to the newest message (the user has not scrolled up).
    follow: bool,
    window: usize,
    handle: Option<Handle>,
    /// Shown above the input: waiting, reconnecting, ...
    banner: Option<String>,
    /// Whether the header offers Disconnect (the server: only in a session).
    can_disconnect: bool,
    /// The window is closing and the engine is saying goodbye.
    closing: bool,
    /// The message under the pointer, shown as a read-only editor so its text
    /// can be selected with the mouse and copied with Ctrl+C. iced 0.14 has
    /// no selectable text widget, and an editor per message would cost far
    /// more than plain text, so only this one is an editor.
    selectable: Option<(usize, text_editor::Content)>,
}

impl Default for Chat {
    fn default() -> Chat {
        Chat {
            entries: Vec::new(),
            history_bytes: 0,
            forgotten: 0,
            mine: HashMap::new(),
            draft: text_editor::Content::new(),
            input_error: None,
            show_ciphertext: false,
            peer: None,
            roster: Roster::default(),
            can_remove: false,
            typing: Typing::default(),
            attention: Attention::default(),
            typing_sent: false,
            keystrokes: 0,
            follow: true,
            window: WINDOW,
            handle: None,
            banner: None,
            can_disconnect: true,
            closing: false,
            selectable: None,
        }
    }
}

impl Chat {
    /// The engine handle that sends what the user types.
    pub fn set_handle(&mut self, handle: Option<Handle>) {
        self.handle = handle;
    }

    /// A status line shown above the input box (`None` hides it).
    pub fn set_banner(&mut self, banner: Option<String>) {
        // It may quote the network (an ERR line's text, a `bye` reason).
        self.banner = banner.map(|b| for_window(&b).into_owned());
    }

    /// Offers or hides the Disconnect button.
    pub fn set_can_disconnect(&mut self, can: bool) {
        self.can_disconnect = can;
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Replaces the roster: the client's at the start of each session
    /// ([`crate::ClientEvent::Roster`]); the server's with only its own
    /// entry when the room empties (its engine announces members, not
    /// itself).
    pub fn set_roster(&mut self, members: Vec<crate::event::Member>) {
        self.roster.set(members);
    }

    /// The online list offers Remove beside each member but us.
    pub fn offer_remove(&mut self, can: bool) {
        self.can_remove = can;
    }

    pub fn attention(&self) -> &Attention {
        &self.attention
    }

    pub fn attention_mut(&mut self) -> &mut Attention {
        &mut self.attention
    }

    /// The window is being closed: asks the engine to say goodbye (it
    /// reports `Closed` when it has) and shows so. False if there is nothing
    /// to wait for: no engine, or a goodbye already under way (a second
    /// close means "now").
    pub fn say_goodbye(&mut self) -> bool {
        match &self.handle {
            Some(handle) if !self.closing => {
                handle.close();
                self.closing = true;
                self.banner = Some("Saying goodbye…".into());
                true
            }
            _ => false,
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// How many of our messages the peer has not acknowledged yet.
    pub fn undelivered(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Message(m) if m.mine && !m.delivery.is_handed_over()))
            .count()
    }

    /// What is selected in the message under the pointer, if anything.
    pub fn selection(&self) -> Option<String> {
        self.selectable.as_ref()?.1.selection()
    }

    pub fn draft(&self) -> String {
        self.draft.text()
    }

    /// Adds a system line. Many quote the network (a `bye` reason, an alert,
    /// an address), so it is made safe to show like a message.
    pub fn system(&mut self, text: impl Into<String>, tone: Tone, at: u64) -> Task<Message> {
        let text = text.into();
        self.push(Entry::System {
            text: for_window(&text).into_owned(),
            tone,
            at,
        })
    }

    fn push(&mut self, entry: Entry) -> Task<Message> {
        if let Entry::Message(m) = &entry
            && m.mine
        {
            self.mine.insert(m.id.clone(), self.entries.len());
        }
        self.history_bytes += entry.bytes();
        self.entries.push(entry);
        if self.history_bytes > HISTORY_BYTES {
            self.forget_oldest();
        }
        if self.follow {
            self.window = WINDOW;
            operation::snap_to_end(LOG)
        } else {
            Task::none()
        }
    }

    fn delivery(&mut self, id: &str, delivery: Delivery, token: Option<Ciphertext>) {
        if let Some(m) = self.mine_mut(id) {
            m.delivery = delivery;
            if token.is_some() {
                m.token = token;
            }
        }
    }

    /// Our message `id`, if the history still has it.
    fn mine_mut(&mut self, id: &str) -> Option<&mut ChatMessage> {
        match self.mine.get(id).and_then(|&i| self.entries.get_mut(i)) {
            Some(Entry::Message(m)) => Some(m),
            _ => None,
        }
    }

    pub fn update(&mut self, message: Message) -> (Task<Message>, Option<Event>) {
        match message {
            Message::Edit(action) => {
                let edit = action.is_edit();
                self.draft.perform(action);
                if edit {
                    self.input_error = None;
                    return (self.typed(), None);
                }
            }
            Message::Submit => return (self.submit(), None),
            Message::TypingIdle(keystroke) => {
                if keystroke == self.keystrokes {
                    self.stop_typing();
                }
            }
            Message::ShowCiphertext(show) => self.show_ciphertext = show,
            Message::Scrolled(viewport) => {
                let bottom = viewport.content_bounds().height - viewport.bounds().height;
                self.follow = viewport.absolute_offset().y >= bottom - 4.0;
            }
            Message::ShowEarlier => {
                self.follow = false;
                self.window = (self.window + WINDOW).min(self.entries.len());
            }
            Message::Copy(index) => {
                let text = match self.entries.get(index) {
                    Some(Entry::Message(m)) => m.text.clone(),
                    Some(Entry::System { text, .. }) => text.clone(),
                    None => return (Task::none(), None),
                };
                return (Task::none(), Some(Event::Copy(text)));
            }
            Message::ShowAll(index) => self.reshape(index, ChatMessage::show_all),
            Message::Turn(index, step) => self.reshape(index, |m| m.turn(step)),
            Message::Disconnect => return (Task::none(), Some(Event::Disconnect)),
            Message::Roster(roster::Message::Remove(id)) => {
                return (Task::none(), Some(Event::Remove(id)));
            }
            Message::Roster(message) => self.roster.update(&message),
            Message::Notifications(on) => {
                self.attention.set_notifications(on);
                return (Task::none(), Some(Event::Notifications(on)));
            }
            Message::Hover(index) => {
                // Not a long message shown whole: a second layout of all of
                // it (the editor's) would cost as much as Show all did.
                if self.selectable.as_ref().is_none_or(|(i, _)| *i != index)
                    && let Some(Entry::Message(m)) = self.entries.get(index)
                    && m.shown().len() <= LONG_BYTES
                {
                    self.selectable = Some((index, text_editor::Content::with_text(m.shown())));
                }
            }
            Message::Select(action) => {
                if let Some((_, content)) = &mut self.selectable
                    && !action.is_edit()
                {
                    content.perform(action);
                }
            }
        }
        (Task::none(), None)
    }

    fn typed(&mut self) -> Task<Message> {
        self.keystrokes += 1;
        if !self.typing_sent
            && let Some(handle) = &self.handle
        {
            handle.typing(true);
            self.typing_sent = true;
        }
        if !self.typing_sent {
            // No engine to tell when the typing stops.
            return Task::none();
        }
        let keystroke = self.keystrokes;
        Task::perform(async { tokio::time::sleep(TYPING_IDLE).await }, move |()| {
            Message::TypingIdle(keystroke)
        })
    }

    fn stop_typing(&mut self) {
        if self.typing_sent {
            if let Some(handle) = &self.handle {
                handle.typing(false);
            }
            self.typing_sent = false;
        }
    }

    fn submit(&mut self) -> Task<Message> {
        let draft = self.draft.text();
        let text = draft.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Task::none();
        }
        let Some(handle) = self.handle.clone() else {
            self.input_error = Some("Not connected yet.".into());
            return Task::none();
        };
        match handle.send(text) {
            Ok(id) => {
                self.stop_typing();
                self.input_error = None;
                self.follow = true;
                let text = text.to_owned();
                self.draft = text_editor::Content::new();
                let at = crate::Clock::system().now_ms();
                self.push(Entry::Message(ChatMessage::new(
                    id,
                    "You".into(),
                    true,
                    text,
                    at,
                )))
            }
            Err(SendError::TooLong { len }) => {
                self.input_error = Some(format!(
                    "Too long to send: {len} bytes; the limit is {MAX_TEXT_BYTES} bytes."
                ));
                Task::none()
            }
            Err(e) => {
                self.input_error = Some(format!("Not sent: {e}."));
                Task::none()
            }
        }
    }

    /// The chat, with the online list beside it once someone else is in
    /// the room (folded above it in a narrow window).
    pub fn view(&self) -> Element<'_, Message> {
        self.roster.around(
            || {
                column![self.header(), self.log(), self.input()]
                    .spacing(8)
                    .padding(12)
                    .height(Fill)
                    .into()
            },
            self.can_remove,
            Message::Roster,
        )
    }

    fn header(&self) -> Element<'_, Message> {
        let who: Element<'_, Message> = match &self.peer {
            Some(peer) => column![
                text(peer.name.as_str()).size(18),
                text(peer.addr.to_string()).size(12).style(text::secondary),
            ]
            .into(),
            None => match self.roster.others().count() {
                0 => text("Not connected").size(18).into(),
                n => text(format!("{} in the room", n + 1)).size(18).into(),
            },
        };
        let badge = container(text("Fernet (AES-128-CBC + HMAC-SHA256)").size(12))
            .padding([3, 8])
            .style(style::badge);
        // The badge, toggle and button flow onto a second line when the
        // window is narrow, rather than being cut off at the right edge.
        let controls = row![
            badge,
            toggler(self.show_ciphertext)
                .label("Show ciphertext")
                .on_toggle(Message::ShowCiphertext),
            checkbox(self.attention.notifications())
                .label(NOTIFY)
                .on_toggle(Message::Notifications)
                .text_size(13),
        ]
        .push(self.can_disconnect.then(|| {
            button("Disconnect")
                .style(button::secondary)
                .on_press(Message::Disconnect)
        }))
        .spacing(12)
        .align_y(iced::Center)
        .wrap()
        .vertical_spacing(6)
        .align_x(iced::Right);
        row![who, space::horizontal(), controls]
            .spacing(12)
            .align_y(iced::Center)
            .into()
    }

    /// Drops the oldest entries until the history holds three quarters of
    /// [`HISTORY_BYTES`], keeping the newest entry whatever its size.
    fn forget_oldest(&mut self) {
        let mut n = 0;
        while self.history_bytes > HISTORY_BYTES / 4 * 3 && n + 1 < self.entries.len() {
            self.history_bytes -= self.entries[n].bytes();
            n += 1;
        }
        self.entries.drain(..n);
        self.forgotten += n;
        self.mine.retain(|_, i| match i.checked_sub(n) {
            Some(moved) => {
                *i = moved;
                true
            }
            None => false,
        });
        self.selectable = self
            .selectable
            .take()
            .and_then(|(i, content)| Some((i.checked_sub(n)?, content)));
    }

    /// Index of the first entry laid out: the newest `window` at least.
    fn first_shown(&self) -> usize {
        let start = self.entries.len().saturating_sub(self.window);
        start - start % STEP
    }

    fn log(&self) -> Element<'_, Message> {
        let start = self.first_shown();
        let mut list = Column::new().spacing(6).padding([0, 12]);
        if self.forgotten > 0 && start == 0 {
            let line = format!(
                "{} earlier entries were let go to keep memory bounded (the history keeps {} MB of text).",
                self.forgotten,
                HISTORY_BYTES / (1024 * 1024)
            );
            list = list.push(text(line).size(13).style(text::secondary));
        }
        if start > 0 {
            list = list.push(
                button(text(format!("Show earlier messages ({start} more)")).size(13))
                    .style(button::text)
                    .on_press(Message::ShowEarlier),
            );
        }
        for (index, entry) in self.entries.iter().enumerate().skip(start) {
            list = list.push(self.entry(index, entry));
        }
        scrollable(list)
            .id(LOG)
            .on_scroll(Message::Scrolled)
            .height(Fill)
            .into()
    }

    fn entry<'a>(&'a self, index: usize, entry: &'a Entry) -> Element<'a, Message> {
        match entry {
            Entry::System {
                text: line,
                tone,
                at,
            } => {
                let style = match tone {
                    Tone::Info => text::secondary,
                    Tone::Notice => text::warning,
                    Tone::Alert => text::danger,
                };
                let line = row![
                    text(clock_time(*at)).size(12).style(text::secondary),
                    text(line.as_str()).size(13).style(style),
                ]
                .spacing(8);
                match tone {
                    Tone::Alert => container(line)
                        .padding(6)
                        .width(Fill)
                        .style(style::alert)
                        .into(),
                    _ => container(line).center_x(Fill).into(),
                }
            }
            Entry::Message(m) => {
                let mut meta = row![
                    text(m.from.as_str()).size(13).style(if m.mine {
                        text::primary
                    } else {
                        text::success
                    }),
                    text(clock_time(m.at)).size(12).style(text::secondary),
                ]
                .spacing(8);
                if m.mine {
                    let mark = text(m.delivery_label()).size(12);
                    meta = meta.push(match m.delivery {
                        Delivery::NotDelivered => mark.style(text::danger),
                        _ => mark.style(text::secondary),
                    });
                }
                meta = meta
                    .push(space::horizontal())
                    .push(small_button("Copy", Some(Message::Copy(index))));
                let message_text: Element<'a, Message> = match &self.selectable {
                    Some((i, content)) if *i == index => TextEditor::new(content)
                        .on_action(Message::Select)
                        .padding(0)
                        .style(style::selectable)
                        .into(),
                    _ => text(m.shown()).into(),
                };
                let mut body = column![meta, message_text].spacing(2);
                if m.mine
                    && let Some(detail) = m.delivery_detail()
                {
                    body = body.push(text(detail).size(11).style(text::secondary));
                }
                match m.more() {
                    None => {}
                    Some(More::ShowAll(label)) => {
                        body = body.push(small_button(label, Some(Message::ShowAll(index))));
                    }
                    Some(More::Parts {
                        label,
                        previous,
                        next,
                    }) => {
                        body = body.push(
                            row![
                                small_button(
                                    "Previous part",
                                    previous.then_some(Message::Turn(index, -1))
                                ),
                                text(label).size(12).style(text::secondary),
                                small_button("Next part", next.then_some(Message::Turn(index, 1))),
                            ]
                            .spacing(8)
                            .align_y(iced::Center),
                        );
                    }
                }
                if self.show_ciphertext
                    && let Some(token) = &m.token
                {
                    body = body.push(
                        text(shorten(token.as_str()))
                            .size(11)
                            .font(Font::MONOSPACE)
                            // Base64 has no spaces to break at.
                            .wrapping(text::Wrapping::Glyph)
                            .style(text::secondary),
                    );
                }
                mouse_area(container(body).padding(8).width(Fill).style(if m.mine {
                    style::mine
                } else {
                    style::theirs
                }))
                .on_enter(Message::Hover(index))
                .into()
            }
        }
    }

    /// Changes how much of message `index` is shown.
    fn reshape(&mut self, index: usize, change: impl FnOnce(&mut ChatMessage)) {
        if let Some(entry @ Entry::Message(_)) = self.entries.get_mut(index) {
            // What it keeps may change: the history's bound counts it.
            self.history_bytes -= entry.bytes();
            if let Entry::Message(m) = entry {
                change(m);
            }
            self.history_bytes += entry.bytes();
            // The selectable copy under the pointer held the text shown
            // before; a long one is not made selectable (see Hover).
            if self.selectable.as_ref().is_some_and(|(i, _)| *i == index) {
                self.selectable = None;
            }
        }
    }

    fn input(&self) -> Element<'_, Message> {
        // The lines above the box sit in a column of their own, so the box
        // stays at the same place in the widget tree when they come and go;
        // iced matches widget state by position, and a moved box would lose
        // its focus (and the user's keystrokes) whenever the peer types.
        let mut notes = Column::new().spacing(4);
        if let Some(banner) = &self.banner {
            notes = notes.push(text(banner.as_str()).size(13).style(text::warning));
        }
        if let Some(line) = self.typing.line() {
            notes = notes.push(text(line).size(12).style(text::secondary));
        }
        let mut col = Column::new().spacing(4).push(notes);
        let editor = TextEditor::new(&self.draft)
            .id(INPUT)
            .placeholder("Type a message. Enter sends, Shift+Enter starts a new line.")
            .on_action(Message::Edit)
            .min_height(40)
            .max_height(160)
            .key_binding(|press| match press.key {
                // Only in the box: the binding sees every key press in the
                // window, focused or not.
                keyboard::Key::Named(key::Named::Enter)
                    if !press.modifiers.shift()
                        && matches!(press.status, text_editor::Status::Focused { .. }) =>
                {
                    Some(Binding::Custom(Message::Submit))
                }
                _ => Binding::from_key_press(press),
            });
        col = col.push(
            row![editor, button("Send").on_press(Message::Submit)]
                .spacing(8)
                .align_y(iced::Center),
        );
        if let Some(error) = &self.input_error {
            col = col.push(text(error.as_str()).size(13).style(text::danger));
        }
        col.into()
    }
}

/// A token as shown under its message: long ones are cut.
/// A button that reads as a link under a message; disabled without `press`.
fn small_button<'a>(
    label: impl text::IntoFragment<'a>,
    press: Option<Message>,
) -> Element<'a, Message> {
    button(text(label).size(12))
        .style(button::text)
        .padding([0, 4])
        .on_press_maybe(press)
        .into()
}

fn shorten(token: &str) -> String {
    match token.char_indices().nth(TOKEN_SHOWN) {
        Some((cut, _)) => format!("{}… ({} characters)", &token[..cut], token.len()),
        None => token.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ChatEvent;

    fn received(chat: &mut Chat, id: &str, text: &str) {
        let _ = chat.on_chat(
            &ChatEvent::Received {
                id: id.into(),
                from: "bob".into(),
                text: text.into(),
                sent_at: 0,
                token: "gAAAAA".into(),
            },
            0,
        );
    }

    #[test]
    fn the_message_under_the_pointer_is_selectable_unless_it_is_long_and_shown_whole() {
        let mut chat = Chat::default();
        received(&mut chat, "a", "short");
        received(&mut chat, "b", &"long ".repeat(LONG_BYTES));
        let _ = chat.update(Message::Hover(0));
        assert_eq!(
            chat.selectable.as_ref().map(|(i, c)| (*i, c.text())),
            Some((0, "short".into()))
        );
        // Cut: its first lines are selectable, as they are shown.
        let _ = chat.update(Message::Hover(1));
        let cut = chat.selectable.as_ref().map(|(i, c)| (*i, c.text().len()));
        assert!(
            cut.is_some_and(|(i, len)| i == 1 && len < LONG_BYTES),
            "{cut:?}"
        );
        // Shown whole: no second layout of it.
        let _ = chat.update(Message::ShowAll(1));
        assert!(chat.selectable.is_none());
        let _ = chat.update(Message::Hover(0));
        let _ = chat.update(Message::Hover(1));
        assert_eq!(chat.selectable.as_ref().map(|(i, _)| *i), Some(0));
    }

    #[test]
    fn the_banner_shows_what_would_act_in_a_quoted_reason_escaped() {
        let mut chat = Chat::default();
        chat.set_banner(Some("Reconnecting: ERR x mallory\u{202e}gnp.exe".into()));
        assert_eq!(
            chat.banner.as_deref(),
            Some(r"Reconnecting: ERR x mallory\u{202e}gnp.exe")
        );
    }

    #[test]
    fn a_flood_of_short_lines_is_bounded_by_what_each_entry_costs() {
        let mut chat = Chat::default();
        let most = HISTORY_BYTES / size_of::<Entry>();
        for n in 0..most + most / 4 {
            let _ = chat.system(format!("{}", n % 10), Tone::Info, 0);
        }
        assert!(chat.entries.len() <= most, "{} entries", chat.entries.len());
        assert!(chat.forgotten > 0);
    }

    #[test]
    fn the_history_keeps_a_bounded_amount_of_text_and_says_what_went() {
        let mut chat = Chat::default();
        let (handle, _commands) = crate::event::Handle::new(crate::Clock::system());
        chat.set_handle(Some(handle));
        // One of ours early on, then a peer that never stops.
        chat.draft = text_editor::Content::with_text("mine");
        let _ = chat.update(Message::Submit);
        let big = "z".repeat(MAX_TEXT_BYTES);
        for n in 0..400 {
            received(&mut chat, &format!("r{n}"), &big);
        }
        assert!(
            chat.history_bytes <= HISTORY_BYTES,
            "{}",
            chat.history_bytes
        );
        let kept: usize = chat.entries.iter().map(Entry::bytes).sum();
        assert_eq!(kept, chat.history_bytes);
        assert!(chat.forgotten > 0);
        assert_eq!(chat.forgotten + chat.entries.len(), 401);
        // Our early message went with the rest, and its index with it.
        assert!(chat.mine.is_empty());
        let newest = chat.entries.last().map(|e| match e {
            Entry::Message(m) => m.id.clone(),
            Entry::System { text, .. } => text.clone(),
        });
        assert_eq!(newest.as_deref(), Some("r399"));
        // Ours sent now is found again by its id (the index moved right).
        chat.draft = text_editor::Content::with_text("later");
        let _ = chat.update(Message::Submit);
        let later = |chat: &Chat| {
            let (id, &i) = chat.mine.iter().next().unwrap();
            matches!(&chat.entries[i], Entry::Message(m) if &m.id == id && m.text == "later")
        };
        assert!(later(&chat));
        // Until the oldest go once more: its index moves with them.
        let before = chat.forgotten;
        let mut n = 400;
        while chat.forgotten == before {
            received(&mut chat, &format!("r{n}"), &big);
            n += 1;
        }
        assert!(later(&chat));
    }

    #[test]
    fn copy_gives_the_whole_text_of_that_message() {
        let mut chat = Chat::default();
        let long = "long ".repeat(LONG_BYTES);
        received(&mut chat, "a", "short");
        received(&mut chat, "b", &long);
        assert_eq!(
            chat.update(Message::Copy(0)).1,
            Some(Event::Copy("short".into()))
        );
        assert_eq!(chat.update(Message::Copy(1)).1, Some(Event::Copy(long)));
    }

    #[test]
    fn show_all_counts_what_it_adds_to_the_history() {
        let mut chat = Chat::default();
        // Every character is escaped when shown: showing all of it adds
        // several times the message's size.
        received(&mut chat, "a", &"\u{202e}".repeat(LONG_BYTES));
        let _ = chat.update(Message::ShowAll(0));
        let kept: usize = chat.entries.iter().map(Entry::bytes).sum();
        assert!(kept > 4 * LONG_BYTES, "{kept}");
        assert_eq!(chat.history_bytes, kept);
    }
}
