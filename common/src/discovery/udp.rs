//! UDP sockets as both sides of discovery open and read them.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// A non-blocking UDP socket of `domain`; an IPv6 one carries IPv6 only
/// (IPv4 has a socket of its own).
pub(super) fn udp(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if domain == Domain::IPV6 {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Receives one datagram on whichever socket has one into `buf`: its
/// length, source and socket. A datagram longer than `buf` shows as
/// `buf.len()` bytes, so a caller whose buffer is one byte over its limit
/// sees it is too long. `None` on an error (an ICMP error for an earlier
/// send, say): the caller just reads on.
pub(super) async fn recv_any<'a>(
    sockets: &'a [UdpSocket],
    buf: &mut [u8],
) -> Option<(usize, SocketAddr, &'a UdpSocket)> {
    let (ready, index) = match sockets {
        [one] => (one.readable().await, 0),
        [one, two] => tokio::select! {
            r = one.readable() => (r, 0),
            r = two.readable() => (r, 1),
        },
        _ => return std::future::pending().await,
    };
    ready.ok()?;
    let socket = &sockets[index];
    let (n, from) = socket.try_recv_from(buf).ok()?;
    Some((n, from, socket))
}
