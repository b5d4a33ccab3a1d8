//! Batched sending: one raw IPv4 socket carries many sessions' packets per system call.
//!
//! At thousands of sessions, one `send` per packet, each on a different session's socket, is
//! most of what bfdd costs: a system call and a cold socket per packet. One UDP socket for all
//! could batch them with `sendmmsg`, but then every session would share its source port, which
//! RFC 5881 §4 says SHOULD be unique. A raw socket that writes its own IPv4 and UDP headers keeps
//! every session's address pair and source port and still sends a whole batch in one call. The
//! sessions' own UDP sockets stay: they hold their ports, and connecting them had the kernel
//! pick the source address and check the route.
//!
//! Needs `CAP_NET_RAW`. Without it, for IPv6, for sessions bound to an interface, and on hosts
//! with IPv4 policy routing rules (the raw socket is routed by destination alone, see
//! [`crate::policy_rules`]), each session sends from its own socket as before.

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use bfd_core::SessionId;
use nix::errno::Errno;
use nix::sys::socket::{
    sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::{BFD_TTL, TOS_NETWORK_CONTROL};

/// Packets per `sendmmsg`.
pub const BATCH: usize = 64;
/// Room for one frame: 28 bytes of headers and a control packet of at most 52 bytes.
const FRAME: usize = 96;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
/// Enough for a burst of thousands of sessions' packets queued on the one socket (each
/// session's own socket used to have a buffer of its own).
const SEND_BUFFER_BYTES: usize = 4 << 20;
/// `IPPROTO_RAW`: send only (the socket receives nothing) and the IP header is ours.
const IPPROTO_RAW: i32 = 255;

/// The raw socket and the batch being filled.
pub struct BatchSender {
    socket: Socket,
    headers: MultiHeaders<SockaddrIn>,
    frames: Box<[[u8; FRAME]; BATCH]>,
    lens: Vec<usize>,
    destinations: Vec<Option<SockaddrIn>>,
    owners: Vec<SessionId>,
}

impl BatchSender {
    /// Opens the raw socket; fails without `CAP_NET_RAW`.
    pub fn open() -> io::Result<BatchSender> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))?;
        // Past `wmem_max` when CAP_NET_ADMIN allows it; otherwise as much as the limit gives.
        if setsockopt(&socket, sockopt::SndBufForce, &SEND_BUFFER_BYTES).is_err() {
            let _ = socket.set_send_buffer_size(SEND_BUFFER_BYTES);
        }
        socket.set_nonblocking(true)?;
        Ok(BatchSender {
            socket,
            headers: MultiHeaders::preallocate(BATCH, None),
            frames: Box::new([[0; FRAME]; BATCH]),
            lens: Vec::with_capacity(BATCH),
            destinations: Vec::with_capacity(BATCH),
            owners: Vec::with_capacity(BATCH),
        })
    }

    /// Whether the batch must be flushed before the next [`push`](Self::push).
    pub fn is_full(&self) -> bool {
        self.lens.len() == BATCH
    }

    /// Queues `payload` from `source` to `destination` for session `owner`; false (nothing
    /// queued) when the batch is full or the payload is too long to be a control packet.
    pub fn push(
        &mut self,
        owner: SessionId,
        source: SocketAddrV4,
        destination: SocketAddrV4,
        payload: &[u8],
    ) -> bool {
        let Some(frame) = self.frames.get_mut(self.lens.len()) else {
            return false;
        };
        let Some(len) = write_frame(frame, source, destination, payload) else {
            return false;
        };
        self.lens.push(len);
        // The kernel routes by this address; its port is unused (the header has the real one).
        self.destinations
            .push(Some(SockaddrIn::from(SocketAddrV4::new(
                *destination.ip(),
                0,
            ))));
        self.owners.push(owner);
        true
    }

    /// Sends the batch; `failed` hears of each packet the kernel refused, with why. A full
    /// socket buffer loses the rest of the batch, as a congested link would.
    pub fn flush(&mut self, mut failed: impl FnMut(SessionId, &io::Error)) {
        let total = self.lens.len();
        if total == 0 {
            return;
        }
        let frames = &self.frames;
        let lens = &self.lens;
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
            let len = lens.get(i).copied().unwrap_or(0);
            [IoSlice::new(&frames[i][..len])]
        });
        let mut done = 0;
        while done < total {
            let no_control: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                self.socket.as_raw_fd(),
                &mut self.headers,
                &slices[done..total],
                &self.destinations[done..total],
                no_control,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(sent) => done += sent.count().max(1),
                Err(Errno::EINTR) => {}
                Err(errno @ (Errno::EAGAIN | Errno::ENOBUFS)) => {
                    let error = io::Error::from(errno);
                    for owner in &self.owners[done..total] {
                        failed(*owner, &error);
                    }
                    break;
                }
                // This packet alone (no route to its peer, refused by a firewall rule): the
                // rest of the batch still goes.
                Err(errno) => {
                    failed(self.owners[done], &io::Error::from(errno));
                    done += 1;
                }
            }
        }
        self.lens.clear();
        self.destinations.clear();
        self.owners.clear();
    }
}

