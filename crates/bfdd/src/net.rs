//! UDP sockets with the RFC 5881 / 5883 rules: receive on 3784 / 4784 learning TTL, destination
//! and interface of every datagram; send from a per-session source port in 49152-65535 with
//! TTL 255.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use bfd_core::RxMeta;
use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// RFC 5881 §4: single-hop control packets go to this port.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: multihop control packets go to this port.
pub const MULTIHOP_PORT: u16 = 4784;
/// RFC 5881 §4: source ports come from this range.
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// RFC 5881 §5: sent with, and (single hop) only accepted with, this TTL / hop limit.
pub const BFD_TTL: u32 = 255;
/// DSCP CS6 (network control), as routers mark BFD.
pub(crate) const TOS_NETWORK_CONTROL: u32 = 0xc0;
/// A listener's receive buffer, per peer it serves: the kernel doubles what is set and
/// counts about 1 KiB for each small datagram, so this is room for two packets from every
/// peer at once (all of them starting together, or the driver held up for an interval).
const RX_BUFFER_PER_PEER: usize = 1024;
/// The least a listener asks for: the kernel's usual default (`rmem_default`).
const RX_BUFFER_MIN: usize = 208 << 10;
/// The most a listener asks for (10,000 peers and up): a flood at the port can charge the
/// pod's memory up to twice this.
const RX_BUFFER_MAX: usize = 8 << 20;
/// Datagrams read by one `recvmmsg`.
pub const RX_BATCH: usize = 64;
/// Room per datagram: more than the Length field can say (255), so that a longer datagram's
/// first bytes hold its whole control packet; the rest, padding, is not read.
const RX_SLOT: usize = 256;

/// A datagram as received.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Addresses, interface, TTL.
    pub meta: RxMeta,
    /// When the kernel received it (`SO_TIMESTAMPNS`, wall clock), if it said.
    pub arrived: Option<SystemTime>,
}

/// A listening socket on 3784 or 4784 for one address family, read in batches.
pub struct RxSocket {
    socket: UdpSocket,
    multihop: bool,
    v6: bool,
    /// `recvmmsg` headers with room for each datagram's addresses and control messages. The
    /// kernel shrinks their lengths to what the last call used and nix does not reset them,
    /// which is harmless only because every datagram of one socket carries the same address
    /// family and the same two control messages: keep them per socket.
    headers: MultiHeaders<SockaddrStorage>,
    slots: Box<[[u8; RX_SLOT]; RX_BATCH]>,
}

impl RxSocket {
    /// (IPv6, multihop): which of the four listeners this is.
    pub fn kind(&self) -> (bool, bool) {
        (self.v6, self.multihop)
    }

    /// Binds the wildcard address of the family on the port for single hop or multihop.
    pub fn bind(v6: bool, multihop: bool) -> io::Result<RxSocket> {
        let port = if multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let (domain, addr) = if v6 {
            (
                Domain::IPV6,
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            )
        } else {
            (
                Domain::IPV4,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            )
        };
        // No SO_REUSEADDR: a second BFD daemon in this network namespace (another bfdd, FRR)
        // would silently take the peers' packets; binding fails instead.
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        // Arrival times, so a datagram that waited in the queue counts from when it came.
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
        if v6 {
            socket.set_only_v6(true)?;
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)?;
        } else {
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
            setsockopt(&socket, sockopt::Ipv4RecvTtl, &true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let cmsg = if v6 {
            nix::cmsg_space!(
                nix::libc::in6_pktinfo,
                nix::libc::c_int,
                nix::libc::timespec
            )
        } else {
            nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::c_int, nix::libc::timespec)
        };
        Ok(RxSocket {
            socket: UdpSocket::from_std(socket.into())?,
            multihop,
            v6,
            headers: MultiHeaders::preallocate(RX_BATCH, Some(cmsg)),
            slots: Box::new([[0; RX_SLOT]; RX_BATCH]),
        })
    }

