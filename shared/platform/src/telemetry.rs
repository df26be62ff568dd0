//! Tracing set-up, called once by each binary.

use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::{LogFormat, TelemetrySettings};

/// Installs the global subscriber. `RUST_LOG` wins over the configured level when set.
/// Calling it twice (tests) is harmless.
pub fn init(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.level.as_str()));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
