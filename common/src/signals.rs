//! The signals that ask a program to leave: Ctrl+C, and on Unix SIGTERM
//! (`kill`, `timeout`, a service manager, the desktop session ending).
//! Both programs treat them alike in a window and in the terminal: the
//! first says goodbye to the peers, a second leaves without waiting.
//! SIGHUP is left alone, so `nohup` keeps working.

use futures::Stream;

/// Registers for the signals now (not when first polled, as
/// `tokio::signal::ctrl_c` does), within a tokio runtime: one item per
/// signal.
pub(crate) fn leave_requests() -> std::io::Result<impl Stream<Item = ()> + Unpin + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt())?;
        let term = signal(SignalKind::terminate())?;
        Ok(futures::stream::select(each(int), each(term)))
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