    /// Sizes the receive buffer for `peers` peers ([`RX_BUFFER_PER_PEER`] each, within
    /// bounds). A full buffer drops packets silently, so better to ask for room than to flap;
    /// past `rmem_max` when CAP_NET_ADMIN allows it (the pod has it), whose default holds a
    /// few hundred datagrams, 10 ms of 10,000 sessions at 300 ms. A socket few peers use keeps
    /// the default, so that a flood at it costs the pod no more than that.
    pub fn fit_receive_buffer(&self, peers: usize) {
        let (wanted, got) = fit_receive_buffer(&self.socket, peers);
        if got < wanted {
            tracing::warn!(
                multihop = self.multihop,
                ipv6 = self.v6,
                peers,
                granted_bytes = got,
                wanted_bytes = wanted,
                "receive buffer smaller than wanted (net.core.rmem_max, and no CAP_NET_ADMIN): a burst beyond it is dropped"
            );
        }
    }

    /// Whether this is the multihop port.
    pub fn is_multihop(&self) -> bool {
        self.multihop
    }

    /// Whether this is the IPv6 socket.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// Waits until a datagram may be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads up to [`RX_BATCH`] queued datagrams with one `recvmmsg` and hands each to
    /// `each`, with its payload or why it is unusable. Returns how many were read: 0 when the
    /// queue was empty. Reads only when tokio has seen the socket become readable.
    pub fn recv_batch(
        &mut self,
        mut each: impl FnMut(io::Result<(Received, &[u8])>),
    ) -> io::Result<usize> {
        let mut read = 0;
        // try_io clears tokio's readiness only on WouldBlock. A short batch means the queue
        // was empty when read, so it reports WouldBlock too (after handling what it got): the
        // wait re-arms without one more, empty, system call. A datagram arriving meanwhile
        // raises a new readiness event.
        let socket = &self.socket;
        let (headers, slots, multihop) = (&mut self.headers, &mut self.slots, self.multihop);
        let result = socket.try_io(Interest::READABLE, || {
            read = read_batch(socket.as_raw_fd(), headers, slots, multihop, &mut each)?;
            if read < RX_BATCH {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(read),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(read),
            Err(e) => Err(e),
        }
    }

    /// As [`recv_batch`](Self::recv_batch), but asks the kernel, whatever tokio has seen: after
    /// the thread was held up, datagrams can be queued that tokio has not yet been told of.
    /// One system call, even when the queue is empty.
    pub fn recv_batch_now(
        &mut self,
        mut each: impl FnMut(io::Result<(Received, &[u8])>),
    ) -> io::Result<usize> {
        let fd = self.socket.as_raw_fd();
        match read_batch(
            fd,
            &mut self.headers,
            &mut self.slots,
            self.multihop,
            &mut each,
        ) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }
}

/// One non-blocking `recvmmsg` into `slots`; each datagram goes to `each`.
fn read_batch(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    slots: &mut [[u8; RX_SLOT]; RX_BATCH],
    multihop: bool,
    each: &mut impl FnMut(io::Result<(Received, &[u8])>),
) -> io::Result<usize> {
    let mut iovs = slots.each_mut().map(|slot| [IoSliceMut::new(slot)]);
    let messages = recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
        .map_err(io::Error::from)?;
    let mut read = 0;
    for msg in messages {
        read += 1;
        each(receive_one(&msg, multihop));
    }
    Ok(read)
}

/// One datagram of a batch with its payload, or why it cannot be used.
///
/// A datagram longer than [`RX_SLOT`] is handed on truncated: what was read holds more bytes
/// than the Length field can claim, so the §6.8.6 check "Length greater than the payload"
/// still holds for the whole datagram, and bytes beyond Length are padding. Peers pad BFD to
/// the path MTU to prove it (RFC 9764); truncation keeps them working without 9 KiB slots.
fn receive_one<'a>(
    msg: &nix::sys::socket::RecvMsg<'_, 'a, SockaddrStorage>,
    multihop: bool,
) -> io::Result<(Received, &'a [u8])> {
    let received = parse_msg(msg, multihop)?;
    let payload = msg.iovs().next().unwrap_or_default();
    Ok((received, payload))
}

fn parse_msg(
    msg: &nix::sys::socket::RecvMsg<'_, '_, SockaddrStorage>,
    multihop: bool,
) -> io::Result<Received> {
    {
        let src = msg.address.as_ref().and_then(sockaddr_ip);
        let mut dst = None;
        let mut ifindex = None;
        let mut ttl = None;
        let mut arrived = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                match cmsg {
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            info.ipi_addr.s_addr,
                        ))));
                        ifindex = u32::try_from(info.ipi_ifindex).ok();
                    }
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                        ifindex = Some(info.ipi6_ifindex);
                    }
                    ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                        ttl = u8::try_from(t).ok();
                    }
                    ControlMessageOwned::ScmTimestampns(ts) => {
                        let since_epoch = Duration::from(ts);
                        arrived = SystemTime::UNIX_EPOCH.checked_add(since_epoch);
                    }
                    _ => {}
                }
            }
        }
        let (Some(src), Some(dst)) = (src, dst) else {
            // Without both addresses the packet cannot be matched to a session.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "datagram without source or destination address",
            ));
        };
        Ok(Received {
            arrived,
            meta: RxMeta {
                src,
                dst,
                ifindex,
                ttl,
                multihop,
            },
        })
    }
}

