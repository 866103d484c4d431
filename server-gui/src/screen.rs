//! The server window's screens: waiting for the first person, then the
//! room.

pub mod room;
pub mod waiting;
