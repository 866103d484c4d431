//! Wall-clock time, injectable so tests can put a peer minutes ahead or behind.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds. The engine reads the time only through this, so a
/// test can give each side a different clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(system_ms))
    }

    /// The machine's clock shifted by `offset_ms` (negative: behind).
    pub fn shifted(offset_ms: i64) -> Clock {
        Clock(Arc::new(move || {
            system_ms().saturating_add_signed(offset_ms)
        }))
    }

    /// A clock that reads whatever `now` returns.
    pub fn from_fn(now: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }

    /// Unix time in whole seconds, as Fernet timestamps carry it.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({} ms)", self.now_ms())
    }
}

fn system_ms() -> u64 {
    // A clock before 1970 reads as 1970 rather than panicking.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