fn sockaddr_ip(addr: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// What a session sends from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxBinding {
    /// Peer address.
    pub peer: IpAddr,
    /// Local address to bind, if pinned.
    pub local: Option<IpAddr>,
    /// Interface to bind (SO_BINDTODEVICE), if any.
    pub interface: Option<String>,
}

/// A session's own sending socket: its source port identifies the session to the peer.
///
/// The sessions' source ports, one each (RFC 5881 §4: "SHOULD be unique among all BFD
/// sessions on the system"). The kernel alone would hand out a port twice: to sockets bound
/// to different local addresses, different devices or different families. A cursor spreads
/// new sessions over the range; a bitmap (2 KiB for the 16,384 ports) says which are held.
pub struct SourcePorts {
    next: u16,
    held: Box<[u64; 256]>,
}

impl SourcePorts {
    /// No port held; the cursor starts `offset` into the range.
    pub fn new(offset: u16) -> SourcePorts {
        let span = SOURCE_PORTS.end() - SOURCE_PORTS.start();
        SourcePorts {
            next: SOURCE_PORTS.start() + offset % span,
            held: Box::new([0; 256]),
        }
    }

    fn bit(port: u16) -> Option<(usize, u64)> {
        let i = usize::from(port.checked_sub(*SOURCE_PORTS.start())?);
        (i < 256 * 64).then(|| (i / 64, 1u64 << (i % 64)))
    }

    /// Whether a session holds `port`.
    pub fn is_held(&self, port: u16) -> bool {
        Self::bit(port).is_some_and(|(w, b)| self.held[w] & b != 0)
    }

    fn hold(&mut self, port: u16) {
        if let Some((w, b)) = Self::bit(port) {
            self.held[w] |= b;
        }
    }

    /// `port` is free again (its session is gone).
    pub fn release(&mut self, port: u16) {
        if let Some((w, b)) = Self::bit(port) {
            self.held[w] &= !b;
        }
    }

    /// The next port of the range, wrapping.
    fn advance(&mut self) -> u16 {
        let port = self.next;
        self.next = if port >= *SOURCE_PORTS.end() {
            *SOURCE_PORTS.start()
        } else {
            port + 1
        };
        port
    }
}

