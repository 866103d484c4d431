//! The client's side: probes the LAN (or chosen addresses) again every so
//! often and yields each server that answers, once.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use socket2::{Domain, SockRef};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};

use super::interfaces::lan;
use super::limits::{
    ADDRS_MAX, DATAGRAM_MAX, FOUND_MAX, GROUP_V4, GROUP_V6, PENDING_MAX, PROBE_EVERY, PROBE_ROUNDS,
};
use super::udp::{recv_any, udp};
use super::wire;
use crate::addr::ServerAddr;
use crate::clock::Clock;
use crate::key::Key;
use crate::payload::{clean_name, parse_id, random_id};

/// A server that answered: `addr` is where to connect (the answer's source
/// IP + the TCP port it announced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its name, cleaned like every name from the network.
    pub name: String,
    /// Where to dial it: the first of `addrs`.
    pub addr: SocketAddr,
    /// Every address it can be reached at, best first: where it answered
    /// from if it announced that address (or none, or could not have:
    /// loopback, IPv6 link-local), else the announced ones first.
    pub addrs: Vec<SocketAddr>,
    /// From the start of the search to its first answer.
    pub after: Duration,
}

impl Found {
    /// Where to connect, as the client engine takes it: `addr`, with the
    /// interface of an IPv6 link-local address kept (`fe80::1%2`).
    pub fn server(&self) -> ServerAddr {
        let host = match self.addr {
            SocketAddr::V6(v6) if v6.scope_id() != 0 => format!("{}%{}", v6.ip(), v6.scope_id()),
            addr => addr.ip().to_string(),
        };
        ServerAddr {
            host,
            port: self.addr.port(),
        }
    }
}

/// Why searching is impossible here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("cannot look for servers: no UDP socket could be opened ({0}); type the address")]
    NoSocket(String),
    #[error("cannot look for servers: no probe could be sent ({0}); type the address")]
    CannotSend(String),
}

/// Where probes go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reach {
    /// Every usable interface (not loopback, not virtual: see
    /// [`super::is_virtual`]): its IPv4 broadcast address and the IPv4 and
    /// IPv6 multicast groups; and 127.0.0.1, for a server on this computer.
    Lan,
    /// These addresses only, unicast (tests probe loopback this way).
    To(Vec<IpAddr>),
}

/// A search's settings.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub key: Key,
    /// The UDP port: the servers' TCP port.
    pub port: u16,
    pub reach: Reach,
    pub clock: Clock,
}

/// Searches the LAN for servers holding `key` on UDP `port`, probing again
/// every so often, until the stream is dropped. Each server is yielded once
/// (when it first answers). An `Err` means searching is impossible here (no
/// socket could be opened, no probe could be sent); the stream ends after
/// it.
pub fn search(key: Key, port: u16) -> BoxStream<'static, Result<Found, SearchError>> {
    search_with(SearchConfig {
        key,
        port,
        reach: Reach::Lan,
        clock: Clock::system(),
    })
}

/// [`search`] with its settings spelled out.
pub fn search_with(config: SearchConfig) -> BoxStream<'static, Result<Found, SearchError>> {
    futures::stream::unfold(Searcher::new(config), |mut searcher| async move {
        let item = searcher.next().await?;
        Some((item, searcher))
    })
    .boxed()
}

struct Searcher {
    config: SearchConfig,
    /// Opened at the first poll (a tokio runtime is needed); IPv4 first.
    sockets: Option<Vec<UdpSocket>>,
    started: Instant,
    round: usize,
    next_round: Instant,
    /// Nonces of our recent probes, oldest first, and the same as a set.
    pending: VecDeque<u128>,
    pending_set: HashSet<u128>,
    found: Vec<Found>,
    buf: Vec<u8>,
    done: bool,
}

