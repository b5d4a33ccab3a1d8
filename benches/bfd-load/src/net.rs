//! Sockets of the harness: batched receive (`recvmmsg` with destination, TTL and kernel receive
//! timestamp of every datagram) and batched send (`sendmmsg`), plus entering a namespace.
//!
//! The emulator sends through a raw IPv4 socket (`IPPROTO_RAW`, header included) because every
//! emulated peer has its own source address and `sendmmsg` (as nix exposes it) shares one set of
//! control messages across a batch, so `IP_PKTINFO` cannot pick a source per message. Writing
//! the IP header ourselves gives each message its own source address, source port and TTL 255.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::socket::{
    recvmmsg, recvmsg, sendmmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, SockaddrIn, TimestampingFlag,
};
use nix::sys::time::TimeSpec;
use socket2::{Domain, Protocol, Socket, Type};

/// `ee_info` of a software transmit stamp (`linux/errqueue.h`; not in the libc crate).
const SCM_TSTAMP_SND: u32 = 0;
/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub const BATCH: usize = 256;
/// Room for one datagram: BFD control packets are at most 52 bytes.
const SLOT: usize = 128;
/// Socket buffers of the harness (set with the `*BUFFORCE` options, past `rmem_max`).
const BUFFER_BYTES: usize = 32 << 20;

/// Moves the calling thread into the network namespace `name` (`/run/netns/NAME`, as created by
/// `ip netns add`). Only this thread changes namespace.
pub fn enter_netns(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).with_context(|| format!("opening {path}"))?;
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns into {path}"))
}

/// Runs `f` on a helper thread inside namespace `name` and returns its result. Sockets created
/// there belong to that namespace for their whole life, whichever thread uses them later.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            enter_netns(name)?;
            f()
        });
        h.join()
            .map_err(|_| anyhow::anyhow!("thread in netns {name} panicked"))?
    })
}

/// The current time on the realtime clock, in seconds since the epoch (kernel receive
/// timestamps use the same clock).
pub fn now_rt() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Waits until `sock` is readable or `timeout` passes (nanosecond timeout, unlike `poll`).
pub fn wait_readable(sock: &Socket, timeout: Duration) -> Result<bool> {
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
    match ppoll(&mut fds, Some(TimeSpec::from_duration(timeout)), None) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(e).context("ppoll"),
    }
}

/// Large socket buffers: `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE` (past `rmem_max`, needs
/// `CAP_NET_ADMIN`), else as large as `rmem_max`/`wmem_max` allow.
fn set_buffers(sock: &Socket, receive: bool) -> Result<()> {
    let forced = if receive {
        setsockopt(sock, sockopt::RcvBufForce, &BUFFER_BYTES)
    } else {
        setsockopt(sock, sockopt::SndBufForce, &BUFFER_BYTES)
    };
    if forced.is_err() {
        if receive {
            sock.set_recv_buffer_size(BUFFER_BYTES)
        } else {
            sock.set_send_buffer_size(BUFFER_BYTES)
        }
        .context("socket buffer")?;
    }
    Ok(())
}

/// One received datagram; its bytes are in [`RxSocket::payload`] until the next receive.
#[derive(Clone, Copy, Debug)]
pub struct RxDatagram {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address (`IP_PKTINFO`).
    pub dst: Option<Ipv4Addr>,
    /// TTL (`IP_RECVTTL`).
    pub ttl: Option<u8>,
    /// Kernel receive time (`SO_TIMESTAMPNS`), realtime seconds; `now_rt()` when missing.
    pub ts: f64,
    /// Length.
    pub len: usize,
    slot: usize,
}

