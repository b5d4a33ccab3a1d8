//! A minimal IP prefix type for `[[route]] destination`.
//!
//! Hand-written rather than pulling in `ipnet`: the daemon needs only parsing, display and
//! containment, and it refuses prefixes with host bits set, which most parsers silently mask.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 prefix such as `10.244.1.0/24`; host bits are always zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// No `/len` part: a bare address is refused so that `/32` versus a typo is never guessed.
    #[error("missing prefix length (e.g. \"10.0.0.0/24\")")]
    MissingLength,
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    /// The part after `/` is not a number within the family's width.
    #[error("prefix length {len:?} is not 0..={max}")]
    BadLength {
        /// the text after `/`
        len: String,
        /// 32 or 128
        max: u8,
    },
    /// Bits beyond the length are set; the kernel would refuse (or mask) such a route.
    #[error("host bits are set (did you mean \"{0}\"?)")]
    HostBits(Prefix),
}

impl Prefix {
    /// Builds a prefix, refusing a length beyond the family's width or set host bits.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = max_len(addr);
        if len > max {
            return Err(PrefixError::BadLength {
                len: len.to_string(),
                max,
            });
        }
        let masked = mask(addr, len);
        if masked != addr {
            return Err(PrefixError::HostBits(Prefix { addr: masked, len }));
        }
        Ok(Prefix { addr, len })
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is a default route (`0.0.0.0/0` or `::/0`).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` lies within the prefix; addresses of the other family never do.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == self.addr
    }
}

fn max_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with all bits past `len` cleared; `len` must not exceed the family's width.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let (addr, len) = s.split_once('/').ok_or(PrefixError::MissingLength)?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| PrefixError::BadAddress(addr.to_owned()))?;
        let max = max_len(addr);
        // Digits only: u8::from_str would also take "+24".
        let parsed = if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) {
            len.parse::<u8>().ok().filter(|l| *l <= max)
        } else {
            None
        };
        let len = parsed.ok_or_else(|| PrefixError::BadLength {
            len: len.to_owned(),
            max,
        })?;
        Prefix::new(addr, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Prefix, PrefixError> {
        s.parse()
    }

    #[test]
    fn parses_and_displays() {
        for s in [
            "10.244.1.0/24",
            "0.0.0.0/0",
            "198.51.100.4/32",
            "fd00:10:244::/48",
            "::/0",
            "2001:db8::1/128",
        ] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_host_bits_and_suggests_network() {
        assert_eq!(
            p("10.244.1.1/24").unwrap_err().to_string(),
            "host bits are set (did you mean \"10.244.1.0/24\"?)"
        );
        assert!(matches!(p("fd00::1/64"), Err(PrefixError::HostBits(_))));
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(p("10.0.0.0"), Err(PrefixError::MissingLength));
        assert!(matches!(p("10.0.0/8"), Err(PrefixError::BadAddress(_))));
        assert!(matches!(
            p("10.0.0.0/33"),
            Err(PrefixError::BadLength { max: 32, .. })
        ));
        assert!(matches!(
            p("::/129"),
            Err(PrefixError::BadLength { max: 128, .. })
        ));
        assert!(matches!(
            p("10.0.0.0/+8"),
            Err(PrefixError::BadLength { .. })
        ));
        assert!(matches!(p("10.0.0.0/"), Err(PrefixError::BadLength { .. })));
        assert!(matches!(
            p("10.0.0.0/300"),
            Err(PrefixError::BadLength { .. })
        ));
    }

    #[test]
    fn containment() {
        let v4 = p("10.244.1.0/24").unwrap();
        assert!(v4.contains("10.244.1.77".parse().unwrap()));
        assert!(!v4.contains("10.244.2.1".parse().unwrap()));
        assert!(!v4.contains("::ffff:10.244.1.77".parse().unwrap()));
        let all = p("0.0.0.0/0").unwrap();
        assert!(all.is_default());
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6 = p("fd00:10:244::/48").unwrap();
        assert!(v6.contains("fd00:10:244:1::5".parse().unwrap()));
        assert!(!v6.contains("fd00:10:245::5".parse().unwrap()));
    }
}
