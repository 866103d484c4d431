//! Opening a window: what both programs check before and report after.

use std::process::ExitCode;
use std::time::Duration;

use iced::Task;

use super::chat::Chat;
use crate::config::Timing;

/// Why no window can open here, if that is known up front. On Linux and the
/// BSDs a window needs an X11 or Wayland display; without one iced's event
/// loop panics, so the programs check first and say what to do instead.
pub fn missing_display() -> Option<&'static str> {
    let needs_one = cfg!(all(unix, not(target_os = "macos")));
    let has_one = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
    (needs_one && !has_one).then_some(
        "no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); \
         run it on a desktop, or add --headless to chat in the terminal",
    )
}

/// The exit code for how the window's event loop ended.
pub fn exit(result: iced::Result) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: could not open the window: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl+C in the terminal that started the window, or SIGTERM (`kill`,
/// the desktop session ending), as a request to close it: the first says
/// goodbye as the close button does ([`close`]), a second closes now.
pub fn leave_requests() -> iced::Subscription<()> {
    iced::Subscription::run(crate::signals::leave_requests_later)
}

/// The user closed the window. If the chat's engine is running, it says
/// `bye` (once what is queued is delivered, within its grace period) and
/// reports `Closed`, on which the window exits; `exit` comes after a limit
/// in case that never happens. Otherwise the window exits now.
pub fn close<T: Send + 'static>(chat: &mut Chat, exit: T) -> Task<T> {
    if !chat.say_goodbye() {
        return iced::exit();
    }
    let limit = Timing::default().close_grace + Duration::from_secs(1);
    Task::perform(tokio::time::sleep(limit), move |()| exit)
}
