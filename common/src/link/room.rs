//! What a client's session knows of the room it is in (protocol 3, see
//! PROTOCOL.md, "Rooms"): the members by id, so that frames naming a
//! member by id (`left`, `typing`, `delivered`) can be shown by name, and
//! our messages the server relayed and not yet delivered to everyone, so
//! that each member's delivery mark counts once. Everything here comes
//! from the server and is treated as hostile: both are bounded, and a
//! frame about a member or message we do not know changes nothing.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::{ChatEvent, ClientEvent, Member, Peer};
use crate::payload::{MAX_ROSTER, RosterEntry, parse_id, random_id};

/// Our messages whose delivery marks are tracked: those relayed and not
/// yet delivered to every member they went to, the newest. A member that
/// never reads (or a server that never says) leaves its marks here until
/// newer messages push them out.
pub const DELIVERY_MARKS: usize = 4096;

/// One session's view of the room.
#[derive(Debug)]
pub(crate) struct Room {
    /// Our own entry as we know it before the server says otherwise: our
    /// member id and cleaned name.
    me: Member,
    /// Members by id: those of the last roster plus those who joined
    /// since, less those who left; at most [`MAX_ROSTER`].
    members: HashMap<String, Member>,
    delivery: Delivery,
}

/// Our relayed messages' delivery so far. It outlives a session (the
/// client carries it to the next): marks the server kept while we were
/// away still count after a reconnect.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// Delivery marks by message id (as a number: 16 bytes).
    marks: HashMap<u128, Marks>,
    /// The ids in `marks` (and some already complete) in the order they
    /// were relayed, to forget the oldest; at most [`DELIVERY_MARKS`].
    relayed: VecDeque<u128>,
}

/// Who received one of our relayed messages so far.
#[derive(Debug)]
struct Marks {
    /// How many members the server relays it to.
    to: usize,
    /// The distinct members (ids as numbers) that received it: a set, as
    /// a server may name the same members again in frame after frame.
    by: HashSet<u128>,
}

impl Room {
    /// A room seen by the member `me` (our id, name and when we connect).
    pub fn new(me: Member) -> Room {
        Room {
            me,
            members: HashMap::new(),
            delivery: Delivery::default(),
        }
    }

    /// Takes over what an earlier session knew of our messages' delivery.
    pub fn resume(&mut self, delivery: Delivery) {
        self.delivery = delivery;
    }

    /// What this session knows of our messages' delivery, for the next.
    pub fn delivery(&mut self) -> Delivery {
        std::mem::take(&mut self.delivery)
    }

    /// A two-person chat (a protocol-1 or 2 server): the server and us, so
    /// the window always has a roster.
    pub fn pair(&mut self, server: &Peer) -> ClientEvent {
        let server = Member {
            id: random_id(),
            name: server.name.clone(),
            addr: None,
            since: self.me.since,
            you: false,
        };
        self.members.clear();
        self.members.insert(server.id.clone(), server.clone());
        ClientEvent::Roster(vec![server, self.me.clone()])
    }

    /// A `roster` frame: the room as it is now, `you` our own entry.
    /// Listed in the server's order, each member once.
    pub fn roster(&mut self, you: &str, entries: Vec<RosterEntry>) -> ClientEvent {
        self.members.clear();
        let mut listed = Vec::with_capacity(entries.len());
        for entry in entries {
            let member = member(entry, you);
            if self.members.len() < MAX_ROSTER && !self.members.contains_key(&member.id) {
                self.members.insert(member.id.clone(), member.clone());
                listed.push(member);
            }
        }
        ClientEvent::Roster(listed)
    }

    /// A `joined` frame; `None` once as many members are known as a roster
    /// may list (a server that announces joins without leaves).
    pub fn joined(&mut self, entry: RosterEntry) -> Option<ChatEvent> {
        let member = member(entry, &self.me.id);
        if self.members.len() >= MAX_ROSTER && !self.members.contains_key(&member.id) {
            return None;
        }
        self.members.insert(member.id.clone(), member.clone());
        Some(ChatEvent::Joined(member))
    }