/// A plain non-blocking socket, not registered with tokio: nothing ever waits on it, and at
/// thousands of sessions the registrations cost memory and time for nothing.
pub struct TxSocket {
    socket: std::net::UdpSocket,
    source_port: u16,
    /// Connected to the peer: the kernel keeps the route and the source address checked once,
    /// instead of looking both up for every packet (most of the cost of an unconnected send).
    connected: bool,
    /// The source address the kernel picked when connecting, for packets sent in batches
    /// through [`BatchSender`](crate::batch_send::BatchSender); unspecified when this socket
    /// must send its own packets (IPv6, bound to an interface, not connected).
    batch_source: Ipv4Addr,
    /// Bound to `source_port`. Only a failed [`rebind`](Self::rebind) leaves it unbound, and
    /// then it sends nothing: a send would bind it to an ephemeral port outside 49152-65535.
    bound: bool,
}

impl TxSocket {
    /// Binds a socket for `binding` on the first source port no session holds and the kernel
    /// has free, from the cursor of `ports` on (so sessions spread over the range), holds it,
    /// and connects the socket to `destination` when there is a route to it (otherwise each
    /// packet is addressed). The port is the caller's to release when the session goes.
    pub fn bind(
        binding: &TxBinding,
        ports: &mut SourcePorts,
        destination: SocketAddr,
    ) -> io::Result<TxSocket> {
        let socket = unbound_socket(binding)?;
        let source_port = bind_free_port(&socket, binding, None, ports)?;
        let mut tx = TxSocket {
            socket: socket.into(),
            source_port,
            connected: false,
            batch_source: Ipv4Addr::UNSPECIFIED,
            bound: true,
        };
        tx.connect(binding, destination);
        Ok(tx)
    }

    /// Connects a socket that is not connected (no route to the peer when it was bound):
    /// once there is one, the session sends through the connected, batched path again.
    /// Returns whether it is connected now.
    pub fn connect_again(&mut self, binding: &TxBinding, destination: SocketAddr) -> bool {
        if self.bound && !self.connected {
            self.connect(binding, destination);
        }
        self.connected
    }

    /// Whether the connected socket's source address is still ours and the peer still
    /// routed: connecting again to the same peer makes the kernel look the route up from
    /// that source, and it refuses one that is gone (a failed connect leaves the socket as it
    /// was). Packets sent in batches carry this source, and the raw socket checks neither.
    pub fn still_valid(&self, destination: SocketAddr) -> bool {
        self.socket.connect(destination).is_ok()
    }

