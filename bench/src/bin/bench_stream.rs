//! Streaming client for the benchmark: opens SSE chat completions over raw HTTP/1.1 and
//! measures what oha cannot: time to the first `data:` event and the gaps between events.
//! Usage: `bench-stream --url http://127.0.0.1:PORT/v1/chat/completions?chunks=64&delay_ms=20
//!         [--token SECRET] [--streams N] [--concurrency C] [--ramp-ms MS] [--timeout-s S]`.
//! Prints one JSON object (see `bench_stream::Report`) on stdout.

use std::process::ExitCode;

use llm_proxy_bench::stream::{run, Options};

fn main() -> ExitCode {
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench-stream: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-stream: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(run(options));
    println!("{}", report.to_json());
    ExitCode::SUCCESS
}
