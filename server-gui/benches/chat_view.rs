//! The chat view with a long history, headless: what a frame costs the way
//! iced's runtime makes one (`view`, then building the user interface with
//! the previous frame's cache, which lays it out, then drawing it into
//! primitives; rasterizing is the renderer's and not measured here), and
//! what a new message costs. Only the newest entries are laid out, so the
//! cost should not grow with the history.
//!
//! A message of the largest size (256 KiB) is shown cut to its first lines:
//! what one costs to arrive and to keep, in time and in resident memory,
//! is measured beside a short message (the baseline), and what "Show all"
//! costs when the user asks for the rest (it is read a 16 KiB part at a
//! time).
//!
//! `cargo bench -p server-gui`; the figures go in the README. The memory
//! figures are printed (Linux: from /proc/self/statm).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use common::payload::MAX_TEXT_BYTES;
use common::ui::MemoryClipboard;
use common::ui::chat;
use common::ui::engine::ServerUpdate;
use common::{ChatEvent, Config, Key, Member, ServerConfig};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
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
    received_text(
        i,
        format!("message number {i}: the quick brown fox jumps over the lazy dog"),
    )
}

/// A message as the engine reports it, with a token as long as a real one
/// (kept for "Show ciphertext"): base64 of the encrypted JSON payload.
fn received_text(i: usize, text: String) -> Message {
    let token = format!("gAAAAA{}", "x".repeat((text.len() + 200) * 4 / 3));
    Message::Engine(ServerUpdate::Event(
        ChatEvent::Received {
            id: format!("m{i}"),
            from: "alice".into(),
            text,
            sent_at: 1_800_000_000_000 + i as u64 * 1000,
            token: token.as_str().into(),
        }
        .into(),
    ))
}

/// The largest message there is: prose, in lines of about 70 characters.
fn maximal(i: usize) -> Message {
    let line = "the quick brown fox jumps over the lazy dog, then naps in the sun.\n";
    let mut text = format!("message number {i}\n");
    while text.len() + line.len() <= MAX_TEXT_BYTES {
        text.push_str(line);
    }
    text.push_str(&"z".repeat(MAX_TEXT_BYTES - text.len()));
    received_text(i, text)
}

/// A server window in a room with alice and `n` messages in its history.
fn window(n: usize) -> App {
    room(n, 1)
}

/// A server window in a room of `members` others (its online list beside
/// the chat) with `n` messages in its history.
fn room(n: usize, members: usize) -> App {
    let mut app = App::new(
        ServerConfig {
            chat: Config::new(Key::generate().unwrap(), "bob"),
            port: 0,
            bind: None,
            max_members: common::DEFAULT_MAX_MEMBERS,
        },
        Box::new(MemoryClipboard::default()),
    );
    for m in 0..members {
        let member = Member {
            id: format!("member{m:016}"),
            name: if m == 0 {
                "alice".into()
            } else {
                format!("member {m}")
            },
            addr: Some(format!("192.168.1.{}:50000", 7 + m).parse().unwrap()),
            since: 1_795_701_720_000,
            you: false,
        };
        let _ = app.update(Message::Engine(ServerUpdate::Event(
            ChatEvent::Joined(member).into(),
        )));
    }
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
    // A full room (the default limit): the online list lists 31 others.
    let members = common::DEFAULT_MAX_MEMBERS - 1;
    let app = room(10_000, members);
    let mut frames = Frames::new();
    group.bench_with_input(
        BenchmarkId::new("messages, online list of 32", 10_000),
        &app,
        |b, app| b.iter(|| frames.frame(app)),
    );
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

/// One message arriving in a window with 10 short ones (already drawn):
/// the update and the frame that lays the new message out.
fn arrival(c: &mut Criterion) {
    let mut group = c.benchmark_group("a message arriving (update + frame)");
    for (name, message) in [
        ("short (baseline)", received(10)),
        ("256 KiB, cut", maximal(10)),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let app = window(10);
                    let mut frames = Frames::new();
                    frames.frame(&app);
                    (app, frames, message.clone())
                },
                |(mut app, mut frames, message)| {
                    let _ = app.update(message);
                    frames.frame(&app);
                    (app, frames)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // The user clicks "Show all" on the 256 KiB message: its first part
    // (16 KiB) is shaped once.
    group.sample_size(10);
    group.bench_function("256 KiB, Show all clicked (part 1 of 16)", |b| {
        b.iter_batched(
            || {
                let mut app = window(10);
                let _ = app.update(maximal(10));
                let mut frames = Frames::new();
                frames.frame(&app);
                (app, frames)
            },
            |(mut app, mut frames)| {
                let _ = app.update(Message::Chat(chat::Message::ShowAll(11)));
                frames.frame(&app);
                (app, frames)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Resident memory of this process, in bytes.
fn resident() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// What `n` messages made by `message` add to resident memory, per
/// message, once they are in a window's history and drawn, with `prepare`
/// run before the frame (e.g. "Show all").
fn memory_per_message(
    n: usize,
    message: impl Fn(usize) -> Message,
    prepare: impl Fn(&mut App),
) -> f64 {
    let mut frames = Frames::new();
    let mut app = window(0);
    frames.frame(&app);
    let before = resident();
    for i in 0..n {
        let _ = app.update(message(i));
    }
    prepare(&mut app);
    frames.frame(&app);
    let after = resident();
    black_box((&app, &frames));
    after.saturating_sub(before) as f64 / n as f64
}

/// Set in a child process of this benchmark: which memory figure it
/// measures. Each figure is taken in a fresh process, since memory freed
/// by an earlier measurement (or benchmark) is reused without growing the
/// resident size.
const MEMORY_CASE: &str = "CHAT_VIEW_MEMORY_CASE";

/// Resident memory per message, each case in a child process. Runs first
/// in the group, so a child measures and exits before any benchmark.
fn memory(_: &mut Criterion) {
    if let Ok(case) = std::env::var(MEMORY_CASE) {
        let per_message = match case.as_str() {
            "short" => memory_per_message(200, received, |_| ()),
            "cut" => memory_per_message(20, maximal, |_| ()),
            _ => memory_per_message(1, maximal, |app| {
                let _ = app.update(Message::Chat(chat::Message::ShowAll(1)));
            }),
        };
        println!("{per_message}");
        std::process::exit(0);
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let measure = |case: &str| -> f64 {
        let child = std::process::Command::new(&exe)
            .arg("--bench")
            .env(MEMORY_CASE, case)
            .output()
            .expect("the benchmark runs itself");
        let stdout = String::from_utf8_lossy(&child.stdout);
        let figure: Option<f64> = stdout.lines().last().and_then(|line| line.parse().ok());
        figure.expect("the child prints its figure") / (1024.0 * 1024.0)
    };
    println!("resident memory per message, in the history and drawn:");
    println!(
        "  short (baseline)            {:>8.3} MiB",
        measure("short")
    );
    println!("  256 KiB, cut                {:>8.3} MiB", measure("cut"));
    println!(
        "  256 KiB, Show all (a part)  {:>8.3} MiB",
        measure("whole")
    );
}

criterion_group!(benches, memory, frame, new_message, arrival);
criterion_main!(benches);