impl Searcher {
    fn new(config: SearchConfig) -> Searcher {
        let now = Instant::now();
        Searcher {
            config,
            sockets: None,
            started: now,
            round: 0,
            next_round: now,
            pending: VecDeque::new(),
            pending_set: HashSet::new(),
            found: Vec::new(),
            buf: vec![0; DATAGRAM_MAX + 1],
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Result<Found, SearchError>> {
        if self.done {
            return None;
        }
        if self.sockets.is_none() {
            match open(&self.config.reach) {
                Ok(sockets) => self.sockets = Some(sockets),
                Err(e) => return self.fail(SearchError::NoSocket(e.to_string())),
            }
            self.started = Instant::now();
            self.next_round = self.started;
        }
        loop {
            let sockets = self.sockets.as_deref().unwrap_or_default();
            let received = tokio::select! {
                _ = sleep_until(self.next_round) => None,
                received = recv_any(sockets, &mut self.buf) => match received {
                    Some((n, from, _)) => Some((n, from)),
                    None => continue,
                },
            };
            match received {
                None => {
                    if let Err(e) = self.probe().await {
                        return self.fail(e);
                    }
                }
                Some((n, from)) => {
                    if let Some(found) = self.take(n, from) {
                        return Some(Ok(found));
                    }
                }
            }
        }
    }

    fn fail(&mut self, error: SearchError) -> Option<Result<Found, SearchError>> {
        self.done = true;
        Some(Err(error))
    }

    /// One round of probes, each with a nonce of its own (a server that
    /// hears two of them, by broadcast and by multicast, answers both).
    async fn probe(&mut self) -> Result<(), SearchError> {
        let first = self.round == 0;
        self.next_round = match PROBE_ROUNDS.get(self.round + 1) {
            Some(at) => self.started + *at,
            None => Instant::now() + PROBE_EVERY,
        };
        self.round += 1;
        let sockets = self.sockets.take().unwrap_or_default();
        let targets = targets(&self.config.reach, self.config.port);
        let (mut sent, mut last_error) = (0, None);
        for target in &targets {
            let socket = match (target.dest, sockets.as_slice()) {
                (SocketAddr::V4(_), [v4, ..]) => v4,
                (SocketAddr::V6(_), [_, v6]) => v6,
                _ => continue,
            };
            if let Some(ip) = target.via {
                // Which interface a multicast probe leaves by.
                let _ = SockRef::from(socket).set_multicast_if_v4(&ip);
            }
            let nonce = random_id();
            let probe = wire::seal_probe(&self.config.key, &self.config.clock, &nonce);
            match socket.send_to(probe.as_bytes(), target.dest).await {
                Ok(_) => {
                    sent += 1;
                    self.expect(&nonce);
                }
                Err(e) => last_error = Some(e),
            }
        }
        self.sockets = Some(sockets);
        match last_error {
            Some(e) if first && sent == 0 => Err(SearchError::CannotSend(e.to_string())),
            _ => Ok(()),
        }
    }

    fn expect(&mut self, nonce: &str) {
        let Some(id) = parse_id(nonce) else { return };
        if self.pending.len() == PENDING_MAX
            && let Some(old) = self.pending.pop_front()
        {
            self.pending_set.remove(&old);
        }
        self.pending.push_back(id);
        self.pending_set.insert(id);
    }

    /// A datagram of `n` bytes from `from`: a server not seen before, if it
    /// is an answer to one of our probes.
    fn take(&mut self, n: usize, from: SocketAddr) -> Option<Found> {
        let answer = wire::open_answer(&self.config.key, &self.buf[..n]).ok()?;
        let id = parse_id(&answer.echo)?;
        if !self.pending_set.contains(&id) || answer.port == 0 || self.found.len() >= FOUND_MAX {
            return None;
        }
        let addrs = addresses(from, answer.port, &answer.addrs);
        let addr = addrs[0];
        // The same server answering another probe, or from another of its
        // addresses.
        if self
            .found
            .iter()
            .any(|known| known.addrs.iter().any(|a| addrs.contains(a)))
        {
            return None;
        }
        let found = Found {
            name: clean_name(&answer.name),
            addr,
            addrs,
            after: self.started.elapsed(),
        };
        self.found.push(found.clone());
        Some(found)
    }
}

/// Where one probe goes, and (multicast over IPv4) by which interface.
struct Target {
    dest: SocketAddr,
    via: Option<Ipv4Addr>,
}

fn targets(reach: &Reach, port: u16) -> Vec<Target> {
    let unicast = |ip: IpAddr| Target {
        dest: SocketAddr::new(ip, port),
        via: None,
    };
    match reach {
        Reach::To(ips) => ips.iter().copied().map(unicast).collect(),
        Reach::Lan => {
            let lan = lan();
            let mut targets: Vec<Target> = lan
                .v4
                .iter()
                .filter_map(|v4| v4.broadcast)
                .map(|b| unicast(IpAddr::V4(b)))
                .collect();
            targets.extend(lan.v4.iter().map(|v4| Target {
                dest: SocketAddr::new(IpAddr::V4(GROUP_V4), port),
                via: Some(v4.ip),
            }));
            targets.extend(lan.v6.iter().map(|&index| Target {
                dest: SocketAddr::V6(SocketAddrV6::new(GROUP_V6, port, 0, index)),
                via: None,
            }));
            targets.push(unicast(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            targets
        }
    }
}

/// The sockets a search sends from: IPv4, and IPv6 where it may be needed
/// and is available.
fn open(reach: &Reach) -> io::Result<Vec<UdpSocket>> {
    let v4 = udp(Domain::IPV4)?;
    v4.set_broadcast(true)?;
    // Multicast stays on the link, and reaches a server on this computer.
    v4.set_multicast_ttl_v4(1)?;
    v4.set_multicast_loop_v4(true)?;
    v4.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).into())?;
    let mut sockets = vec![UdpSocket::from_std(v4.into())?];
    let wants_v6 = match reach {
        Reach::Lan => true,
        Reach::To(ips) => ips.iter().any(IpAddr::is_ipv6),
    };
    if wants_v6 && let Ok(v6) = open_v6() {
        sockets.push(v6);
    }
    Ok(sockets)
}

fn open_v6() -> io::Result<UdpSocket> {
    let v6 = udp(Domain::IPV6)?;
    v6.set_multicast_hops_v6(1)?;
    v6.set_multicast_loop_v6(true)?;
    v6.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).into())?;
    UdpSocket::from_std(v6.into())
}

