//! What terminal mode says on stderr about the engine's events.

use std::fmt::Write as _;

use crate::event::{Ended, Event, Member};
use crate::wording;

/// The stderr line for an event, if it deserves one. It may quote the
/// network; [`super::Relay::status`] makes it safe.
pub(super) fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Connecting { attempt: 1, server } => format!("connecting to {server}…"),
        Event::Connecting { attempt, server } => {
            format!("reconnecting to {server} (attempt {attempt})…")
        }
        Event::Retrying { delay, error, .. } => {
            format!("{error}; trying again in {:.1} s", delay.as_secs_f32())
        }
        Event::Connected { peer, resent } => {
            let mut line = format!("connected to {} ({})", peer.name, peer.addr);
            if *resent > 0 {
                let _ = write!(line, "; sent {resent} waiting message(s)");
            }
            line
        }
        Event::ClockOffset { secs } => format!(
            "note: the other computer's clock is {} s {} yours; messages still work",
            secs.unsigned_abs(),
            if *secs > 0 { "ahead of" } else { "behind" }
        ),
        Event::Disconnected(Ended::Alert(alert)) => {
            format!("SECURITY ALERT: {alert}; connection closed")
        }
        Event::Disconnected(ended) => format!("disconnected: {ended}"),
        Event::Failed(e) => format!("error: {e}"),
        Event::Moved { name, to } => format!("{name} moved to {to}; connecting there"),
        Event::Roster(members) => in_the_room(members),
        Event::Joined(member) => wording::joined(member),
        Event::Left { member, why } => wording::left(member, why),
        Event::Received { .. }
        | Event::Probed { .. }
        | Event::Sent { .. }
        | Event::Acked { .. }
        | Event::Relayed { .. }
        | Event::Delivered { .. }
        | Event::Rejected { .. }
        | Event::Typing { .. }
        | Event::KeyChanged(_)
        | Event::Closed => return None,
    })
}

/// "in the room: bob, alice, you (carol)", in the roster's order.
fn in_the_room(members: &[Member]) -> String {
    let names: Vec<String> = members
        .iter()
        .map(|m| {
            if m.you {
                format!("you ({})", m.name)
            } else {
                m.name.clone()
            }
        })
        .collect();
    format!("in the room: {}", names.join(", "))
}
