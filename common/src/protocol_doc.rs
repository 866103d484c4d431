//! PROTOCOL.md is the contract a peer in another language is written from,
//! so its numbers and ERR lines are checked against the constants the code
//! enforces: changing one without the other fails here.

use std::collections::HashMap;
use std::time::Duration;

use crate::codec::{HANDSHAKE_LINE_MAX, SESSION_LINE_MAX};
use crate::config::Timing;
use crate::config::{DEFAULT_MAX_MEMBERS, MAX_MEMBERS_LIMIT};
use crate::discovery::limits::{
    ADDRS_MAX, ANSWER_BURST, ANSWER_PLAINTEXT_MAX, ANSWERS_PER_SEC, DATAGRAM_MAX, FOUND_MAX,
    GROUP_V4, GROUP_V6, NONCES_MAX, PENDING_MAX, PROBE_EVERY, PROBE_PLAINTEXT, PROBE_ROUNDS,
    REJOIN_EVERY, ROAM_WAIT, SOURCE_ANSWERS_PER_SEC, SOURCE_BURST, SOURCES_MAX,
};
use crate::handshake::ErrCode;
use crate::link::room::DELIVERY_MARKS;
use crate::link::{BACKLOG_MAX, SEND_AHEAD, SEND_WINDOW};
use crate::outbox::REMEMBERED_IDS;
use crate::payload::{
    ACK_TEXT_BYTES, MAX_BATCH, MAX_BATCH_TEXT_BYTES, MAX_NAME_CHARS, MAX_REASON_CHARS, MAX_ROSTER,
    MAX_TEXT_BYTES, MESSAGE_OVERHEAD, PROTO_MAX,
};
use crate::place::{CHAIN_LENGTH, REFUSALS_BELIEVED, SKIP};
use crate::server::limits::{
    CONTROL_MAX, HELD_MARKS, HELD_QUEUE_BYTES, MEMBER_INFLOW_BYTES, MEMBER_QUEUE_BYTES,
    REMOVED_MAX, TYPING_BURST, TYPING_PER_SEC,
};
use crate::token::{MAX_SKEW_SECS, TTL_SECS};
use crate::{DEFAULT_PORT, admission};

const DOC: &str = include_str!("../../PROTOCOL.md");

/// 1234567 → "1,234,567", as the document writes numbers.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f32())
}

/// The rows of the "Limits and timeouts" table: name → value.
fn limits_table() -> HashMap<String, String> {
    let section = DOC
        .split("## Limits and timeouts")
        .nth(1)
        .expect("PROTOCOL.md has a limits section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].to_owned(), cells[2].to_owned())
        })
        .collect()
}

#[test]
fn the_limits_table_is_what_the_code_enforces() {
    let t = Timing::default();
    let bytes = |n: usize| format!("{} bytes", grouped(n));
    let expected: Vec<(&str, String)> = vec![
        ("handshake line", bytes(HANDSHAKE_LINE_MAX)),
        ("session line", bytes(SESSION_LINE_MAX)),
        ("message text", bytes(MAX_TEXT_BYTES)),
        ("batch", format!("{MAX_BATCH} entries")),
        ("batch text", bytes(MAX_BATCH_TEXT_BYTES)),
        ("name", format!("{MAX_NAME_CHARS} characters")),
        ("reason", format!("{MAX_REASON_CHARS} characters")),
        ("token TTL", format!("{TTL_SECS} s")),
        ("future skew", format!("{MAX_SKEW_SECS} s")),
        ("hello wait", secs(t.hello)),
        ("handshake wait", secs(t.handshake)),
        ("connect wait", secs(t.connect)),
        ("ping after", secs(t.ping_after)),
        ("lost after", secs(t.lost_after)),
        ("backoff first", secs(t.backoff_first)),
        ("backoff max", secs(t.backoff_max)),
        ("close grace", secs(t.close_grace)),
        ("ack delay", secs(t.ack_delay)),
        ("ack text", bytes(ACK_TEXT_BYTES)),
        ("handshakes per source", admission::PER_SOURCE.to_string()),
        ("handshakes in all", admission::TOTAL.to_string()),
        ("remembered hellos", grouped(admission::HELLOS_REMEMBERED)),
        ("remembered ids", grouped(REMEMBERED_IDS)),
        ("send ahead", bytes(SEND_AHEAD)),
        ("send window", bytes(SEND_WINDOW)),
        ("message overhead", bytes(MESSAGE_OVERHEAD)),
        ("unread backlog", bytes(BACKLOG_MAX)),
        ("discovery datagram", bytes(DATAGRAM_MAX)),
        ("probe plaintext", bytes(PROBE_PLAINTEXT)),
        ("answer addresses", ADDRS_MAX.to_string()),
        (
            "answers in all",
            format!("{ANSWERS_PER_SEC}/s after {ANSWER_BURST}"),
        ),
        (
            "answers per source",
            format!("{SOURCE_ANSWERS_PER_SEC}/s after {SOURCE_BURST}"),
        ),
        ("answered nonces", grouped(NONCES_MAX)),
        ("rate-tracked sources", SOURCES_MAX.to_string()),
        ("room members", DEFAULT_MAX_MEMBERS.to_string()),
        ("roster", format!("{MAX_ROSTER} members")),
        ("chain skip", SKIP.to_string()),
        ("refusals believed", REFUSALS_BELIEVED.to_string()),
        ("place hold", secs(t.hold)),
        ("member queue", bytes(MEMBER_QUEUE_BYTES)),
        ("held queue", bytes(HELD_QUEUE_BYTES)),
        ("removed members", REMOVED_MAX.to_string()),
        ("held marks", grouped(HELD_MARKS)),
        ("member frames", grouped(CONTROL_MAX)),
        ("member inflow", bytes(MEMBER_INFLOW_BYTES)),
        ("room stall", secs(t.stall)),
        (
            "delivery marks",
            format!("{} messages", grouped(DELIVERY_MARKS)),
        ),
        (
            "typing pace",
            format!("{TYPING_PER_SEC}/s after {TYPING_BURST}"),
        ),
        ("typed queue", bytes(crate::TYPED_QUEUE_BYTES)),
    ];
    let table = limits_table();
    for (name, value) in &expected {
        assert_eq!(table.get(*name), Some(value), "row `{name}`");
    }
    assert_eq!(table.len(), expected.len(), "rows the test does not know");
}

