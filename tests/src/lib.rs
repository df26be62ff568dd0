//! Harness for the cross-node end-to-end tests (DESIGN §10–§11): the real `llm-proxy` binary
//! runs as one admin and several proxy processes on a fresh Postgres database and a
//! `redis-server` of their own, behind nginx, with a fake OpenAI upstream in the test process.
//!
//! ```ignore
//! let fleet = Fleet::start(FleetOptions::default()).await;
//! let token = fleet.manage().token(&project, TokenLimits::default()).await;
//! let reply = fleet.chat(&fleet.lb_url(), &token.secret).await;
//! fleet.stop().await; // drops the database; children are also killed on drop
//! ```
//!
//! The event pipeline (DESIGN §5) has a [`Pipeline`] of its own: one proxy node publishing to
//! the test's Redis, `llm-proxy dispatcher` processes started on demand, the file sink and fake
//! Loki, Lunary and Helicone, and [`deliveries`] to count what each sink received.

pub mod binary;
pub mod calls;
pub mod child;
pub mod client;
pub mod db_guard;
pub mod deliveries;
pub mod dispatcher;
pub mod dispatcher_status;
pub mod file_sink;
pub mod fleet;
pub mod load;
pub mod manage;
pub mod metrics;
pub mod nginx;
pub mod node;
pub mod pipeline;
pub mod pipeline_env;
pub mod ports;
pub mod role_process;
pub mod sinks;
pub mod spill;
pub mod stats;
pub mod wait;

pub use client::{Reply, Tally};
pub use fleet::{Fleet, FleetOptions};
pub use manage::{Management, TestToken, TokenLimits};
pub use node::Policy;
pub use pipeline::{Pipeline, PipelineOptions};
