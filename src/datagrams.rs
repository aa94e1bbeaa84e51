//! UDP datagrams in batches: many per system call, for the resolver and the server alike.
//!
//! DNS over UDP is a stream of small datagrams, and with a `recvfrom` and a `sendto` for each
//! one the system calls' own cost was a large share of the resolver's and the server's CPU.
//! An [`Inbox`] takes every datagram queued on a socket, up to its batch, in one `recvmmsg`;
//! an [`Outbox`] collects datagrams to any number of addresses and sends them with one
//! `sendmmsg`. Both go through tokio's readiness (`try_io`), so a socket that has nothing to
//! read or no room to write parks its task as `recv_from` and `send_to` would.
//!
//! Sending costs more than the call: each datagram goes down the whole IP stack (route,
//! buffers, the device and, on one machine, the receiver's side too). So the outbox also
//! hands datagrams of one length to one address to the system as one message that it cuts
//! apart late (UDP segmentation offload, Linux 4.18 on): the stack is walked once per group
//! instead of once per datagram. Queries for the same name in several types have one length,
//! and so do many names of a list; the outbox sorts what it holds by address and length to
//! find them. Where the system refuses (an older kernel, a device without checksum offload)
//! it sends those datagrams one by one and stops grouping.
//!
//! On systems without those calls the same types read and write one datagram per call.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most datagrams an [`Inbox`] takes or an [`Outbox`] hands over in one call.
pub const MAX_BATCH: usize = 64;

/// Buffers for a batch of received datagrams.
pub struct Inbox {
    /// `batch` slots of `slot_size` bytes, one per datagram.
    data: Vec<u8>,
    slot_size: usize,
    batch: usize,
    /// Slot, length (as kept: cut to the slot) and source of each datagram of the last
    /// receive.
    received: Vec<(usize, usize, SocketAddr)>,
}

impl Inbox {
    /// Room for `batch` datagrams (at most [`MAX_BATCH`]) of up to `slot_size` bytes each; a
    /// longer datagram is cut to `slot_size`, as `recv_from` into such a buffer would cut it.
    ///
    /// The slots are zeroed lazily by the system's allocator, so slots sized for the largest
    /// datagram cost memory only for the pages small datagrams actually touch.
    pub fn new(batch: usize, slot_size: usize) -> Inbox {
        let batch = batch.clamp(1, MAX_BATCH);
        Inbox {
            data: vec![0; batch * slot_size],
            slot_size,
            batch,
            received: Vec::with_capacity(batch),
        }
    }

    /// Takes the datagrams queued on `socket` (up to the batch) without waiting; returns how
    /// many, or `WouldBlock` when there are none (which also clears the socket's readiness).
    pub fn try_receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received.clear();
        let (data, slot_size, batch, received) =
            (&mut self.data, self.slot_size, self.batch, &mut self.received);
        socket.try_io(Interest::READABLE, || {
            system::receive(socket, data, slot_size, batch, received)
        })?;
        Ok(self.received.len())
    }

    /// Waits until `socket` has datagrams, then takes them as [`Inbox::try_receive`] does.
    pub async fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        loop {
            socket.readable().await?;
            match self.try_receive(socket) {
                Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// The datagrams of the last receive, in arrival order, with their sources.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        self.received.iter().map(|&(slot, len, from)| {
            let start = slot * self.slot_size;
            (&self.data[start..start + len], from)
        })
    }

    /// Whether the last receive filled every slot (so more may be waiting).
    pub fn was_full(&self) -> bool {
        self.received.len() == self.batch
    }
}

/// Datagrams waiting to be sent, each with its destination.
pub struct Outbox {
    /// The datagrams' bytes, back to back.
    bytes: Vec<u8>,
    /// Where each datagram ends in `bytes`, and where it goes.
    datagrams: Vec<(usize, SocketAddr)>,
    /// The address the socket it is flushed to is connected to, if it is.
    connected_to: Option<SocketAddr>,
    /// Whether datagrams of one length to one address go as one message (until the system
    /// refuses).
    grouping: bool,
    /// While flushing: the datagrams' bytes in the order of `messages`, and the messages.
    arranged: Vec<u8>,
    messages: Vec<Message>,
    /// While arranging: each datagram's address, length and start in `bytes`.
    order: Vec<(SocketAddr, usize, usize)>,
}

