//! Who may be mid-handshake: a bounded set of connections that have not yet
//! proven they hold the key.
//!
//! Anyone who can reach the port can open connections and say nothing. If
//! such connections could hold the door (a fixed number of slots taken
//! before `accept`, each kept for the whole hello timeout), a stranger
//! without the key could keep every newcomer out. So the server always
//! accepts, keeps at most [`PER_SOURCE`] handshakes per source address and
//! [`TOTAL`] in all, and when a limit is reached drops the *oldest* one to
//! make room: a real client sends its hello at once, so it is never the
//! oldest for long, while a silent connection always is.
//!
//! A connection whose hello decrypted under the key is *keyed*: only when
//! nothing unkeyed is left to drop is a keyed one dropped. Without that, a
//! stranger churning connections from the client's own address (another
//! program on the same computer, or behind the same NAT) could push a real
//! client out between its hello and its ready. A stranger can record a
//! hello off the network, though (no key needed), so a hello whose nonce
//! is among the last [`HELLOS_REMEMBERED`] is a replay and is not keyed:
//! a client makes a new nonce for every connection.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::AbortHandle;

/// Handshakes in progress from one source address.
pub const PER_SOURCE: usize = 16;
/// Handshakes in progress in all.
pub const TOTAL: usize = 256;
/// Nonces of the newest hellos that decrypted under the key. Replaying an
/// older one takes recording this many hellos first (a client makes one
/// per connection).
pub const HELLOS_REMEMBERED: usize = 4096;

/// The handshakes in progress, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Door(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// By arrival number, so the first entry is the oldest.
    pending: BTreeMap<u64, Entry>,
    per_source: HashMap<IpAddr, usize>,
    /// The nonces of the newest keyed hellos, and the same oldest first.
    hellos: HashSet<u128>,
    hello_order: VecDeque<u128>,
}

#[derive(Debug)]
struct Entry {
    source: IpAddr,
    /// Set once the handshake task is spawned.
    task: Option<AbortHandle>,
    /// Its hello decrypted under the key.
    keyed: bool,
}

/// A place at the door; dropping it (the handshake ended either way) frees it.
#[derive(Debug)]
pub(crate) struct Ticket {
    door: Door,
    id: u64,
}

impl Door {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock is never held across a panic point that could poison it,
        // but if it were, the bookkeeping is still consistent enough to use.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for a connection from `source`, then admits it. Returns
    /// its ticket and the sources of the connections dropped to make room.
    pub fn enter(&self, source: IpAddr) -> (Ticket, Vec<IpAddr>) {
        let mut inner = self.lock();
        let mut dropped = Vec::new();
        if inner.per_source.get(&source).copied().unwrap_or(0) >= PER_SOURCE {
            let oldest = inner.oldest(|e| e.source == source);
            dropped.extend(oldest.and_then(|id| inner.evict(id)));
        }
        if inner.pending.len() >= TOTAL {
            let oldest = inner.oldest(|_| true);
            dropped.extend(oldest.and_then(|id| inner.evict(id)));
        }
        let id = inner.next;
        inner.next += 1;
        let entry = Entry {
            source,
            task: None,
            keyed: false,
        };
        inner.pending.insert(id, entry);
        *inner.per_source.entry(source).or_default() += 1;
        let ticket = Ticket {
            door: self.clone(),
            id,
        };
        (ticket, dropped)
    }

    /// Ties the handshake task at `place` to it, so eviction can stop it.
    /// A task that already finished has left: nothing to tie.
    pub fn bind(&self, place: u64, task: AbortHandle) {
        if let Some(entry) = self.lock().pending.get_mut(&place) {
            entry.task = Some(task);
        }
    }

    /// How many handshakes are in progress.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }
}

impl Inner {
    /// The oldest handshake among those `which` selects, unkeyed ones first.
    fn oldest(&self, which: impl Fn(&Entry) -> bool) -> Option<u64> {
        let mut chosen = self.pending.iter().filter(|(_, e)| which(e));
        let first = chosen.clone().next().map(|(&id, _)| id);
        chosen.find(|(_, e)| !e.keyed).map(|(&id, _)| id).or(first)
    }

    /// Stops the handshake `id` and forgets it; returns its source.
    fn evict(&mut self, id: u64) -> Option<IpAddr> {
        let entry = self.remove(id)?;
        if let Some(task) = entry.task {
            task.abort();
        }
        Some(entry.source)
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.pending.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&entry.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&entry.source);
            }
        }
        Some(entry)
    }
}

impl Ticket {
    /// What [`Door::bind`] takes, once the ticket has moved into its task.
    pub fn place(&self) -> u64 {
        self.id
    }

