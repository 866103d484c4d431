//! Who is in the room: members' places, their unique names, who may come
//! back and who is refused (PROTOCOL.md, "Rooms"). Pure state, no I/O:
//! the hub owns one and asks it every question.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::limits::{MEMBER_INFLOW_BYTES, REMOVED_MAX};
use super::mailbox::Mailbox;
use super::typing_pace::TypingPace;
use crate::event::Member;
use crate::handshake::ErrCode;
use crate::payload::{Body, MAX_NAME_CHARS, PROTO_ROOMS, RosterEntry, random_id};
use crate::place::Anchor;

/// A link of a member's hash chain ([`crate::place::parse_proof`]).
pub(crate) type Proof = [u8; 32];

/// Whose place a hello asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Protocol 3: a member id and the next link of its chain.
    Member { id: String, proof: Proof },
    /// Protocols 1 and 2: a name (cleaned) from an address; a reconnect
    /// with both takes the place back.
    Legacy { name: String, ip: IpAddr },
}

/// A member the server's user removed: refused until allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    id: String,
    /// Protocols 1 and 2: the name and address it came with.
    legacy: Option<(String, IpAddr)>,
}

/// One member's place, online or held.
#[derive(Debug)]
pub(crate) struct Place {
    pub id: String,
    /// Unique in the room.
    pub name: String,
    pub addr: SocketAddr,
    /// When it joined (or came back), Unix ms.
    pub since: u64,
    /// The protocol version of its current (or last) session.
    pub version: u32,
    anchor: Option<Anchor>,
    legacy: Option<(String, IpAddr)>,
    /// `Some(until)` while its place is held for it.
    pub away: Option<Instant>,
    pub mailbox: Arc<Mailbox>,
    /// What its messages read and not yet relayed may hold
    /// ([`MEMBER_INFLOW_BYTES`]), across its connections.
    pub inflow: Arc<Semaphore>,
    /// How often its typing changes reach the others.
    pub typing: TypingPace,
}

impl Place {
    /// Whether it gets room frames (roster, joined, left, delivered).
    pub fn rooms(&self) -> bool {
        self.version >= PROTO_ROOMS
    }

    pub fn entry(&self) -> RosterEntry {
        RosterEntry {
            member: self.id.clone(),
            name: self.name.clone(),
            addr: Some(self.addr.to_string()),
            since: self.since,
        }
    }

    /// As the server's own window sees it.
    pub fn member(&self) -> Member {
        Member {
            id: self.id.clone(),
            name: self.name.clone(),
            addr: Some(self.addr),
            since: self.since,
            you: false,
        }
    }
}

/// The room; see the module documentation.
#[derive(Debug)]
pub(crate) struct Room {
    max_members: usize,
    /// The server's own user.
    pub me: RosterEntry,
    /// Oldest first.
    places: Vec<Place>,
    /// The newest [`REMOVED_MAX`] removals.
    removed: VecDeque<Refused>,
}

