//! The `LLM_PROXY_*` environment of the pipeline's proxy node and dispatchers.

use std::path::Path;
use std::time::Duration;

use crate::node::{Deployment, Policy};
use crate::pipeline::PipelineOptions;

/// Entries one dispatcher reads (and delivers) at a time: the most a crash can duplicate.
pub const BATCH_SIZE: usize = 25;
/// Entries unacknowledged this long are taken over by another dispatcher.
pub const CLAIM_IDLE: Duration = Duration::from_millis(1_000);

/// What [`crate::node::Node`] gives a proxy, plus the event settings a test may change.
pub fn proxy(
    deployment: &Deployment,
    name: &str,
    data_dir: &Path,
    options: &PipelineOptions,
) -> Vec<(String, String)> {
    let policy = match options.policy {
        Policy::FailClosed => "fail_closed",
        Policy::Degraded => "degraded",
    };
    let mut env = vec![
        ("DATABASE__URL", deployment.database_url.clone()),
        ("DATABASE__MAX_CONNECTIONS", "4".to_owned()),
        ("REDIS__URL", deployment.redis_url.clone()),
        ("REDIS__KEY_PREFIX", deployment.key_prefix.clone()),
        ("REDIS__UNAVAILABLE_POLICY", policy.to_owned()),
        ("REDIS__DEGRADED_NODE_COUNT", "1".to_owned()),
        ("ENCRYPTION_KEY", deployment.encryption_key.clone()),
        ("MANAGEMENT_TOKEN", deployment.management_token.clone()),
        (
            "PROVIDERS__OPENAI__BASE_URL",
            deployment.upstream_base_url.clone(),
        ),
        ("SERVER__HOST", "127.0.0.1".to_owned()),
        ("SERVER__WORKERS", "2".to_owned()),
        ("SERVER__SHUTDOWN_TIMEOUT_SECS", "1".to_owned()),
        ("TOKEN_CACHE__FLUSH_INTERVAL_MS", "200".to_owned()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("NODE_NAME", name.to_owned()),
        ("TELEMETRY__LEVEL", "info".to_owned()),
    ];
    if let Some(bytes) = options.spill_max_bytes {
        env.push(("EVENTS__SPILL_MAX_BYTES", bytes.to_string()));
    }
    prefixed(env)
}

/// A dispatcher named `name` (host name, so consumer name) on the deployment's Redis, with
/// short claim and retry times; no sink enabled yet.
pub fn dispatcher(
    deployment: &Deployment,
    name: &str,
    data_dir: &Path,
    file_dir: &Path,
) -> Vec<(String, String)> {
    prefixed(vec![
        ("REDIS__URL", deployment.redis_url.clone()),
        ("REDIS__KEY_PREFIX", deployment.key_prefix.clone()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("NODE_NAME", name.to_owned()),
        ("SERVER__HOST", "127.0.0.1".to_owned()),
        ("SERVER__WORKERS", "1".to_owned()),
        ("SERVER__SHUTDOWN_TIMEOUT_SECS", "1".to_owned()),
        ("TELEMETRY__LEVEL", "info".to_owned()),
        ("SINKS__FILE__DIR", file_dir.display().to_string()),
        ("DISPATCHER__BATCH_SIZE", BATCH_SIZE.to_string()),
        ("DISPATCHER__BLOCK_MS", "200".to_owned()),
        (
            "DISPATCHER__CLAIM_IDLE_MS",
            CLAIM_IDLE.as_millis().to_string(),
        ),
        ("DISPATCHER__CLAIM_INTERVAL_MS", "200".to_owned()),
        ("DISPATCHER__RETRY_BASE_MS", "50".to_owned()),
        ("DISPATCHER__RETRY_MAX_MS", "400".to_owned()),
        // Outages in these tests must be retried through, never dead-lettered.
        ("DISPATCHER__MAX_DELIVERIES", "1000".to_owned()),
        ("DISPATCHER__STATS_INTERVAL_MS", "100".to_owned()),
    ])
}

fn prefixed(env: Vec<(&str, String)>) -> Vec<(String, String)> {
    env.into_iter()
        .map(|(key, value)| (format!("LLM_PROXY_{key}"), value))
        .collect()
}