    /// A `left` frame; `None` for a member we do not know.
    pub fn left(&mut self, id: &str, why: &str) -> Option<ChatEvent> {
        let member = self.members.remove(id)?;
        let why = crate::event::Why::from_code(why);
        Some(ChatEvent::Left { member, why })
    }

    /// The name of member `id`, if we know it.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.members.get(id).map(|m| m.name.as_str())
    }

    /// The server took our message `id` and relays it to `to` members:
    /// their delivery marks will follow.
    pub fn relayed(&mut self, id: &str, to: u32) {
        let (Some(key), Ok(to)) = (parse_id(id), usize::try_from(to)) else {
            return;
        };
        if to == 0 {
            return;
        }
        while self.delivery.relayed.len() >= DELIVERY_MARKS {
            if let Some(oldest) = self.delivery.relayed.pop_front() {
                self.delivery.marks.remove(&oldest);
            }
        }
        self.delivery.relayed.push_back(key);
        self.delivery.marks.insert(
            key,
            Marks {
                to,
                by: HashSet::new(),
            },
        );
    }

    /// A `delivered` frame: one [`ChatEvent::Delivered`] per id that is ours,
    /// relayed, and not yet marked by each member named (a known one, not
    /// us).
    pub fn delivered(&mut self, ids: &[String], by: &[String]) -> Vec<ChatEvent> {
        let mut events = Vec::new();
        for by in by {
            self.delivered_by(ids, by, &mut events);
        }
        events
    }

    fn delivered_by(&mut self, ids: &[String], by: &str, events: &mut Vec<ChatEvent>) {
        let (Some(member), Some(by_key)) = (self.members.get(by), parse_id(by)) else {
            return;
        };
        if member.you {
            return;
        }
        for id in ids {
            let Some(key) = parse_id(id) else { continue };
            let Some(marks) = self.delivery.marks.get_mut(&key) else {
                continue;
            };
            if !marks.by.insert(by_key) {
                continue;
            }
            if marks.by.len() >= marks.to {
                // Delivered to all: nothing more to count (its place in
                // `relayed` goes when it is the oldest).
                self.delivery.marks.remove(&key);
            }
            events.push(ChatEvent::Delivered {
                id: id.clone(),
                by: member.name.clone(),
            });
        }
    }
}

