//! A peer holding the key is still hostile: nothing it sends may make the
//! other program keep more than a bounded amount, and its own long outbox
//! must not pile up in memory either.

use common::payload::{Body, MAX_TEXT_BYTES};
use common::{Alert, ChatEvent, Key, ServerEvent, Why};
use tests::engines::{connected, left, next, received, server};
use tests::raw::{RawPeer, msg};

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
