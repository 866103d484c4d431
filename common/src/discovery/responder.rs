//! The server's side: a UDP socket on the TCP port that answers probes
//! under the current key, while the server runs (waiting or chatting).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, InterfaceIndexOrAddress, SockRef};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, interval};

use super::gate::{Gate, Verdict};
use super::interfaces::lan;
use super::limits::{DATAGRAM_MAX, GROUP_V4, GROUP_V6, REJOIN_EVERY};
use super::udp::{recv_any, udp};
use super::wire::{self, ProbeError};
use crate::config::Config;
use crate::error::Rejection;
use crate::event::ServerEvent;
use crate::key::Key;
use crate::link::Emitter;
use crate::payload::clean_name;
use crate::token;

/// Why the server does not answer probes (it still serves TCP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "discovery is off: could not open UDP port {port} ({reason}); clients must type an address"
)]
pub struct ResponderError {
    pub port: u16,
    pub reason: String,
}

/// The server's bound discovery sockets.
#[derive(Debug)]
pub(crate) struct Responder {
    sockets: Vec<UdpSocket>,
    /// Listening on every interface (not one `--bind` address): joins the
    /// multicast groups and announces the interfaces' addresses.
    everywhere: bool,
    port: u16,
}

fn bind_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = udp(Domain::for_address(addr))?;
    // Another server on this machine may listen on the same port: both
    // hear broadcast and multicast probes.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Responder {
    /// Binds UDP `port` on `bind` (one address) or on every IPv4 and, where
    /// available, IPv6 interface. Must run inside a tokio runtime.
    pub fn bind(bind: Option<IpAddr>, port: u16) -> Result<Responder, ResponderError> {
        let failed = |e: io::Error| ResponderError {
            port,
            reason: e.to_string(),
        };
        let everywhere = bind.is_none_or(|ip| ip.is_unspecified());
        let first = bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let mut sockets = vec![bind_one(SocketAddr::new(first, port)).map_err(failed)?];
        if bind.is_none() {
            // IPv6 is a bonus, as for TCP.
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            if let Ok(socket) = bind_one(v6) {
                sockets.push(socket);
            }
        }
        Ok(Responder {
            sockets,
            everywhere,
            port,
        })
    }

    /// Answers probes until dropped, with whatever key `keys` holds at the
    /// time (it follows New key). `announce`: the addresses to announce
    /// when bound to one address (`None`: the interfaces').
    pub async fn run(
        self,
        chat: Arc<Config>,
        keys: watch::Receiver<Key>,
        announce: Option<IpAddr>,
        events: Emitter<ServerEvent>,
    ) {
        let Responder {
            sockets,
            everywhere,
            port,
        } = self;
        let name = clean_name(&chat.name);
        let mut gate = Gate::new(Instant::now());
        let mut joined = Joined::default();
        // Bound to one address, there is nothing to join: no timer at all.
        let mut rejoin = everywhere.then(|| interval(REJOIN_EVERY));
        let mut buf = vec![0u8; DATAGRAM_MAX + 1];
        let mut addrs = announce.map(|ip| vec![ip]).unwrap_or_default();
        loop {
            let (n, from, socket) = tokio::select! {
                () = tick(&mut rejoin) => {
                    let lan = lan();
                    joined.join(&sockets, &lan);
                    if announce.is_none() {
                        addrs = lan.announce;
                    }
                    continue;
                }
                received = recv_any(&sockets, &mut buf) => match received {
                    Some(received) => received,
                    None => continue,
                },
            };
            let key = keys.borrow().clone();
            let datagram = &buf[..n];
            let opened = match wire::open_probe(&key, chat.clock.now_secs(), datagram) {
                Ok(opened) => opened,
                Err(ProbeError::NotAProbe) => {
                    events.report(ServerEvent::Rejected {
                        addr: from,
                        reason: Rejection::BadProbe,
                    });
                    continue;
                }
                Err(ProbeError::Version(_)) => {
                    events.report(ServerEvent::Rejected {
                        addr: from,
                        reason: Rejection::Version,
                    });
                    continue;
                }
                Err(ProbeError::Stale { off_secs }) => {
                    events.report(ServerEvent::Rejected {
                        addr: from,
                        reason: Rejection::StaleProbe { off_secs },
                    });
                    continue;
                }
            };
            let Some(answer) = wire::answer_plaintext(&opened.nonce, &name, port, &addrs, n) else {
                continue;
            };
            let verdict = gate.admit(
                opened.id,
                opened.ts,
                from.ip(),
                chat.clock.now_secs(),
                Instant::now(),
            );
            if verdict != Verdict::Answer {
                continue;
            }
            let answer = token::seal(&key, &chat.clock, &answer);
            if socket.send_to(answer.as_bytes(), from).await.is_ok() {
                events.report(ServerEvent::Probed { from });
            }
        }
    }
}

/// The next tick of `interval`; never, without one.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Interfaces whose multicast group this server has joined. An interface
/// that comes up later is joined at the next look.
#[derive(Debug, Default)]
struct Joined {
    v4: Vec<u32>,
    v6: Vec<u32>,
}

impl Joined {
    fn join(&mut self, sockets: &[UdpSocket], lan: &super::interfaces::Lan) {
        for socket in sockets {
            let socket = SockRef::from(socket);
            match socket.local_addr().ok().and_then(|a| a.as_socket()) {
                Some(SocketAddr::V4(_)) => {
                    for v4 in &lan.v4 {
                        let Some(index) = v4.index else { continue };
                        if self.v4.contains(&index) {
                            continue;
                        }
                        let at = InterfaceIndexOrAddress::Index(index);
                        if socket.join_multicast_v4_n(&GROUP_V4, &at).is_ok() {
                            self.v4.push(index);
                        }
                    }
                }
                Some(SocketAddr::V6(_)) => {
                    for &index in &lan.v6 {
                        if !self.v6.contains(&index)
                            && socket.join_multicast_v6(&GROUP_V6, index).is_ok()
                        {
                            self.v6.push(index);
                        }
                    }
                }
                None => {}
            }
        }
    }
}