#[test]
fn every_err_line_is_documented_word_for_word() {
    let t = Timing::default();
    for code in [
        ErrCode::KeyMismatch,
        ErrCode::Version,
        ErrCode::TooLarge,
        ErrCode::Timeout,
        ErrCode::BadHello,
        ErrCode::RoomFull,
        ErrCode::Removed,
        ErrCode::Place,
    ] {
        let line = format!("`{}`", code.line(&t));
        assert!(DOC.contains(&line), "PROTOCOL.md lacks {line}");
    }
}

#[test]
fn the_versions_and_batch_limits_are_the_documented_ones() {
    assert!(DOC.contains(&format!(
        "# fernet-chat wire protocol, versions 1 and {PROTO_MAX} (as implemented)"
    )));
    assert!(DOC.contains(&format!(
        "`msgs`: 1 to {MAX_BATCH} objects `{{\"id\",\"text\",\"sent_at\"}}` as in `msg`, \
         at most {} bytes of text in all",
        grouped(MAX_BATCH_TEXT_BYTES)
    )));
    assert!(DOC.contains(&format!("`ids`: 1 to {MAX_BATCH} msg ids")));
}

#[test]
fn rooms_are_documented_with_the_codes_numbers() {
    let section = DOC
        .split("## Rooms (protocol 3)")
        .nth(1)
        .expect("PROTOCOL.md has a rooms section");
    let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
    for text in [
        format!("(n = {})", grouped(CHAIN_LENGTH as usize)),
        format!("hashing its `proof` 1 to {SKIP} times"),
    ] {
        assert!(section.contains(&text), "the rooms section lacks {text:?}");
    }
    assert!(DOC.contains(&format!(
        "the server included (`--max-members`, 2 to {MAX_MEMBERS_LIMIT})"
    )));
    assert!(DOC.contains(&format!("`members`: 1 to {MAX_ROSTER} entries")));
}

#[test]
fn the_default_port_and_admission_caps_are_the_documented_ones() {
    assert!(DOC.contains(&format!("default port **{DEFAULT_PORT}**")));
    assert!(DOC.contains(&format!(
        "At most {} connections from one source\naddress and {} in all",
        admission::PER_SOURCE,
        admission::TOTAL
    )));
    assert!(DOC.contains(&format!(
        "The hello must arrive within {} of accept.",
        secs(Timing::default().hello)
    )));
}

#[test]
fn discovery_is_documented_with_the_codes_numbers() {
    let section = DOC
        .split("## Discovery (UDP)")
        .nth(1)
        .expect("PROTOCOL.md has a discovery section");
    // Line breaks and indents fall anywhere.
    let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
    let secs = |d: Duration| d.as_secs_f32().to_string();
    let rounds: Vec<String> = PROBE_ROUNDS.iter().map(|d| secs(*d)).collect();
    for text in [
        format!("`proto` ({})", crate::discovery::VERSION),
        format!("`{GROUP_V4}`"),
        format!("`{GROUP_V6}`"),
        format!("exactly {PROBE_PLAINTEXT} bytes"),
        format!("addresses, {ANSWER_PLAINTEXT_MAX} bytes"),
        format!("at most {} bytes", grouped(DATAGRAM_MAX)),
        format!("older than the token TTL ({TTL_SECS} s)"),
        format!("more than the future skew ({MAX_SKEW_SECS} s)"),
        format!("At most {} nonces", grouped(NONCES_MAX)),
        format!("at most {SOURCE_ANSWERS_PER_SEC} answers per second per source address"),
        format!("after a burst of {SOURCE_BURST}, and {ANSWERS_PER_SEC} per second in all"),
        format!("after a burst of {ANSWER_BURST}"),
        format!("{SOURCES_MAX} sources are tracked"),
        format!(
            "probes at {}, {}, {} and {} s after starting, then every {} s",
            rounds[0],
            rounds[1],
            rounds[2],
            rounds[3],
            secs(PROBE_EVERY)
        ),
        format!("the nonces of its last {PENDING_MAX} probes"),
        format!("at most {FOUND_MAX} servers"),
        format!("(it looks every {} s)", secs(REJOIN_EVERY)),
        format!("(waiting up to {} s for an answer)", secs(ROAM_WAIT)),
    ] {
        assert!(
            section.contains(&text),
            "the discovery section lacks {text:?}"
        );
    }
    for prefix in crate::discovery::VIRTUAL_PREFIXES {
        assert!(section.contains(&format!("`{prefix}`")), "{prefix}");
    }
}
