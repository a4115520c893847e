//! CometBFT's p2p layer as deployed (issue #23): the peer graph that PEX
//! forms, and one MConnection per direction of each peer link — a rate
//! limiter, a write buffer flushed on a throttle timer, TCP's order.
//!
//! What crosses a connection is a batch: everything written into the
//! buffer between two flushes, delivered by one event. MConnection writes
//! 1 KiB packets into a 64 KiB `bufio.Writer` at `send_rate` and flushes it
//! when the throttle timer fires (`flush_throttle_timeout` after the first
//! write since the last flush, `p2p/conn/connection.go`: `flushTimer.Set()`
//! after each write) or when the buffer fills; the receiver reads the
//! flushed bytes one latency later. A message is in the buffer when its last
//! byte has passed the limiter.

use std::collections::VecDeque;

use rand::seq::SliceRandom;

use super::NodeId;
use crate::consensus::{BlockId, Message};
use crate::rng::{Purpose, Streams};
use crate::scenario::{NodeRole, P2pConfig, PeerSpec};
use crate::time::{SimDuration, SimTime};

/// `types/params.go` `BlockPartSizeBytes`: a block travels in parts of 64 KiB.
pub const BLOCK_PART_BYTES: u64 = 65_536;

/// MConnection's write buffer: `minWriteBufferSize = 65536` in
/// `p2p/conn/connection.go`; a full buffer is written at once.
pub const WRITE_BUFFER_BYTES: u64 = 65_536;

/// Bytes of framing per packet: the `PacketMsg` protobuf's channel id, EOF
/// flag and data length, the `Packet` oneof and the length prefix
/// (about 11 bytes, estimated from `proto/cometbft/p2p/v1/conn.proto`).
pub const PACKET_FRAMING_BYTES: u64 = 11;

/// A `Proposal` message: height, round, POL round, block id, timestamp
/// and an Ed25519 signature, plus framing (estimated from the protobuf,
/// like `consensus.vote_bytes`).
pub const PROPOSAL_BYTES: u64 = 200;

/// One thing a connection carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A proposal or a vote.
    Msg(Message),
    /// Part `index` of `block`, proposed at `height`.
    Part {
        height: u64,
        block: BlockId,
        index: u16,
    },
    /// Transactions with sequence numbers `first..=last` (the mempool
    /// channel), each its own message on the wire.
    Txs { first: u64, last: u64 },
}

/// Item lists a link keeps for reuse, and the most items a kept list may
/// have room for.
const SPARE_LISTS_MAX: usize = 4;
const SPARE_ITEMS_MAX: usize = 128;

/// Everything flushed at once, and when the receiver reads it.
#[derive(Clone, Debug)]
pub struct Batch {
    pub arrive: SimTime,
    /// The batch's number.
    id: u64,
    /// When TCP's window lets the batch's last byte leave.
    depart: SimTime,
    /// The batch's one-way delay (its jitter draw, made once).
    latency: SimDuration,
    pub items: Vec<Item>,
}

/// TCP's initial window: 10 segments of 1,448 bytes (RFC 6928; Linux's
/// `TCP_INIT_CWND` with a 1,500-byte MTU and timestamps).
pub const TCP_INITIAL_WINDOW: f64 = 14_480.0;

/// Linux's `tcp_rto_min` (200 ms): the retransmission timeout is the
/// round trip plus at least this, and an idle connection's window shrinks
/// once per timeout (`tcp_cwnd_restart`, `net.ipv4.tcp_slow_start_after_idle = 1`).
pub const TCP_RTO_MIN: SimDuration = SimDuration(200_000_000);

/// Largest window: Linux's default receive buffer limit
/// (`net.ipv4.tcp_rmem` maximum, 6 MiB).
pub const TCP_MAX_WINDOW: f64 = 6_291_456.0;

