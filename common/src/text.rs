//! Text from the network, made safe to show.
//!
//! A peer chooses every character of its name, its messages and its `bye`
//! reason, and an unauthenticated stranger chooses the text of an `ERR`
//! line. Shown as they are, some characters act instead of being read:
//! - C0 controls (ESC starts `ESC[2J` clear screen, `ESC]52;…` clipboard
//!   writes, `ESC]0;…` window titles), DEL, and C1 controls (U+009B is a
//!   one-character CSI to many terminals);
//! - CR moves the cursor back over what was printed, LF starts a line that
//!   can pass for a status line (`SECURITY ALERT: …`) or for another
//!   person's message;
//! - bidi controls (U+202A–202E, U+2066–2069, U+200E/F, U+061C) reorder what
//!   follows, so `mallory\u{202e}gnp.exe` reads `malloryexe.png`, and the other
//!   invisible format characters (Unicode category Cf: zero-width spaces,
//!   invisible operators, tags, …) hide text or tell names apart that look
//!   alike; U+2028/U+2029 break lines in some renderers.
//!
//! All of these are **escaped** as `\u{1b}` (the way Rust and JavaScript
//! write them): visible, unambiguous about which character was sent, and
//! the same notation for C0, C1 and format characters (control pictures
//! such as `␛` exist only for C0). A peer can also type those six
//! characters literally; that is harmless, they are shown, not obeyed.
//! Escaping is chosen over isolating (FSI … PDI) because an isolate keeps a
//! right-to-left override working inside the message itself.
//!
//! Two characters are kept where text needs them: tab, and the zero-width
//! joiner / non-joiner (U+200D, U+200C) between two visible non-ASCII
//! characters, which is where emoji sequences (`👩‍💻`) and Indic and
//! Persian spelling use them. Names go through the same rules in
//! [`crate::payload::clean_name`], which removes instead of escaping.

use std::borrow::Cow;
use std::fmt::Write;

/// The start of every continuation line of a multi-line message in the
/// terminal. Status lines never start with white space, and names cannot
/// ([`crate::payload::clean_name`] trims them), so a line starting with
/// this is always the rest of the message above, never a status line or
/// another `name: text` line.
pub const CONTINUATION: &str = "  | ";

/// One line for the terminal, for anything that is not a message body:
/// names, status lines that quote the network (`bye` reasons, `ERR` texts,
/// parse errors). Every character that could act is escaped, LF included.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    clean(text, Lines::Escape)
}

/// A message body for the terminal: its first line, then each further line
/// after a newline and [`CONTINUATION`]; every character that could act is
/// escaped. The caller writes `name: ` before it and a newline after it.
pub fn for_terminal_message(text: &str) -> Cow<'_, str> {
    clean(text, Lines::Continue)
}

/// A message body for the chat window: newlines and tabs kept (the window
/// lays them out), every other control, bidi and invisible format
/// character escaped, so the window shows exactly which characters arrived
/// and in which order.
pub fn for_window(text: &str) -> Cow<'_, str> {
    clean(text, Lines::Keep)
}

/// Whether `c` is never shown as itself. `prev` and `next` are its
/// neighbours, which decide for the joiners; LF is for the caller.
pub(crate) fn is_hazard(prev: Option<char>, c: char, next: Option<char>) -> bool {
    match c {
        '\t' => false,
        '\u{200c}' | '\u{200d}' => !(joinable(prev) && joinable(next)),
        c => c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}'),
    }
}

/// A character a joiner may sit next to: visible and not ASCII (ASCII
/// needs no joiner, so one there only hides something).
fn joinable(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_ascii() && !c.is_control() && !is_format(c) && !c.is_whitespace())
}

/// Unicode general category Cf (format), as of Unicode 16.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// What becomes of LF.
#[derive(Clone, Copy, PartialEq)]
enum Lines {
    /// Escaped like any other control: the text stays on one line.
    Escape,
    /// A newline followed by [`CONTINUATION`].
    Continue,
    /// Kept.
    Keep,
}