/// The first thing a load-side thread does: enter `netns`, bind the receive socket on `port`,
/// open the raw sender and whatever else `more` opens there, then tell the thread that started
/// it whether that worked (it waits on `ready` before sending anything).
pub fn open_load_sockets<T>(
    netns: &str,
    port: u16,
    ready: &std::sync::mpsc::Sender<Result<()>>,
    more: impl FnOnce() -> Result<T>,
) -> Result<(RxSocket, RawSender, T)> {
    let setup = (|| -> Result<(RxSocket, RawSender, T)> {
        enter_netns(netns)?;
        Ok((RxSocket::bind(port, true)?, RawSender::open()?, more()?))
    })();
    match setup {
        Ok(sockets) => {
            let _ = ready.send(Ok(()));
            Ok(sockets)
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let _ = ready.send(Err(e));
            Err(anyhow::anyhow!(msg))
        }
    }
}

/// A UDP socket bound to `0.0.0.0:port`, read in batches.
pub struct RxSocket {
    sock: Socket,
    headers: MultiHeaders<SockaddrIn>,
    bufs: Vec<[u8; SLOT]>,
}

impl RxSocket {
    /// Binds `0.0.0.0:port` with destination and TTL reporting (and kernel receive timestamps
    /// when `timestamps`) and large buffers.
    pub fn bind(port: u16, timestamps: bool) -> Result<RxSocket> {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_reuse_address(true)?;
        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)?;
        setsockopt(&sock, sockopt::Ipv4RecvTtl, &true)?;
        if timestamps {
            setsockopt(&sock, sockopt::ReceiveTimestampns, &true)?;
        }
        set_buffers(&sock, true)?;
        set_buffers(&sock, false)?;
        sock.set_ttl(255)?;
        sock.set_nonblocking(true)?;
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        sock.bind(&addr.into())
            .with_context(|| format!("binding UDP {addr}"))?;
        let cmsg = nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::c_int, TimeSpec);
        Ok(RxSocket {
            sock,
            headers: MultiHeaders::preallocate(BATCH, Some(cmsg)),
            bufs: vec![[0u8; SLOT]; BATCH],
        })
    }

    /// The socket, for [`wait_readable`] and plain sends.
    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// One `recvmmsg` without waiting: fills `out` (cleared first) with up to [`BATCH`]
    /// datagrams; an empty `out` means the queue was empty.
    pub fn recv_batch(&mut self, out: &mut Vec<RxDatagram>) -> Result<()> {
        out.clear();
        let fd = self.sock.as_raw_fd();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        let results = match recvmmsg(
            fd,
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(r) => r,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e).context("recvmmsg"),
        };
        for (slot, msg) in results.enumerate() {
            let Some(src) = msg.address else { continue };
            let mut d = RxDatagram {
                src: SocketAddrV4::new(src.ip(), src.port()),
                dst: None,
                ttl: None,
                ts: 0.0,
                len: msg.bytes.min(SLOT),
                slot,
            };
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv4PacketInfo(info) => {
                            d.dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                        }
                        ControlMessageOwned::Ipv4Ttl(t) => d.ttl = u8::try_from(t).ok(),
                        ControlMessageOwned::ScmTimestampns(ts) => {
                            d.ts = ts.tv_sec() as f64 + ts.tv_nsec() as f64 * 1e-9;
                        }
                        _ => {}
                    }
                }
            }
            if d.ts == 0.0 {
                d.ts = now_rt();
            }
            out.push(d);
        }
        Ok(())
    }

    /// The bytes of a datagram of the last [`recv_batch`](Self::recv_batch).
    pub fn payload(&self, d: &RxDatagram) -> &[u8] {
        self.bufs
            .get(d.slot)
            .map(|b| &b[..d.len.min(SLOT)])
            .unwrap_or(&[])
    }
}

/// Batched UDP sending through a raw socket that takes our own IPv4 header: every message has
/// its own source address and port, TTL 255 and DSCP CS6, as a BFD peer sends (RFC 5881 §4-5).
pub struct RawSender {
    sock: Socket,
    headers: MultiHeaders<SockaddrIn>,
    frames: Vec<[u8; SLOT]>,
    lens: Vec<usize>,
    addrs: Vec<Option<SockaddrIn>>,
    /// Messages the kernel refused (full buffer); they are lost as on a congested link.
    pub dropped: u64,
    /// Messages handed to the kernel.
    pub sent: u64,
}