/// A connection's TCP congestion window in slow start, as a fluid: the
/// window is spent in rounds of one round trip, doubles at the end of a
/// round in which it was used up (and only then: Linux grows the window
/// only when it limits the sender), and halves for each retransmission
/// timeout of idleness down to the initial window. Nothing is lost, so
/// congestion avoidance never starts.
#[derive(Clone, Copy, Debug)]
pub struct Tcp {
    pub rtt: SimDuration,
    cwnd: f64,
    /// End of the current round and the window left in it.
    round_end: SimTime,
    left: f64,
    /// When the last byte was let go.
    last_send: SimTime,
}

impl Tcp {
    pub fn new(rtt: SimDuration) -> Tcp {
        Tcp {
            rtt,
            cwnd: TCP_INITIAL_WINDOW,
            round_end: SimTime::ZERO,
            left: 0.0,
            last_send: SimTime::ZERO,
        }
    }

    /// `bytes` handed to TCP at `start`: when the window lets the last of them go.
    pub fn send(&mut self, start: SimTime, bytes: f64) -> SimTime {
        if self.rtt.0 == 0 {
            return start;
        }
        let rto = self.rtt + TCP_RTO_MIN;
        if start.0 > self.last_send.0 + rto.0 {
            let idle = (start.0 - self.last_send.0) / rto.0;
            self.cwnd = (self.cwnd / 2f64.powi(idle.min(60) as i32)).max(TCP_INITIAL_WINDOW);
            self.round_end = start;
        }
        if start >= self.round_end {
            self.round_end = start + self.rtt;
            self.left = self.cwnd;
        }
        let mut t = start;
        let mut remaining = bytes;
        while remaining > self.left {
            remaining -= self.left;
            // The window is used up: the round's acknowledgements double it.
            self.cwnd = (self.cwnd * 2.0).min(TCP_MAX_WINDOW);
            t = self.round_end;
            self.round_end = t + self.rtt;
            self.left = self.cwnd;
        }
        self.left -= remaining;
        self.last_send = self.last_send.max(t);
        t
    }
}

/// One direction of a peer link: the sender's side of an MConnection.
#[derive(Clone, Debug)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
    /// The link the other way.
    pub reverse: u32,
    /// When the rate limiter has passed every consensus byte written so
    /// far, and every mempool byte: MConnection picks each packet from the
    /// channel that sent least relative to its priority (consensus data
    /// 10, votes 7, mempool 5), so the consensus channels go first when
    /// both have packets waiting; here they go strictly first.
    free: SimTime,
    free_mempool: SimTime,
    /// When the throttle timer was armed, and when the last byte written
    /// so far is in the buffer.
    anchor: SimTime,
    busy: SimTime,
    /// Per lane (consensus, mempool), the batch being filled: its bytes,
    /// its id and when it is flushed. The lanes share the buffer and its
    /// flushes, but a consensus message that goes ahead of queued mempool
    /// bytes is flushed by the first fire after it is in, not with them.
    open: [Option<(u64, u64, SimTime)>; 2],
    /// Sealed or open batches not yet read by the receiver, in order.
    pub in_flight: VecDeque<Batch>,
    /// Batches ever opened (their jitter key).
    batches: u64,
    /// Per lane, the arrival of the lane's latest batch and of the one
    /// before it: TCP's order makes a batch arrive no sooner than its
    /// predecessor (one that has arrived and was taken arrived before any
    /// batch still being written could, so its time bounds nothing).
    last_arrive: [SimTime; 2],
    prev_arrive: [SimTime; 2],
    /// Emptied item lists of batches taken, reused by new ones (no
    /// allocation per batch).
    spare: Vec<Vec<Item>>,
    /// The connection's TCP window (`Wire::tcp`).
    pub tcp: Tcp,
    /// The gossip routine: when it last found nothing to send (it wakes on
    /// a grid of `peer_gossip_sleep_duration` from then), and whether a
    /// wake is already queued.
    pub dry_since: SimTime,
    pub wake_pending: bool,
}

/// Connection settings, in the units the model uses.
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    /// Nanoseconds per byte: the slower of `send_rate` and `recv_rate`.
    pub ns_per_byte: f64,
    pub throttle: SimDuration,
    pub payload: u64,
    pub sleep: SimDuration,
    /// Whether TCP's slow start limits a connection (`tcp_slow_start`).
    pub tcp: bool,
}

