//! Settings of the dispatcher (`[dispatcher]`) and of each event sink (`[sinks.*]`).

use std::path::PathBuf;

use llm_proxy_core::SecretString;
use serde::{Deserialize, Serialize};

use super::SettingsError;

/// How the dispatcher reads the event streams and retries deliveries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherSettings {
    /// Entries read per `XREADGROUP` (and the most one sink delivery carries).
    pub batch_size: usize,
    /// How long one `XREADGROUP` blocks waiting for new entries.
    pub block_ms: u64,
    /// After a first entry arrived, keep reading this long to fill a batch (0: deliver at once).
    pub linger_ms: u64,
    /// Entries pending (unacknowledged) longer than this are taken over with `XAUTOCLAIM`.
    pub claim_idle_ms: u64,
    /// How often each sink loop looks for such entries.
    pub claim_interval_ms: u64,
    /// Failed deliveries of one entry before it goes to `{prefix}:events:dlq:{sink}`.
    pub max_deliveries: u32,
    /// First retry delay; doubles per attempt up to `retry_max_ms`, with jitter.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Consumer name inside each group; defaults to the node name (the host).
    pub consumer_name: Option<String>,
    /// Embedded mode: events waiting per sink in memory; beyond it they go to the sink's spill
    /// on disk (dropped only when that is full too). Small, so a slow sink costs disk, not RSS.
    pub queue_capacity: usize,
    /// How often the pending/lag gauges are refreshed from Redis.
    pub stats_interval_ms: u64,
    /// Embedded mode: how the sink threads (and their file and spill I/O) share the CPU with
    /// the request workers of the same process.
    pub sink_scheduling: SinkScheduling,
}

/// Scheduling class of the in-process sink threads (`llm-proxy up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkScheduling {
    /// Linux `SCHED_IDLE`: a sink thread runs when a core has nothing else to run, so writing
    /// events never delays a request; what it cannot write in time goes to its spill. A sink
    /// whose spill is an eighth full runs in the normal class until it has caught up. The usage
    /// ledger is exempt (budgets are enforced from it), and so is the spill's own reading.
    #[default]
    Idle,
    /// The same class as the request workers (the only choice off Linux).
    Normal,
}

/// The sinks; each is enabled and configured on its own.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksSettings {
    pub file: FileSinkSettings,
    pub loki: LokiSinkSettings,
    pub lunary: LunarySinkSettings,
    pub helicone: HeliconeSinkSettings,
    pub usage: UsageSinkSettings,
}

/// The usage ledger in the store (`database.url`): requests, tokens and cost per project,
/// token, provider, model and hour. `llm-proxy up` always feeds it; a dispatcher node does
/// when this is on.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageSinkSettings {
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileLayout {
    /// `<dir>/<upstream>/<YYYY-MM-DD>/<session>.jsonl` with `session_start`, `request` and
    /// `response` lines (the prime-radiant format).
    Session,
    /// `<dir>/events-YYYY-MM-DD.jsonl`, one event per line.
    Daily,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSinkSettings {
    pub enabled: bool,
    /// Defaults to `events.file_dir` (under `data_dir` when relative).
    pub dir: Option<PathBuf>,
    pub layout: FileLayout,
    /// Open files kept between batches; the least recently used is closed beyond it.
    pub max_open_files: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiSinkSettings {
    pub enabled: bool,
    /// Base URL; the sink posts to `{url}/loki/api/v1/push`.
    pub url: String,
    /// `X-Scope-OrgID`.
    pub tenant: Option<String>,
    /// `Authorization: Bearer …`.
    pub bearer_token: Option<SecretString>,
    /// Basic auth (Grafana Cloud: user = instance id, password = token).
    pub basic_user: Option<String>,
    pub basic_password: Option<SecretString>,
    /// The `app` and `environment` labels.
    pub app: String,
    pub environment: String,
    /// Lines longer than this are cut and marked (Loki's `max_line_size` defaults to 256 KB).
    pub max_line_bytes: usize,
    /// One push carries at most this many uncompressed bytes; bigger batches are split.
    pub max_push_bytes: usize,
    pub gzip: bool,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LunarySinkSettings {
    pub enabled: bool,
    /// Base URL; the sink posts to `{url}/v1/runs/ingest`.
    pub url: String,
    /// The project's public or private key (a UUID).
    pub key: Option<SecretString>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeliconeSinkSettings {
    pub enabled: bool,
    /// Base URL; the sink posts to `{url}/custom/v1/log`.
    pub url: String,
    /// `sk-helicone-…`.
    pub key: Option<SecretString>,
    pub timeout_ms: u64,
    /// Helicone takes one log per request: this many requests in flight per batch.
    pub concurrency: usize,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        Self {
            batch_size: 200,
            block_ms: 2_000,
            linger_ms: 0,
            claim_idle_ms: 60_000,
            claim_interval_ms: 10_000,
            max_deliveries: 8,
            retry_base_ms: 250,
            retry_max_ms: 30_000,
            consumer_name: None,
            queue_capacity: 1_024,
            stats_interval_ms: 5_000,
            sink_scheduling: SinkScheduling::default(),
        }
    }
}

impl Default for FileSinkSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            dir: None,
            layout: FileLayout::Session,
            max_open_files: 64,
        }
    }
}