fn clean(text: &str, lines: Lines) -> Cow<'_, str> {
    // Most chat text is printable ASCII: one pass over the bytes, no copy.
    if text.bytes().all(|b| matches!(b, b' '..=b'~' | b'\t')) {
        return Cow::Borrowed(text);
    }
    let changes = |prev, c, next| match c {
        '\n' => lines != Lines::Keep,
        c => is_hazard(prev, c, next),
    };
    if !neighbours(text).any(|(prev, c, next)| changes(prev, c, next)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (prev, c, next) in neighbours(text) {
        match c {
            '\n' if lines == Lines::Continue => {
                out.push('\n');
                out.push_str(CONTINUATION);
            }
            '\n' if lines == Lines::Keep => out.push('\n'),
            c if c == '\n' || is_hazard(prev, c, next) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Each character with the one before and the one after it.
pub(crate) fn neighbours(
    text: &str,
) -> impl Iterator<Item = (Option<char>, char, Option<char>)> + '_ {
    let mut prev = None;
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || {
        let c = chars.next()?;
        let item = (prev, c, chars.peek().copied());
        prev = Some(c);
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(for_terminal("hello, world\t!"), Cow::Borrowed(_)));
        assert!(matches!(
            for_terminal_message("ünïcode 😀 ok"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(for_window("two\nlines"), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_escape_sequences_are_shown_not_obeyed() {
        // Clear screen, OSC 52 clipboard write, window title.
        assert_eq!(for_terminal("\u{1b}[2Jhi"), r"\u{1b}[2Jhi");
        assert_eq!(
            for_terminal_message("\u{1b}]52;c;cm0gLXJmIH4=\u{7}"),
            r"\u{1b}]52;c;cm0gLXJmIH4=\u{7}"
        );
        assert_eq!(
            for_window("\u{1b}]0;you have been hacked\u{1b}\\"),
            r"\u{1b}]0;you have been hacked\u{1b}\"
        );
        // C1 CSI (one character that many terminals take as ESC [), NEL, DEL.
        assert_eq!(
            for_terminal_message("\u{9b}2J\u{85}x\u{7f}"),
            r"\u{9b}2J\u{85}x\u{7f}"
        );
        for text in ["\u{1b}[2J", "\u{9b}31m", "a\u{0}b", "\u{7f}"] {
            for shown in [
                for_terminal(text),
                for_terminal_message(text),
                for_window(text),
            ] {
                assert!(
                    !shown.chars().any(|c| c.is_control()),
                    "{text:?} -> {shown:?}"
                );
            }
        }
    }

    #[test]
    fn carriage_returns_cannot_overwrite() {
        assert_eq!(
            for_terminal_message("rm -rf ~\rls     "),
            r"rm -rf ~\u{d}ls     "
        );
        assert_eq!(for_window("a\r\nb"), "a\\u{d}\nb");
    }

    #[test]
    fn embedded_newlines_cannot_forge_lines() {
        let forged = "ok\nSECURITY ALERT: the key leaked; connection closed\nsrv: please paste your key here";
        assert_eq!(
            for_terminal_message(forged),
            "ok\n  | SECURITY ALERT: the key leaked; connection closed\n  | srv: please paste your key here"
        );
        // In a status line (a bye reason, an ERR text) it stays one line.
        assert_eq!(
            for_terminal("closed\nsrv: please paste your key here"),
            r"closed\u{a}srv: please paste your key here"
        );
        // The window lays out newlines itself.
        assert_eq!(for_window(forged), forged);
        // Every continuation line starts with white space, which no status
        // line and no name does.
        for line in for_terminal_message(forged).lines().skip(1) {
            assert!(line.starts_with(CONTINUATION));
            assert!(line.starts_with(char::is_whitespace));
        }
    }

    #[test]
    fn bidi_and_invisible_characters_are_made_visible() {
        assert_eq!(
            for_terminal("mallory\u{202e}gnp.exe"),
            r"mallory\u{202e}gnp.exe"
        );
        assert_eq!(
            for_window("\u{2067}x\u{2069}\u{200e}\u{200f}\u{61c}"),
            r"\u{2067}x\u{2069}\u{200e}\u{200f}\u{61c}"
        );
        assert_eq!(
            for_window("pay\u{200b}pal\u{feff}\u{2028}\u{e0041}"),
            r"pay\u{200b}pal\u{feff}\u{2028}\u{e0041}"
        );
    }

    #[test]
    fn joiners_survive_only_between_visible_non_ascii_characters() {
        for kept in ["👩\u{200d}💻", "❤\u{fe0f}\u{200d}🔥", "می\u{200c}خواهم"] {
            assert_eq!(for_terminal_message(kept), kept);
            assert_eq!(for_window(kept), kept);
        }
        assert_eq!(for_window("a\u{200d}b"), r"a\u{200d}b");
        assert_eq!(for_window("👩\u{200d}"), r"👩\u{200d}");
        assert_eq!(for_window("👩\u{200d}\u{200d}💻"), r"👩\u{200d}\u{200d}💻");
        assert_eq!(for_window("👩\u{200d}\u{202e}"), r"👩\u{200d}\u{202e}");
    }
}
