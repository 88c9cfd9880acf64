//! ARP probes: before a new dynamic address is offered, netd asks who has it (an ARP request
//! on the lab network, as dnsmasq pings) and skips it when a device the plan does not know
//! answers.
//!
//! The DHCP loop hands a fresh offer to the prober thread instead of sending it; the prober
//! sends the ARP request and listens on an ARP-only packet socket. After [`PROBE_WAIT`]
//! without an answer the offer goes out (and the address counts as free for
//! [`PROBED_SECS`](super::PROBED_SECS)); when a device answers, the address is set aside
//! for [`DECLINE_SECS`](super::DECLINE_SECS), the log says so, and the request is handled
//! again (a next address, probed in turn). At most [`MAX_PROBES`] probes run at once: past
//! that (a flood of DISCOVERs) offers go out unprobed, as dnsmasq stops pinging under load.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use pnet_datalink::{Channel, ChannelType, Config, DataLinkReceiver, DataLinkSender};
use socket2::{Domain, Protocol, Socket, Type};
use tracing::{debug, warn};

use super::server::{Answer, DhcpIo, now_secs};
use crate::netd::MacAddr;

/// How long a device gets to answer the ARP request.
pub const PROBE_WAIT: Duration = Duration::from_millis(300);
/// Most probes at once.
pub const MAX_PROBES: usize = 32;
/// The ARP EtherType.
const ETH_P_ARP: u16 = 0x0806;
/// How long one read of the packet socket waits, so deadlines are kept.
const READ_TICK: Duration = Duration::from_millis(20);
/// Most stale frames read and thrown away before a probe starts.
const DRAIN_MAX: usize = 10_000;

/// One offer held back until its address is probed.
struct Job {
    request: Vec<u8>,
    answer: Answer,
    client: MacAddr,
    ip: Ipv4Addr,
}

/// A job whose ARP request is out.
struct Pending {
    job: Job,
    until: Instant,
    seen: Option<[u8; 6]>,
}

/// The DHCP loop's handle on the prober thread.
pub(crate) struct Prober {
    jobs: SyncSender<Job>,
    running: Arc<AtomicUsize>,
}

impl Prober {
    /// Starts the prober on the interface that holds `server_ip`; `None` (logged) when no
    /// such interface or no packet socket can be had (netd then offers without probing).
    pub(crate) fn start(io: Arc<DhcpIo>, server_ip: Ipv4Addr) -> Option<Prober> {
        let arp = match Arp::open(server_ip) {
            Ok(a) => a,
            Err(why) => {
                warn!("ARP probes are off: {why}; addresses are offered without a check");
                return None;
            }
        };
        let (jobs, rx) = std::sync::mpsc::sync_channel(MAX_PROBES);
        let running = Arc::new(AtomicUsize::new(0));
        let count = running.clone();
        std::thread::Builder::new()
            .name("netd-arp".into())
            .spawn(move || probe_loop(arp, &io, &rx, &count))
            .map_err(|e| warn!(error = %e, "could not start the ARP prober; probes are off"))
            .ok()?;
        Some(Prober { jobs, running })
    }

    /// Hands the offer in `answer` (to `request`) to the prober; gives it back when the
    /// prober is full.
    pub(crate) fn check_first(&self, request: &[u8], answer: Answer) -> Result<(), Answer> {
        let Some((client, ip)) = answer.probe else {
            return Err(answer);
        };
        let taken = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PROBES).then_some(n + 1)
            });
        if taken.is_err() {
            debug!(%ip, "too many ARP probes at once, offered unprobed");
            return Err(answer);
        }
        let job = Job {
            request: request.to_vec(),
            answer,
            client,
            ip,
        };
        self.jobs.try_send(job).map_err(|e| {
            self.running.fetch_sub(1, Ordering::AcqRel);
            match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job.answer,
            }
        })
    }
}

/// The ARP-only packet socket on the lab interface.
struct Arp {
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
    mac: [u8; 6],
    ip: Ipv4Addr,
}

