//! Which interfaces discovery uses: every interface with an address but
//! loopback and the virtual ones that containers and VMs add (probing a
//! bridge of containers finds nothing a user means, and tells everything on
//! it that someone is looking).

use std::net::{IpAddr, Ipv4Addr};

use super::limits::ADDRS_MAX;

/// Name prefixes of virtual interfaces: container bridges and their veth
/// ends, VM bridges and host-only networks, VPN and overlay tunnels.
pub const VIRTUAL_PREFIXES: [&str; 21] = [
    "docker",
    "veth",
    "virbr",
    "br-",
    "vnet",
    "vmnet",
    "vboxnet",
    "lxc",
    "lxd",
    "cni",
    "flannel",
    "cali",
    "weave",
    "podman",
    "tun",
    "tap",
    "wg",
    "utun",
    "zt",
    "tailscale",
    "vEthernet",
];

/// Whether discovery leaves the interface named `name` alone by default.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// An IPv4 address of a usable interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct V4 {
    pub ip: Ipv4Addr,
    pub broadcast: Option<Ipv4Addr>,
    pub index: Option<u32>,
}

/// The usable interfaces' addresses right now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Lan {
    pub v4: Vec<V4>,
    /// Indexes of the interfaces with IPv6, each once.
    pub v6: Vec<u32>,
    /// Addresses to announce, best first: IPv4, then IPv6 other than
    /// link-local (which means nothing without the interface it is on).
    pub announce: Vec<IpAddr>,
}

pub(crate) fn lan() -> Lan {
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    lan_of(
        interfaces
            .into_iter()
            .map(|interface| (interface.name, interface.addr, interface.index)),
    )
}

/// What of `interfaces` (name, address, index) discovery uses.
fn lan_of(interfaces: impl IntoIterator<Item = (String, if_addrs::IfAddr, Option<u32>)>) -> Lan {
    let mut lan = Lan::default();
    let mut v6_announce = Vec::new();
    for (name, addr, index) in interfaces {
        if addr.is_loopback() || is_virtual(&name) {
            continue;
        }
        match addr {
            if_addrs::IfAddr::V4(v4) => {
                lan.v4.push(V4 {
                    ip: v4.ip,
                    broadcast: v4.broadcast,
                    index,
                });
                lan.announce.push(IpAddr::V4(v4.ip));
            }
            if_addrs::IfAddr::V6(v6) => {
                if let Some(index) = index
                    && !lan.v6.contains(&index)
                {
                    lan.v6.push(index);
                }
                if !v6.ip.is_unicast_link_local() {
                    v6_announce.push(IpAddr::V6(v6.ip));
                }
            }
        }
    }
    lan.announce.extend(v6_announce);
    lan.announce.truncate(ADDRS_MAX);
    lan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_and_vm_interfaces_are_virtual_lan_ones_are_not() {
        for name in [
            "docker0", "veth1a2b", "virbr0", "br-3f2e", "vboxnet0", "wg0", "tun0",
        ] {
            assert!(is_virtual(name), "{name}");
        }
        for name in [
            "eth0", "enp3s0", "wlan0", "wlp2s0", "lan0", "en0", "bridge0",
        ] {
            assert!(!is_virtual(name), "{name}");
        }
    }

    #[test]
    fn loopback_and_virtual_interfaces_are_left_out_and_link_local_v6_not_announced() {
        use if_addrs::{IfAddr, Ifv4Addr, Ifv6Addr};
        let v4 = |ip: [u8; 4]| {
            IfAddr::V4(Ifv4Addr {
                ip: ip.into(),
                netmask: [255, 255, 255, 0].into(),
                prefixlen: 24,
                broadcast: Some([ip[0], ip[1], ip[2], 255].into()),
            })
        };
        let v6 = |ip: &str| {
            IfAddr::V6(Ifv6Addr {
                ip: ip.parse().expect("an address"),
                netmask: "ffff:ffff:ffff:ffff::".parse().expect("a mask"),
                prefixlen: 64,
                broadcast: None,
            })
        };
        let interfaces = [
            ("lo", v4([127, 0, 0, 1]), Some(1)),
            ("lo", v6("::1"), Some(1)),
            ("eth0", v4([192, 168, 1, 20]), Some(2)),
            ("eth0", v6("fe80::1"), Some(2)),
            ("eth0", v6("2001:db8::20"), Some(2)),
            ("docker0", v4([172, 17, 0, 1]), Some(3)),
            ("wlan0", v6("fe80::2"), Some(4)),
        ];
        let lan = lan_of(
            interfaces
                .into_iter()
                .map(|(name, addr, index)| (name.to_owned(), addr, index)),
        );
        let ips: Vec<IpAddr> = lan.v4.iter().map(|v4| IpAddr::V4(v4.ip)).collect();
        assert_eq!(ips, [IpAddr::from([192, 168, 1, 20])]);
        assert_eq!(lan.v6, [2, 4]);
        let announced: Vec<IpAddr> = vec![
            IpAddr::from([192, 168, 1, 20]),
            "2001:db8::20".parse().expect("an address"),
        ];
        assert_eq!(lan.announce, announced);
    }

    #[test]
    fn at_most_the_answer_addresses_are_announced() {
        let interfaces = (0..ADDRS_MAX as u8 + 4).map(|n| {
            let addr = if_addrs::IfAddr::V4(if_addrs::Ifv4Addr {
                ip: [10, 0, n, 1].into(),
                netmask: [255, 255, 255, 0].into(),
                prefixlen: 24,
                broadcast: None,
            });
            (format!("eth{n}"), addr, Some(u32::from(n)))
        });
        assert_eq!(lan_of(interfaces).announce.len(), ADDRS_MAX);
    }
}
