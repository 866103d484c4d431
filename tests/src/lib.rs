//! Shared helpers for the cross-crate tests: engines on loopback, raw peers
//! that speak the protocol by hand (to send what a real engine never would),
//! a fault-injecting proxy, and where the programs themselves are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod engines;
pub mod programs;
pub mod proxy;
pub mod raw;
pub mod room;