impl Default for LokiSinkSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "http://127.0.0.1:3100".to_owned(),
            tenant: None,
            bearer_token: None,
            basic_user: None,
            basic_password: None,
            app: "llm-proxy".to_owned(),
            environment: "production".to_owned(),
            max_line_bytes: 256 * 1024,
            max_push_bytes: 1024 * 1024,
            gzip: true,
            timeout_ms: 10_000,
        }
    }
}

impl Default for LunarySinkSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "https://api.lunary.ai".to_owned(),
            key: None,
            timeout_ms: 10_000,
        }
    }
}

impl Default for HeliconeSinkSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "https://api.worker.helicone.ai".to_owned(),
            key: None,
            timeout_ms: 10_000,
            concurrency: 8,
        }
    }
}

fn positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::invalid(key, "must be greater than 0"));
    }
    Ok(())
}

fn http_url(key: &str, url: &str) -> Result<(), SettingsError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SettingsError::invalid(
            key,
            "must start with http:// or https://",
        ));
    }
    Ok(())
}

fn required_key(key: &str, value: &Option<SecretString>) -> Result<(), SettingsError> {
    if value.as_ref().is_none_or(|k| k.is_empty()) {
        return Err(SettingsError::invalid(
            key,
            "is required when the sink is enabled",
        ));
    }
    Ok(())
}

impl DispatcherSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        positive("dispatcher.batch_size", self.batch_size as u64)?;
        positive("dispatcher.block_ms", self.block_ms)?;
        positive("dispatcher.claim_idle_ms", self.claim_idle_ms)?;
        positive("dispatcher.claim_interval_ms", self.claim_interval_ms)?;
        positive("dispatcher.max_deliveries", u64::from(self.max_deliveries))?;
        positive("dispatcher.retry_base_ms", self.retry_base_ms)?;
        positive("dispatcher.queue_capacity", self.queue_capacity as u64)?;
        positive("dispatcher.stats_interval_ms", self.stats_interval_ms)?;
        if self.retry_max_ms < self.retry_base_ms {
            return Err(SettingsError::invalid(
                "dispatcher.retry_max_ms",
                "must be at least dispatcher.retry_base_ms",
            ));
        }
        if let Some(name) = &self.consumer_name {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(SettingsError::invalid(
                    "dispatcher.consumer_name",
                    "must be non-empty and contain no whitespace",
                ));
            }
        }
        Ok(())
    }
}

