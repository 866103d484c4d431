//! Where the terminal's typed lines come from.
//!
//! tokio reads stdin on its blocking pool, since a read from a terminal or
//! a file cannot be waited for with the rest of the runtime's I/O. Each
//! line typed then wakes a pool thread, which wakes the relay's thread,
//! and the next read wakes a pool thread again: in a room of 50, piped
//! input paid two thread switches a message before it was even sealed.
//! A pipe or FIFO (how scripts and the room benchmark type) can be waited
//! for like a socket, so on Linux it is read on the relay's own thread.
//!
//! Waiting on it needs the pipe in non-blocking mode, and that mode belongs
//! to the open file description, which stdin shares with whoever else
//! holds it (the shell, a sibling in `(a; b) | c`): setting it on fd 0
//! would make their reads fail. So the pipe is opened again through
//! `/proc/self/fd`, which gives a description of our own.

use tokio::io::AsyncRead;

/// stdin as the relay reads it.
pub(super) fn open() -> Box<dyn AsyncRead + Unpin + Send> {
    #[cfg(target_os = "linux")]
    if let Some(pipe) = own_pipe(std::io::stdin()) {
        return Box::new(pipe);
    }
    Box::new(tokio::io::stdin())
}

/// The pipe or FIFO open for reading as `fd`, through a non-blocking
/// description of our own; `None` if `fd` is something else (a terminal, a
/// file, a pipe's write end) or cannot be opened again.
#[cfg(target_os = "linux")]
fn own_pipe(fd: impl std::os::fd::AsFd) -> Option<tokio::net::unix::pipe::Receiver> {
    use std::io::Read;
    use std::os::fd::AsRawFd;

    let fd = fd.as_fd();
    // Refuses anything but a FIFO, opens without waiting for a writer.
    let pipe = tokio::net::unix::pipe::OpenOptions::new()
        .open_receiver(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()?;
    // Reading nothing from a pipe returns at once, or fails if `fd` is not
    // open for reading.
    let mut dup = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    let Ok(0) = dup.read(&mut []) else {
        return None;
    };
    Some(pipe)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;

    use tokio::io::AsyncReadExt;

    use super::*;

    fn non_blocking(fd: &impl AsFd) -> bool {
        let flags = rustix::fs::fcntl_getfl(fd).expect("fcntl F_GETFL");
        flags.contains(rustix::fs::OFlags::NONBLOCK)
    }

    /// What is written arrives, then the end once the writer closes, and
    /// the description others share stays blocking.
    #[tokio::test]
    async fn a_pipe_is_read_through_a_description_of_its_own() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut ours = own_pipe(&reader).expect("a pipe is opened again");
        writer.write_all(b"one\ntwo\n").unwrap();
        drop(writer);
        let mut got = String::new();
        ours.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "one\ntwo\n");
        assert!(!non_blocking(&reader), "the shared description was changed");
    }

    /// Opened again for reading, a pipe's write end would be a reader of
    /// that pipe: stdin must be a descriptor we may read.
    #[tokio::test]
    async fn the_write_end_of_a_pipe_is_not_read() {
        let (_reader, writer) = std::io::pipe().unwrap();
        assert!(own_pipe(&writer).is_none());
    }

    #[test]
    fn a_file_is_left_to_the_blocking_pool() {
        let file = std::fs::File::open("Cargo.toml").unwrap();
        assert!(own_pipe(&file).is_none());
    }
}