impl Wire {
    pub fn new(c: &P2pConfig) -> Wire {
        Wire {
            ns_per_byte: 1e9 / c.send_rate.min(c.recv_rate) as f64,
            throttle: c.flush_throttle_timeout,
            payload: c.max_packet_msg_payload_size,
            sleep: c.peer_gossip_sleep_duration,
            tcp: c.tcp_slow_start,
        }
    }

    /// How long the rate limiter takes to pass `bytes`, to the nearest
    /// nanosecond (half away from zero, as `f64::round`, without its libm
    /// call: exact for a non-negative product below 2^53). The conversions
    /// go through `i64`, one instruction each on x86-64 where `u64`'s take
    /// several: the same values below 2^63 nanoseconds (292 years).
    pub fn transmit(&self, bytes: u64) -> SimDuration {
        let x = bytes as f64 * self.ns_per_byte;
        let whole = x as i64;
        SimDuration((whole + (x - whole as f64 >= 0.5) as i64) as u64)
    }

    /// Bytes on the wire for a message of `bytes`: its packets' framing added.
    pub fn wire_bytes(&self, bytes: u64) -> u64 {
        // Most messages (votes, proposals) fit one packet: no division.
        let packets = if bytes <= self.payload {
            1
        } else {
            bytes.div_ceil(self.payload)
        };
        bytes + packets * PACKET_FRAMING_BYTES
    }
}

/// What `Link::write` did: the arrival time of a batch whose delivery
/// event must be queued (a new batch, or one whose arrival moved: flushed
/// sooner because the buffer filled, or later because TCP's window held it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Written {
    pub schedule: Option<SimTime>,
}

impl Link {
    pub fn new(from: NodeId, to: NodeId, reverse: u32) -> Link {
        Link {
            from,
            to,
            reverse,
            free: SimTime::ZERO,
            free_mempool: SimTime::ZERO,
            anchor: SimTime::ZERO,
            busy: SimTime::ZERO,
            open: [None, None],
            in_flight: VecDeque::new(),
            batches: 0,
            last_arrive: [SimTime::ZERO; 2],
            prev_arrive: [SimTime::ZERO; 2],
            spare: Vec::new(),
            tcp: Tcp::new(SimDuration::ZERO),
            dry_since: SimTime::ZERO,
            wake_pending: false,
        }
    }

