//! A peer holding the key is still hostile: nothing it sends may make the
//! other program keep more than a bounded amount, and its own long outbox
//! must not pile up in memory either.

use common::payload::{
    Body, MAX_BATCH, MAX_TEXT_BYTES, MESSAGE_OVERHEAD, Message, random_id, weight,
};
use common::ui::chat::Chat;
use common::ui::entry::Entry;
use common::{
    Alert, ChatEvent, ClientEvent, Clock, Handle, Key, SendError, ServerEvent, TYPED_QUEUE_BYTES,
    Why,
};
use tests::engines::{acked, client, connected, drain, left, next, received, server};
use tests::raw::{RawPeer, messages, msg};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_disconnected_instead_of_buffered() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut peer = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    // Every ping asks for a pong that mallory never reads: once the socket
    // buffers are full, the pongs wait in the server's memory.
    let flood = async {
        for _ in 0..2_000_000 {
            peer.send(&Body::Ping).await;
        }
    };
    let gone = tokio::select! {
        gone = left(&mut events) => gone,
        () = flood => panic!("two million unread pongs and still connected"),
    };
    assert_eq!(gone, ("mallory".into(), Why::Slow));
}

#[tokio::test]
async fn a_message_over_the_text_limit_ends_the_session_with_an_alert() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut peer = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    peer.send(&msg(&"x".repeat(MAX_TEXT_BYTES + 1))).await;
    let alert = Alert::Malformed(format!(
        "a message of {} bytes, over the {MAX_TEXT_BYTES}-byte limit",
        MAX_TEXT_BYTES + 1
    ));
    assert_eq!(
        left(&mut events).await,
        (
            "mallory".into(),
            Why::Other(format!("security alert: {alert}"))
        )
    );
}

#[tokio::test]
async fn a_message_whose_id_is_not_an_id_ends_the_session_with_an_alert() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut peer = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    // A big id would be kept for de-duplication and echoed in the ack.
    let body = Body::Msg {
        id: "A".repeat(100_000),
        text: "hi".into(),
        sent_at: 0,
        from: None,
        name: None,
    };
    peer.send(&body).await;
    let (_, why) = left(&mut events).await;
    let Why::Other(why) = why else {
        panic!("{why:?}");
    };
    assert!(why.contains("security alert"), "{why}");
    assert!(why.contains("`id` is not an id"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outbox_goes_out_in_order_as_the_connection_takes_it() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = server(&key).await;
    // 40 maximal messages (10 MiB) typed while nobody is connected: more
    // than the engine queues for the socket at once.
    let texts: Vec<String> = (0..40)
        .map(|n| format!("{n:02}{}", "y".repeat(MAX_TEXT_BYTES - 2)))
        .collect();
    let ids: Vec<String> = texts
        .iter()
        .map(|t| handle.send(t.clone()).unwrap())
        .collect();
    let (_client, mut client_events) = tests::engines::client(&key, port);
    assert_eq!(connected(&mut events).await, "alice");
    // Both streams are read at once, as two programs would: the server's
    // events (40 tokens of 340 KiB) are more than its event queue holds, so
    // it waits for them to be read before it sends more.
    let shown = async {
        for text in &texts {
            let (from, got) = received(&mut client_events).await;
            assert_eq!((from.as_str(), &got[..2]), ("bob", &text[..2]));
            assert_eq!(got.len(), text.len());
        }
    };
    // All 40 waited for the first member to join, went to it (to 1
    // member) and were delivered.
    let acknowledged = async {
        let (mut relayed, mut acked) = (Vec::new(), Vec::new());
        while acked.len() < ids.len() {
            match next(&mut events, |e| match e {
                ServerEvent::Chat(ChatEvent::Relayed { id, to }) => Some(Ok((id, to))),
                ServerEvent::Chat(ChatEvent::Delivered { id, .. }) => Some(Err(id)),
                _ => None,
            })
            .await
            {
                Ok(relay) => relayed.push(relay),
                Err(id) => acked.push(id),
            }
        }
        (relayed, acked)
    };
    let ((), (relayed, acked)) = tokio::join!(shown, acknowledged);
    let to_one: Vec<_> = ids.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(relayed, to_one);
    assert_eq!(acked, ids);
}

#[tokio::test]
async fn a_long_bye_reason_is_not_kept() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut peer = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    peer.send(&Body::Bye {
        reason: "é".repeat(500_000),
    })
    .await;
    // A member's bye says only that it left (its reason is not shown).
    assert_eq!(left(&mut events).await, ("mallory".into(), Why::Bye));
}

/// Types, while nobody can take them, as many maximal messages (each
/// numbered) as the engine keeps, then one more: that one is refused and
/// stays with the user. Returns the ones taken.
fn typed_past_the_queue(handle: &Handle) -> Vec<String> {
    // The longest messages, and one that fills the rest.
    let longest = weight(MAX_TEXT_BYTES);
    let rest = TYPED_QUEUE_BYTES % longest - MESSAGE_OVERHEAD;
    let fits = TYPED_QUEUE_BYTES / longest + 1;
    let texts: Vec<String> = (0..fits)
        .map(|n| {
            let len = if n + 1 < fits { MAX_TEXT_BYTES } else { rest };
            format!("{n:03}{}", "z".repeat(len - 3))
        })
        .collect();
    for text in &texts {
        handle.send(text.clone()).expect("room for it");
    }
    assert_eq!(handle.send("one more"), Err(SendError::QueueFull));
    texts
}