impl RawSender {
    /// A sender whose packets the kernel stamps as veth takes them (software transmit
    /// timestamps, numbered in sending order from 0; numbered on raw sockets since Linux 5.0),
    /// read with [`RawSender::take_tx_stamps`]. veth hands the packet to the daemon's namespace
    /// within the same call, so this is when the daemon's side received it, however long the
    /// harness took to get it out. The caller flushes before the batch is full ([`push`]'s own
    /// flush would not say which packets it sent).
    ///
    /// [`push`]: RawSender::push
    pub fn open_stamped() -> Result<RawSender> {
        let sender = RawSender::open()?;
        // The stamps queue on the receive side: room for a turn's worth of them.
        set_buffers(&sender.sock, true)?;
        let flags = TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_OPT_ID
            | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY;
        setsockopt(&sender.sock, sockopt::Timestamping, &flags)
            .context("SO_TIMESTAMPING on the raw sender")?;
        Ok(sender)
    }

    /// The transmit timestamps queued since the last call, as (packet number, realtime
    /// seconds), oldest first. Only for a sender from [`RawSender::open_stamped`].
    pub fn take_tx_stamps(&self, out: &mut Vec<(u32, f64)>) -> Result<()> {
        out.clear();
        let mut cmsg = nix::cmsg_space!(
            nix::libc::sock_extended_err,
            nix::libc::sockaddr_in,
            [nix::libc::timespec; 3]
        );
        loop {
            let mut buf = [0u8; SLOT];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => msg,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("reading transmit timestamps"),
            };
            let (mut number, mut at) = (None, None);
            for c in msg.cmsgs().context("transmit timestamp control messages")? {
                match c {
                    ControlMessageOwned::ScmTimestampsns(t) => {
                        at = Some(t.system.tv_sec() as f64 + t.system.tv_nsec() as f64 * 1e-9);
                    }
                    ControlMessageOwned::Ipv4RecvErr(e, _)
                        if e.ee_origin == nix::libc::SO_EE_ORIGIN_TIMESTAMPING
                            && e.ee_info == SCM_TSTAMP_SND =>
                    {
                        number = Some(e.ee_data);
                    }
                    _ => {}
                }
            }
            if let (Some(number), Some(at)) = (number, at) {
                out.push((number, at));
            }
        }
    }

    /// Opens the raw socket (needs `CAP_NET_RAW`) in the current namespace.
    pub fn open() -> Result<RawSender> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))
            .context("raw IPv4 socket (needs root)")?;
        set_buffers(&sock, false)?;
        sock.set_nonblocking(true)?;
        Ok(RawSender {
            sock,
            headers: MultiHeaders::preallocate(BATCH, None),
            frames: vec![[0u8; SLOT]; BATCH],
            lens: Vec::with_capacity(BATCH),
            addrs: Vec::with_capacity(BATCH),
            dropped: 0,
            sent: 0,
        })
    }

    /// Queues one UDP datagram, sending the batch when it is full.
    pub fn push(&mut self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Result<()> {
        if self.lens.len() == BATCH {
            self.flush()?;
        }
        let i = self.lens.len();
        let Some(frame) = self.frames.get_mut(i) else {
            return Ok(());
        };
        let len = write_udp_frame(frame, src, dst, payload);
        self.lens.push(len);
        self.addrs
            .push(Some(SockaddrIn::from(SocketAddrV4::new(*dst.ip(), 0))));
        Ok(())
    }

    /// Messages queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.lens.len()
    }

    /// Sends everything queued (`sendmmsg`, repeated for partial sends); returns how many of
    /// them, in order, the kernel took.
    pub fn flush(&mut self) -> Result<usize> {
        let total = self.lens.len();
        let mut done = 0;
        while done < total {
            let iovs: Vec<[IoSlice<'_>; 1]> = self.frames[done..total]
                .iter()
                .zip(&self.lens[done..total])
                .map(|(f, &l)| [IoSlice::new(&f[..l])])
                .collect();
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                self.sock.as_raw_fd(),
                &mut self.headers,
                &iovs,
                &self.addrs[done..total],
                no_cmsgs,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(r) => {
                    let n = r.count().max(1);
                    self.sent += n as u64;
                    done += n;
                }
                Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) => {
                    // A full queue: the rest of this batch is lost, like drops on a link.
                    self.dropped += (total - done) as u64;
                    break;
                }
                Err(Errno::EINTR) => {}
                Err(e) => {
                    self.lens.clear();
                    self.addrs.clear();
                    return Err(e).context("sendmmsg");
                }
            }
        }
        self.lens.clear();
        self.addrs.clear();
        Ok(done.min(total))
    }
}

