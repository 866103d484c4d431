//! The chat view with a long history, headless: what a frame costs the way
//! iced's runtime makes one (`view`, then building the user interface with
//! the previous frame's cache, which lays it out, then drawing it into
//! primitives; rasterizing is the renderer's and not measured here), and
//! what a new message costs. Only the newest entries are laid out, so the
//! cost should not grow with the history.
//!
//! `cargo bench -p server-gui`; the figures go in the README.
#![allow(clippy::unwrap_used)]

use common::ui::MemoryClipboard;
use common::ui::engine::Update;
use common::{Config, Event, Key, Peer, ServerConfig};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use iced::{Font, Pixels, Size, Theme, mouse};
use iced_test::core::renderer::{Headless, Style};
use iced_test::renderer::Renderer;
use iced_test::runtime::user_interface::{Cache, UserInterface};
use server_gui::{App, Message};

/// A window's renderer and the cache one frame hands to the next.
struct Frames {
    renderer: Renderer,
    cache: Cache,
}

impl Frames {
    fn new() -> Frames {
        let renderer = iced_test::futures::futures::executor::block_on(Renderer::new(
            Font::DEFAULT,
            Pixels(16.0),
            None,
        ))
        .expect("a headless renderer");
        Frames {
            renderer,
            cache: Cache::default(),
        }
    }

    /// One frame of `app` in a 900x700 window.
    fn frame(&mut self, app: &App) {
        let mut ui = UserInterface::build(
            app.view(),
            Size::new(900.0, 700.0),
            std::mem::take(&mut self.cache),
            &mut self.renderer,
        );
        ui.draw(
            &mut self.renderer,
            &Theme::Light,
            &Style::default(),
            mouse::Cursor::Unavailable,
        );
        self.cache = ui.into_cache();
    }
}

fn received(i: usize) -> Message {
    Message::Engine(Update::Event(Event::Received {
        id: format!("m{i}"),
        from: "alice".into(),
        text: format!("message number {i}: the quick brown fox jumps over the lazy dog"),
        sent_at: 1_800_000_000_000 + i as u64 * 1000,
        token: "gAAAAA".into(),
    }))
}

/// A server window in a session with `n` messages in its history.
fn window(n: usize) -> App {
    let mut app = App::new(
        ServerConfig {
            chat: Config::new(Key::generate().unwrap(), "bob"),
            port: 0,
            bind: None,
        },
        Box::new(MemoryClipboard::default()),
    );
    let peer = Peer {
        name: "alice".into(),
        addr: "192.168.1.7:50000".parse().unwrap(),
    };
    let _ = app.update(Message::Engine(Update::Event(Event::Connected {
        peer,
        resent: 0,
    })));
    for i in 0..n {
        let _ = app.update(received(i));
    }
    app
}

fn frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("chat frame (view + layout + draw)");
    for n in [100, 10_000] {
        let app = window(n);
        let mut frames = Frames::new();
        group.bench_with_input(BenchmarkId::new("messages", n), &app, |b, app| {
            b.iter(|| frames.frame(app))
        });
    }
    group.finish();
}

fn new_message(c: &mut Criterion) {
    let mut app = window(10_000);
    let mut frames = Frames::new();
    let mut i = 10_000;
    c.bench_function(
        "a new message with 10000 in the history (update + frame)",
        |b| {
            b.iter(|| {
                i += 1;
                let _ = app.update(received(i));
                frames.frame(&app);
            })
        },
    );
}

criterion_group!(benches, frame, new_message);
criterion_main!(benches);
