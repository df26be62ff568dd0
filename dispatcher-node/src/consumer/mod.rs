//! The Redis Streams side: one consumer-group loop per sink.

pub mod ops;
mod sink_loop;

pub use sink_loop::{run_sink_loop, LoopConfig};
