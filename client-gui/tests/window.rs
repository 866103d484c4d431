//! The client window, headless, against a real server engine: iced_test's
//! simulator builds the view, clicks and types; the resulting messages go to
//! `update`, and whatever tasks that returns which are ready at once
//! (a paste, an output) are run. The engine is the one Connect starts: the
//! app's own engine subscription stream (`engine::client` with the app's
//! session, as `App::subscription` runs it), over loopback TCP to Bob's
//! server engine, whose events each test reads.
#![allow(clippy::unwrap_used)]

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use client_gui::screen::connect::Connect;
use client_gui::{App, Message};
use common::payload::MAX_TEXT_BYTES;
use common::ui::engine::{self, ClientUpdate};
use common::ui::entry::{Entry, PART_BYTES};
use common::ui::{MemoryClipboard, chat};
use common::{
    ChatEvent, ClientEvent, Config, Key, KeyError, Server, ServerConfig, ServerEvent, ServerHandle,
};
use iced::futures::{FutureExt, Stream, StreamExt};
use iced::keyboard::{self, Modifiers, key::Named};
use iced::widget::text_editor::{Action, Edit};
use iced_test::runtime::{Action as Run, Task, task};
use iced_test::selector::{Candidate, Target};
use iced_test::{Simulator, selector, simulator};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc::Receiver, watch};
use tokio::time::timeout;

/// Far longer than any step takes; reached only when what a test waits
/// for never happens.
const WAIT: Duration = Duration::from_secs(20);
const ADDRESS: &str = "192.168.1.20 or 192.168.1.20:7878";
const KEY: &str = "the 44-character key the server window shows";

/// Bob's server engine on 127.0.0.1.
struct Bob {
    handle: ServerHandle,
    events: Receiver<ServerEvent>,
}

impl Bob {
    async fn start(key: &Key) -> (Bob, u16) {
        let server = Server::bind(ServerConfig {
            chat: Config::new(key.clone(), "bob"),
            port: 0,
            bind: Some("127.0.0.1".parse().unwrap()),
            max_members: common::DEFAULT_MAX_MEMBERS,
        })
        .await
        .unwrap();
        let port = server.port();
        let (handle, events) = server.start();
        (Bob { handle, events }, port)
    }
}

/// The network between Alice and Bob: a TCP relay to Bob's port that a test
/// can cut (every connection through it dropped at once, without a word,
/// and new ones closed as they arrive: a pulled cable) and mend.
struct Cable {
    port: u16,
    up: watch::Sender<bool>,
}

impl Cable {
    async fn to(bob: u16) -> Cable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, state) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut alice, _)) = listener.accept().await {
                let mut state = state.clone();
                if !*state.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut bob) = TcpStream::connect(("127.0.0.1", bob)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut alice, &mut bob) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Cable { port, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn mend(&self) {
        self.up.send_replace(true);
    }
}

type Updates = Pin<Box<dyn Stream<Item = ClientUpdate> + Send>>;

/// Alice's client window and its engine, Bob's server engine, and what each
/// engine has reported so far.
struct Desk {
    app: App,
    clipboard: MemoryClipboard,
    updates: Option<Updates>,
    bob: Bob,
    cable: Cable,
    heard: Vec<ServerEvent>,
    /// What Alice's engine reported to her window so far.
    alice_heard: Vec<ClientEvent>,
}

impl Desk {
    async fn new(key: &Key) -> Desk {
        let (bob, port) = Bob::start(key).await;
        let cable = Cable::to(port).await;
        let clipboard = MemoryClipboard::default();
        let connect = Connect {
            name: "alice".into(),
            ..Connect::default()
        };
        Desk {
            app: App::new(connect, Box::new(clipboard.clone())),
            clipboard,
            updates: None,
            bob,
            cable,
            heard: Vec::new(),
            alice_heard: Vec::new(),
        }
    }