/// A roster entry as the app sees it: `you` is the receiver's member id;
/// an address that does not parse is left out.
fn member(entry: RosterEntry, you: &str) -> Member {
    Member {
        you: entry.member == you,
        addr: entry.addr.and_then(|addr| addr.parse().ok()),
        id: entry.member,
        name: entry.name,
        since: entry.since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Why;

    fn entry(name: &str, addr: Option<&str>) -> RosterEntry {
        RosterEntry {
            member: random_id(),
            name: name.into(),
            addr: addr.map(str::to_owned),
            since: 7,
        }
    }

    fn me() -> Member {
        Member {
            id: random_id(),
            name: "carol".into(),
            addr: None,
            since: 1,
            you: false,
        }
    }

    #[test]
    fn a_roster_marks_us_parses_addresses_and_lists_each_member_once() {
        let mut room = Room::new(me());
        let bob = entry("bob", None);
        let alice = entry("alice", Some("10.0.0.5:51234"));
        let odd = entry("odd", Some("not an address"));
        let you = entry("carol", Some("[::1]:40022"));
        let entries = vec![
            bob.clone(),
            alice.clone(),
            odd.clone(),
            alice.clone(),
            you.clone(),
        ];
        let ClientEvent::Roster(members) = room.roster(&you.member, entries) else {
            panic!()
        };
        let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["bob", "alice", "odd", "carol"]);
        let you_marks: Vec<_> = members.iter().map(|m| m.you).collect();
        assert_eq!(you_marks, [false, false, false, true]);
        assert_eq!(members[0].addr, None, "the server has no address");
        assert_eq!(members[1].addr, Some("10.0.0.5:51234".parse().unwrap()));
        assert_eq!(members[2].addr, None, "an address that does not parse");
        assert_eq!(members[3].addr, Some("[::1]:40022".parse().unwrap()));
        assert_eq!(room.name_of(&alice.member), Some("alice"));
    }

    #[test]
    fn leaves_of_unknown_members_are_ignored_and_known_ones_forgotten() {
        let mut room = Room::new(me());
        let alice = entry("alice", None);
        room.roster(&random_id(), vec![entry("bob", None)]);
        assert_eq!(room.left(&alice.member, "bye"), None);
        assert!(room.joined(alice.clone()).is_some());
        let Some(ChatEvent::Left { member, why }) = room.left(&alice.member, "slow") else {
            panic!()
        };
        assert_eq!((member.name.as_str(), why), ("alice", Why::Slow));
        assert_eq!(room.left(&alice.member, "bye"), None, "already gone");
        assert_eq!(room.name_of(&alice.member), None);
    }

    #[test]
    fn a_server_announcing_joins_without_leaves_cannot_grow_the_room() {
        let mut room = Room::new(me());
        let full: Vec<_> = (0..MAX_ROSTER)
            .map(|n| entry(&n.to_string(), None))
            .collect();
        room.roster(&random_id(), full.clone());
        assert_eq!(room.joined(entry("one too many", None)), None);
        assert_eq!(room.members.len(), MAX_ROSTER);
        // A known member may still come back (a new address, a new since).
        assert!(room.joined(full[3].clone()).is_some());
        room.left(&full[0].member, "bye");
        assert!(room.joined(entry("now there is room", None)).is_some());
    }

    #[test]
    fn each_member_marks_a_relayed_message_once_and_strangers_not_at_all() {
        let mut room = Room::new(me());
        let (alice, dave) = (entry("alice", None), entry("dave", None));
        let you = random_id();
        room.roster(&you, vec![alice.clone(), dave.clone()]);
        let (ours, unknown) = (random_id(), random_id());
        room.relayed(&ours, 2);
        let by = |events: Vec<ChatEvent>| -> Vec<String> {
            events
                .into_iter()
                .map(|e| match e {
                    ChatEvent::Delivered { id, by } => format!("{by}:{}", id == ours),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let one = |m: &str| vec![m.to_owned()];
        let marks = room.delivered(&[ours.clone(), unknown.clone()], &one(&alice.member));
        assert_eq!(by(marks), ["alice:true"], "an id we did not send");
        let ours = [ours.clone()];
        assert!(room.delivered(&ours, &one(&alice.member)).is_empty());
        assert!(room.delivered(&ours, &one(&random_id())).is_empty());
        assert!(room.delivered(&ours, &one(&you)).is_empty());
        // One frame naming several: each counts once, strangers and we
        // not at all.
        let several = [
            random_id(),
            you.clone(),
            alice.member.clone(),
            dave.member.clone(),
        ];
        assert_eq!(by(room.delivered(&ours, &several)), ["dave:true"]);
        assert!(
            room.delivery.marks.is_empty(),
            "delivered to all: forgotten"
        );
    }

    #[test]
    fn delivery_marks_are_kept_for_the_newest_relayed_messages_only() {
        let mut room = Room::new(me());
        let alice = entry("alice", None);
        room.roster(&random_id(), vec![alice.clone()]);
        let first = random_id();
        room.relayed(&first, 3);
        for _ in 0..DELIVERY_MARKS {
            room.relayed(&random_id(), 3);
        }
        assert_eq!(room.delivery.marks.len(), DELIVERY_MARKS);
        assert_eq!(room.delivery.relayed.len(), DELIVERY_MARKS);
        assert!(room.delivered(&[first], &[alice.member]).is_empty());
    }
}
