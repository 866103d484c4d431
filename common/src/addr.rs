//! Addresses: the server address a user types, and the addresses of this
//! machine that the server shows so the other person knows what to type.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The port used when none is given.
pub const DEFAULT_PORT: u16 = 7878;

/// A server address as typed: a host name or IP, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What is wrong with a typed server address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("enter the server's address, e.g. 192.168.1.20 or 192.168.1.20:7878")]
    Empty,
    #[error("an address cannot contain spaces")]
    Space,
    #[error("\"{0}\" is not a port: use a number from 1 to 65535")]
    BadPort(String),
    #[error("the address is missing before the ':port'")]
    NoHost,
    #[error("\"{0}\" is not a valid host name or IP address")]
    BadHost(String),
    #[error("an IPv6 address with a port goes in brackets, e.g. [::1]:7878")]
    Brackets,
}

impl std::str::FromStr for ServerAddr {
    type Err = AddrError;

    /// Accepts `host`, `host:port`, `1.2.3.4[:port]`, `[v6]`, `[v6]:port`
    /// and a bare IPv6 address; the port defaults to 7878.
    fn from_str(input: &str) -> Result<ServerAddr, AddrError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(AddrError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(AddrError::Space);
        }
        if let Ok(ip) = text.parse::<Ipv6Addr>() {
            return Ok(ServerAddr {
                host: ip.to_string(),
                port: DEFAULT_PORT,
            });
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or(AddrError::Brackets)?;
            host.parse::<Ipv6Addr>()
                .map_err(|_| AddrError::BadHost(host.into()))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(AddrError::Brackets)?),
                ),
            }
        } else if text.matches(':').count() > 1 {
            return Err(AddrError::Brackets);
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(AddrError::NoHost);
        }
        let valid_name = host.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !host.contains(':') && !valid_name {
            return Err(AddrError::BadHost(host.into()));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| AddrError::BadPort(p.into()))?,
        };
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
        })
    }
}

/// This machine's addresses to show the other person, best first: private
/// LAN IPv4 (what a Wi-Fi peer can use), other IPv4, global and unique-local
/// IPv6, then link-local, and loopback last (useful only on this machine).
pub fn local_addrs(port: u16) -> Vec<SocketAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips.sort_by_key(|ip| (rank(ip), *ip));
    ips.dedup();
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

fn rank(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) if v4.is_private() => 0,
        IpAddr::V4(v4) if v4.is_loopback() => 5,
        IpAddr::V4(v4) if v4.is_link_local() => 3,
        IpAddr::V4(_) => 1,
        IpAddr::V6(v6) if v6.is_loopback() => 6,
        IpAddr::V6(v6) if v6.is_unicast_link_local() => 4,
        IpAddr::V6(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<(String, u16), AddrError> {
        s.parse::<ServerAddr>().map(|a| (a.host, a.port))
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("192.168.1.7"), Ok(("192.168.1.7".into(), 7878)));
        assert_eq!(
            parse(" 192.168.1.7:9000 "),
            Ok(("192.168.1.7".into(), 9000))
        );
        assert_eq!(parse("laptop.local"), Ok(("laptop.local".into(), 7878)));
        assert_eq!(parse("laptop:80"), Ok(("laptop".into(), 80)));
        assert_eq!(parse("[::1]:7000"), Ok(("::1".into(), 7000)));
        assert_eq!(parse("[fe80::1]"), Ok(("fe80::1".into(), 7878)));
        assert_eq!(parse("::1"), Ok(("::1".into(), 7878)));
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(parse(""), Err(AddrError::Empty));
        assert_eq!(parse("192.168.1.7 :80"), Err(AddrError::Space));
        assert_eq!(parse("host:http"), Err(AddrError::BadPort("http".into())));
        assert_eq!(parse("host:70000"), Err(AddrError::BadPort("70000".into())));
        assert_eq!(parse("host:0"), Err(AddrError::BadPort("0".into())));
        assert_eq!(parse(":7878"), Err(AddrError::NoHost));
        assert_eq!(parse("::1:7878:x"), Err(AddrError::Brackets));
        assert_eq!(parse("[::1"), Err(AddrError::Brackets));
        assert_eq!(parse("[nope]:1"), Err(AddrError::BadHost("nope".into())));
        assert_eq!(parse("a..b"), Err(AddrError::BadHost("a..b".into())));
        assert_eq!(parse("a/b"), Err(AddrError::BadHost("a/b".into())));
    }

    #[test]
    fn display_brackets_ipv6() {
        assert_eq!(
            "[::1]:5".parse::<ServerAddr>().unwrap().to_string(),
            "[::1]:5"
        );
        assert_eq!("h".parse::<ServerAddr>().unwrap().to_string(), "h:7878");
    }

    #[test]
    fn addresses_rank_lan_first_and_loopback_last() {
        // Best first; the addresses of one group rank the same.
        let groups: [&[&str]; 7] = [
            // Private LAN IPv4: what a Wi-Fi peer can use.
            &["192.168.1.20", "10.0.0.7", "172.16.5.4", "172.31.0.1"],
            // Other IPv4, shared address space included.
            &["8.8.8.8", "100.64.0.1", "172.32.0.1"],
            // Global and unique-local IPv6.
            &["2001:db8::20", "fd00::1"],
            &["169.254.10.1"],
            &["fe80::1"],
            // Loopback last: useful only on this machine.
            &["127.0.0.1", "127.0.0.2"],
            &["::1"],
        ];
        let ranks: Vec<Vec<u8>> = groups
            .iter()
            .map(|g| g.iter().map(|ip| rank(&ip.parse().unwrap())).collect())
            .collect();
        for (group, ranks) in groups.iter().zip(&ranks) {
            assert!(ranks.iter().all(|r| *r == ranks[0]), "{group:?}: {ranks:?}");
        }
        for pair in ranks.windows(2) {
            assert!(pair[0][0] < pair[1][0], "{ranks:?}");
        }
    }

    #[test]
    fn local_addrs_always_offer_loopback_last_with_the_port() {
        let addrs = local_addrs(7878);
        assert!(!addrs.is_empty());
        let loopback = addrs.iter().position(|a| a.ip().is_loopback()).unwrap();
        assert!(addrs[loopback..].iter().all(|a| a.ip().is_loopback()));
        assert!(addrs.iter().all(|a| a.port() == 7878));
    }
}
