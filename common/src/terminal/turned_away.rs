//! Connections the server turned away, and discovery probes it answered,
//! counted for terminal mode's stderr.

use std::collections::VecDeque;
use std::mem::{self, Discriminant};
use std::net::IpAddr;

use crate::error::Rejection;

/// Connections the server turned away, counted per source address and kind
/// of reason: a stranger can open thousands a second, so each (source, kind)
/// gets a line the first time and then only at 10, 100, 1000, … times, a
/// handful of lines however long the flood.
#[derive(Default)]
pub(super) struct TurnedAway {
    /// Source, kind (`None`: a discovery probe answered), count; the least
    /// recently seen first, at most [`TurnedAway::ROWS`].
    pub(super) rows: VecDeque<(IpAddr, Option<Discriminant<Rejection>>, u64)>,
}

impl TurnedAway {
    pub(super) const ROWS: usize = 64;

    /// Counts one; the line to print, if this one deserves a line.
    pub(super) fn add(&mut self, ip: IpAddr, reason: &Rejection) -> Option<String> {
        self.count(ip, Some(mem::discriminant(reason)), reason)
    }

    /// Counts a discovery probe from `ip` answered, the same way: a client
    /// probes a few times each time it looks.
    pub(super) fn probed(&mut self, ip: IpAddr) -> Option<String> {
        self.count(ip, None, &"looked for this server")
    }

    fn count(
        &mut self,
        ip: IpAddr,
        kind: Option<Discriminant<Rejection>>,
        what: &dyn std::fmt::Display,
    ) -> Option<String> {
        let at = self.rows.iter().position(|&(i, k, _)| i == ip && k == kind);
        let mut row = match at.and_then(|at| self.rows.remove(at)) {
            Some(row) => row,
            None => {
                if self.rows.len() == Self::ROWS {
                    self.rows.pop_front();
                }
                (ip, kind, 0)
            }
        };
        row.2 += 1;
        let count = row.2;
        self.rows.push_back(row);
        match count {
            1 => Some(format!("{ip} {what}")),
            n if n.checked_ilog10().is_some_and(|e| 10u64.pow(e) == n) => {
                Some(format!("{ip} {what}: {n} times"))
            }
            _ => None,
        }
    }
}