/// Writes IPv4 + UDP headers and `payload` into `frame`; returns the frame length.
fn write_udp_frame(
    frame: &mut [u8; SLOT],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> usize {
    let payload = &payload[..payload.len().min(SLOT - 28)];
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let ip = [
        0x45,
        0xc0, // DSCP CS6, as routers mark BFD
        (total >> 8) as u8,
        total as u8,
        0,
        0, // id: the kernel fills it
        0x40,
        0,   // DF
        255, // RFC 5881 §5: TTL 255
        17,
        0,
        0, // checksum: the kernel fills it for IP_HDRINCL
    ];
    frame[..12].copy_from_slice(&ip);
    frame[12..16].copy_from_slice(&src.ip().octets());
    frame[16..20].copy_from_slice(&dst.ip().octets());
    frame[20..22].copy_from_slice(&src.port().to_be_bytes());
    frame[22..24].copy_from_slice(&dst.port().to_be_bytes());
    frame[24..26].copy_from_slice(&(udp_len as u16).to_be_bytes());
    frame[26..28].copy_from_slice(&[0, 0]);
    frame[28..28 + payload.len()].copy_from_slice(payload);
    let sum = udp_checksum(*src.ip(), *dst.ip(), &frame[20..20 + udp_len]);
    frame[26..28].copy_from_slice(&sum.to_be_bytes());
    total
}

/// RFC 768 checksum over the pseudo header and the UDP datagram (checksum field zero).
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for pair in b.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map(u32::from).unwrap_or(0);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&[0, 17]);
    add(&(udp.len() as u16).to_be_bytes());
    add(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Plain batched UDP sending from one socket to per-message destinations (the echo floor).
pub fn send_batch(
    sock: &Socket,
    headers: &mut MultiHeaders<SockaddrIn>,
    msgs: &[(SockaddrIn, &[u8])],
) -> usize {
    let mut done = 0;
    while done < msgs.len() {
        let iovs: Vec<[IoSlice<'_>; 1]> = msgs[done..]
            .iter()
            .map(|(_, p)| [IoSlice::new(p)])
            .collect();
        let addrs: Vec<Option<SockaddrIn>> = msgs[done..].iter().map(|(a, _)| Some(*a)).collect();
        let no_cmsgs: [ControlMessage<'_>; 0] = [];
        match sendmmsg(
            sock.as_raw_fd(),
            headers,
            &iovs,
            &addrs,
            no_cmsgs,
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(r) => done += r.count().max(1),
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    done
}

/// Raises `RLIMIT_NOFILE` to its hard limit (bfdd and FRR keep a socket per session; the
/// daemons inherit it through `ip netns exec`).
pub fn raise_nofile() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_known_datagram() {
        // 198.19.0.1:49152 -> 198.18.0.1:3784, 4 bytes of payload; verify by re-summing.
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), 49152);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 3784);
        let mut frame = [0u8; SLOT];
        let len = write_udp_frame(&mut frame, src, dst, &[1, 2, 3, 4]);
        assert_eq!(len, 32);
        assert_eq!(frame[8], 255);
        // Summing with the checksum in place gives 0xffff (i.e. the complement is zero).
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for p in b.chunks(2) {
                sum += (u32::from(p[0]) << 8) | p.get(1).copied().map(u32::from).unwrap_or(0);
            }
        };
        add(&src.ip().octets());
        add(&dst.ip().octets());
        add(&[0, 17]);
        add(&12u16.to_be_bytes());
        add(&frame[20..32]);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }
}