    /// Clicks and types in the window; what that produces goes to `update`.
    fn act(&mut self, act: impl FnOnce(&mut Simulator<'_, Message>)) {
        let mut ui = simulator(self.app.view());
        act(&mut ui);
        let messages: Vec<_> = ui.into_messages().collect();
        for message in messages {
            update(&mut self.app, message);
        }
    }

    /// Types the address of Bob's engine and `key`, then clicks Connect and
    /// runs the engine that starts.
    fn connect(&mut self, key: &Key) {
        let address = self.address();
        self.act(|ui| {
            ui.click(ADDRESS).unwrap();
            let _ = ui.typewrite(&address);
        });
        self.act(|ui| {
            ui.click(KEY).unwrap();
            let _ = ui.typewrite(key.as_str());
        });
        self.act(|ui| {
            ui.click("Connect").unwrap();
        });
        self.run_engine();
    }

    /// Where Alice connects: through the cable.
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.cable.port)
    }

    /// Runs the engine the app's session describes, as its subscription does.
    fn run_engine(&mut self) {
        let params = self.app.session().expect("Connect started a session");
        self.updates = Some(Box::pin(engine::client(params)));
    }

    /// Feeds Alice's engine updates to her window, and notes Bob's engine's
    /// events, until `done` holds.
    async fn until(&mut self, what: &str, done: impl Fn(&Desk) -> bool) {
        let run = async {
            while !done(self) {
                let alice = async {
                    match &mut self.updates {
                        Some(updates) => updates.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    Some(next) = alice => {
                        if let ClientUpdate::Event(event) = &next {
                            self.alice_heard.push(event.clone());
                        }
                        update(&mut self.app, Message::Engine(next));
                    }
                    Some(event) = self.bob.events.recv() => self.heard.push(event),
                }
            }
        };
        timeout(WAIT, run)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
    }

    /// The texts Bob's engine received, in order.
    fn bob_received(&self) -> Vec<&str> {
        self.heard
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Chat(ChatEvent::Received { text, .. }) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Alice's window's messages: (from, text, where it is as shown).
    fn messages(&self) -> Vec<(&str, &str, String)> {
        self.app
            .chat()
            .entries()
            .iter()
            .filter_map(|e| match e {
                Entry::Message(m) => Some((
                    m.from.as_str(),
                    m.text.as_str(),
                    m.delivery_label().into_owned(),
                )),
                Entry::System { .. } => None,
            })
            .collect()
    }

    /// Whether the window shows a text starting with `prefix`.
    fn shows(&self, prefix: &str) -> bool {
        let mut ui = simulator(self.app.view());
        ui.find(|candidate: Candidate<'_>| match candidate {
            Candidate::Text { content, .. } if content.starts_with(prefix) => Some(()),
            _ => None,
        })
        .is_ok()
    }

    /// Whether the window shows exactly `text`.
    fn finds(&self, text: &str) -> bool {
        simulator(self.app.view()).find(text).is_ok()
    }
}

/// `update`, then what its task does at once (a paste delivers the
/// clipboard, an output is fed back); widget operations need a runtime
/// and timers are not waited for.
fn update(app: &mut App, message: Message) {
    let task: Task<Message> = app.update(message);
    let Some(mut actions) = task::into_stream(task) else {
        return;
    };
    // Every task yields once before its first output; one that is still
    // pending after a few polls waits for something (a timer).
    let mut pending = 0;
    while pending < 4 {
        match actions.next().now_or_never() {
            Some(Some(Run::Output(message))) => update(app, message),
            Some(Some(_)) => {}
            Some(None) => return,
            None => pending += 1,
        }
    }
}

/// How many bytes of text the window lays out, in all its texts.
fn laid_out(app: &App) -> usize {
    let mut total = 0;
    let mut ui = simulator(app.view());
    let _ = ui.find(|candidate: Candidate<'_>| {
        if let Candidate::Text { content, .. } = candidate {
            total += content.len();
        }
        None::<()>
    });
    total
}

/// Alice's window chatting with Bob's engine.
async fn chatting() -> Desk {
    let key = Key::generate().unwrap();
    let mut desk = Desk::new(&key).await;
    desk.connect(&key);
    desk.until(
        "Alice's window is in the chat and Bob's engine saw her",
        |d| d.app.is_chatting() && d.heard.iter().any(alice_joined),
    )
    .await;
    desk
}

fn shift_enter() -> Vec<iced::Event> {
    let key = keyboard::Key::Named(Named::Enter);
    let physical_key =
        keyboard::key::Physical::Unidentified(keyboard::key::NativeCode::Unidentified);
    vec![
        iced::Event::Keyboard(keyboard::Event::KeyPressed {
            key: key.clone(),
            modified_key: key.clone(),
            physical_key,
            location: keyboard::Location::Standard,
            modifiers: Modifiers::SHIFT,
            text: Some("\r".into()),
            repeat: false,
        }),
        iced::Event::Keyboard(keyboard::Event::KeyReleased {
            key: key.clone(),
            modified_key: key,
            physical_key,
            location: keyboard::Location::Standard,
            modifiers: Modifiers::SHIFT,
        }),
    ]
}