/// One message handed to the system: `count` datagrams of `segment` bytes each, to `to`,
/// ending at `end` in the arranged bytes. With a count above 1 the system cuts it apart.
#[derive(Clone, Copy, Debug)]
struct Message {
    end: usize,
    to: SocketAddr,
    segment: usize,
    count: usize,
}

/// The most datagrams in one message (the kernel's limit is 64 or more).
const MAX_SEGMENTS: usize = 64;
/// The longest datagram grouped: well below an Ethernet MTU's payload, which a segment must
/// fit (a longer one goes on its own).
const MAX_SEGMENT: usize = 1400;
/// The most bytes in one message (a UDP datagram's limit, with room for headers).
const MAX_MESSAGE: usize = 65_000;

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox {
            bytes: Vec::new(),
            datagrams: Vec::new(),
            connected_to: None,
            grouping: cfg!(target_os = "linux"),
            arranged: Vec::new(),
            messages: Vec::new(),
            order: Vec::new(),
        }
    }
}

impl Outbox {
    /// An outbox for a socket connected to `peer`.
    pub fn connected_to(peer: SocketAddr) -> Outbox {
        Outbox {
            connected_to: Some(peer),
            ..Outbox::default()
        }
    }

    /// Puts the datagrams into `messages` (and their bytes into `arranged`): one each, or
    /// when grouping, sorted by address and length and those of one length to one address
    /// joined.
    fn arrange(&mut self) {
        self.messages.clear();
        self.arranged.clear();
        if !self.grouping || self.datagrams.len() < 2 {
            self.arranged.extend_from_slice(&self.bytes);
            let mut start = 0;
            for &(end, to) in &self.datagrams {
                self.messages.push(Message {
                    end,
                    to,
                    segment: end - start,
                    count: 1,
                });
                start = end;
            }
            return;
        }
        self.order.clear();
        let mut start = 0;
        for &(end, to) in &self.datagrams {
            self.order.push((to, end - start, start));
            start = end;
        }
        self.order.sort_unstable_by_key(|&(to, len, _)| (to, len));
        for &(to, len, start) in &self.order {
            self.arranged.extend_from_slice(&self.bytes[start..start + len]);
            let end = self.arranged.len();
            match self.messages.last_mut() {
                Some(last)
                    if last.to == to
                        && last.segment == len
                        && len <= MAX_SEGMENT
                        && last.count < MAX_SEGMENTS
                        && (last.count + 1) * len <= MAX_MESSAGE =>
                {
                    last.end = end;
                    last.count += 1;
                }
                _ => self.messages.push(Message {
                    end,
                    to,
                    segment: len,
                    count: 1,
                }),
            }
        }
    }

    /// Replaces message `index` (a group) by its datagrams, one message each.
    fn split(&mut self, index: usize) {
        let group = self.messages[index];
        let start = group.end - group.segment * group.count;
        let singles = (1..=group.count).map(|n| Message {
            end: start + n * group.segment,
            count: 1,
            ..group
        });
        self.messages.splice(index..=index, singles);
    }

    /// Adds a datagram to `to`, written by `write` (which appends to the vector it is given).
    pub fn push_with(&mut self, to: SocketAddr, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.datagrams.push((self.bytes.len(), to));
    }

