//! Typed settings: defaults < TOML file < `LLM_PROXY_*` environment (`__` nests) < flags (DESIGN §9).

mod dispatch;
mod load;
mod providers;
mod resilience;
mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;

use llm_proxy_core::SecretString;
use serde::{Deserialize, Serialize};

pub use dispatch::{
    DispatcherSettings, FileLayout, FileSinkSettings, HeliconeSinkSettings, LokiSinkSettings,
    LunarySinkSettings, SinkScheduling, SinksSettings, UsageSinkSettings,
};
pub use load::{LoadOptions, SettingsError, NON_SETTINGS_ENV_VARS};
pub use providers::{AuthStyle, ProviderSettings};
pub use resilience::{
    BreakerSettings, CacheBackend, CacheSettings, ResilienceSettings, RetrySettings,
};
pub use usage::{BudgetSettings, PricingSettings, UsageSettings};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    /// Bearer token of the management API. `llm-proxy up` generates one when unset.
    pub management_token: Option<SecretString>,
    /// Standard base64 of 32 bytes; embedded mode generates one into `data_dir` when unset.
    pub encryption_key: Option<SecretString>,
    pub data_dir: PathBuf,
    pub telemetry: TelemetrySettings,
    /// The provider behind `/v1/...`.
    pub default_provider: String,
    pub providers: BTreeMap<String, ProviderSettings>,
    pub token_cache: TokenCacheSettings,
    pub events: EventSettings,
    pub admin: AdminSettings,
    pub dispatcher: DispatcherSettings,
    pub sinks: SinksSettings,
    pub cache: CacheSettings,
    pub resilience: ResilienceSettings,
    /// USD per million tokens per model, for the usage ledger's cost and cost budgets.
    pub pricing: PricingSettings,
    pub usage: UsageSettings,
    pub budgets: BudgetSettings,
    /// Name of this node in events and metrics; defaults to the host name.
    pub node_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub max_body_bytes: usize,
    /// A client that has not sent its headers within this time is disconnected.
    pub client_request_timeout_ms: u64,
    pub keep_alive_secs: u64,
    pub max_connections: usize,
    /// On SIGTERM, in-flight requests get this long to finish.
    pub shutdown_timeout_secs: u64,
    /// On SIGTERM, `/readyz` fails for this long before the listener closes, so load
    /// balancers stop sending first.
    pub drain_delay_secs: u64,
    /// Request headers (names and values) larger than this in all are refused with 431.
    pub max_header_bytes: usize,
    /// A client that sends nothing of its body for this long is answered 408.
    pub client_body_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite:<path>` (relative paths are under `data_dir`) or `postgres://…`.
    pub url: SecretString,
    pub max_connections: usize,
    /// Run migrations at start (admin and `up`); `llm-proxy migrate` runs them on demand.
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// Unset: embedded mode (in-memory limits and queues).
    pub url: Option<SecretString>,
    /// Every Redis key and stream lives under this prefix.
    pub key_prefix: String,
    pub unavailable_policy: UnavailablePolicy,
    /// Proxy nodes expected in the fleet: with `degraded`, each node enforces
    /// `limit / degraded_node_count` (at least 1) while Redis is away. 0 counts as 1.
    pub degraded_node_count: u32,
    /// Deadline of one admission call to Redis (connect and answer). Three misses in a row
    /// count Redis as unavailable and the policy takes over.
    pub command_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnavailablePolicy {
    FailClosed,
    Degraded,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,proxy_node=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenCacheSettings {
    pub capacity: usize,
    pub ttl_secs: u64,
    /// How long an unknown token stays known-unknown.
    pub negative_ttl_secs: u64,
    /// How often counted requests are written back to the store.
    pub flush_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    pub enabled: bool,
    /// Events waiting for the sink; beyond it events are dropped and counted.
    pub queue_capacity: usize,
    /// Directory of the file sink; relative paths are under `data_dir`.
    pub file_dir: PathBuf,
    /// Bodies longer than this are cut and marked `truncated`.
    pub body_cap_bytes: usize,
    /// `MAXLEN ~` of each event stream: size it for hours of dispatcher outage.
    pub stream_maxlen: u64,
    /// Event stream shards (`{prefix}:events:{shard}`); shard = hash(project_id) mod shards.
    pub shards: u32,
    /// How long a batch may take to reach Redis before it goes to the local spill instead.
    pub publish_timeout_ms: u64,
    /// Cap of the spill (`<data_dir>/spill/`) that holds events while Redis is unavailable;
    /// beyond it events are dropped and counted.
    pub spill_max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    pub ui_enabled: bool,
    pub session_ttl_secs: u64,
    /// How often expired tokens are marked inactive.
    pub expiry_sweep_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            redis: RedisSettings::default(),
            management_token: None,
            encryption_key: None,
            data_dir: PathBuf::from("./data"),
            telemetry: TelemetrySettings::default(),
            default_provider: "openai".to_owned(),
            providers: providers::default_providers(),
            token_cache: TokenCacheSettings::default(),
            events: EventSettings::default(),
            admin: AdminSettings::default(),
            dispatcher: DispatcherSettings::default(),
            sinks: SinksSettings::default(),
            cache: CacheSettings::default(),
            resilience: ResilienceSettings::default(),
            pricing: PricingSettings::default(),
            usage: UsageSettings::default(),
            budgets: BudgetSettings::default(),
            node_name: None,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            workers: None,
            max_body_bytes: 10 * 1024 * 1024,
            client_request_timeout_ms: 10_000,
            keep_alive_secs: 75,
            max_connections: 25_000,
            shutdown_timeout_secs: 30,
            drain_delay_secs: 5,
            max_header_bytes: 32 * 1024,
            client_body_timeout_ms: 30_000,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::new("sqlite:llm-proxy.sqlite"),
            max_connections: 16,
            migrate_on_start: true,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "llmp".to_owned(),
            unavailable_policy: UnavailablePolicy::FailClosed,
            degraded_node_count: 1,
            command_timeout_ms: 1000,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

impl Default for TokenCacheSettings {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl_secs: 60,
            negative_ttl_secs: 5,
            flush_interval_ms: 1_000,
        }
    }
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_capacity: 10_000,
            file_dir: PathBuf::from("events"),
            body_cap_bytes: 64 * 1024,
            stream_maxlen: 1_000_000,
            shards: 1,
            publish_timeout_ms: 250,
            spill_max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            ui_enabled: true,
            session_ttl_secs: 8 * 3600,
            expiry_sweep_secs: 60,
        }
    }
}

