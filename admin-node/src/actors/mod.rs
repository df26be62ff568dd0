//! Actors of the admin node.

pub mod sweep;
