//! What a room keeps for its members, at most (PROTOCOL.md, "Limits and
//! timeouts" and "Rooms"). Local policy: what this server holds in memory
//! for members that read slowly or are away.

/// Bytes of text relayed to a connected member and not yet acknowledged
/// by it: beyond this the member has stopped reading, and is disconnected
/// (`slow`) with its place held.
pub const MEMBER_QUEUE_BYTES: usize = 2 * 1024 * 1024;

/// Bytes of text kept for a member that is away: beyond this its place is
/// given up, so members who never come back cannot grow the server.
pub const HELD_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Removed members the server refuses, the newest.
pub const REMOVED_MAX: usize = 256;

/// Frames other than messages (acks, typing, joins and leaves, delivery
/// marks) queued for a connected member and not yet sealed for its
/// socket: beyond this it has stopped keeping up, and is disconnected
/// (`slow`) like a member over [`MEMBER_QUEUE_BYTES`].
pub const CONTROL_MAX: usize = 65_536;

/// Delivery-mark frames kept for a member that is away, sent when it
/// comes back (newer ones are dropped): its "delivered to 2 of 3" catches
/// up after a blip.
pub const HELD_MARKS: usize = 1024;

/// Bytes of members' message text read from their sockets and not yet
/// relayed by the room, all members together: a member that sends while
/// the room is busy (its window behind) waits, and TCP slows it down.
pub const INFLOW_BYTES: usize = 8 * 1024 * 1024;