#[tokio::test]
async fn connect_is_disabled_until_the_key_is_valid_and_the_field_says_why() {
    let key = Key::generate().unwrap();
    let mut desk = Desk::new(&key).await;
    desk.act(|ui| {
        ui.click(ADDRESS).unwrap();
        let _ = ui.typewrite("127.0.0.1");
    });
    desk.act(|ui| {
        ui.click(KEY).unwrap();
        let _ = ui.typewrite("not-a-key");
    });
    assert_eq!(desk.app.connect_screen().address, "127.0.0.1");

    let why = KeyError::WrongLength { len: 9 }.to_string();
    assert!(desk.finds(&why), "the key error is shown under the field");
    // The button is there but does nothing.
    let click = |desk: &Desk| {
        let mut ui = simulator(desk.app.view());
        ui.click("Connect").unwrap();
        ui.into_messages().count()
    };
    assert_eq!(click(&desk), 0, "a disabled Connect sends nothing");
    // Enter in a field asks, and is refused.
    desk.act(|ui| {
        ui.click("127.0.0.1").unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    assert!(desk.app.session().is_none());

    // With a valid key, the same click connects.
    desk.clipboard.set(key.as_str());
    desk.act(|ui| {
        ui.click("Paste").unwrap();
    });
    assert_eq!(click(&desk), 1, "an enabled Connect does");
}

#[tokio::test]
async fn paste_and_connect_start_the_engine_and_open_the_chat() {
    let key = Key::generate().unwrap();
    let mut desk = Desk::new(&key).await;
    desk.clipboard.set(format!(" {key}\n"));
    desk.act(|ui| {
        ui.click("Paste").unwrap();
    });
    assert_eq!(
        desk.app.connect_screen().key,
        key.as_str(),
        "pasted, trimmed"
    );
    let address = desk.address();
    desk.act(|ui| {
        ui.click(ADDRESS).unwrap();
        let _ = ui.typewrite(&address);
    });
    desk.act(|ui| {
        ui.click("Connect").unwrap();
    });
    let session = desk.app.session().expect("Connect started a session");
    assert_eq!(session.config.server.to_string(), address);
    assert_eq!(session.config.chat.name, "alice");
    assert!(desk.shows("Cancel"), "progress can be cancelled");

    desk.run_engine();
    desk.until("Alice's window is in the chat", |d| d.app.is_chatting())
        .await;
    assert_eq!(desk.app.title(), "fernet-chat: chatting with bob");
    assert!(desk.shows(&format!("Connected to bob ({address})")));
    desk.until("Bob's engine sees Alice", |d| {
        d.heard.iter().any(alice_joined)
    })
    .await;
}

#[tokio::test]
async fn a_wrong_key_keeps_the_fields_and_says_why() {
    let mut desk = Desk::new(&Key::generate().unwrap()).await;
    let other = Key::generate().unwrap();
    desk.connect(&other);
    desk.until("Alice's engine gives up", |d| d.app.session().is_none())
        .await;
    assert!(!desk.app.is_chatting());
    assert_eq!(desk.app.connect_screen().key, other.as_str());
    assert!(desk.shows("The server uses a different key: paste the key its window shows"));
    assert!(desk.finds("Connect"), "Connect is offered again");
}

#[tokio::test]
async fn typing_and_enter_send_a_message_that_bob_receives() {
    let mut desk = chatting().await;
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("hello bob");
        let _ = ui.tap_key(Named::Enter);
    });
    // Enter queued it at once, and cleared the box.
    assert_eq!(
        desk.messages(),
        [("You", "hello bob", "waiting to send".to_owned())],
        "Enter sent nothing"
    );
    assert_eq!(desk.app.chat().draft(), "", "the input is cleared");

    desk.until(
        "Bob receives it and Alice's window marks it delivered",
        |d| d.bob_received() == ["hello bob"] && d.messages()[0].2 == "delivered",
    )
    .await;
    assert!(desk.shows("delivered"));
}

#[tokio::test]
async fn enter_sends_only_from_the_message_box() {
    let mut desk = chatting().await;
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("not yet");
    });
    // A new simulator has no widget focused, as after a click elsewhere in
    // the window (a message's Copy, the ciphertext switch).
    desk.act(|ui| {
        let _ = ui.tap_key(Named::Enter);
    });
    assert_eq!(desk.messages(), [], "Enter outside the box sent the draft");
    assert_eq!(desk.app.chat().draft(), "not yet");
}

