//! The signals that ask a program to leave: Ctrl+C, and on Unix SIGTERM
//! (`kill`, `timeout`, a service manager, the desktop session ending) and
//! SIGHUP (the terminal it runs in was closed). Both programs treat them
//! alike in a window and in the terminal: the first says goodbye to the
//! peers, a second leaves without waiting. A program started with SIGHUP
//! ignored (`nohup`) keeps ignoring it.

use futures::Stream;

/// Registers for the signals now (not when first polled, as
/// `tokio::signal::ctrl_c` does), within a tokio runtime: one item per
/// signal.
pub(crate) fn leave_requests() -> std::io::Result<impl Stream<Item = ()> + Unpin + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut signals = vec![
            each(signal(SignalKind::interrupt())?),
            each(signal(SignalKind::terminate())?),
        ];
        // Checked before registering, which would replace the disposition.
        if !hangup_ignored() {
            signals.push(each(signal(SignalKind::hangup())?));
        }
        Ok(futures::stream::select_all(signals))
    }
    #[cfg(windows)]
    Ok(each(tokio::signal::windows::ctrl_c()?))
}

/// [`leave_requests`] registered when first polled (a window's
/// subscription is made outside the runtime, and run on it), or none if
/// they cannot be (no tokio runtime, as where a test polls it).
#[cfg(feature = "ui")]
pub(crate) fn leave_requests_later() -> impl Stream<Item = ()> + Send {
    use futures::StreamExt;
    futures::stream::once(async {
        tokio::runtime::Handle::try_current().ok()?;
        leave_requests().ok()
    })
    .filter_map(std::future::ready)
    .flatten()
}

/// Whether SIGHUP is ignored (as `nohup` starts a program), as Linux
/// tells in `/proc/self/status`. Where it cannot be told, it counts as
/// ignored: a hangup there ends the program as it always did, rather than
/// breaking `nohup`.
#[cfg(unix)]
fn hangup_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status").map_or(true, |status| ignores_hangup(&status))
}

/// Reads the ignored-signals mask (`SigIgn:`, hexadecimal, bit n-1 for
/// signal n) of a `/proc/<pid>/status` text; SIGHUP is signal 1.
#[cfg(unix)]
fn ignores_hangup(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_none_or(|mask| mask & 1 != 0)
}

#[cfg(unix)]
type Signal = tokio::signal::unix::Signal;
#[cfg(windows)]
type Signal = tokio::signal::windows::CtrlC;

/// A signal's deliveries as a stream.
fn each(signal: Signal) -> impl Stream<Item = ()> + Unpin + Send {
    Box::pin(futures::stream::unfold(signal, |mut signal| async move {
        signal.recv().await.map(|()| ((), signal))
    }))
}

#[cfg(all(test, unix))]
mod tests {
    use super::ignores_hangup;

    #[test]
    fn the_ignored_mask_says_whether_sighup_is_ignored() {
        let status = |mask: &str| {
            format!(
                "Name:\tclient-gui\nSigBlk:\t0000000000000001\nSigIgn:\t{mask}\nSigCgt:\t0000000000000000\n"
            )
        };
        assert!(ignores_hangup(&status("0000000000000001")));
        assert!(ignores_hangup(&status("0000000000001001")));
        assert!(!ignores_hangup(&status("0000000000001000")));
        assert!(!ignores_hangup(&status("0000000000000000")));
        // Not told: as if ignored.
        assert!(ignores_hangup("Name:\tclient-gui\n"));
        assert!(ignores_hangup(&status("zz")));
    }
}