    /// Adds a copy of `datagram`, to `to`.
    pub fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.push_with(to, |out| out.extend_from_slice(datagram));
    }

    /// How many datagrams wait.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Sends every waiting datagram, waiting for room in the socket's buffer when it is full.
    /// Datagrams to the outbox's [`Outbox::connected_to`] address go without an address, so
    /// the system uses the route it keeps for the connection.
    /// A datagram the system refuses (an unreachable address, say) is dropped and logged, as
    /// a lost datagram would be; the others still go. Leaves the outbox empty. Cancelled while
    /// it waits for room, it leaves the datagrams in the outbox, and the next flush sends them
    /// (some possibly again).
    pub async fn flush(&mut self, socket: &UdpSocket) {
        self.arrange();
        let mut next = 0;
        let mut retried_refusal = false;
        while next < self.messages.len() {
            let (bytes, messages) = (&self.arranged, &self.messages[next..]);
            let start = if next == 0 { 0 } else { self.messages[next - 1].end };
            let sent = socket.try_io(Interest::WRITABLE, || {
                system::send(socket, bytes, start, messages, self.connected_to)
            });
            match sent {
                Ok(count) => {
                    next += count.max(1);
                    retried_refusal = false;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    if let Err(error) = socket.writable().await {
                        tracing::debug!("the UDP socket failed: {error}");
                        break;
                    }
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // A connected socket reports an earlier datagram's ICMP "port unreachable" on
                // the next send: the error belongs to none of these, so the send goes again.
                Err(error) if error.kind() == ErrorKind::ConnectionRefused && !retried_refusal => {
                    retried_refusal = true;
                }
                // A group the system would not cut apart: send its datagrams one by one, and
                // when it cannot do it at all, stop grouping.
                Err(error) if self.messages[next].count > 1 => {
                    if refuses_segmentation(&error) {
                        tracing::debug!(
                            "sending grouped datagrams failed ({error}); sending them one by one"
                        );
                        self.grouping = false;
                    }
                    self.split(next);
                }
                // The first datagram of the rest failed on its own: drop it, go on.
                Err(error) => {
                    tracing::debug!("sending to {} failed: {error}", self.messages[next].to);
                    next += 1;
                }
            }
        }
        self.bytes.clear();
        self.datagrams.clear();
        self.arranged.clear();
        self.messages.clear();
    }
}

/// Whether `error` says the system cannot segment datagrams here (rather than that this one
/// send failed).
fn refuses_segmentation(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::InvalidInput | ErrorKind::Unsupported)
        || error.raw_os_error() == Some(EIO)
}

/// The system's "I/O error" number (the same on every Unix), which a send of grouped
/// datagrams gets where the device cannot offload their checksums.
const EIO: i32 = 5;

/// `recvmmsg` and `sendmmsg`.
#[cfg(target_os = "linux")]
mod system {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use super::{Message, MAX_BATCH};

    /// Fills `received` with the datagrams queued on `socket`, into `slot_size`-byte slots of
    /// `data`; at least one, else an error (`WouldBlock` when none are queued).
    pub(super) fn receive(
        socket: &impl AsRawFd,
        data: &mut [u8],
        slot_size: usize,
        batch: usize,
        received: &mut Vec<(usize, usize, SocketAddr)>,
    ) -> io::Result<()> {
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let mut names: [libc::sockaddr_storage; MAX_BATCH] = unsafe { zeroed() };
        let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for (n, slot) in data.chunks_mut(slot_size).take(batch).enumerate() {
            iovecs[n] = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            };
            let header = &mut headers[n].msg_hdr;
            header.msg_name = (&mut names[n] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut iovecs[n];
            header.msg_iovlen = 1;
        }
        // SAFETY: every header points at its own name and its own slot of `data`, all of which
        // outlive the call, with their true lengths; `batch` headers are set.
        let count = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                batch as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        for (slot, (header, name)) in headers.iter().zip(&names).take(count as usize).enumerate() {
            // What was copied: a longer datagram is cut to its slot (MSG_TRUNC in its flags),
            // as `recv_from` into a buffer of that size would cut it.
            let len = (header.msg_len as usize).min(slot_size);
            if let Some(from) = socket_address(name) {
                received.push((slot, len, from));
            }
        }
        Ok(())
    }

    /// Room for one control message carrying a u16, aligned as the kernel reads it.
    type SegmentControl = [u64; 3];

