//! Command-line options of `bench-stream`.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// `http://host:port/path?query`; plain HTTP only (the benchmark is local).
    pub url: String,
    pub token: Option<String>,
    pub streams: usize,
    pub concurrency: usize,
    pub ramp: Duration,
    pub timeout: Duration,
    /// `data:` events a complete stream carries; fewer is counted as an error (0: any).
    pub expect_events: usize,
}

impl Options {
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            url: String::new(),
            token: None,
            streams: 100,
            concurrency: 10,
            ramp: Duration::ZERO,
            timeout: Duration::from_secs(60),
            expect_events: 0,
        };
        let mut args = args.peekable();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => options.url = value,
                "--token" => options.token = Some(value),
                "--streams" => options.streams = number(&flag, &value)?,
                "--concurrency" => options.concurrency = number(&flag, &value)?,
                "--ramp-ms" => options.ramp = Duration::from_millis(number(&flag, &value)?),
                "--timeout-s" => options.timeout = Duration::from_secs(number(&flag, &value)?),
                "--expect-events" => options.expect_events = number(&flag, &value)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.url.is_empty() {
            return Err("--url is required".to_owned());
        }
        if options.concurrency == 0 || options.streams == 0 {
            return Err("--streams and --concurrency must be greater than 0".to_owned());
        }
        Ok(options)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} expects a number, got {value:?}"))
}