/// Waits for `texts` from `from`, in order, whole.
async fn all_received<E: tests::engines::Reported>(
    events: &mut tokio::sync::mpsc::Receiver<E>,
    from: &str,
    texts: &[String],
) {
    for text in texts {
        let (sender, got) = received(events).await;
        assert_eq!((sender.as_str(), &got[..3]), (from, &text[..3]));
        assert_eq!(got.len(), text.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_users_messages_past_the_typed_queue_are_refused_until_the_room_takes_them() {
    let key = Key::generate().unwrap();
    let (handle, events, port) = server(&key).await;
    let texts = typed_past_the_queue(handle.shared());
    drain(events);
    let (_client, mut client_events) = client(&key, port);
    all_received(&mut client_events, "bob", &texts).await;
    handle.send("one more").unwrap();
    assert_eq!(
        received(&mut client_events).await,
        ("bob".into(), "one more".into())
    );
}

#[tokio::test]
async fn the_clients_messages_past_the_typed_queue_are_refused_until_the_server_acknowledges_some()
{
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (handle, mut events) = client(&key, listener.local_addr().unwrap().port());
    let texts = typed_past_the_queue(&handle);
    // A protocol-1 server: one message per frame, each acknowledged alone.
    let mut bob = RawPeer::accept(&key, &listener, "bob").await;
    let next_message = async |bob: &mut RawPeer| bob.recv(|b| messages(b).pop()).await.0;
    let first = next_message(&mut bob).await;
    assert_eq!(first.text, texts[0]);
    assert_eq!(handle.send("one more"), Err(SendError::QueueFull));
    bob.send(&Body::Ack {
        of: first.id.clone(),
        to: None,
    })
    .await;
    assert_eq!(acked(&mut events).await, first.id);
    let id = handle.send("one more").unwrap();
    // Read as a program would, both at once: the engine waits for a
    // reader of its events before it sends more.
    let bob_reads = async {
        for text in texts[1..].iter().chain(["one more".to_owned()].iter()) {
            let message = next_message(&mut bob).await;
            assert_eq!(&message.text, text);
            bob.send(&Body::Ack {
                of: message.id,
                to: None,
            })
            .await;
        }
    };
    let all_acked = async {
        for _ in 1..texts.len() {
            acked(&mut events).await;
        }
        assert_eq!(acked(&mut events).await, id);
    };
    tokio::join!(bob_reads, all_acked);
}

/// A burst of short messages comes in `msgs` frames of 256: the window
/// keeps each frame's token (for "Show ciphertext") once, not once per
/// message, so its history holds the whole burst instead of letting the
/// start go to stay under its bound.
#[tokio::test]
async fn a_burst_received_in_batches_is_kept_whole_in_the_windows_history() {
    const FRAMES: usize = 16;
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_handle, mut events) = client(&key, listener.local_addr().unwrap().port());
    let mut bob = RawPeer::accept_speaking(&key, &listener, "bob", 2).await;
    for frame in 0..FRAMES {
        let msgs = (0..MAX_BATCH)
            .map(|n| Message {
                id: random_id(),
                text: format!("{frame:02} {n:03} {}", "x".repeat(90)),
                sent_at: Clock::system().now_ms(),
                from: None,
                name: None,
            })
            .collect();
        bob.send(&Body::Msgs { msgs }).await;
    }
    let mut chat = Chat::default();
    for _ in 0..FRAMES * MAX_BATCH {
        let event = next(&mut events, |e| match e {
            ClientEvent::Chat(c @ ChatEvent::Received { .. }) => Some(c),
            _ => None,
        })
        .await;
        let _ = chat.on_chat(&event, 0);
    }
    let kept = chat
        .entries()
        .iter()
        .filter(|e| matches!(e, Entry::Message(_)))
        .count();
    assert_eq!(kept, FRAMES * MAX_BATCH, "messages let go from the history");
}

/// A frame whose messages were mostly seen before (a hostile server
/// resending ids) reports only the new ones; the first reported counts
/// the whole token, so a window's bounds count what it holds.
#[tokio::test]
async fn the_first_message_reported_of_a_frame_counts_its_whole_token() {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_handle, mut events) = client(&key, listener.local_addr().unwrap().port());
    let mut bob = RawPeer::accept_speaking(&key, &listener, "bob", 2).await;
    let message = |id: &str| Message {
        id: id.to_owned(),
        text: "x".repeat(100),
        sent_at: Clock::system().now_ms(),
        from: None,
        name: None,
    };
    let old: Vec<String> = (0..MAX_BATCH - 1).map(|_| random_id()).collect();
    let first = bob
        .send(&Body::Msgs {
            msgs: old.iter().map(|id| message(id)).collect(),
        })
        .await;
    let new = random_id();
    let mut msgs: Vec<Message> = old.iter().map(|id| message(id)).collect();
    msgs.insert(MAX_BATCH / 2, message(&new));
    let second = bob.send(&Body::Msgs { msgs }).await;
    let mut tokens = Vec::new();
    while tokens.len() < MAX_BATCH {
        let (id, token) = next(&mut events, |e| match e {
            ClientEvent::Chat(ChatEvent::Received { id, token, .. }) => Some((id, token)),
            _ => None,
        })
        .await;
        tokens.push((id, token));
    }
    let counted: usize = tokens[..MAX_BATCH - 1].iter().map(|(_, t)| t.bytes()).sum();
    assert_eq!(counted, first.len(), "the first frame, counted once");
    let (id, token) = &tokens[MAX_BATCH - 1];
    assert_eq!(id, &new);
    assert_eq!(token.as_str(), second);
    assert_eq!(
        token.bytes(),
        second.len(),
        "the second frame, counted whole"
    );
}