    /// The address the socket sends from, as the kernel has it.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.socket.local_addr().ok().map(|a| a.ip())
    }

    /// Connected to the peer (see the field).
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Bound to its source port (see the field).
    pub fn bound(&self) -> bool {
        self.bound
    }

    /// Replaces the socket by a fresh one, on the same source port if it is still free: for
    /// a session whose interface was deleted and created again (the old socket is bound to
    /// the old index) or whose source address went away (the old one is connected from it).
    pub fn rebind(
        &mut self,
        binding: &TxBinding,
        ports: &mut SourcePorts,
        destination: SocketAddr,
    ) -> io::Result<()> {
        // The old socket goes first: it holds the port. Until the new one is bound it sends
        // nothing (see `try_send`), and keeps the port to try again.
        self.socket = unbound_socket(binding)?.into();
        self.connected = false;
        self.batch_source = Ipv4Addr::UNSPECIFIED;
        self.bound = false;
        let socket = socket2::SockRef::from(&self.socket);
        let port = bind_free_port(&socket, binding, Some(self.source_port), ports)?;
        if port != self.source_port {
            ports.release(self.source_port);
            self.source_port = port;
        }
        self.bound = true;
        self.connect(binding, destination);
        Ok(())
    }

    /// Connects the bound socket to `destination` if the kernel has a route to it.
    fn connect(&mut self, binding: &TxBinding, destination: SocketAddr) {
        self.connected = self.socket.connect(destination).is_ok();
        self.batch_source = match self.socket.local_addr() {
            Ok(SocketAddr::V4(local)) if self.connected && binding.interface.is_none() => {
                *local.ip()
            }
            _ => Ipv4Addr::UNSPECIFIED,
        };
    }

    /// Sends without waiting: a full socket buffer loses this packet, as a congested link would,
    /// rather than stalling every other session.
    /// A connected socket reports a peer's ICMP port unreachable (no BFD listening there yet)
    /// on the next send, and the kernel drops that packet: it is sent again, once, so a peer
    /// starting up hears every packet and no send error is counted for a local fault that is
    /// none. `destination` is only worked out for a socket that is not connected.
    pub fn try_send(
        &self,
        payload: &[u8],
        destination: impl FnOnce() -> SocketAddr,
    ) -> io::Result<()> {
        if self.connected {
            match self.socket.send(payload) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.socket.send(payload).map(|_| ())
                }
                sent => sent.map(|_| ()),
            }
        } else if !self.bound {
            // A send would bind the socket to an ephemeral port outside 49152-65535.
            Err(io::Error::from_raw_os_error(nix::libc::EADDRNOTAVAIL))
        } else {
            self.socket.send_to(payload, destination()).map(|_| ())
        }
    }

    /// The source port the peer sees.
    pub fn source_port(&self) -> u16 {
        self.source_port
    }

    /// Where this session's packets come from when a [`BatchSender`](crate::batch_send::BatchSender)
    /// sends them for it; `None` when only this socket can send them.
    pub fn batch_source(&self) -> Option<SocketAddrV4> {
        (!self.batch_source.is_unspecified())
            .then(|| SocketAddrV4::new(self.batch_source, self.source_port))
    }
}

/// Sizes `socket`'s receive buffer for `peers` (see [`RxSocket::fit_receive_buffer`]);
/// returns what it wanted and what the kernel granted.
fn fit_receive_buffer(socket: &impl std::os::fd::AsFd, peers: usize) -> (usize, usize) {
    let wanted = peers
        .saturating_mul(RX_BUFFER_PER_PEER)
        .clamp(RX_BUFFER_MIN, RX_BUFFER_MAX);
    let sock = socket2::SockRef::from(socket);
    // The kernel reports twice what it grants, and grants at most `rmem_max` unforced.
    let granted = || sock.recv_buffer_size().unwrap_or(0) / 2;
    if granted() != wanted && setsockopt(socket, sockopt::RcvBufForce, &wanted).is_err() {
        let _ = sock.set_recv_buffer_size(wanted);
    }
    (wanted, granted())
}

