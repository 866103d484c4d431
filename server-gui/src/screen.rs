//! The server window's screens.

pub mod waiting;
