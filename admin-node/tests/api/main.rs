//! admin-node API and UI tests against the real `Application` on a random port, with a fresh
//! SQLite store each (and the core CRUD against Postgres too).

#![allow(clippy::unwrap_used)]

mod helpers;

mod audit;
mod auth;
mod budgets;
mod housekeeping;
mod misc;
mod postgres;
mod projects;
mod prune;
mod sessions;
mod tokens;
mod ui;
mod usage;
