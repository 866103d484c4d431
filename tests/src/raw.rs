//! Peers that speak the protocol by hand with `common`'s pure functions, so a
//! test can put any line on the wire: tampered, replayed, reflected,
//! reordered, from another session, oversized. They speak protocol 1 (as a
//! protocol-1 program would) unless told a higher version.

use common::Key;
use common::clock::Clock;
use common::handshake;
use common::payload::{Body, Hello, Message, PROTO, PROTO_ROOMS, random_id};
use common::session::{Role, Session};
use common::token;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::engines::WAIT;

/// One end of a hand-driven session.
pub struct RawPeer {
    pub session: Session,
    lines: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl RawPeer {
    /// Connects to a server engine and completes the handshake as a
    /// protocol-1 client.
    pub async fn connect(key: &Key, port: u16, name: &str) -> RawPeer {
        RawPeer::connect_speaking(key, port, name, PROTO).await
    }

    /// Connects to a server engine and completes the handshake as a client
    /// that speaks versions up to `max`.
    pub async fn connect_speaking(key: &Key, port: u16, name: &str, max: u32) -> RawPeer {
        let mut peer = RawPeer::welcomed_speaking(key, port, name, max).await;
        peer.send(&Body::Ready).await;
        peer
    }

    /// Connects to a server engine, says hello and checks the welcome, but
    /// does not send `ready`: the handshake's last step is the caller's.
    pub async fn welcomed(key: &Key, port: u16, name: &str) -> RawPeer {
        RawPeer::welcomed_speaking(key, port, name, PROTO).await
    }

    async fn welcomed_speaking(key: &Key, port: u16, name: &str, max: u32) -> RawPeer {
        let clock = Clock::system();
        let nonce = random_id();
        let hello = handshake::seal_hello_up_to(key, &clock, &nonce, name, max);
        RawPeer::dial(key, port, &hello, &nonce, max)
            .await
            .expect("no welcome")
    }

    /// Connects to a server engine, sends `hello` (made with `nonce`) and
    /// takes the welcome's session (versions up to `max`); `Err` holds
    /// the server's answer when it was not a welcome, or `""` if it
    /// closed without one.
    async fn dial(
        key: &Key,
        port: u16,
        hello: &str,
        nonce: &str,
        max: u32,
    ) -> Result<RawPeer, String> {
        let clock = Clock::system();
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (read, write) = stream.into_split();
        let mut peer = RawPeer {
            session: Session::new(key.clone(), clock.clone(), String::new(), Role::Client, 0),
            lines: BufReader::new(read),
            write,
        };
        peer.send_line(hello).await;
        let line = peer.read_line().await.unwrap_or_default();
        let Ok((welcome, offset)) = handshake::open_welcome(key, &clock, &line, nonce, max) else {
            return Err(line);
        };
        let sid = format!("{nonce}.{}", welcome.nonce);
        peer.session =
            Session::new(key.clone(), clock, sid, Role::Client, offset).speaking(welcome.proto);
        Ok(peer)
    }

    /// Connects to a room server as a protocol-3 client that names
    /// `member` and proves its place with `proof` (a link of its chain, see
    /// `common::place`), and completes the handshake. `Err` holds the
    /// server's answer when it was not a welcome (an `ERR` line), or `""`
    /// if the server closed without one.
    pub async fn join(
        key: &Key,
        port: u16,
        name: &str,
        member: &str,
        proof: &str,
    ) -> Result<RawPeer, String> {
        let nonce = random_id();
        // Written out by hand (the tests crate has no JSON of its own): a
        // name, member or proof that JSON would escape is the caller's bug.
        assert!(
            [name, member, proof].iter().all(|s| s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -_".contains(c))),
            "a hello field that needs escaping"
        );
        let hello = format!(
            r#"{{"kind":"hello","proto":{PROTO},"nonce":"{nonce}","name":"{name}","max_proto":{PROTO_ROOMS},"member":"{member}","proof":"{proof}"}}"#
        );
        let hello = token::seal(key, &Clock::system(), hello.as_bytes());
        let mut peer = RawPeer::dial(key, port, &hello, &nonce, PROTO_ROOMS).await?;
        peer.send(&Body::Ready).await;
        Ok(peer)
    }

    /// Accepts one client engine on `listener` and completes the handshake
    /// as a protocol-1 server.
    pub async fn accept(key: &Key, listener: &TcpListener, name: &str) -> RawPeer {
        RawPeer::accept_speaking(key, listener, name, PROTO).await
    }

    /// Accepts one client engine on `listener` and completes the handshake
    /// as a server that speaks versions up to `max`.
    pub async fn accept_speaking(
        key: &Key,
        listener: &TcpListener,
        name: &str,
        max: u32,
    ) -> RawPeer {
        let (mut peer, hello, offset) = RawPeer::hello(key, listener).await;
        peer.welcome(key, &hello, offset, name, max).await;
        peer
    }

    /// Seals `body` in the session and sends it; returns the line.
    pub async fn send(&mut self, body: &Body) -> String {
        let line = self.session.seal(body);
        self.send_line(&line).await;
        line
    }

    /// Puts one line on the wire as it is.
    pub async fn send_line(&mut self, line: &str) {
        // The engine may already have closed the connection.
        let _ = self.write.write_all(format!("{line}\n").as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.write.write_all(bytes).await;
    }

    /// The next line (without LF); `None` once the peer closed.
    pub async fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match timeout(WAIT, self.lines.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Some(line.trim_end_matches('\n').to_owned()),
            Ok(_) => None,
            Err(_) => panic!("timed out waiting for a line"),
        }
    }

    /// Reads and opens frames until one matches `pick`. A frame that does
    /// not open in the session (tampered, replayed, out of order) is a
    /// failure: the engine never sends one.
    pub async fn recv<T>(&mut self, mut pick: impl FnMut(&Body) -> Option<T>) -> (T, String) {
        loop {
            let line = self.read_line().await.expect("connection closed");
            let opened = self.session.open(&line);
            let body = opened.unwrap_or_else(|alert| panic!("a frame failed: {alert}: {line}"));
            if let Some(body) = body
                && let Some(found) = pick(&body)
            {
                return (found, line);
            }
        }
    }

    /// Waits until the engine closes the connection.
    pub async fn closed(&mut self) {
        while self.read_line().await.is_some() {}
    }
}

/// A server by hand for a client engine: its hello as it came, answered
/// by the test (a welcome of any version, or an `ERR` line).
impl RawPeer {
    /// Accepts one client engine on `listener` and reads its hello (with
    /// the client's clock offset), answering nothing yet.
    pub async fn hello(key: &Key, listener: &TcpListener) -> (RawPeer, Hello, i64) {
        let clock = Clock::system();
        let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        let (read, write) = stream.into_split();
        let mut peer = RawPeer {
            session: Session::new(key.clone(), clock.clone(), String::new(), Role::Server, 0),
            lines: BufReader::new(read),
            write,
        };
        let line = peer.read_line().await.expect("no hello");
        let (hello, offset) = handshake::open_hello(key, &clock, &line).unwrap();
        (peer, hello, offset)
    }

    /// Answers `hello` (from [`RawPeer::hello`]) as a server named `name`
    /// that speaks versions up to `max`, and waits for `ready`.
    pub async fn welcome(&mut self, key: &Key, hello: &Hello, offset: i64, name: &str, max: u32) {
        let clock = Clock::system();
        let version = hello.common_version(max).expect("no common version");
        let nonce = random_id();
        self.send_line(&handshake::seal_welcome(
            key,
            &clock,
            &nonce,
            &hello.nonce,
            name,
            version,
        ))
        .await;
        let sid = format!("{}.{nonce}", hello.nonce);
        self.session =
            Session::new(key.clone(), clock, sid, Role::Server, offset).speaking(version);
        let ready = self.read_line().await.expect("no ready");
        assert_eq!(self.session.open(&ready), Ok(Some(Body::Ready)));
    }
}

/// A message body with a fresh id.
pub fn msg(text: &str) -> Body {
    msg_with_id(text).0
}

/// A message body with a fresh id, and the id.
pub fn msg_with_id(text: &str) -> (Body, String) {
    let id = random_id();
    let body = Body::Msg {
        id: id.clone(),
        text: text.into(),
        sent_at: Clock::system().now_ms(),
        from: None,
        name: None,
    };
    (body, id)
}

/// The messages a frame carries (none if it is not a message frame).
pub fn messages(body: &Body) -> Vec<Message> {
    match body {
        Body::Msg {
            id,
            text,
            sent_at,
            from,
            name,
        } => vec![Message {
            id: id.clone(),
            text: text.clone(),
            sent_at: *sent_at,
            from: from.clone(),
            name: name.clone(),
        }],
        Body::Msgs { msgs } => msgs.clone(),
        _ => Vec::new(),
    }
}