    /// Its hello, with `nonce`, decrypted under the key: from now on it is
    /// dropped to make room only when no unkeyed handshake is left to drop.
    /// `false` if the nonce is one of the newest [`HELLOS_REMEMBERED`]
    /// keyed hellos' (a replay), which leaves it unkeyed.
    pub fn keyed(&self, nonce: u128) -> bool {
        let mut inner = self.door.lock();
        if !inner.hellos.insert(nonce) {
            return false;
        }
        inner.hello_order.push_back(nonce);
        if inner.hello_order.len() > HELLOS_REMEMBERED
            && let Some(oldest) = inner.hello_order.pop_front()
        {
            inner.hellos.remove(&oldest);
        }
        if let Some(entry) = inner.pending.get_mut(&self.id) {
            entry.keyed = true;
        }
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.door.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_source_is_held_to_its_share_by_dropping_its_oldest() {
        let door = Door::default();
        let mut tickets: Vec<Ticket> = (0..PER_SOURCE)
            .map(|_| {
                let (ticket, dropped) = door.enter(ip(1));
                assert!(dropped.is_empty());
                ticket
            })
            .collect();
        let (newest, dropped) = door.enter(ip(1));
        assert_eq!(dropped, [ip(1)]);
        assert_eq!(door.len(), PER_SOURCE);
        // The oldest was the one dropped: its ticket no longer counts.
        let first = tickets.remove(0);
        drop(first);
        assert_eq!(door.len(), PER_SOURCE);
        // Another source is not affected by the first one's limit.
        let (_other, dropped) = door.enter(ip(2));
        assert!(dropped.is_empty());
        drop(newest);
        drop(tickets);
        assert_eq!(door.len(), 1);
    }

    #[test]
    fn a_keyed_handshake_outlasts_any_churn_from_its_own_address() {
        let door = Door::default();
        let (client, _) = door.enter(ip(1));
        assert!(client.keyed(0));
        // A stranger on the same address opens connection after connection.
        let mut strangers = Vec::new();
        for _ in 0..10 * PER_SOURCE {
            let (ticket, dropped) = door.enter(ip(1));
            assert!(dropped.len() <= 1);
            strangers.push(ticket);
        }
        let still_there = door.lock().pending.contains_key(&client.place());
        assert!(still_there, "the keyed client was pushed out");
        assert_eq!(door.len(), PER_SOURCE);
        // With only keyed ones left, the oldest keyed one gives way: the
        // bound holds whatever is keyed.
        drop(strangers);
        let keyed: Vec<Ticket> = (1..PER_SOURCE as u128)
            .map(|nonce| {
                let ticket = door.enter(ip(1)).0;
                assert!(ticket.keyed(nonce));
                ticket
            })
            .collect();
        let (_last, dropped) = door.enter(ip(1));
        assert_eq!(dropped, [ip(1)]);
        assert!(!door.lock().pending.contains_key(&client.place()));
        assert_eq!(door.len(), PER_SOURCE);
        drop(keyed);
    }

    #[test]
    fn a_full_door_drops_the_oldest_of_all_and_stops_its_task() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let door = Door::default();
            let mut tickets = Vec::new();
            let mut first_task = None;
            for n in 0..TOTAL {
                let (ticket, dropped) = door.enter(ip((n % 200) as u8));
                assert!(dropped.is_empty(), "dropped at {n}");
                let task = tokio::spawn(std::future::pending::<()>());
                door.bind(ticket.place(), task.abort_handle());
                if n == 0 {
                    first_task = Some(task);
                }
                tickets.push(ticket);
            }
            let (_ticket, dropped) = door.enter(ip(250));
            assert_eq!(dropped, [ip(0)]);
            assert_eq!(door.len(), TOTAL);
            let first = first_task.unwrap().await;
            assert!(first.unwrap_err().is_cancelled());
        });
    }

    #[test]
    fn a_replayed_hello_is_not_keyed_and_the_nonces_kept_are_bounded() {
        let door = Door::default();
        let (client, _) = door.enter(ip(1));
        assert!(client.keyed(7));
        let (replay, _) = door.enter(ip(2));
        assert!(!replay.keyed(7), "a replay was keyed");
        // The replay is the one that gives way to strangers.
        let strangers: Vec<Ticket> = (0..PER_SOURCE).map(|_| door.enter(ip(2)).0).collect();
        assert!(!door.lock().pending.contains_key(&replay.place()));
        drop((client, strangers));
        // Past the bound the oldest nonce is forgotten.
        for nonce in 100..100 + HELLOS_REMEMBERED as u128 {
            assert!(door.enter(ip(3)).0.keyed(nonce));
        }
        assert_eq!(door.lock().hellos.len(), HELLOS_REMEMBERED);
        assert!(door.enter(ip(3)).0.keyed(7));
        assert!(
            !door
                .enter(ip(3))
                .0
                .keyed(100 + HELLOS_REMEMBERED as u128 - 1)
        );
    }
}
