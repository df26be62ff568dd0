//! Benchmark harness pieces shared by the `bench-*` binaries.

pub mod stream;
