//! Discovery on loopback: the server's responder against probes made by
//! hand (as a peer in another language would make them, from PROTOCOL.md),
//! the client's search against a real server, and a client following a
//! server that moved.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::discovery::limits::{
    ADDRS_MAX, ANSWER_BURST, ANSWERS_PER_SEC, PROBE_PLAINTEXT, SOURCE_BURST,
};
use common::discovery::{Found, Reach, SearchConfig, SearchError, search_with};
use common::payload::{clean_name, random_id};
use common::{
    ClientConfig, ClientEvent, Clock, Config, Key, Rejection, Server, ServerConfig, ServerEvent,
    ServerHandle, token,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tests::engines::{WAIT, connected, next, quick_retry, received};
use tests::programs::binary;
use tests::raw::RawPeer;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const LOCAL: [u8; 4] = [127, 0, 0, 1];

/// A server on `ip` (port 0: any free one) with discovery on.
async fn server_on(
    key: &Key,
    name: &str,
    ip: [u8; 4],
    port: u16,
) -> (ServerHandle, Receiver<ServerEvent>, u16) {
    let server = Server::bind(ServerConfig {
        chat: Config::new(key.clone(), name),
        port,
        bind: Some(IpAddr::from(ip)),
        max_members: common::DEFAULT_MAX_MEMBERS,
    })
    .await
    .unwrap();
    assert_eq!(server.discovery_error(), None);
    let port = server.port();
    let (handle, events) = server.start();
    (handle, events, port)
}

/// A probe's plaintext as PROTOCOL.md describes it, padded to `pad_to`.
fn probe_json(proto: u32, nonce: &str, pad_to: usize) -> String {
    let bare = format!(r#"{{"kind":"probe","proto":{proto},"nonce":"{nonce}","pad":""}}"#);
    let pad = "0".repeat(pad_to.saturating_sub(bare.len()));
    format!(r#"{{"kind":"probe","proto":{proto},"nonce":"{nonce}","pad":"{pad}"}}"#)
}

fn probe(key: &Key, clock: &Clock, nonce: &str) -> String {
    token::seal(key, clock, probe_json(1, nonce, PROBE_PLAINTEXT).as_bytes())
}

async fn socket(ip: [u8; 4]) -> UdpSocket {
    UdpSocket::bind(SocketAddr::from((ip, 0))).await.unwrap()
}

/// The next datagram, decrypted: (its length, its plaintext).
async fn answer(socket: &UdpSocket, key: &Key) -> (usize, String) {
    let mut buf = vec![0; 2048];
    let (n, _) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("no answer")
        .unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let (plaintext, _) = token::open_any_time(key, text).unwrap();
    (n, String::from_utf8(plaintext).unwrap())
}

fn echoes(plaintext: &str, nonce: &str) -> bool {
    plaintext.contains(&format!(r#""echo":"{nonce}""#))
}

#[tokio::test(start_paused = true)]
async fn search_finds_a_server_on_loopback_once_with_its_name_cleaned() {
    let key = Key::generate().unwrap();
    let (_server, _events, port) = server_on(&key, "bob\u{202e}txt.exe", LOCAL, 0).await;
    let mut search = search_here(key.clone(), port);
    let found = first(&mut search).await;
    assert_eq!(found.name, clean_name("bob\u{202e}txt.exe"));
    assert_eq!(found.name, "bobtxt.exe");
    let addr = SocketAddr::from((LOCAL, port));
    assert_eq!(found.addr, addr);
    assert_eq!(found.addrs, [addr]);
    // It goes on probing (paused time runs through many rounds), and the
    // server goes on answering, but it is not reported again.
    let again = timeout(Duration::from_secs(60), search.next()).await;
    assert!(again.is_err(), "{again:?}");
}

/// A search that probes [`LOCAL`] only.
fn search_here(key: Key, port: u16) -> BoxStream<'static, Result<Found, SearchError>> {
    search_with(SearchConfig {
        key,
        port,
        reach: Reach::To(vec![IpAddr::from(LOCAL)]),
        clock: Clock::system(),
    })
}

/// The next server `search` finds.
async fn first(search: &mut BoxStream<'static, Result<Found, SearchError>>) -> Found {
    let next = timeout(WAIT, search.next())
        .await
        .expect("nothing found in time");
    next.expect("the search ended").expect("the search failed")
}

/// The nonce of a probe's plaintext.
fn nonce_of(plaintext: &str) -> String {
    let at = plaintext.find(r#""nonce":""#).unwrap() + 9;
    plaintext[at..at + 22].to_owned()
}

#[tokio::test]
async fn a_search_takes_only_answers_to_its_probes_under_its_key_and_cleans_them() {
    let key = Key::generate().unwrap();
    // A hand-made server that answers the first probe four times: under
    // another key, to another nonce, in another version, and once as it
    // should, with a hostile name and too many addresses.
    let fake = socket(LOCAL).await;
    let port = fake.local_addr().unwrap().port();
    let answers = {
        let key = key.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 2048];
            let (n, from) = fake.recv_from(&mut buf).await.unwrap();
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            let (plaintext, _) = token::open_any_time(&key, text).unwrap();
            let nonce = nonce_of(&String::from_utf8(plaintext).unwrap());
            let mut addrs: Vec<String> = (1..=12).map(|i| format!(r#""10.0.0.{i}""#)).collect();
            addrs.insert(0, r#""evil""#.to_owned());
            let answer = |proto: u32, echo: &str, name: &str| {
                format!(
                    r#"{{"kind":"here","proto":{proto},"echo":"{echo}","name":"{name}","port":7878,"addrs":[{}]}}"#,
                    addrs.join(",")
                )
            };
            let clock = Clock::system();
            let other = Key::generate().unwrap();
            for (key, plaintext) in [
                (&other, answer(1, &nonce, "wrong key")),
                (&key, answer(1, &random_id(), "unknown nonce")),
                (&key, answer(2, &nonce, "version 2")),
                (&key, answer(1, &nonce, r"mallory\u202egnp.exe\u001b[2J")),
            ] {
                let datagram = token::seal(key, &clock, plaintext.as_bytes());
                fake.send_to(datagram.as_bytes(), from).await.unwrap();
            }
            fake
        })
    };
    let found = first(&mut search_here(key, port)).await;
    assert_eq!(found.name, clean_name("mallory\u{202e}gnp.exe\u{1b}[2J"));
    assert_eq!(found.name, "mallorygnp.exe[2J");
    // It answered from loopback, which no server announces: there first.
    let addr = SocketAddr::from((LOCAL, 7878));
    assert_eq!(found.addr, addr);
    let mut expected = vec![addr];
    expected.extend((1..ADDRS_MAX as u8).map(|i| SocketAddr::from(([10, 0, 0, i], 7878))));
    assert_eq!(
        found.addrs, expected,
        "the source, then the first {ADDRS_MAX} announced, 'evil' skipped"
    );
    answers.await.unwrap();
}

#[tokio::test]
async fn only_probes_under_the_key_current_and_new_are_answered() {
    let key = Key::generate().unwrap();
    let (_server, mut events, port) = server_on(&key, "bob", LOCAL, 0).await;
    let to = SocketAddr::from((LOCAL, port));
    let client = socket(LOCAL).await;
    let now = Clock::system();
    let first = random_id();
    let valid = probe(&key, &now, &first);
    let stale = probe(&key, &Clock::shifted(-400_000), &random_id());
    let v2 = token::seal(
        &key,
        &now,
        probe_json(2, &random_id(), PROBE_PLAINTEXT).as_bytes(),
    );
    let other_key = probe(&Key::generate().unwrap(), &now, &random_id());
    let second = random_id();
    let sends: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[b'g'; 1500],
        other_key.as_bytes(),
        stale.as_bytes(),
        v2.as_bytes(),
        valid.as_bytes(),
        // A replay of the valid probe.
        valid.as_bytes(),
        probe(&key, &now, &second).leak().as_bytes(),
    ];
    for datagram in sends {
        client.send_to(datagram, to).await.unwrap();
    }
    // The server reads in order: had it answered the replay, its answer
    // would come before the second probe's.
    let (_, one) = answer(&client, &key).await;
    assert!(echoes(&one, &first), "{one}");
    let (_, two) = answer(&client, &key).await;
    assert!(echoes(&two, &second), "{two}");
    assert!(one.contains(r#""name":"bob""#) && one.contains(&format!(r#""port":{port}"#)));

    let mut seen = Vec::new();
    while seen.len() < 7 {
        seen.push(
            next(&mut events, |e| match e {
                ServerEvent::Rejected { reason, .. } => Some(Some(reason)),
                ServerEvent::Probed { from } => {
                    assert_eq!(from, client.local_addr().unwrap());
                    Some(None)
                }
                _ => None,
            })
            .await,
        );
    }
    assert_eq!(&seen[..3], [const { Some(Rejection::BadProbe) }; 3]);
    assert!(
        matches!(
            seen[3],
            Some(Rejection::StaleProbe {
                off_secs: 399..=401
            })
        ),
        "{seen:?}"
    );
    assert_eq!(seen[4..], [Some(Rejection::Version), None, None]);
}

#[tokio::test]
async fn an_answer_is_never_larger_than_its_probe() {
    let key = Key::generate().unwrap();
    let (_server, _events, port) = server_on(&key, "bob", LOCAL, 0).await;
    let to = SocketAddr::from((LOCAL, port));
    let client = socket(LOCAL).await;
    let clock = Clock::system();
    // Unpadded: too short for any answer.
    let short = token::seal(&key, &clock, probe_json(1, &random_id(), 0).as_bytes());
    client.send_to(short.as_bytes(), to).await.unwrap();
    let nonce = random_id();
    let padded = probe(&key, &clock, &nonce);
    client.send_to(padded.as_bytes(), to).await.unwrap();
    let (len, plaintext) = answer(&client, &key).await;
    assert!(
        echoes(&plaintext, &nonce),
        "the short probe was answered: {plaintext}"
    );
    assert!(len <= padded.len(), "{len} > {}", padded.len());
    assert!(
        plaintext.contains(r#""addrs":["127.0.0.1"]"#),
        "{plaintext}"
    );
}

/// Collects the answers that arrive until everything is idle (under
/// paused time, the first instant nothing is left to run).
async fn drain(socket: &UdpSocket) -> usize {
    let mut buf = vec![0; 2048];
    let mut n = 0;
    while timeout(Duration::from_millis(1), socket.recv_from(&mut buf))
        .await
        .is_ok()
    {
        n += 1;
    }
    n
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_answered_at_the_rate_limit() {
    let key = Key::generate().unwrap();
    let (_server, _events, port) = server_on(&key, "bob", LOCAL, 0).await;
    let to = SocketAddr::from((LOCAL, port));
    let clock = Clock::system();
    // One source: its burst.
    let one = socket([127, 0, 0, 2]).await;
    for _ in 0..20 {
        one.send_to(probe(&key, &clock, &random_id()).as_bytes(), to)
            .await
            .unwrap();
    }
    assert_eq!(drain(&one).await, SOURCE_BURST as usize);
    // Ten more sources: what is left of the global burst, in all.
    let mut sources = Vec::new();
    for i in 3..13 {
        let s = socket([127, 0, 0, i]).await;
        for _ in 0..20 {
            s.send_to(probe(&key, &clock, &random_id()).as_bytes(), to)
                .await
                .unwrap();
        }
        sources.push(s);
    }
    let mut answered = 0;
    for s in &sources {
        answered += drain(s).await;
    }
    assert_eq!(answered, (ANSWER_BURST - SOURCE_BURST) as usize);
    // A second later: a second's worth.
    tokio::time::advance(Duration::from_secs(1)).await;
    for s in &sources {
        for _ in 0..4 {
            s.send_to(probe(&key, &clock, &random_id()).as_bytes(), to)
                .await
                .unwrap();
        }
    }
    let mut answered = 0;
    for s in &sources {
        answered += drain(s).await;
    }
    let rate = ANSWERS_PER_SEC as usize;
    assert!((rate..=rate + 1).contains(&answered), "{answered}");
}

#[tokio::test]
async fn new_key_changes_which_probes_are_answered() {
    let old = Key::generate().unwrap();
    let (server, mut events, port) = server_on(&old, "bob", LOCAL, 0).await;
    let new = Key::generate().unwrap();
    server.set_key(new.clone());
    next(&mut events, |e| {
        matches!(e, ServerEvent::KeyChanged(_)).then_some(())
    })
    .await;
    let to = SocketAddr::from((LOCAL, port));
    let client = socket(LOCAL).await;
    let clock = Clock::system();
    client
        .send_to(probe(&old, &clock, &random_id()).as_bytes(), to)
        .await
        .unwrap();
    let nonce = random_id();
    client
        .send_to(probe(&new, &clock, &nonce).as_bytes(), to)
        .await
        .unwrap();
    let (_, plaintext) = answer(&client, &new).await;
    assert!(echoes(&plaintext, &nonce));
    let reason = next(&mut events, |e| match e {
        ServerEvent::Rejected { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, Rejection::BadProbe);
}

#[tokio::test]
async fn a_reconnecting_client_follows_a_server_that_moved() {
    let key = Key::generate().unwrap();
    // The client first meets the server at 127.0.0.1:P (played by hand);
    // then that address is gone and the server answers at 127.0.0.2:P.
    let old = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = old.local_addr().unwrap().port();
    let (_server, mut server_events, _) = server_on(&key, "bob", [127, 0, 0, 2], port).await;
    let mut chat = Config::new(key.clone(), "alice");
    chat.timing = quick_retry();
    chat.discovery = Some(Reach::To(vec![IpAddr::from([127, 0, 0, 2])]));
    let (client, mut client_events) = common::client::connect(ClientConfig {
        chat,
        server: format!("127.0.0.1:{port}").parse().unwrap(),
    });
    let first = RawPeer::accept(&key, &old, "bob").await;
    assert_eq!(connected(&mut client_events).await, "bob");
    // Gone without a word, and nothing listens there any more.
    drop((first, old));
    for text in ["one", "two", "three"] {
        client.send(text).unwrap();
    }
    let to = next(&mut client_events, |e| match e {
        ClientEvent::Moved { name, to } => {
            assert_eq!(name, "bob");
            Some(to)
        }
        _ => None,
    })
    .await;
    assert_eq!(to, SocketAddr::from(([127, 0, 0, 2], port)));
    connected(&mut client_events).await;
    let mut texts = Vec::new();
    while texts.len() < 3 {
        texts.push(received(&mut server_events).await.1);
    }
    assert_eq!(texts, ["one", "two", "three"]);
    client.send("after").unwrap();
    assert_eq!(received(&mut server_events).await.1, "after");
}

#[test]
fn a_terminal_client_without_an_address_or_discovery_says_what_to_do() {
    let key = Key::generate().unwrap();
    let out = std::process::Command::new(binary("client-gui"))
        .args(["--headless", "--no-discovery"])
        .env("FERNET_CHAT_KEY", key.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: with --no-discovery, give the server's address with --connect HOST[:PORT]\n"
    );
    let out = std::process::Command::new(binary("client-gui"))
        .args(["--headless", "--discover-timeout", "soon"])
        .env("FERNET_CHAT_KEY", key.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"soon\" is not a number of seconds (e.g. 5 or 0.5)"),
        "{err}"
    );
}