    /// Sends the messages (their ends in `bytes`, the first starting at `start`); returns how
    /// many went, at least one, else the error of the first.
    pub(super) fn send(
        socket: &impl AsRawFd,
        bytes: &[u8],
        start: usize,
        messages: &[Message],
        connected_to: Option<SocketAddr>,
    ) -> io::Result<usize> {
        let count = messages.len().min(MAX_BATCH);
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let mut names: [libc::sockaddr_storage; MAX_BATCH] = unsafe { zeroed() };
        let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        let mut controls: [SegmentControl; MAX_BATCH] = [[0; 3]; MAX_BATCH];
        let mut from = start;
        for (n, message) in messages.iter().take(count).enumerate() {
            let datagrams = &bytes[from..message.end];
            from = message.end;
            iovecs[n] = libc::iovec {
                // The kernel only reads through it (sendmmsg's buffers are const in spirit).
                iov_base: datagrams.as_ptr().cast_mut().cast(),
                iov_len: datagrams.len(),
            };
            let header = &mut headers[n].msg_hdr;
            if connected_to != Some(message.to) {
                header.msg_namelen = write_socket_address(message.to, &mut names[n]);
                header.msg_name = (&mut names[n] as *mut libc::sockaddr_storage).cast();
            }
            header.msg_iov = &mut iovecs[n];
            header.msg_iovlen = 1;
            if message.count > 1 {
                // UDP_SEGMENT: the system cuts the message into datagrams of this size.
                let segment = message.segment as u16;
                // SAFETY: CMSG_SPACE of a u16 (24 bytes with the header) fits the control
                // buffer, which lives as long as the header pointing at it; the macros only
                // compute offsets inside it.
                unsafe {
                    header.msg_control = controls[n].as_mut_ptr().cast();
                    header.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
                    let control = libc::CMSG_FIRSTHDR(header);
                    (*control).cmsg_level = libc::SOL_UDP;
                    (*control).cmsg_type = libc::UDP_SEGMENT;
                    (*control).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    libc::CMSG_DATA(control).cast::<u16>().write_unaligned(segment);
                }
            }
        }
        // SAFETY: every header points at its own address (or none) and a slice of `bytes`, all of which
        // outlive the call, with their true lengths; `count` headers are set.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    fn socket_address(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match libc::c_int::from(name.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it has room for.
                let v4 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(v4.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for a sockaddr_in6.
                let v6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                let port = u16::from_be(v6.sin6_port);
                Some(SocketAddrV6::new(ip, port, v6.sin6_flowinfo, v6.sin6_scope_id).into())
            }
            _ => None,
        }
    }

    /// Writes `address` into `name`; returns its length.
    fn write_socket_address(address: SocketAddr, name: &mut libc::sockaddr_storage) -> libc::socklen_t {
        match address {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage has room and alignment for any address type.
                let out = unsafe { &mut *(name as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                out.sin_family = libc::AF_INET as libc::sa_family_t;
                out.sin_port = v4.port().to_be();
                out.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(v6) => {
                // SAFETY: as above.
                let out = unsafe { &mut *(name as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                out.sin6_port = v6.port().to_be();
                out.sin6_flowinfo = v6.flowinfo();
                out.sin6_addr.s6_addr = v6.ip().octets();
                out.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }
}

/// One datagram per call, where `recvmmsg` and `sendmmsg` are missing.
#[cfg(not(target_os = "linux"))]
mod system {
    use std::io::{self, ErrorKind};
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    pub(super) fn receive(
        socket: &UdpSocket,
        data: &mut [u8],
        slot_size: usize,
        batch: usize,
        received: &mut Vec<(usize, usize, SocketAddr)>,
    ) -> io::Result<()> {
        for (index, slot) in data.chunks_mut(slot_size).take(batch).enumerate() {
            match socket.try_recv_from(slot) {
                Ok((len, from)) => received.push((index, len, from)),
                Err(error) if !received.is_empty() && error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Sends the first message (never a group here: grouping is off).
    pub(super) fn send(
        socket: &UdpSocket,
        bytes: &[u8],
        start: usize,
        messages: &[super::Message],
        connected_to: Option<SocketAddr>,
    ) -> io::Result<usize> {
        let message = messages[0];
        if connected_to == Some(message.to) {
            socket.try_send(&bytes[start..message.end]).map(|_| 1)
        } else {
            socket
                .try_send_to(&bytes[start..message.end], message.to)
                .map(|_| 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A receiver, another receiver and a sender on loopback.
    async fn three_sockets() -> (UdpSocket, UdpSocket, UdpSocket) {
        let bind = || UdpSocket::bind("127.0.0.1:0");
        (
            bind().await.unwrap(),
            bind().await.unwrap(),
            bind().await.unwrap(),
        )
    }

    /// The next `count` datagrams `socket` receives, sorted, each checked to come from `from`.
    async fn receive_sorted(
        inbox: &mut Inbox,
        socket: &UdpSocket,
        count: usize,
        from: SocketAddr,
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        while seen.len() < count {
            inbox.receive(socket).await.unwrap();
            for (datagram, source) in inbox.datagrams() {
                assert_eq!(source, from);
                seen.push(datagram.to_vec());
            }
        }
        seen.sort();
        seen
    }

    #[test]
    fn a_batch_goes_out_to_each_address_and_comes_back_with_its_sources() {
        runtime().block_on(async {
            let (receiver, other, sender) = three_sockets().await;
            let (to, to_other) = (receiver.local_addr().unwrap(), other.local_addr().unwrap());
            let mut outbox = Outbox::default();
            for n in 0..100u8 {
                outbox.push_with(to, |out| out.extend(std::iter::repeat_n(n, usize::from(n) + 1)));
            }
            outbox.push(to_other, b"elsewhere");
            assert_eq!(outbox.len(), 101);
            outbox.flush(&sender).await;
            assert!(outbox.is_empty());

            let mut inbox = Inbox::new(MAX_BATCH, 512);
            let seen = receive_sorted(&mut inbox, &receiver, 100, sender.local_addr().unwrap()).await;
            let expected: Vec<Vec<u8>> = (0..100u8).map(|n| vec![n; usize::from(n) + 1]).collect();
            assert_eq!(seen, expected);
            assert_eq!(
                inbox.try_receive(&receiver).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            let mut buffer = [0u8; 64];
            let (len, _) = other.recv_from(&mut buffer).await.unwrap();
            assert_eq!(&buffer[..len], b"elsewhere");
        });
    }

    #[test]
    fn datagrams_of_one_length_to_one_address_go_as_one_message_and_arrive_apart() {
        runtime().block_on(async {
            let (receiver, other, sender) = three_sockets().await;
            let (to, to_other) = (receiver.local_addr().unwrap(), other.local_addr().unwrap());
            let mut outbox = Outbox::default();
            let mut expected = Vec::new();
            for n in 0..150u16 {
                // Mostly 40 bytes, some 41, a few long ones, interleaved with another address.
                let len = match n % 10 {
                    0 => 41,
                    9 => 1500,
                    _ => 40,
                };
                let mut datagram = vec![0u8; len];
                datagram[..2].copy_from_slice(&n.to_be_bytes());
                outbox.push(to, &datagram);
                expected.push(datagram);
                outbox.push(to_other, b"x");
            }
            outbox.arrange();
            let grouped = outbox.messages.iter().filter(|m| m.to == to && m.count > 1);
            let forties: Vec<usize> = grouped
                .clone()
                .filter(|m| m.segment == 40)
                .map(|m| m.count)
                .collect();
            assert_eq!(
                forties,
                [64, 56],
                "120 datagrams of 40 bytes: groups of at most 64"
            );
            assert!(outbox
                .messages
                .iter()
                .all(|m| m.segment <= MAX_SEGMENT || m.count == 1));
            assert_eq!(outbox.messages.iter().map(|m| m.count).sum::<usize>(), 300);
            outbox.flush(&sender).await;

            let mut inbox = Inbox::new(MAX_BATCH, 2048);
            let from = sender.local_addr().unwrap();
            let seen = receive_sorted(&mut inbox, &receiver, expected.len(), from).await;
            expected.sort();
            assert_eq!(seen, expected, "every datagram arrives on its own, whole");
            let others = receive_sorted(&mut inbox, &other, 150, from).await;
            assert!(others.iter().all(|datagram| datagram == b"x"));
        });
    }

    #[test]
    fn a_group_the_system_refuses_is_split_into_its_datagrams() {
        let mut outbox = Outbox::default();
        let to: SocketAddr = "127.0.0.1:53".parse().unwrap();
        for n in 0..5u8 {
            outbox.push(to, &[n; 30]);
        }
        outbox.arrange();
        assert_eq!(outbox.messages.len(), 1);
        outbox.split(0);
        let ends: Vec<(usize, usize)> = outbox.messages.iter().map(|m| (m.end, m.count)).collect();
        assert_eq!(ends, [(30, 1), (60, 1), (90, 1), (120, 1), (150, 1)]);
        assert!(refuses_segmentation(&io::Error::from_raw_os_error(EIO)));
        assert!(!refuses_segmentation(&io::Error::from(ErrorKind::WouldBlock)));
    }

    #[test]
    fn a_long_datagram_is_cut_to_its_slot_and_a_full_batch_says_so() {
        runtime().block_on(async {
            let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let to = receiver.local_addr().unwrap();
            sender.send_to(&[7u8; 100], to).await.unwrap();
            sender.send_to(&[8u8; 10], to).await.unwrap();
            let mut inbox = Inbox::new(2, 32);
            // Both are queued once the second has been sent on loopback.
            assert_eq!(inbox.receive(&receiver).await.unwrap(), 2);
            assert!(inbox.was_full());
            let lengths: Vec<usize> = inbox.datagrams().map(|(d, _)| d.len()).collect();
            assert_eq!(lengths, [32, 10]);
        });
    }

    #[test]
    fn ipv6_sources_and_destinations_round_trip() {
        runtime().block_on(async {
            let Ok(receiver) = UdpSocket::bind("[::1]:0").await else {
                return; // no IPv6 loopback on this machine
            };
            let sender = UdpSocket::bind("[::1]:0").await.unwrap();
            let mut outbox = Outbox::default();
            outbox.push(receiver.local_addr().unwrap(), b"six");
            outbox.flush(&sender).await;
            let mut inbox = Inbox::new(4, 64);
            inbox.receive(&receiver).await.unwrap();
            let got: Vec<_> = inbox.datagrams().map(|(d, from)| (d.to_vec(), from)).collect();
            assert_eq!(got, [(b"six".to_vec(), sender.local_addr().unwrap())]);
        });
    }

    #[test]
    fn a_connected_socket_sends_to_its_peer_without_an_address() {
        runtime().block_on(async {
            let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let peer = receiver.local_addr().unwrap();
            sender.connect(peer).await.unwrap();
            let mut outbox = Outbox::connected_to(peer);
            for n in 0..3u8 {
                outbox.push(peer, &[n]);
            }
            outbox.flush(&sender).await;
            let mut inbox = Inbox::new(4, 64);
            let mut got = Vec::new();
            while got.len() < 3 {
                inbox.receive(&receiver).await.unwrap();
                got.extend(inbox.datagrams().map(|(d, from)| (d[0], from)));
            }
            let from = sender.local_addr().unwrap();
            assert_eq!(got, [(0, from), (1, from), (2, from)]);
        });
    }

    #[test]
    fn an_earlier_datagram_refused_costs_no_later_one() {
        runtime().block_on(async {
            // A port nobody listens on, then the sender connected to it.
            let port = UdpSocket::bind("127.0.0.1:0")
                .await
                .unwrap()
                .local_addr()
                .unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sender.connect(port).await.unwrap();
            sender.send(b"refused").await.unwrap();
            // The ICMP error is now pending on the sender; someone listens from here on.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let Ok(receiver) = UdpSocket::bind(port).await else {
                return; // the port was taken meanwhile
            };
            let mut outbox = Outbox::connected_to(port);
            outbox.push(port, b"first");
            outbox.push(port, b"second!");
            outbox.flush(&sender).await;
            let mut inbox = Inbox::new(4, 64);
            let got = receive_sorted(&mut inbox, &receiver, 2, sender.local_addr().unwrap()).await;
            assert_eq!(got, [b"first".to_vec(), b"second!".to_vec()]);
        });
    }

    #[test]
    fn an_unreachable_destination_drops_only_its_datagram() {
        runtime().block_on(async {
            let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut outbox = Outbox::default();
            outbox.push(receiver.local_addr().unwrap(), b"first");
            // An IPv6 destination from an IPv4 socket: the system refuses this one datagram.
            outbox.push("[::1]:53".parse().unwrap(), b"refused");
            outbox.push(receiver.local_addr().unwrap(), b"last");
            outbox.flush(&sender).await;
            let mut inbox = Inbox::new(4, 64);
            let mut got = Vec::new();
            while got.len() < 2 {
                inbox.receive(&receiver).await.unwrap();
                got.extend(inbox.datagrams().map(|(d, _)| d.to_vec()));
            }
            got.sort();
            assert_eq!(got, [b"first".to_vec(), b"last".to_vec()]);
        });
    }
}