/// Where the store lives, decided from `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Settings {
    pub fn database_kind(&self) -> Result<DatabaseKind, SettingsError> {
        let url = self.database.url.expose();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(SettingsError::invalid(
                    "database.url",
                    "sqlite URL has no path",
                ));
            }
            let path = PathBuf::from(path);
            let path = if path.is_absolute() {
                path
            } else {
                self.data_dir.join(path)
            };
            Ok(DatabaseKind::Sqlite(path))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres(url.to_owned()))
        } else {
            Err(SettingsError::invalid(
                "database.url",
                "must start with sqlite: or postgres://",
            ))
        }
    }

    pub fn events_dir(&self) -> PathBuf {
        if self.events.file_dir.is_absolute() {
            self.events.file_dir.clone()
        } else {
            self.data_dir.join(&self.events.file_dir)
        }
    }

    /// Where events wait while Redis is unavailable.
    pub fn spill_dir(&self) -> PathBuf {
        self.data_dir.join("spill")
    }

    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|h| h.trim().to_owned())
                })
                .unwrap_or_else(|| "llm-proxy".to_owned())
        })
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderSettings> {
        self.providers.get(name)
    }

    /// Checks what serde cannot: cross-field rules and value ranges. Each error names its key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !self.providers.contains_key(&self.default_provider) {
            return Err(SettingsError::invalid(
                "default_provider",
                &format!(
                    "no provider named `{}` is configured",
                    self.default_provider
                ),
            ));
        }
        for (name, provider) in &self.providers {
            provider.validate(name)?;
        }
        self.database_kind()?;
        if let Some(key) = &self.encryption_key {
            crate::crypto::EncryptionKey::from_base64(key.expose())
                .map_err(|e| SettingsError::invalid("encryption_key", &e.to_string()))?;
        }
        if let Some(token) = &self.management_token {
            if token.expose().len() < 16 {
                return Err(SettingsError::invalid(
                    "management_token",
                    "must be at least 16 characters",
                ));
            }
        }
        if self.server.max_body_bytes == 0 {
            return Err(SettingsError::invalid(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if self.token_cache.capacity == 0 {
            return Err(SettingsError::invalid(
                "token_cache.capacity",
                "must be greater than 0",
            ));
        }
        if self.events.shards == 0 || self.events.stream_maxlen == 0 {
            return Err(SettingsError::invalid(
                "events.shards",
                "events.shards and events.stream_maxlen must be greater than 0",
            ));
        }
        if self.events.publish_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "events.publish_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.server.max_header_bytes == 0 || self.server.client_body_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "server.max_header_bytes",
                "server.max_header_bytes and server.client_body_timeout_ms must be greater than 0",
            ));
        }
        self.cache.validate()?;
        self.resilience.validate()?;
        self.pricing.validate()?;
        self.usage.validate()?;
        self.budgets.validate()?;
        self.dispatcher.validate()?;
        self.sinks.validate()?;
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(char::is_whitespace) {
            return Err(SettingsError::invalid(
                "redis.key_prefix",
                "must be non-empty and contain no whitespace",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