    /// Writes `item` of `bytes` (before framing) at `now`; `latency` gives
    /// the one-way delay of a batch, keyed by the batch's number (its
    /// jitter draw).
    pub fn write(
        &mut self,
        now: SimTime,
        item: Item,
        bytes: u64,
        wire: &Wire,
        latency: &mut dyn FnMut(u64) -> SimDuration,
    ) -> Written {
        let (b, start, done) = match item {
            Item::Txs { first, last } => {
                // One message a transaction; the batch of them queues behind
                // every consensus byte.
                let b = bytes + (last - first + 1) * wire.wire_bytes(0);
                let start = self.free.max(self.free_mempool).max(now);
                let done = start + wire.transmit(b);
                self.free_mempool = done;
                (b, start, done)
            }
            _ => {
                let b = wire.wire_bytes(bytes);
                let start = self.free.max(now);
                let t = wire.transmit(b);
                let done = start + t;
                self.free = done;
                // Mempool bytes not yet sent wait behind these.
                if self.free_mempool > start {
                    self.free_mempool += t;
                }
                (b, start, done)
            }
        };
        // When TCP's congestion window lets the message's last byte leave.
        let ready = if wire.tcp {
            self.tcp.send(start, b as f64)
        } else {
            start
        };
        // The throttle timer, armed at `anchor` by a write, fires every
        // `throttle` while writes go on (each write re-arms it after a
        // fire) and goes idle after the first fire past the last write: a
        // write after that arms it afresh.
        let thr = wire.throttle.0.max(1);
        if self.batches == 0 || start > self.fire_after(self.busy, thr) {
            self.anchor = start;
        }
        self.busy = self.busy.max(done);
        let lane = matches!(item, Item::Txs { .. }) as usize;
        // The open batch is flushed before this message is wholly in the
        // buffer: it is sealed as it was.
        if self.open[lane].is_some_and(|(_, _, flush)| flush < done) {
            self.open[lane] = None;
        }
        let (bytes_open, id, new) = match self.open[lane] {
            Some((bytes, id, _)) => (bytes, id, false),
            None => {
                self.batches += 1;
                self.prev_arrive[lane] = self.last_arrive[lane];
                let items = self.spare.pop().unwrap_or_default();
                self.in_flight.push_back(Batch {
                    arrive: SimTime::ZERO,
                    id: self.batches,
                    depart: SimTime::ZERO,
                    latency: latency(self.batches),
                    items,
                });
                (0, self.batches, true)
            }
        };
        let filled = bytes_open + b;
        let flush = if filled >= WRITE_BUFFER_BYTES {
            // The buffer is full: written out at once, not at the timer.
            self.open[lane] = None;
            done
        } else {
            // The first fire once the message is wholly in the buffer.
            let f = self.fire_after(done, thr);
            self.open[lane] = Some((filled, id, f));
            f
        };
        // The open batch is one of the last (batches stay in the order of
        // their ids; at most the other lane's opened after it).
        let batch = self
            .in_flight
            .iter_mut()
            .rev()
            .find(|b| b.id == id)
            .expect("an open batch is in flight");
        // Consecutive transactions ride as one range.
        match (batch.items.last_mut(), item) {
            (Some(Item::Txs { last, .. }), Item::Txs { first, last: l }) if *last + 1 == first => {
                *last = l;
            }
            _ => batch.items.push(item),
        }
        batch.depart = batch.depart.max(ready);
        let at = flush.max(batch.depart) + batch.latency;
        // TCP keeps a connection's order (within a lane; see `open`): the
        // batch written to is always its lane's latest.
        let arrive = self.prev_arrive[lane].max(at);
        let schedule = (new || arrive != batch.arrive).then_some(arrive);
        batch.arrive = arrive;
        self.last_arrive[lane] = arrive;
        Written { schedule }
    }

    /// The items of the batches that have arrived by `now`, not taken.
    pub fn arrived(&self, now: SimTime) -> impl Iterator<Item = &Item> {
        self.in_flight
            .iter()
            .filter(move |b| b.arrive <= now)
            .flat_map(|b| b.items.iter())
    }

    /// The throttle timer's first fire at or after `t` (at least one
    /// `throttle` after it was armed).
    fn fire_after(&self, t: SimTime, thr: u64) -> SimTime {
        // Most writes fall within the timer's first period: no division.
        let d = t.0.saturating_sub(self.anchor.0);
        let k = if d <= thr { 1 } else { d.div_ceil(thr) };
        SimTime(self.anchor.0.saturating_add(k.saturating_mul(thr)))
    }