impl Room {
    /// A room of at most `max_members`, the server's user (`me`) included.
    pub fn new(max_members: usize, me: RosterEntry) -> Room {
        Room {
            max_members,
            me,
            places: Vec::new(),
            removed: VecDeque::new(),
        }
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    pub fn place(&self, index: usize) -> &Place {
        &self.places[index]
    }

    pub fn place_mut(&mut self, index: usize) -> &mut Place {
        &mut self.places[index]
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.places.iter().position(|p| p.id == id)
    }

    fn find_claim(&self, claim: &Claim) -> Option<usize> {
        match claim {
            Claim::Member { id, .. } => self.find(id),
            Claim::Legacy { name, ip } => self
                .places
                .iter()
                .position(|p| p.legacy.as_ref() == Some(&(name.clone(), *ip))),
        }
    }

    fn refused(&self, claim: &Claim) -> bool {
        self.removed.iter().any(|r| match claim {
            Claim::Member { id, .. } => r.id == *id,
            Claim::Legacy { name, ip } => r.legacy.as_ref() == Some(&(name.clone(), *ip)),
        })
    }

    fn full(&self) -> bool {
        self.places.len() + 1 >= self.max_members
    }

    /// Whether a hello with `claim` may have a welcome: `Ok(true)` if it
    /// takes a place back, `Ok(false)` if it joins anew. Changes nothing:
    /// the place is taken only once the handshake completes
    /// ([`Room::seat`]).
    pub fn decide(&self, claim: &Claim) -> Result<bool, ErrCode> {
        if self.refused(claim) {
            return Err(ErrCode::Removed);
        }
        // The server's user is in every roster but has no chain to prove.
        if matches!(claim, Claim::Member { id, .. } if *id == self.me.member) {
            return Err(ErrCode::Place);
        }
        match (self.find_claim(claim), claim) {
            (Some(at), Claim::Member { proof, .. }) => match &self.places[at].anchor {
                Some(anchor) if anchor.accepts(proof) => Ok(true),
                _ => Err(ErrCode::Place),
            },
            (Some(_), Claim::Legacy { .. }) => Ok(true),
            (None, _) if self.full() && !self.places.iter().any(|p| p.away.is_some()) => {
                Err(ErrCode::RoomFull)
            }
            (None, _) => Ok(false),
        }
    }

    /// Seats a connection that completed its handshake: back in its place
    /// (the chain's anchor moves to its proof), or as a new member named
    /// `name` (made unique; the oldest held place gives way in a full
    /// room). Decided again, since the room may have changed during the
    /// handshake. Where it sits.
    pub fn seat(
        &mut self,
        claim: Claim,
        name: &str,
        addr: SocketAddr,
        version: u32,
        since: u64,
    ) -> Result<usize, ErrCode> {
        let back = self.decide(&claim)?;
        if back && let Some(index) = self.find_claim(&claim) {
            let place = &mut self.places[index];
            if let (Some(anchor), Claim::Member { proof, .. }) = (&mut place.anchor, &claim)
                && !anchor.advance(proof)
            {
                return Err(ErrCode::Place);
            }
            place.addr = addr;
            place.version = version;
            place.since = since;
            place.away = None;
            return Ok(index);
        }
        if self.full() {
            let oldest = self
                .places
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.away.map(|until| (until, i)))
                .min();
            let Some((_, at)) = oldest else {
                return Err(ErrCode::RoomFull);
            };
            self.places.remove(at);
        }
        let (id, anchor, legacy) = match claim {
            Claim::Member { id, proof } => (id, Some(Anchor::new(proof)), None),
            Claim::Legacy { name, ip } => (random_id(), None, Some((name, ip))),
        };
        self.places.push(Place {
            id,
            name: self.unique_name(name),
            addr,
            since,
            version,
            anchor,
            legacy,
            away: None,
            mailbox: Arc::default(),
            inflow: Arc::new(Semaphore::new(MEMBER_INFLOW_BYTES)),
            typing: TypingPace::default(),
        });
        Ok(self.places.len() - 1)
    }

    /// `wanted` if no one in the room goes by it (ignoring case), else
    /// "wanted (2)", "wanted (3)", ... cut to stay within the name limit.
    pub fn unique_name(&self, wanted: &str) -> String {
        let taken = |name: &str| {
            let name = name.to_lowercase();
            std::iter::once(&self.me.name)
                .chain(self.places.iter().map(|p| &p.name))
                .any(|n| n.to_lowercase() == name)
        };
        if !taken(wanted) {
            return wanted.to_owned();
        }
        // One of the first `places + 2` numbers is free.
        (2..)
            .map(|n| {
                let suffix = format!(" ({n})");
                let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
                let base: String = wanted.chars().take(room).collect();
                format!("{}{suffix}", base.trim_end())
            })
            .find(|name| !taken(name))
            .unwrap_or_default()
    }

    /// The member at `index` is away; its place is held until `until`.
    pub fn hold(&mut self, index: usize, until: Instant) {
        self.places[index].away = Some(until);
    }

    /// Gives up the place at `index`.
    pub fn give_up(&mut self, index: usize) -> Place {
        self.places.remove(index)
    }