/// Where the server that answered from `from` with `announced` (its
/// addresses) on `port` can be reached, best first. Its source address
/// first if the server announced it, announced none, or could not have
/// (loopback, IPv6 link-local); otherwise last: anyone on the path can
/// pass a server's answer on from their own address, and the client must
/// not dial them first for it.
fn addresses(from: SocketAddr, port: u16, announced: &[String]) -> Vec<SocketAddr> {
    let source = match from {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V4(*v4.ip()), port),
        // A link-local address means something only with its interface.
        SocketAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), port, 0, v6.scope_id())),
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for ip in announced.iter().take(ADDRS_MAX) {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, port);
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
    }
    // A server never announces loopback or IPv6 link-local addresses.
    let never_announced = match source.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unicast_link_local(),
    };
    if addrs.is_empty() || never_announced || addrs.iter().any(|a| a.ip() == source.ip()) {
        addrs.retain(|a| a.ip() != source.ip());
        addrs.insert(0, source);
    } else {
        addrs.push(source);
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_passed_on_from_another_address_is_dialled_at_the_announced_ones() {
        let announced = ["192.168.1.20".to_owned(), "2001:db8::20".to_owned()];
        let at = |s: &str| s.parse::<SocketAddr>().expect("an address");
        // From one of its own addresses: that one first.
        let from = at("192.168.1.20:40000");
        assert_eq!(
            addresses(from, 7878, &announced),
            [at("192.168.1.20:7878"), at("[2001:db8::20]:7878")]
        );
        let from = at("[2001:db8::20]:40000");
        assert_eq!(
            addresses(from, 7878, &announced),
            [at("[2001:db8::20]:7878"), at("192.168.1.20:7878")]
        );
        // Passed on by someone else: the announced ones first, theirs last.
        let from = at("192.168.1.66:40000");
        assert_eq!(
            addresses(from, 7878, &announced),
            [
                at("192.168.1.20:7878"),
                at("[2001:db8::20]:7878"),
                at("192.168.1.66:7878")
            ]
        );
        // A server that announces nothing is where it answered from.
        assert_eq!(addresses(from, 7878, &[]), [at("192.168.1.66:7878")]);
        // So is one that answered from an address none announces.
        let link_local = "fe80::20".parse().expect("an address");
        let from = SocketAddr::V6(SocketAddrV6::new(link_local, 40000, 0, 2));
        let dialled = SocketAddr::V6(SocketAddrV6::new(link_local, 7878, 0, 2));
        assert_eq!(addresses(from, 7878, &announced)[0], dialled);
    }

    fn found(addr: &str) -> Found {
        let addr: SocketAddr = addr.parse().unwrap();
        Found {
            name: "bob".into(),
            addr,
            addrs: vec![addr],
            after: Duration::ZERO,
        }
    }

    #[test]
    fn a_link_local_server_keeps_its_interface() {
        let server = found("[fe80::1%3]:7878").server();
        assert_eq!((server.host.as_str(), server.port), ("fe80::1%3", 7878));
        let server = found("192.168.1.20:9000").server();
        assert_eq!(server.to_string(), "192.168.1.20:9000");
        let server = found("[2001:db8::1]:7878").server();
        assert_eq!(server.to_string(), "[2001:db8::1]:7878");
    }
}