impl Arp {
    fn open(server_ip: Ipv4Addr) -> Result<Arp, String> {
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.ips.iter().any(|n| n.ip() == IpAddr::V4(server_ip)))
            .ok_or_else(|| format!("no interface holds netd's address {server_ip}"))?;
        let mac = iface
            .mac
            .map(|m| m.octets())
            .ok_or_else(|| format!("interface {} has no MAC", iface.name))?;
        // A raw packet socket for ARP only (not every frame): pnet binds it to the interface.
        let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(proto))
            .map_err(|e| format!("no packet socket ({e}; netd needs CAP_NET_RAW)"))?;
        let config = Config {
            read_timeout: Some(READ_TICK),
            channel_type: ChannelType::Layer3(ETH_P_ARP),
            promiscuous: false,
            socket_fd: Some(sock.into_raw_fd()),
            ..Config::default()
        };
        match pnet_datalink::channel(&iface, config) {
            Ok(Channel::Ethernet(tx, rx)) => Ok(Arp {
                tx,
                rx,
                mac,
                ip: server_ip,
            }),
            Ok(_) => Err(format!("interface {} is not Ethernet", iface.name)),
            Err(e) => Err(format!("cannot listen for ARP on {} ({e})", iface.name)),
        }
    }

    /// Broadcasts "who has `target`?".
    fn ask(&mut self, target: Ipv4Addr) {
        let frame = arp_request(self.mac, self.ip, target);
        match self.tx.send_to(&frame, None) {
            Some(Ok(())) => {}
            Some(Err(e)) => debug!(%target, error = %e, "could not send an ARP probe"),
            None => debug!(%target, "could not send an ARP probe"),
        }
    }

    /// The next ARP frame's sender (MAC, address), if one comes within [`READ_TICK`].
    fn heard(&mut self) -> Option<([u8; 6], Ipv4Addr)> {
        let frame = self.rx.next().ok()?;
        arp_sender(frame)
    }

    /// Reads and drops what queued up while nothing was probed.
    fn drain(&mut self) {
        for _ in 0..DRAIN_MAX {
            if self.rx.next().is_err() {
                return;
            }
        }
    }
}

/// An Ethernet frame with an ARP request for `target` from `mac`/`ip`.
pub fn arp_request(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    // Ethernet, IPv4, 6-byte MACs, 4-byte addresses, a request.
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// The sender (MAC, address) of an Ethernet frame holding an ARP packet for IPv4.
pub fn arp_sender(frame: &[u8]) -> Option<([u8; 6], Ipv4Addr)> {
    if frame.get(12..14)? != ETH_P_ARP.to_be_bytes() || frame.get(14..20)? != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let mac: [u8; 6] = frame.get(22..28)?.try_into().ok()?;
    let ip: [u8; 4] = frame.get(28..32)?.try_into().ok()?;
    Some((mac, Ipv4Addr::from(ip)))
}

fn probe_loop(mut arp: Arp, io: &DhcpIo, jobs: &Receiver<Job>, running: &AtomicUsize) {
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        if pending.is_empty() {
            // Idle: wait for work, then forget frames that queued up meanwhile.
            match jobs.recv_timeout(Duration::from_secs(3600)) {
                Ok(job) => {
                    arp.drain();
                    start(&mut arp, &mut pending, job);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        loop {
            match jobs.try_recv() {
                Ok(job) => start(&mut arp, &mut pending, job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if let Some((mac, ip)) = arp.heard()
            && mac != arp.mac
        {
            for p in pending
                .iter_mut()
                .filter(|p| p.job.ip == ip && mac != p.job.client.0)
            {
                p.seen.get_or_insert(mac);
            }
        }
        let now = Instant::now();
        let (due, waiting): (Vec<Pending>, Vec<Pending>) =
            pending.into_iter().partition(|p| p.until <= now);
        pending = waiting;
        for p in due {
            running.fetch_sub(1, Ordering::AcqRel);
            if let Some(job) = finish(io, p) {
                // The next address for the same request: probed in turn (the range is
                // finite and every address that answers is set aside).
                running.fetch_add(1, Ordering::AcqRel);
                start(&mut arp, &mut pending, job);
            }
        }
    }
}

fn start(arp: &mut Arp, pending: &mut Vec<Pending>, job: Job) {
    arp.ask(job.ip);
    pending.push(Pending {
        job,
        until: Instant::now() + PROBE_WAIT,
        seen: None,
    });
}

/// Sends a probed offer, or sets its address aside and handles the request again; returns
/// the new offer when it wants a probe too.
fn finish(io: &DhcpIo, p: Pending) -> Option<Job> {
    let Job {
        request,
        answer,
        client,
        ip,
    } = p.job;
    let now = now_secs();
    let Some(device) = p.seen else {
        io.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .probed_free(ip, now);
        io.send(&answer.bytes, answer.dest);
        return None;
    };
    warn!(
        %ip,
        device = %MacAddr(device),
        client = %client,
        "address in use by a device the lab does not know (it answered an ARP probe): \
         not offered, set aside for 10 minutes"
    );
    io.state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .probed_in_use(ip, &client, now);
    let next = io.answer(&request)?;
    match next.probe {
        Some((client, ip)) => Some(Job {
            request,
            answer: next,
            client,
            ip,
        }),
        None => {
            io.send(&next.bytes, next.dest);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_frames_round_trip() {
        let mac = [2, 0, 0, 0, 0, 2];
        let f = arp_request(
            mac,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 200),
        );
        assert_eq!(f.len(), 42);
        assert_eq!(arp_sender(&f), Some((mac, Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(arp_sender(&f[..30]), None);
        let mut ip6 = f.clone();
        ip6[16] = 0x86;
        assert_eq!(arp_sender(&ip6), None);
        assert_eq!(arp_sender(&[]), None);
    }
}