#[tokio::test]
async fn shift_enter_starts_a_new_line_and_enter_sends_both() {
    let mut desk = chatting().await;
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("line one");
        let _ = ui.simulate(shift_enter());
        let _ = ui.typewrite("line two");
    });
    assert_eq!(desk.app.chat().draft(), "line one\nline two");
    assert!(desk.messages().is_empty(), "Shift+Enter sends nothing");

    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    desk.until("Bob receives both lines as one message", |d| {
        !d.bob_received().is_empty()
    })
    .await;
    assert_eq!(desk.bob_received(), ["line one\nline two"]);
}

#[tokio::test]
async fn blank_input_is_not_sent() {
    let mut desk = chatting().await;
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("   ");
        let _ = ui.tap_key(Named::Enter);
    });
    assert!(desk.messages().is_empty());
    assert_eq!(desk.app.chat().draft(), "   ", "the blanks stay in the box");
    // The first message Bob gets is the next one with text.
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("real");
        let _ = ui.tap_key(Named::Enter);
    });
    desk.until("Bob receives a message", |d| !d.bob_received().is_empty())
        .await;
    assert_eq!(desk.bob_received(), ["   real"]);
}

#[tokio::test]
async fn a_lost_connection_counts_down_and_what_is_typed_meanwhile_is_delivered() {
    let mut desk = chatting().await;
    desk.cable.cut();
    desk.until("Alice's window counts down to a reconnect", |d| {
        d.shows("Connection lost. Reconnecting in ")
    })
    .await;
    assert!(desk.shows("Disconnected: connection lost"));
    assert!(desk.app.is_chatting(), "the chat stays on screen");

    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("are you there?");
        let _ = ui.tap_key(Named::Enter);
    });
    assert_eq!(
        desk.messages(),
        [("You", "are you there?", "waiting to send".to_owned())]
    );
    assert!(desk.shows("waiting to send"));

    desk.cable.mend();
    desk.until(
        "Bob receives it and Alice's window marks it delivered",
        |d| d.bob_received() == ["are you there?"] && d.messages()[0].2 == "delivered",
    )
    .await;
}

#[tokio::test]
async fn disconnect_waits_for_undelivered_messages_and_a_second_click_leaves_now() {
    let mut desk = chatting().await;
    desk.cable.cut();
    desk.until("Alice's window counts down to a reconnect", |d| {
        d.shows("Connection lost. Reconnecting in ")
    })
    .await;
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.typewrite("unsent");
        let _ = ui.tap_key(Named::Enter);
    });

    desk.act(|ui| {
        ui.click("Disconnect").unwrap();
    });
    // The engine keeps trying to deliver it; the window stays and says so.
    let attempts = |d: &Desk| {
        d.alice_heard
            .iter()
            .filter(|e| matches!(e, ClientEvent::Connecting { .. }))
            .count()
    };
    let before = attempts(&desk);
    desk.until("Alice's engine tries again", |d| attempts(d) > before)
        .await;
    assert!(desk.app.is_chatting(), "the first click waits for delivery");
    let leaving =
        "Leaving once 1 undelivered message is delivered. Click Disconnect again to leave now.";
    assert!(desk.finds(leaving));

    desk.act(|ui| {
        ui.click("Disconnect").unwrap();
    });
    desk.until("Alice's window is back at the connect screen", |d| {
        !d.app.is_chatting()
    })
    .await;
    assert!(desk.app.session().is_none());
    assert!(desk.finds("Connect"));
}