    /// Gives up the place of member `id`, if it is in the room, and
    /// refuses it until [`Room::allow`].
    pub fn remove(&mut self, id: &str) -> Option<Place> {
        let place = self.find(id).map(|at| self.places.remove(at));
        if self.removed.len() == REMOVED_MAX {
            self.removed.pop_front();
        }
        self.removed.push_back(Refused {
            id: id.to_owned(),
            legacy: place.as_ref().and_then(|p| p.legacy.clone()),
        });
        place
    }

    pub fn allow(&mut self, id: &str) {
        self.removed.retain(|r| r.id != id);
    }

    /// Held places whose hold is over, given up.
    pub fn expired(&mut self, now: Instant) -> Vec<Place> {
        let (gone, kept) = std::mem::take(&mut self.places)
            .into_iter()
            .partition(|p| p.away.is_some_and(|until| until <= now));
        self.places = kept;
        gone
    }

    /// When the next held place expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.places.iter().filter_map(|p| p.away).min()
    }

    /// Everyone out, removals kept (the server's user hung up).
    pub fn empty(&mut self) -> Vec<Place> {
        std::mem::take(&mut self.places)
    }

    /// Everyone out and every removal forgotten (a new key).
    pub fn clear(&mut self) -> Vec<Place> {
        self.removed.clear();
        self.empty()
    }

    /// The `roster` frame for member `you`: the server and every member
    /// online, oldest first.
    pub fn roster(&self, you: &str) -> Body {
        let members = std::iter::once(self.me.clone())
            .chain(
                self.places
                    .iter()
                    .filter(|p| p.away.is_none())
                    .map(Place::entry),
            )
            .collect();
        Body::Roster {
            you: you.to_owned(),
            members,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::place::{Identity, parse_proof};
    use std::time::Duration;

    fn room(max: usize) -> Room {
        Room::new(
            max,
            RosterEntry {
                member: random_id(),
                name: "bob".into(),
                addr: None,
                since: 0,
            },
        )
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 40000))
    }

    fn claim(identity: &Identity) -> Claim {
        let (id, proof) = identity.next_proof();
        Claim::Member {
            id,
            proof: parse_proof(&proof).unwrap(),
        }
    }

    fn join(room: &mut Room, claim: Claim, name: &str) -> Result<usize, ErrCode> {
        room.seat(claim, name, addr(5), PROTO_ROOMS, 0)
    }

    fn legacy(name: &str, last: u8) -> Claim {
        Claim::Legacy {
            name: name.into(),
            ip: addr(last).ip(),
        }
    }

    #[test]
    fn names_are_unique_in_the_room_whatever_their_case() {
        let mut room = room(8);
        for wanted in ["alice", "Alice", "ALICE", "Bob"] {
            join(&mut room, claim(&Identity::new()), wanted).unwrap();
        }
        let names: Vec<_> = room.places().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["alice", "Alice (2)", "ALICE (3)", "Bob (2)"]);
        let long = "x".repeat(MAX_NAME_CHARS);
        join(&mut room, claim(&Identity::new()), &long).unwrap();
        join(&mut room, claim(&Identity::new()), &long).unwrap();
        let cut = &room.places()[5].name;
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.ends_with("x (2)"), "{cut}");
    }

    #[test]
    fn a_place_is_taken_back_with_the_next_link_and_never_with_a_seen_one() {
        let mut room = room(8);
        let alice = Identity::new();
        let first = claim(&alice);
        join(&mut room, first.clone(), "alice").unwrap();
        room.hold(0, Instant::now());
        let next = claim(&alice);
        assert_eq!(room.decide(&next), Ok(true));
        assert_eq!(join(&mut room, next.clone(), "ignored"), Ok(0));
        assert_eq!(
            (room.places().len(), room.place(0).name.as_str()),
            (1, "alice")
        );
        assert_eq!(room.place(0).away, None);
        // Replaying either link seen on the network proves nothing.
        assert_eq!(room.decide(&first), Err(ErrCode::Place));
        assert_eq!(room.decide(&next), Err(ErrCode::Place));
        // Another chain under alice's id neither.
        let Claim::Member { proof, .. } = claim(&Identity::new()) else {
            unreachable!()
        };
        let forged = Claim::Member {
            id: alice.member(),
            proof,
        };
        assert_eq!(
            join(&mut room, forged, "mallory").unwrap_err(),
            ErrCode::Place
        );
    }

    #[test]
    fn a_full_room_refuses_newcomers_gives_up_the_oldest_held_place_and_lets_members_back() {
        let mut room = room(3);
        let (a, b) = (Identity::new(), Identity::new());
        join(&mut room, claim(&a), "a").unwrap();
        join(&mut room, claim(&b), "b").unwrap();
        assert_eq!(
            room.decide(&claim(&Identity::new())),
            Err(ErrCode::RoomFull)
        );
        let now = Instant::now();
        room.hold(1, now + Duration::from_secs(2));
        room.hold(0, now + Duration::from_secs(1));
        assert_eq!(join(&mut room, claim(&b), "b"), Ok(1), "back in its place");
        room.hold(1, now + Duration::from_secs(2));
        assert_eq!(join(&mut room, claim(&Identity::new()), "c"), Ok(1));
        let names: Vec<_> = room.places().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(room.find(&a.member()), None, "a would join anew");
        room.places[0].away = None;
        assert_eq!(room.decide(&claim(&a)), Err(ErrCode::RoomFull));
    }

    #[test]
    fn a_removed_member_is_refused_until_allowed_and_a_new_key_forgets() {
        let mut room = room(8);
        let alice = Identity::new();
        join(&mut room, claim(&alice), "alice").unwrap();
        join(&mut room, legacy("old", 7), "old").unwrap();
        let old = room.place(1).id.clone();
        assert_eq!(
            room.remove(&alice.member()).map(|p| p.name),
            Some("alice".into())
        );
        assert_eq!(room.remove(&old).map(|p| p.name), Some("old".into()));
        assert!(room.places().is_empty());
        assert_eq!(room.decide(&claim(&alice)), Err(ErrCode::Removed));
        assert_eq!(room.decide(&legacy("old", 7)), Err(ErrCode::Removed));
        assert_eq!(room.decide(&legacy("old", 8)), Ok(false), "another address");
        room.allow(&alice.member());
        assert_eq!(room.decide(&claim(&alice)), Ok(false), "joins anew");
        assert_eq!(room.decide(&legacy("old", 7)), Err(ErrCode::Removed));
        room.clear();
        assert_eq!(room.decide(&legacy("old", 7)), Ok(false));
        for _ in 0..REMOVED_MAX + 1 {
            room.remove(&random_id());
        }
        assert_eq!(room.removed.len(), REMOVED_MAX);
    }

    #[test]
    fn an_old_client_takes_back_the_place_of_its_name_from_its_address() {
        let mut room = room(8);
        join(&mut room, legacy("old", 7), "old").unwrap();
        assert_eq!(join(&mut room, legacy("old", 7), "old"), Ok(0), "back");
        assert_eq!(join(&mut room, legacy("old", 8), "old"), Ok(1), "anew");
        let names: Vec<_> = room.places().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["old", "old (2)"]);
    }

    #[test]
    fn held_places_expire_and_the_roster_lists_who_is_online() {
        let mut room = room(8);
        for name in ["a", "b", "c"] {
            join(&mut room, claim(&Identity::new()), name).unwrap();
        }
        let now = Instant::now();
        room.hold(0, now + Duration::from_secs(1));
        room.hold(2, now + Duration::from_secs(5));
        assert_eq!(room.next_expiry(), Some(now + Duration::from_secs(1)));
        let Body::Roster { members, .. } = room.roster(&room.place(1).id) else {
            unreachable!()
        };
        let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["bob", "b"]);
        assert_eq!(members[0].addr, None);
        let gone = room.expired(now + Duration::from_secs(2));
        assert_eq!(gone.len(), 1);
        assert_eq!(room.places().len(), 2);
    }
}
