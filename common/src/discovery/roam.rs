//! Roaming: a client whose connection was lost also probes while it
//! reconnects, and follows the server to its new address (a laptop that
//! moved to another access point, a DHCP lease that changed).

use std::future::{Future, ready};
use std::net::{IpAddr, SocketAddr};

use futures::StreamExt;
use tokio::time::timeout;

use super::limits::ROAM_WAIT;
use super::search::{Found, Reach, SearchConfig, search_with};
use crate::addr::ServerAddr;
use crate::config::ClientConfig;
use crate::error::ConnectError;
use crate::event::ClientEvent;
use crate::link::{Emitter, Link};

/// One connection attempt by `dial`. When `reconnecting` (a session has
/// proven the key before), probes at the same time: a server that answers
/// from an address other than `config.server` (and does not announce that
/// one) has moved, and is dialled there at once; `config.server` follows
/// it and [`ClientEvent::Moved`] says so. An address typed as a host name is
/// given up only after dialling it failed.
pub(crate) async fn attempt<F, Fut>(
    config: &mut ClientConfig,
    reconnecting: bool,
    events: &Emitter<ClientEvent>,
    dial: F,
) -> Result<Link, ConnectError>
where
    F: Fn(ClientConfig) -> Fut,
    Fut: Future<Output = Result<Link, ConnectError>>,
{
    let reach = match &config.chat.discovery {
        Some(reach) if reconnecting && worth_probing(reach, &config.server) => reach.clone(),
        _ => return dial(config.clone()).await,
    };
    let here: Option<IpAddr> = config.server.host.parse().ok();
    let port = config.server.port;
    let at_home = move |found: &Found| {
        here.is_some_and(|ip| found.addrs.contains(&SocketAddr::new(ip, port)))
    };
    let mut answers = search_with(SearchConfig {
        key: config.chat.key.clone(),
        port,
        reach,
        clock: config.chat.clock.clone(),
    })
    .filter_map(|result| ready(result.ok()))
    .filter(move |found| ready(!at_home(found)));
    let dialing = dial(config.clone());
    let elsewhere = answers.next();
    tokio::pin!(dialing, elsewhere);
    let moved = tokio::select! {
        result = &mut dialing => match result {
            Ok(link) => return Ok(link),
            Err(error) => match timeout(ROAM_WAIT, &mut elsewhere).await {
                Ok(Some(found)) => found,
                _ => return Err(error),
            },
        },
        Some(found) = &mut elsewhere, if here.is_some() => found,
    };
    config.server = moved.server();
    // If nobody reads events any more, the attempt still goes on: the
    // caller finds out at its next emit.
    let _ = events
        .emit(ClientEvent::Moved {
            name: moved.name,
            to: moved.addr,
        })
        .await;
    dial(config.clone()).await
}

/// A server reached at a loopback address is on this computer: it cannot
/// move, and probing the LAN for it would only send probes around.
fn worth_probing(reach: &Reach, server: &ServerAddr) -> bool {
    match reach {
        Reach::To(_) => true,
        Reach::Lan => {
            let loopback = server
                .host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
            !loopback && !server.host.eq_ignore_ascii_case("localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str) -> ServerAddr {
        ServerAddr {
            host: host.into(),
            port: 7878,
        }
    }

    #[test]
    fn a_server_on_this_computer_is_not_looked_for_on_the_lan() {
        for host in ["127.0.0.1", "127.0.0.2", "::1", "localhost"] {
            assert!(!worth_probing(&Reach::Lan, &at(host)), "{host}");
        }
        for host in ["192.168.1.20", "laptop.local", "fe80::1"] {
            assert!(worth_probing(&Reach::Lan, &at(host)), "{host}");
        }
        let to = Reach::To(vec!["127.0.0.2".parse().unwrap()]);
        assert!(worth_probing(&to, &at("127.0.0.1")));
    }
}