#[tokio::test]
async fn a_message_of_the_largest_size_is_shown_cut_until_show_all_and_copied_whole() {
    let mut desk = chatting().await;
    desk.bob.handle.send("first").unwrap();
    desk.until("Alice's window has Bob's first message", |d| {
        !d.messages().is_empty()
    })
    .await;
    let before = laid_out(&desk.app);
    let long: String = "All work and no play makes Jack a dull boy. "
        .chars()
        .cycle()
        .take(MAX_TEXT_BYTES)
        .collect();
    desk.bob.handle.send(long.clone()).unwrap();
    desk.until("Alice's window has Bob's second message", |d| {
        d.messages().len() == 2
    })
    .await;
    assert!(desk.messages()[1].1 == long, "all of it arrived");

    // Its first lines and a button, not 256 KiB of text to lay out.
    assert!(desk.shows("Show all (256 KB)"));
    let shown = laid_out(&desk.app) - before;
    assert!(shown < 2 * 1024, "{shown} bytes of text laid out");
    assert!(desk.shows("All work and no play makes Jack a dull boy. All work"));

    // Each message's Copy copies that message, all of it.
    let copy = |n: usize| {
        let mut seen = 0;
        move |candidate: Candidate<'_>| match candidate {
            Candidate::Text {
                content: "Copy", ..
            } => {
                seen += 1;
                (seen == n).then(|| Target::from(candidate))
            }
            _ => None,
        }
    };
    desk.act(|ui| {
        ui.click(copy(2)).unwrap();
    });
    let copied = desk.clipboard.contents().unwrap_or_default();
    assert!(copied == long, "Copy copied {} bytes", copied.len());
    desk.act(|ui| {
        ui.click(copy(1)).unwrap();
    });
    assert_eq!(desk.clipboard.contents().as_deref(), Some("first"));

    // All of it is read a part at a time: never all 256 KiB laid out.
    desk.act(|ui| {
        ui.click("Show all (256 KB)").unwrap();
    });
    let parts = MAX_TEXT_BYTES.div_ceil(PART_BYTES);
    assert!(desk.shows(&format!("Part 1 of {parts}")));
    // A part, and the message's header and buttons.
    let part = PART_BYTES - 4..PART_BYTES + 200;
    let shown = laid_out(&desk.app) - before;
    assert!(part.contains(&shown), "{shown}");
    assert!(!desk.shows("Show all"));
    // "Next part" is under the part, below the simulator's window: the
    // message it sends, sent directly.
    assert!(desk.shows("Next part"));
    let index = desk
        .app
        .chat()
        .entries()
        .iter()
        .rposition(|e| matches!(e, Entry::Message(m) if m.text == long));
    let turn = chat::Message::Turn(index.unwrap(), 1);
    update(&mut desk.app, Message::Chat(turn));
    assert!(desk.shows(&format!("Part 2 of {parts}")));
    assert!(part.contains(&(laid_out(&desk.app) - before)));
}

#[tokio::test]
async fn a_message_over_the_limit_is_not_sent_and_the_box_says_why() {
    let mut desk = chatting().await;
    let too_long = "x".repeat(MAX_TEXT_BYTES + 1);
    // Pasted (the simulator has no clipboard for Ctrl+V).
    update(
        &mut desk.app,
        Message::Chat(chat::Message::Edit(Action::Edit(Edit::Paste(Arc::new(
            too_long,
        ))))),
    );
    desk.act(|ui| {
        ui.click(selector::id(chat::INPUT)).unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    assert!(desk.shows(&format!(
        "Too long to send: {} bytes; the limit is {MAX_TEXT_BYTES} bytes.",
        MAX_TEXT_BYTES + 1
    )));
    assert!(desk.messages().is_empty(), "nothing was sent");
    assert_eq!(
        desk.app.chat().draft().len(),
        MAX_TEXT_BYTES + 1,
        "nothing was lost"
    );
}

#[tokio::test]
async fn at_the_smallest_window_size_nothing_is_cut_off() {
    let mut desk = chatting().await;
    desk.bob.handle.send("hi").unwrap();
    desk.until("Alice's window has Bob's message", |d| {
        d.messages().iter().any(|m| m.0 == "bob")
    })
    .await;
    let token = desk
        .app
        .chat()
        .entries()
        .iter()
        .find_map(|e| match e {
            Entry::Message(m) if !m.mine => m.token.clone(),
            _ => None,
        })
        .unwrap();
    update(
        &mut desk.app,
        Message::Chat(chat::Message::ShowCiphertext(true)),
    );

    let app = &desk.app;
    let sized = |width: f32| {
        Simulator::with_size(
            iced::Settings::default(),
            iced::Size::new(width, 420.0),
            app.view(),
        )
    };
    let (mut wide, mut ui, width) = (sized(1200.0), sized(440.0), 440.0);
    // Each control is whole (as wide as with room to spare) and on screen.
    for label in ["Disconnect", "Fernet (AES-128-CBC + HMAC-SHA256)", "hi"] {
        let natural = wide.find(label).unwrap().bounds().width;
        let bounds = ui.find(label).unwrap().bounds();
        assert!(
            bounds.width >= natural - 0.5 && bounds.x >= 0.0 && bounds.x + bounds.width <= width,
            "{label:?} is squeezed or cut off in a {width} px window: {bounds:?}, needs {natural}"
        );
    }
    // The token (no spaces) breaks over lines instead of running off the
    // right edge: at 11 px and this length it needs at least three.
    let len = token.as_str().len();
    assert!(len > 150, "{len} characters");
    let token_lines = ui.find(token.as_str()).unwrap().bounds().height / (11.0 * 1.3);
    assert!(token_lines >= 2.9, "the token is {token_lines} lines high");
}

/// Bob's engine took Alice in: a member who joined his room.
fn alice_joined(event: &ServerEvent) -> bool {
    matches!(event, ServerEvent::Chat(ChatEvent::Joined(member)) if member.name == "alice")
}

/// Every text the window shows.
fn all_texts(app: &App) -> Vec<String> {
    let mut texts = Vec::new();
    let mut ui = simulator(app.view());
    let _ = ui.find(|candidate: Candidate<'_>| {
        if let Candidate::Text { content, .. } = candidate {
            texts.push(content.to_owned());
        }
        None::<()>
    });
    texts
}

/// Whoever answers at the address Alice dialled can answer `ERR` with any
/// text (it is unauthenticated): the window shows it with the characters
/// that would act (a right-to-left override, a line separator) escaped.
#[tokio::test]
async fn a_strangers_err_text_is_shown_with_what_would_act_escaped() {
    let key = Key::generate().unwrap();
    let mut desk = Desk::new(&key).await;
    let stranger = TcpListener::bind("127.0.0.1:0").await.unwrap();
    desk.cable = Cable::to(stranger.local_addr().unwrap().port()).await;
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut conn, _)) = stranger.accept().await {
            let line = "ERR nope ask mallory\u{202e}gnp.exe\u{2028}now\n";
            let _ = tokio::io::AsyncWriteExt::write_all(&mut conn, line.as_bytes()).await;
            open.push(conn);
        }
    });
    desk.connect(&key);
    desk.until("Alice's engine gives up", |d| d.app.session().is_none())
        .await;
    let texts = all_texts(&desk.app);
    assert!(
        texts
            .iter()
            .any(|t| t.contains(r"ask mallory\u{202e}gnp.exe\u{2028}now")),
        "{texts:?}"
    );
    let acting = ['\u{202e}', '\u{2028}'];
    assert!(!texts.iter().any(|t| t.contains(acting)), "{texts:?}");
}