/// A sending socket for `binding`, configured (TTL 255, device) but not bound yet.
fn unbound_socket(binding: &TxBinding) -> io::Result<Socket> {
    let v6 = binding.peer.is_ipv6();
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if v6 {
        socket.set_only_v6(true)?;
        socket.set_unicast_hops_v6(BFD_TTL)?;
        let _ = socket.set_tclass_v6(TOS_NETWORK_CONTROL);
    } else {
        socket.set_ttl(BFD_TTL)?;
        let _ = socket.set_tos(TOS_NETWORK_CONTROL);
    }
    if let Some(interface) = &binding.interface {
        socket.bind_device(Some(interface.as_bytes()))?;
    }
    // Nothing reads a sending socket (the peer's packets come to the listening port): what
    // reached its port would sit in its buffer, some 200 KiB a socket, until a spray at
    // thousands of them used up the host's UDP memory and the listeners lost the peers'
    // packets too. The kernel drops it on arrival instead. Without the filter (a kernel
    // that refuses it) the socket still sends.
    if let Err(e) = socket.attach_filter(&[DROP_EVERY_DATAGRAM]) {
        tracing::debug!(error = %e, "no drop filter on a sending socket");
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A classic BPF program of one instruction: return 0, keep nothing.
const DROP_EVERY_DATAGRAM: nix::libc::sock_filter = nix::libc::sock_filter {
    code: (nix::libc::BPF_RET | nix::libc::BPF_K) as u16,
    jt: 0,
    jf: 0,
    k: 0,
};

/// Binds `socket` to `first` (the session's own port, held already) if the kernel has it
/// free, else to the first port of the range from the cursor on that no session holds and
/// the kernel has free, which it then holds. One socket for every attempt: a bind that
/// failed leaves it unbound, and a range nearly full takes thousands of attempts.
fn bind_free_port(
    socket: &Socket,
    binding: &TxBinding,
    first: Option<u16>,
    ports: &mut SourcePorts,
) -> io::Result<u16> {
    let local_ip = binding.local.unwrap_or(if binding.peer.is_ipv6() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let bind = |port: u16| socket.bind(&SocketAddr::new(local_ip, port).into());
    let mut last_err = None;
    if let Some(port) = first {
        match bind(port) {
            Ok(()) => return Ok(port),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    let range = usize::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    for _ in 0..range {
        let port = ports.advance();
        if ports.is_held(port) {
            continue;
        }
        match bind(port) {
            Ok(()) => {
                ports.hold(port);
                return Ok(port);
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            "every source port is held by a session",
        )
    }))
}

/// Where a session's packets go (RFC 5881 §4, RFC 5883 §5), worked out per packet from the
/// session's key rather than stored beside every session.
pub fn destination(key: &bfd_core::PeerKey) -> SocketAddr {
    let port = if key.multihop {
        MULTIHOP_PORT
    } else {
        SINGLE_HOP_PORT
    };
    match key.peer {
        IpAddr::V6(ip) => {
            let scope = key.ifindex.filter(|_| is_link_local(ip)).unwrap_or(0);
            SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
        }
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V4(ip), port),
    }
}

fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The index of a network interface, by name.
pub fn interface_index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both families mark BFD as network control (CS6), IPv6 in its traffic class: left best
    /// effort, IPv6 sessions would be the first to time out under congestion.
    #[test]
    fn sessions_send_as_network_control_in_both_families() {
        for peer in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let binding = TxBinding {
                peer,
                local: None,
                interface: None,
            };
            let socket = unbound_socket(&binding).expect("socket");
            let marked = if peer.is_ipv6() {
                socket.tclass_v6()
            } else {
                socket.tos()
            };
            assert_eq!(marked.expect("read back"), TOS_NETWORK_CONTROL, "{peer}");
        }
    }

    /// RFC 5881 §4: a source port per session. The kernel would give one port to sockets
    /// bound to different local addresses (or families), so the cursor coming round again
    /// must skip the ports sessions hold; a released one is free again.
    #[test]
    fn rfc5881_4_no_two_sessions_share_a_source_port() {
        let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), SINGLE_HOP_PORT);
        let from = |local: IpAddr, peer: IpAddr| TxBinding {
            peer,
            local: Some(local),
            interface: None,
        };
        let mut ports = SourcePorts::new(0);
        let first = TxSocket::bind(&from(Ipv4Addr::LOCALHOST.into(), to.ip()), &mut ports, to)
            .expect("bind");
        let held = first.source_port();
        // The cursor back at that port (as after a wrap): the next session gets another.
        ports.next = held;
        let other_address = TxSocket::bind(
            &from(Ipv4Addr::new(127, 0, 0, 5).into(), to.ip()),
            &mut ports,
            to,
        )
        .expect("bind");
        assert_ne!(other_address.source_port(), held);
        ports.next = held;
        let v6_to = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), SINGLE_HOP_PORT);
        let v6 = TxSocket::bind(
            &from(Ipv6Addr::LOCALHOST.into(), v6_to.ip()),
            &mut ports,
            v6_to,
        )
        .expect("bind");
        assert_ne!(v6.source_port(), held);
        // The first session gone, its port is free again.
        ports.release(held);
        drop(first);
        ports.next = held;
        let again = TxSocket::bind(&from(Ipv4Addr::LOCALHOST.into(), to.ip()), &mut ports, to)
            .expect("bind");
        assert_eq!(again.source_port(), held);
    }

    /// Loopback only: a receiver on 127.0.0.1 stands for the peer.
    #[test]
    fn rebind_keeps_the_source_port_and_a_failed_one_sends_nothing() {
        let peer_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        peer_socket.set_nonblocking(true).expect("nonblocking");
        let peer = peer_socket.local_addr().expect("addr");
        let binding = TxBinding {
            peer: peer.ip(),
            local: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            interface: None,
        };
        let mut ports = SourcePorts::new(1000);
        let mut tx = TxSocket::bind(&binding, &mut ports, peer).expect("bind");
        let port = tx.source_port();
        tx.rebind(&binding, &mut ports, peer).expect("rebind");
        assert_eq!(tx.source_port(), port);
        tx.try_send(&[1; 24], || peer).expect("send");
        let mut buf = [0; 64];
        std::thread::sleep(Duration::from_millis(20));
        let (_, from) = peer_socket.recv_from(&mut buf).expect("received");
        assert_eq!(from.port(), port);

        // The local address is gone (not on this host): the rebind fails, and the socket,
        // left unbound, refuses to send rather than from a port outside the RFC's range.
        let gone = TxBinding {
            local: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 123))),
            ..binding.clone()
        };
        assert!(tx.rebind(&gone, &mut ports, peer).is_err());
        let e = tx
            .try_send(&[2; 24], || peer)
            .expect_err("unbound socket sent");
        assert_eq!(e.raw_os_error(), Some(nix::libc::EADDRNOTAVAIL));
        std::thread::sleep(Duration::from_millis(20));
        assert!(peer_socket.recv_from(&mut buf).is_err(), "a packet left");
        // Back: the session's port again.
        tx.rebind(&binding, &mut ports, peer).expect("rebind");
        assert_eq!(tx.source_port(), port);
        tx.try_send(&[3; 24], || peer).expect("send");
        std::thread::sleep(Duration::from_millis(20));
        let (_, from) = peer_socket.recv_from(&mut buf).expect("received");
        assert_eq!(from.port(), port);
    }

    /// A listener few peers use keeps the kernel's default (a flood at it costs no more);
    /// one that thousands use gets room for their packets at once, past `rmem_max` (root
    /// here, as bfdd with CAP_NET_ADMIN), up to a bound; and a reload's fewer peers shrink it.
    #[test]
    fn receive_buffers_follow_the_number_of_peers() {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "needs root (CAP_NET_ADMIN) in CI"
            );
            eprintln!("skipped: needs root (CAP_NET_ADMIN)");
            return;
        }
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
        assert_eq!(
            fit_receive_buffer(&socket, 3),
            (RX_BUFFER_MIN, RX_BUFFER_MIN)
        );
        let many = 4000 * RX_BUFFER_PER_PEER;
        assert_eq!(fit_receive_buffer(&socket, 4000), (many, many));
        assert_eq!(
            fit_receive_buffer(&socket, 100_000),
            (RX_BUFFER_MAX, RX_BUFFER_MAX)
        );
        assert_eq!(
            fit_receive_buffer(&socket, 3),
            (RX_BUFFER_MIN, RX_BUFFER_MIN)
        );
    }

    /// What reaches a sending socket's port, even from the peer it is connected to, is
    /// dropped on arrival rather than kept in a buffer nobody reads.
    #[test]
    fn sending_sockets_keep_nothing_that_arrives() {
        let peer_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        let peer = peer_socket.local_addr().expect("addr");
        let witness = std::net::UdpSocket::bind("127.0.0.1:0").expect("witness");
        witness
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let binding = TxBinding {
            peer: peer.ip(),
            local: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            interface: None,
        };
        let mut ports = SourcePorts::new(2000);
        let tx = TxSocket::bind(&binding, &mut ports, peer).expect("bind");
        assert!(tx.connected(), "connected to the peer");
        let port = SocketAddr::new(peer.ip(), tx.source_port());
        for _ in 0..3 {
            peer_socket.send_to(&[7; 24], port).expect("send");
        }
        // Sent after, on the same path: once it is in, so would the others be.
        peer_socket
            .send_to(&[8; 24], witness.local_addr().expect("addr"))
            .expect("send");
        let mut buf = [0; 64];
        witness.recv_from(&mut buf).expect("the witness datagram");
        tx.socket.set_nonblocking(true).expect("nonblocking");
        let kept = tx.socket.recv(&mut buf);
        assert_eq!(
            kept.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::WouldBlock),
            "a datagram was kept"
        );
    }

    /// A peer not listening answers with ICMP port unreachable, which the connected socket
    /// reports on the next send, dropping that packet: it is sent again, so no send fails (before,
    /// every other one did). Loopback only, to a port nothing listens on.
    #[test]
    fn port_unreachable_loses_no_packet_and_counts_no_error() {
        // A port with nothing on it: bind one, note it, close it.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let binding = TxBinding {
            peer: peer.ip(),
            local: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            interface: None,
        };
        let mut ports = SourcePorts::new(0);
        let tx = TxSocket::bind(&binding, &mut ports, peer).expect("bind");
        assert!(tx.connected);
        for i in 0..20 {
            tx.try_send(&[i; 24], || peer)
                .unwrap_or_else(|e| panic!("send {i}: {e}"));
            // Give the ICMP error time to come back before the next send.
            std::thread::sleep(Duration::from_millis(2));
        }
        // The peer was unreachable all along: the last packet's error is still pending.
        let pending = tx.socket.take_error().expect("SO_ERROR");
        assert_eq!(
            pending.map(|e| e.kind()),
            Some(io::ErrorKind::ConnectionRefused)
        );
    }

    /// RFC 9764 / RFC 5880 §6.8.6: a peer pads its packets to the path MTU, Length saying 24.
    /// The padded datagram comes through with a packet that parses (its padding cut), between
    /// two plain ones, with addresses and arrival stamps, in order. Loopback only, on the
    /// multihop port.
    #[tokio::test]
    async fn rfc9764_padded_packet_is_read_and_the_batch_goes_on() {
        let mut rx = RxSocket::bind(false, true).expect("bind 4784 on loopback");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        let to = ("127.0.0.1", MULTIHOP_PORT);
        let packet = crate::test_packets::down(7, 0);
        let mut padded = Vec::new();
        packet.emit(&mut padded);
        padded.resize(1400, 0);
        tx.send_to(&[1; 24], to).expect("send");
        tx.send_to(&padded, to).expect("send");
        tx.send_to(&[3; 52], to).expect("send");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
                .await
                .expect("the datagrams arrive on loopback")
                .expect("readable");
            rx.recv_batch(|d| {
                seen.push(d.map(|(r, p)| {
                    assert!(r.arrived.is_some(), "kernel arrival stamp");
                    (r.meta.dst, r.meta.multihop, p.to_vec())
                }));
            })
            .expect("recvmmsg");
        }
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            seen[0].as_ref().expect("first"),
            &(loopback, true, vec![1; 24])
        );
        let (dst, _, payload) = seen[1].as_ref().expect("the padded datagram is read");
        assert_eq!(*dst, loopback);
        assert_eq!(payload.len(), RX_SLOT, "read up to the slot, padding cut");
        assert_eq!(bfd_wire::parse(payload), Ok(packet));
        assert_eq!(
            seen[2].as_ref().expect("third"),
            &(loopback, true, vec![3; 52])
        );
    }
}
