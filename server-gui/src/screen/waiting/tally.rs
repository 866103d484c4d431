//! Connections turned away, tallied: a stranger can open thousands a second,
//! so the waiting screen keeps a few rows, one per source address and kind of
//! rejection, each with a count, instead of a line (and a widget, and its
//! memory) per connection.

use std::collections::VecDeque;
use std::mem;
use std::net::IpAddr;

use common::Rejection;
use common::ui::entry::clock_time;

/// How many (source, kind) rows are kept, and shown.
pub const ROWS: usize = 4;

/// Connections from one address turned away for one kind of reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ip: IpAddr,
    /// The latest reason of this kind (details such as a frame's age vary).
    pub reason: Rejection,
    pub count: u64,
    /// Unix ms of the latest.
    pub last: u64,
    /// When the latest was counted, in connections counted so far (the
    /// clock can show one millisecond for a thousand of them).
    turn: u64,
}

impl Row {
    /// "127.0.0.1 tried a different key: 3,412 times, the last at 14:02".
    pub fn describe(&self) -> String {
        let Row {
            ip, reason, last, ..
        } = self;
        let at = clock_time(*last);
        match self.count {
            1 => format!("{ip} {reason} at {at}"),
            n => format!("{ip} {reason}: {} times, the last at {at}", grouped(n)),
        }
    }
}

/// The rows, oldest first; at most [`ROWS`].
#[derive(Debug, Default)]
pub struct Tally {
    rows: VecDeque<Row>,
    counted: u64,
}

impl Tally {
    /// Counts a connection from `ip` turned away for `reason` at `at` (Unix
    /// ms). A source and kind not among the rows replaces the row seen least
    /// recently.
    pub fn add(&mut self, ip: IpAddr, reason: Rejection, at: u64) {
        self.counted += 1;
        let kind = mem::discriminant(&reason);
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|row| row.ip == ip && mem::discriminant(&row.reason) == kind)
        {
            row.count += 1;
            row.last = at;
            row.turn = self.counted;
            row.reason = reason;
            return;
        }
        if self.rows.len() == ROWS
            && let Some(stalest) = (0..self.rows.len()).min_by_key(|&i| self.rows[i].turn)
        {
            self.rows.remove(stalest);
        }
        self.rows.push_back(Row {
            ip,
            reason,
            count: 1,
            last: at,
            turn: self.counted,
        });
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = &Row> {
        self.rows.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// `3412` as "3,412".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Alert;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn counts_per_source_and_kind() {
        let mut tally = Tally::default();
        let expired = |age_secs| Rejection::Handshake(Alert::Expired { age_secs });
        tally.add(ip(1), Rejection::KeyMismatch, 1);
        tally.add(ip(1), Rejection::KeyMismatch, 2);
        // Another kind, another source, and the same kind with another detail.
        tally.add(ip(1), Rejection::Timeout, 3);
        tally.add(ip(2), Rejection::KeyMismatch, 4);
        tally.add(ip(2), expired(400), 5);
        tally.add(ip(2), expired(500), 6);
        let counts: Vec<_> = tally.rows().map(|r| (r.ip, r.count, r.last)).collect();
        assert_eq!(
            counts,
            [(ip(1), 2, 2), (ip(1), 1, 3), (ip(2), 1, 4), (ip(2), 2, 6)]
        );
        assert_eq!(tally.rows().last().unwrap().reason, expired(500));
    }

    #[test]
    fn a_new_row_replaces_the_one_seen_least_recently() {
        let mut tally = Tally::default();
        for n in 1..=ROWS as u8 {
            tally.add(ip(n), Rejection::KeyMismatch, 0);
        }
        // The first source is seen again, within the same millisecond: the
        // second is now the stalest.
        tally.add(ip(1), Rejection::KeyMismatch, 0);
        tally.add(ip(99), Rejection::KeyMismatch, 0);
        let ips: Vec<_> = tally.rows().map(|r| r.ip).collect();
        assert_eq!(ips.len(), ROWS);
        assert!(ips.contains(&ip(1)) && ips.contains(&ip(99)));
        assert!(!ips.contains(&ip(2)));
    }

    #[test]
    fn describes_a_row_with_its_count() {
        let mut row = Row {
            ip: ip(1),
            reason: Rejection::KeyMismatch,
            count: 1,
            last: 0,
            turn: 1,
        };
        let at = clock_time(0);
        assert_eq!(
            row.describe(),
            format!("127.0.0.1 tried a different key at {at}")
        );
        row.count = 3412;
        assert_eq!(
            row.describe(),
            format!("127.0.0.1 tried a different key: 3,412 times, the last at {at}")
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }
}
