//! What a room keeps for its members, at most (PROTOCOL.md, "Limits and
//! timeouts" and "Rooms"). Local policy: what this server holds in memory
//! for members that read slowly or are away.

/// Bytes of messages relayed to a connected member and not yet
/// acknowledged by it, at most (each counting its text and
/// [`crate::payload::MESSAGE_OVERHEAD`]): a message that would pass this for any connected
/// member waits in the room until they all have room for it (the room
/// goes at the pace of its slowest member); one that holds the room up
/// and acknowledges nothing for [`crate::config::Timing::stall`] has
/// stopped reading, and is disconnected (`slow`) with its place held.
pub const MEMBER_QUEUE_BYTES: usize = 2 * 1024 * 1024;

/// Bytes of messages (counted as in [`MEMBER_QUEUE_BYTES`]) kept for a
/// member that is away: beyond this its place is
/// given up, so members who never come back cannot grow the server.
pub const HELD_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Removed members the server refuses, the newest.
pub const REMOVED_MAX: usize = 256;

/// Frames other than messages (acks, typing, joins and leaves, delivery
/// marks) queued for a connected member and not yet sealed for its
/// socket: beyond this it has stopped keeping up, and is disconnected
/// (`slow`) like a member over [`MEMBER_QUEUE_BYTES`].
pub const CONTROL_MAX: usize = 65_536;

/// Delivery marks kept for a member that is away, counted as against
/// [`CONTROL_MAX`] (a frame 1, and 1 per id and name), sent when it comes
/// back (newer ones are dropped): its "delivered to 2 of 3" catches up
/// after a blip. Half the member frames, so that a member coming back
/// to them is not over that bound at once.
pub const HELD_MARKS: usize = CONTROL_MAX / 2;

/// Bytes of one member's messages (counted as in [`MEMBER_QUEUE_BYTES`])
/// read from its socket and not yet relayed by the room: beyond this the server reads that member no
/// further until the room takes them, and TCP slows it down. A client
/// keeps less than this unacknowledged ([`crate::link::SEND_WINDOW`]
/// and one message), so the server never stops reading one that keeps
/// to its window, and always sees its acks. Per member, so that one
/// member's messages never keep another's acks unread.
pub const MEMBER_INFLOW_BYTES: usize = 1024 * 1024;

const _: () = assert!(
    crate::link::SEND_WINDOW + crate::payload::weight(crate::payload::MAX_TEXT_BYTES)
        <= MEMBER_INFLOW_BYTES
);

/// A member's typing changes the room relays at once, after a quiet
/// while; past them, [`TYPING_PER_SEC`]. A person's typing changes a few
/// times a minute (on at a first key, off at a pause or at Enter), so
/// only a flood waits; each relayed change costs a frame sealed for every
/// other member.
pub const TYPING_BURST: u32 = 8;

/// A member's typing changes relayed per second past [`TYPING_BURST`].
pub const TYPING_PER_SEC: u32 = 4;