impl SinksSettings {
    /// Names of the enabled sinks, in a fixed order.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.file.enabled {
            names.push("file");
        }
        if self.loki.enabled {
            names.push("loki");
        }
        if self.lunary.enabled {
            names.push("lunary");
        }
        if self.helicone.enabled {
            names.push("helicone");
        }
        if self.usage.enabled {
            names.push("usage");
        }
        names
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.file.enabled {
            positive("sinks.file.max_open_files", self.file.max_open_files as u64)?;
        }
        let loki = &self.loki;
        if loki.enabled {
            http_url("sinks.loki.url", &loki.url)?;
            positive("sinks.loki.max_line_bytes", loki.max_line_bytes as u64)?;
            positive("sinks.loki.timeout_ms", loki.timeout_ms)?;
            if loki.max_push_bytes < loki.max_line_bytes {
                return Err(SettingsError::invalid(
                    "sinks.loki.max_push_bytes",
                    "must be at least sinks.loki.max_line_bytes",
                ));
            }
            if loki.basic_user.is_some() != loki.basic_password.is_some() {
                return Err(SettingsError::invalid(
                    "sinks.loki.basic_password",
                    "basic_user and basic_password go together",
                ));
            }
            if loki.bearer_token.is_some() && loki.basic_user.is_some() {
                return Err(SettingsError::invalid(
                    "sinks.loki.bearer_token",
                    "use either bearer_token or basic_user/basic_password",
                ));
            }
            if let Some(tenant) = &loki.tenant {
                let ok_char = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
                if tenant.is_empty()
                    || tenant.len() > 150
                    || tenant == "."
                    || tenant == ".."
                    || !tenant.chars().all(ok_char)
                {
                    return Err(SettingsError::invalid(
                        "sinks.loki.tenant",
                        "must be 1-150 characters of [0-9A-Za-z!_.*'()-]",
                    ));
                }
            }
        }
        if self.lunary.enabled {
            http_url("sinks.lunary.url", &self.lunary.url)?;
            required_key("sinks.lunary.key", &self.lunary.key)?;
            positive("sinks.lunary.timeout_ms", self.lunary.timeout_ms)?;
        }
        let helicone = &self.helicone;
        if helicone.enabled {
            http_url("sinks.helicone.url", &helicone.url)?;
            required_key("sinks.helicone.key", &helicone.key)?;
            positive("sinks.helicone.timeout_ms", helicone.timeout_ms)?;
            positive("sinks.helicone.concurrency", helicone.concurrency as u64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use crate::settings::{LoadOptions, Settings, SinkScheduling};

    fn load(vars: &[(&str, &str)]) -> Result<Settings, crate::SettingsError> {
        Settings::load(LoadOptions {
            config_file: None,
            overrides: Vec::new(),
            env: Some(
                vars.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
        })
    }

    #[test]
    fn sinks_and_dispatcher_load_from_the_environment() {
        let s = load(&[
            ("LLM_PROXY_SINKS__LOKI__ENABLED", "true"),
            ("LLM_PROXY_SINKS__LOKI__TENANT", "team-a"),
            ("LLM_PROXY_SINKS__LUNARY__ENABLED", "true"),
            (
                "LLM_PROXY_SINKS__LUNARY__KEY",
                "0b5e8c1e-7d2a-4c1b-9a55-3f4e2d1c0b9a",
            ),
            ("LLM_PROXY_DISPATCHER__MAX_DELIVERIES", "3"),
            ("LLM_PROXY_EVENTS__SHARDS", "4"),
        ])
        .unwrap();
        assert_eq!(s.sinks.enabled(), vec!["loki", "lunary"]);
        assert_eq!(s.dispatcher.max_deliveries, 3);
        assert_eq!(s.events.shards, 4);
        assert_eq!(s.sinks.loki.max_line_bytes, 256 * 1024);
        assert!(!format!("{s:?}").contains("0b5e8c1e"));
    }

    #[test]
    fn embedded_sinks_run_idle_unless_told_otherwise() {
        assert_eq!(
            load(&[]).unwrap().dispatcher.sink_scheduling,
            SinkScheduling::Idle
        );
        let s = load(&[("LLM_PROXY_DISPATCHER__SINK_SCHEDULING", "normal")]).unwrap();
        assert_eq!(s.dispatcher.sink_scheduling, SinkScheduling::Normal);
        let err = load(&[("LLM_PROXY_DISPATCHER__SINK_SCHEDULING", "realtime")]).unwrap_err();
        assert!(err.to_string().contains("sink_scheduling"), "{err}");
    }

    #[test]
    fn bad_sink_settings_name_their_key() {
        let err = load(&[("LLM_PROXY_SINKS__HELICONE__ENABLED", "true")]).unwrap_err();
        assert!(err.to_string().contains("sinks.helicone.key"), "{err}");
        let err = load(&[("LLM_PROXY_SINKS__LOKI__NOPE", "1")]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = load(&[("LLM_PROXY_DISPATCHER__BATCH_SIZE", "0")]).unwrap_err();
        assert!(err.to_string().contains("dispatcher.batch_size"), "{err}");
    }
}