/// A frame that fails the session checks ends the session: the window
/// says so in a line of its own, naming what failed.
#[tokio::test]
async fn a_security_alert_is_shown_as_one() {
    let mut desk = chatting().await;
    let alert = common::Alert::Tampered;
    let ended = ClientEvent::Disconnected(common::Ended::Alert(alert.clone()));
    update(&mut desk.app, Message::Engine(ClientUpdate::Event(ended)));
    let line = format!("Security alert: {alert}. The connection was closed.");
    assert!(desk.finds(&line), "{line}");
}

/// The reconnect banner counts down: at each tick of the window's clock
/// it says the seconds left until the next attempt.
#[tokio::test(start_paused = true)]
async fn the_reconnect_banner_counts_the_seconds_down() {
    let mut app = App::new(Connect::default(), Box::new(MemoryClipboard::default()));
    let key = Key::generate().unwrap();
    for (field, typed) in [(ADDRESS, "127.0.0.1:9"), (KEY, key.as_str())] {
        let mut ui = simulator(app.view());
        ui.click(field).unwrap();
        let _ = ui.typewrite(typed);
        let messages: Vec<_> = ui.into_messages().collect();
        for message in messages {
            update(&mut app, message);
        }
    }
    let mut ui = simulator(app.view());
    ui.click("Connect").unwrap();
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        update(&mut app, message);
    }
    let engine = |event: ClientEvent| Message::Engine(ClientUpdate::Event(event));
    let peer = common::Peer {
        name: "bob".into(),
        addr: "127.0.0.1:9".parse().unwrap(),
    };
    update(&mut app, engine(ClientEvent::Connected { peer, resent: 0 }));
    assert!(app.is_chatting());
    let retrying = ClientEvent::Retrying {
        attempt: 1,
        delay: Duration::from_secs(5),
        error: common::ConnectError::ClosedEarly,
    };
    update(&mut app, engine(retrying));
    let banner = |app: &App| {
        all_texts(app)
            .into_iter()
            .find(|t| t.starts_with("Connection lost. Reconnecting in "))
    };
    let shown = banner(&app).expect("no banner");
    assert!(shown.contains(" 5 s"), "{shown}");
    tokio::time::advance(Duration::from_secs(2)).await;
    update(&mut app, Message::Tick);
    let shown = banner(&app).expect("no banner");
    assert!(shown.contains(" 3 s"), "{shown}");
}
