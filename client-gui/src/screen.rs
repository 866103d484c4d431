//! The client window's screens.

pub mod connect;