    /// Takes the batches that have arrived by `now`, in order.
    pub fn take_arrived(&mut self, now: SimTime, out: &mut Vec<Item>) {
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].arrive <= now {
                let mut b = self.in_flight.remove(i).expect("in range");
                if out.is_empty() {
                    // Most often one batch arrives: its list is handed over.
                    std::mem::swap(out, &mut b.items);
                } else {
                    out.extend_from_slice(&b.items);
                }
                for o in &mut self.open {
                    if o.is_some_and(|(_, id, _)| id == b.id) {
                        *o = None;
                    }
                }
                b.items.clear();
                // A list grown by an unusual batch (a peer catching up gets
                // hundreds of votes at once) gives its memory back rather
                // than keep it for the link's life: lists pass from link to
                // link through `out`, and kept they would ratchet every
                // link's memory up to the largest batch of the whole run.
                if b.items.capacity() <= SPARE_ITEMS_MAX && self.spare.len() < SPARE_LISTS_MAX {
                    self.spare.push(b.items);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Drops everything in flight (the connection broke: a crash or a partition).
    pub fn reset(&mut self, now: SimTime) {
        self.in_flight.clear();
        self.open = [None, None];
        self.last_arrive = [SimTime::ZERO; 2];
        self.prev_arrive = [SimTime::ZERO; 2];
        self.free = now;
        self.anchor = now;
        self.busy = now;
    }

    /// The next wake of the gossip routine at or after `t`.
    pub fn next_wake(&self, t: SimTime, sleep: SimDuration) -> SimTime {
        if t <= self.dry_since {
            return self.dry_since;
        }
        let k = (t.0 - self.dry_since.0).div_ceil(sleep.0);
        SimTime(self.dry_since.0 + k * sleep.0)
    }
}

/// The peer graph: each node's neighbours, sorted.
#[derive(Clone, Debug)]
pub struct PeerGraph {
    pub peers: Vec<Vec<NodeId>>,
}

impl PeerGraph {
    /// Forms the graph as PEX does (`p2p/pex/pex_reactor.go`
    /// `ensurePeers`): every node that is not a seed learns every address
    /// from a seed and dials random addresses, one dial per node per pass
    /// (nodes start together), until it has `max_num_outbound_peers`
    /// outbound peers or no address is left; a node accepts a dial while
    /// it has fewer than `max_num_inbound_peers` inbound. Seed nodes keep no
    /// connections (seed mode crawls and hangs up). Deterministic from the seed.
    pub fn pex(specs: &[PeerSpec], c: &P2pConfig, streams: &Streams) -> PeerGraph {
        let n = specs.len();
        let mut rng = streams.stream(Purpose::Topology, 1);
        let members: Vec<usize> = (0..n)
            .filter(|&i| specs[i].role != Some(NodeRole::Seed))
            .collect();
        let mut linked = vec![Vec::<NodeId>::new(); n];
        let mut outbound = vec![0usize; n];
        let mut inbound = vec![0usize; n];
        let mut order = members.clone();
        order.shuffle(&mut rng);
        // Each node's address book in its own random order.
        let mut books: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &i in &order {
            let mut book: Vec<usize> = members.iter().copied().filter(|&j| j != i).collect();
            book.shuffle(&mut rng);
            books[i] = book;
        }
        loop {
            let mut dialled = false;
            for &i in &order {
                if outbound[i] >= c.max_num_outbound_peers {
                    continue;
                }
                while let Some(j) = books[i].pop() {
                    if linked[i].contains(&(j as NodeId)) || inbound[j] >= c.max_num_inbound_peers {
                        continue;
                    }
                    linked[i].push(j as NodeId);
                    linked[j].push(i as NodeId);
                    outbound[i] += 1;
                    inbound[j] += 1;
                    dialled = true;
                    break;
                }
            }
            if !dialled {
                break;
            }
        }
        for p in &mut linked {
            p.sort_unstable();
        }
        PeerGraph { peers: linked }
    }

    /// The graph of explicit links (`[network.topology] kind = "edges"`).
    pub fn from_edges(n: usize, edges: &[(usize, usize)]) -> PeerGraph {
        let mut peers = vec![Vec::<NodeId>::new(); n];
        for &(a, b) in edges {
            if a != b && !peers[a].contains(&(b as NodeId)) {
                peers[a].push(b as NodeId);
                peers[b].push(a as NodeId);
            }
        }
        for p in &mut peers {
            p.sort_unstable();
        }
        PeerGraph { peers }
    }

    /// The directed links, both directions of each edge, and each node's
    /// outgoing links in peer order.
    pub fn links(&self) -> (Vec<Link>, Vec<Vec<u32>>) {
        let mut links = Vec::new();
        let mut out = vec![Vec::new(); self.peers.len()];
        let mut index = std::collections::BTreeMap::new();
        for (a, ps) in self.peers.iter().enumerate() {
            for &b in ps {
                index.insert((a as NodeId, b), links.len() as u32);
                out[a].push(links.len() as u32);
                links.push(Link::new(a as NodeId, b, 0));
            }
        }
        for l in &mut links {
            l.reverse = index[&(l.to, l.from)];
        }
        (links, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(rate: u64, throttle_ms: u64) -> Wire {
        Wire::new(&P2pConfig {
            send_rate: rate,
            recv_rate: rate,
            flush_throttle_timeout: SimDuration::from_millis(throttle_ms),
            ..P2pConfig::default()
        })
    }

    fn vote(i: u16) -> Item {
        Item::Msg(Message::Vote {
            kind: crate::consensus::VoteKind::Prevote,
            height: 1,
            round: 0,
            block: 0,
            from: i,
        })
    }

    /// A small message waits for the throttle timer; one written before the
    /// timer fires rides the same flush; TCP keeps the order.
    #[test]
    fn transmit_rounds_as_f64_round_does() {
        let mut w = Wire::new(&P2pConfig::default());
        for ns in [195.3125, 0.5, 1.0 / 3.0, 2.5, 1e-3, 7.75] {
            w.ns_per_byte = ns;
            for b in [0u64, 1, 2, 3, 7, 1024, 65_536, 1 << 40] {
                let x = b as f64 * ns;
                assert_eq!(w.transmit(b).0, x.round() as u64, "{b} bytes at {ns}");
            }
        }
    }

    #[test]
    fn small_messages_wait_for_the_flush_timer() {
        // 1,000,000 B/s: a 989-byte message + 11 framing = 1 ms on the wire.
        let w = wire(1_000_000, 100);
        let mut l = Link::new(0, 1, 1);
        let mut lat = |_| SimDuration::from_millis(5);
        let a = l.write(SimTime::ZERO, vote(0), 989, &w, &mut lat);
        // Timer armed at 0, fires at 100 ms; arrival 105 ms.
        assert_eq!(a.schedule, Some(SimTime(105_000_000)));
        let b = l.write(SimTime(50_000_000), vote(1), 989, &w, &mut lat);
        assert_eq!(b.schedule, None, "rides the open batch");
        // After the flush: a new batch, a new timer from its first byte.
        let c = l.write(SimTime(150_000_000), vote(2), 989, &w, &mut lat);
        assert_eq!(c.schedule, Some(SimTime(255_000_000)));
        let mut got = Vec::new();
        l.take_arrived(SimTime(105_000_000), &mut got);
        assert_eq!(got, vec![vote(0), vote(1)]);
    }

    /// A link keeps at most a few emptied item lists for reuse, none with
    /// room for more than `SPARE_ITEMS_MAX` items: memory does not ratchet
    /// up to the largest batch ever sent (issue #23: a day of `day-150`).
    #[test]
    fn a_link_keeps_only_small_spare_lists() {
        let w = wire(1_000_000_000, 100);
        let mut lat = |_| SimDuration::from_millis(5);
        let mut l = Link::new(0, 1, 1);
        // One batch of 1,000 votes, then batches of one, each taken in turn.
        for i in 0..1000 {
            l.write(SimTime::ZERO, vote(i), 10, &w, &mut lat);
        }
        let mut got = Vec::new();
        l.take_arrived(SimTime(200_000_000), &mut got);
        assert_eq!(got.len(), 1000);
        let mut out = got;
        for k in 1..=10u64 {
            let t = SimTime(k * 1_000_000_000);
            l.write(t, vote(0), 10, &w, &mut lat);
            // Hand back the big list each time, as the simulation does.
            out.clear();
            l.take_arrived(t + SimDuration::from_millis(200), &mut out);
            assert_eq!(out, vec![vote(0)]);
        }
        assert!(l.spare.len() <= SPARE_LISTS_MAX);
        assert!(
            l.spare.iter().all(|v| v.capacity() <= SPARE_ITEMS_MAX),
            "{:?}",
            l.spare.iter().map(Vec::capacity).collect::<Vec<_>>()
        );
    }

    /// A full write buffer is flushed when its last byte passes the limiter.
    #[test]
    fn a_full_buffer_is_flushed_at_once() {
        // 65,536 B/s: one part of 65,536 bytes + 64 packets × 11 = 66,240 B
        // takes 66,240 / 65,536 s = 1.0107421875 s.
        let w = wire(65_536, 100);
        let mut l = Link::new(0, 1, 1);
        let mut lat = |_| SimDuration::ZERO;
        let part = Item::Part {
            height: 1,
            block: 0,
            index: 0,
        };
        let a = l.write(SimTime::ZERO, part, BLOCK_PART_BYTES, &w, &mut lat);
        assert_eq!(a.schedule, Some(SimTime(1_010_742_188)));
    }

    /// Transactions queued on a connection do not hold back a vote: the
    /// consensus channels go first, and the vote is flushed by the first
    /// timer fire after it is in the buffer. 1,000,000 B/s, 10 ms throttle,
    /// no latency: four pieces of 16 transactions of 1,024 bytes (16,560
    /// bytes with framing, 16.56 ms each) written at 0 are in the buffer
    /// at 16.56, 33.12, 49.68 and 66.24 ms; a vote (160 + 11 bytes)
    /// written at 1 ms is in at 1.171 ms and leaves at the 10 ms fire.
    #[test]
    fn transactions_do_not_hold_back_a_vote() {
        let w = wire(1_000_000, 10);
        let mut l = Link::new(0, 1, 1);
        let mut lat = |_| SimDuration::ZERO;
        let mut arrivals = Vec::new();
        for k in 0..4u64 {
            let item = Item::Txs {
                first: 16 * k,
                last: 16 * k + 15,
            };
            arrivals.push(
                l.write(SimTime::ZERO, item, 16 * 1024, &w, &mut lat)
                    .schedule,
            );
        }
        // Fires at 20, 40, 50 and 70 ms: the first after each piece is in.
        assert_eq!(
            arrivals,
            [20, 40, 50, 70].map(|ms| Some(SimTime(ms * 1_000_000)))
        );
        let v = l.write(SimTime(1_000_000), vote(0), 160, &w, &mut lat);
        assert_eq!(v.schedule, Some(SimTime(10_000_000)));
        let mut got = Vec::new();
        l.take_arrived(SimTime(10_000_000), &mut got);
        assert_eq!(got, vec![vote(0)]);
    }

    #[test]
    fn the_gossip_routine_wakes_on_its_sleep_grid() {
        let mut l = Link::new(0, 1, 1);
        l.dry_since = SimTime(30);
        let s = SimDuration(100);
        assert_eq!(l.next_wake(SimTime(30), s), SimTime(30));
        assert_eq!(l.next_wake(SimTime(31), s), SimTime(130));
        assert_eq!(l.next_wake(SimTime(130), s), SimTime(130));
        assert_eq!(l.next_wake(SimTime(250), s), SimTime(330));
    }

    #[test]
    fn pex_respects_the_peer_limits_and_skips_seeds() {
        let mut specs: Vec<PeerSpec> = (0..60)
            .map(|i| PeerSpec {
                name: format!("v{i}"),
                region: 0,
                role: None,
            })
            .collect();
        specs.push(PeerSpec {
            name: "seed".into(),
            region: 0,
            role: Some(NodeRole::Seed),
        });
        let c = P2pConfig::default();
        let g = PeerGraph::pex(&specs, &c, &Streams::new(7));
        assert!(g.peers[60].is_empty(), "a seed keeps no connections");
        for (i, p) in g.peers[..60].iter().enumerate() {
            // 10 outbound each; inbound at most 40.
            assert!(
                p.len() >= 10 && p.len() <= 50,
                "node {i}: {} peers",
                p.len()
            );
            assert!(!p.contains(&(i as NodeId)));
        }
        let edges: usize = g.peers.iter().map(Vec::len).sum::<usize>() / 2;
        assert_eq!(edges, 60 * 10, "every node dials exactly 10");
        let again = PeerGraph::pex(&specs, &c, &Streams::new(7));
        assert_eq!(g.peers, again.peers);
    }
}