/// Writes the IPv4 and UDP headers and `payload` into `frame`, as the session's own socket
/// would have sent it (RFC 5881 §4-5: TTL 255; DSCP CS6; don't fragment). The kernel fills
/// the IP identification and checksum. Returns the frame's length, or `None` when the payload
/// does not fit.
fn write_frame(
    frame: &mut [u8; FRAME],
    source: SocketAddrV4,
    destination: SocketAddrV4,
    payload: &[u8],
) -> Option<usize> {
    let udp_len = UDP_HEADER + payload.len();
    let total = IPV4_HEADER + udp_len;
    if total > FRAME {
        return None;
    }
    let total_be = u16::try_from(total).ok()?.to_be_bytes();
    let udp_len_be = u16::try_from(udp_len).ok()?.to_be_bytes();
    let (ip, rest) = frame.split_at_mut(IPV4_HEADER);
    ip.copy_from_slice(&[
        0x45,
        TOS_NETWORK_CONTROL as u8,
        total_be[0],
        total_be[1],
        0,
        0,
        0x40,
        0,
        BFD_TTL as u8,
        17,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    ip[12..16].copy_from_slice(&source.ip().octets());
    ip[16..20].copy_from_slice(&destination.ip().octets());
    let udp = &mut rest[..udp_len];
    udp[0..2].copy_from_slice(&source.port().to_be_bytes());
    udp[2..4].copy_from_slice(&destination.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len_be);
    udp[6..8].copy_from_slice(&[0, 0]);
    udp[UDP_HEADER..].copy_from_slice(payload);
    let checksum = udp_checksum(*source.ip(), *destination.ip(), udp);
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    Some(total)
}

/// RFC 768: the ones' complement sum over the pseudo-header and the datagram, whose checksum
/// field is zero; a result of zero is sent as all ones (zero means "no checksum").
fn udp_checksum(source: Ipv4Addr, destination: Ipv4Addr, udp: &[u8]) -> u16 {
    let words = |bytes: &[u8]| -> u32 {
        bytes
            .chunks(2)
            .map(|pair| {
                u32::from(u16::from_be_bytes([
                    pair[0],
                    pair.get(1).copied().unwrap_or(0),
                ]))
            })
            .sum()
    };
    let mut sum = words(&source.octets())
        + words(&destination.octets())
        + 17
        + u32::try_from(udp.len()).unwrap_or(0)
        + words(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        checksum => checksum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(payload: &[u8]) -> ([u8; FRAME], usize) {
        let mut frame = [0; FRAME];
        let len = write_frame(
            &mut frame,
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152),
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 3784),
            payload,
        )
        .expect("fits");
        (frame, len)
    }

    /// What a receiver checks: the ones' complement sum over pseudo-header and datagram,
    /// checksum included, is all ones.
    fn verifies(frame: &[u8]) -> bool {
        let udp = &frame[IPV4_HEADER..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&frame[12..20]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&u16::try_from(udp.len()).expect("short").to_be_bytes());
        pseudo.extend_from_slice(udp);
        if pseudo.len() % 2 == 1 {
            pseudo.push(0);
        }
        let mut sum: u32 = pseudo
            .chunks(2)
            .map(|p| u32::from(u16::from_be_bytes([p[0], p[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    #[test]
    fn rfc5881_4_5_frame_carries_session_ports_ttl_255_and_cs6() {
        let payload = [
            0x20, 0x40, 0x03, 0x18, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40,
        ];
        let (frame, len) = frame_of(&payload);
        assert_eq!(len, 20 + 8 + payload.len());
        assert_eq!(frame[0], 0x45, "IPv4, no options");
        assert_eq!(frame[1], 0xc0, "DSCP CS6");
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]) as usize, len);
        assert_eq!(frame[6] & 0x40, 0x40, "don't fragment");
        assert_eq!(frame[8], 255, "RFC 5881 §5: TTL 255");
        assert_eq!(frame[9], 17, "UDP");
        assert_eq!(&frame[12..16], &[192, 0, 2, 1]);
        assert_eq!(&frame[16..20], &[192, 0, 2, 2]);
        assert_eq!(
            u16::from_be_bytes([frame[20], frame[21]]),
            49152,
            "the session's port"
        );
        assert_eq!(u16::from_be_bytes([frame[22], frame[23]]), 3784);
        assert_eq!(
            u16::from_be_bytes([frame[24], frame[25]]) as usize,
            8 + payload.len()
        );
        assert_eq!(&frame[28..len], &payload);
        assert!(verifies(&frame[..len]), "UDP checksum");
    }

    #[test]
    fn checksum_of_odd_length_payload_verifies() {
        let (frame, len) = frame_of(&[0xff; 25]);
        assert!(verifies(&frame[..len]));
        assert_ne!(u16::from_be_bytes([frame[26], frame[27]]), 0);
    }

    #[test]
    fn payload_longer_than_a_control_packet_is_refused() {
        let mut frame = [0; FRAME];
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 3784);
        assert!(write_frame(&mut frame, src, dst, &[0; 68]).is_some());
        assert!(write_frame(&mut frame, src, dst, &[0; 69]).is_none());
    }
}
