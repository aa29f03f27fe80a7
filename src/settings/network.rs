//! [`IpNetwork`]: address ranges, and which addresses are public — what webhooks may reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// An address range, `addr/prefix` (`10.0.0.0/8`, `fd00::/8`; a bare address is one host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `addr/prefix`; [`Error::Invalid`] when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self> {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(Error::Invalid {
                what: "network",
                reason: format!("{addr}/{prefix}: the prefix is longer than {bits} bits"),
            });
        }
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), u128::from(ip), 128, self.prefix),
            _ => false,
        }
    }

    /// A comma-separated list (empty: none).
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        list.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::parse).collect()
    }
}

fn masked(net: u128, ip: u128, bits: u32, prefix: u8) -> bool {
    let shift = bits - u32::from(prefix);
    prefix == 0 || (net >> shift) == (ip >> shift)
}

impl FromStr for IpNetwork {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::Invalid {
            what: "network",
            reason: format!("{text:?} is not an address or a range such as 10.0.0.0/8 or fd00::/8"),
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse().map_err(|_| bad())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// link-local (the cloud metadata address 169.254.169.254 among them), shared (CGNAT), this-host,
/// documentation, benchmarking, multicast, broadcast or reserved — in IPv4 or any IPv6 form that
/// embeds one (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match segments {
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_public_v4(embedded(hi, lo)),
        [0x2002, hi, lo, ..] => is_public_v4(embedded(hi, lo)),
        _ => {
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80
                || (segments[0] == 0x2001 && segments[1] == 0x0db8)
                || segments[..6] == [0; 6])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_recognised_in_every_form() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn networks_parse_and_contain() {
        let nets = IpNetwork::parse_list(" 127.0.0.0/8, fd00::/8 ,10.0.0.7").unwrap();
        assert!(nets[0].contains(ip("127.1.2.3")) && !nets[0].contains(ip("128.0.0.1")));
        assert!(nets[0].contains(ip("::ffff:127.0.0.1")), "mapped addresses count as IPv4");
        assert!(nets[1].contains(ip("fd12::1")) && !nets[1].contains(ip("fe80::1")));
        assert!(nets[2].contains(ip("10.0.0.7")) && !nets[2].contains(ip("10.0.0.8")));
        assert!("0.0.0.0/0".parse::<IpNetwork>().unwrap().contains(ip("8.8.8.8")));
        assert!(IpNetwork::parse_list("").unwrap().is_empty());
        for bad in ["localhost", "10.0.0.0/33", "::/129", "10.0.0.0/x"] {
            let err = bad.parse::<IpNetwork>().unwrap_err().to_string();
            assert!(err.starts_with("invalid network:"), "{bad}: {err}");
        }
    }
}
