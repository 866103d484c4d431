//! What the user typed and the engine still holds: a bound on it, so
//! that messages typed while nobody can take them (the client away, the
//! room empty or waiting for a slow member) cannot grow the program
//! without end. A message past it is refused
//! ([`crate::SendError::QueueFull`]) and stays with the user; the window
//! keeps it in the box.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of typed messages the engine holds at most (each counting its
/// text and [`crate::payload::MESSAGE_OVERHEAD`], so that many short ones
/// are bounded too): a client's until the
/// server acknowledges them, the server's until the room has relayed
/// them to its members' queues (bounded apart, see
/// [`crate::server::limits`]). 64 messages of the longest kind, and far
/// more than terminal mode reads ahead of the chat.
pub const TYPED_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The typed bytes one engine holds; shared by its handles.
#[derive(Debug, Clone)]
pub(crate) struct TypedQueue(Arc<Semaphore>);

/// One message's share of the [`TypedQueue`], given back when dropped
/// (with the message, once the engine no longer holds it).
pub(crate) type Hold = OwnedSemaphorePermit;

impl TypedQueue {
    pub fn new() -> TypedQueue {
        TypedQueue(Arc::new(Semaphore::new(TYPED_QUEUE_BYTES)))
    }

    /// A share for a message of `bytes`, if the queue has room for it.
    pub fn hold(&self, bytes: usize) -> Option<Hold> {
        let bytes = u32::try_from(bytes).ok()?;
        self.0.clone().try_acquire_many_owned(bytes).ok()
    }
}
