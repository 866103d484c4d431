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
    let mut lan = Lan::default();
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    let mut v6_announce = Vec::new();
    for interface in interfaces {
        if interface.is_loopback() || is_virtual(&interface.name) {
            continue;
        }
        match interface.addr {
            if_addrs::IfAddr::V4(v4) => {
                lan.v4.push(V4 {
                    ip: v4.ip,
                    broadcast: v4.broadcast,
                    index: interface.index,
                });
                lan.announce.push(IpAddr::V4(v4.ip));
            }
            if_addrs::IfAddr::V6(v6) => {
                if let Some(index) = interface.index
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
    fn loopback_is_never_used_and_link_local_v6_never_announced() {
        let lan = lan();
        assert!(lan.v4.iter().all(|v4| !v4.ip.is_loopback()));
        assert!(lan.announce.iter().all(|ip| !ip.is_loopback()));
        assert!(lan.announce.len() <= ADDRS_MAX);
        assert!(lan.announce.iter().all(|ip| match ip {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(_) => true,
        }));
    }
}
