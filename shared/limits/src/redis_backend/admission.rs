//! [`RedisAdmission`]: one `EVALSHA` of `admit.lua` per request.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use llm_proxy_core::token::TokenUsage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tracing::instrument;

use super::LimitKeys;
use crate::config::duration_us;
use crate::outcome::{Outcome, Status};
use crate::usage::UsageLedger;
use crate::{Admission, AdmissionHealth, AdmissionRequest, Decision, LimitsConfig, LimitsError};

const ADMIT_LUA: &str = include_str!("admit.lua");

/// Exact limits across any number of nodes: every admission is one atomic Lua script (sent as
/// `EVALSHA`, loaded on `NOSCRIPT`) on Redis, with Redis `TIME` as the clock, so node clocks do
/// not matter. Keys are named by [`LimitKeys`] (one hash slot per project).
///
/// Errors and timeouts come back as [`LimitsError::Unavailable`]; [`crate::GuardedAdmission`]
/// applies the configured policy to them.
pub struct RedisAdmission {
    conn: ConnectionManager,
    keys: LimitKeys,
    script: Script,
    config: LimitsConfig,
    /// Makes every request's sorted-set member unique across nodes.
    nonce: String,
    seq: AtomicU64,
    ledger: UsageLedger,
}

impl RedisAdmission {
    /// Opens a self-reconnecting connection lazily (no I/O here, so a node can start while
    /// Redis is away and the policy decides); connecting and every call are bounded by
    /// `config.redis_timeout`.
    pub fn open(url: &str, keys: LimitKeys, config: LimitsConfig) -> Result<Self, LimitsError> {
        let client =
            redis::Client::open(url).map_err(|e| LimitsError::Config(format!("redis.url: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.redis_timeout))
            .set_response_timeout(Some(config.redis_timeout))
            .set_number_of_retries(1)
            .set_max_delay(config.probe_max);
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| LimitsError::Config(format!("redis connection: {e}")))?;
        Ok(Self {
            conn,
            keys,
            script: Script::new(ADMIT_LUA),
            config,
            nonce: format!("{:016x}", rand::random::<u64>()),
            seq: AtomicU64::new(0),
            ledger: UsageLedger::default(),
        })
    }

    pub fn keys(&self) -> &LimitKeys {
        &self.keys
    }

    /// Checks that Redis answers (start-up, readiness).
    pub async fn ping(&self) -> Result<(), LimitsError> {
        let mut conn = self.conn.clone();
        self.bounded(async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LimitsError> {
        match tokio::time::timeout(self.config.redis_timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(LimitsError::Unavailable(format!(
                "Redis did not answer within {} ms",
                self.config.redis_timeout.as_millis()
            ))),
        }
    }

    pub(crate) async fn check(&self, req: &AdmissionRequest) -> Result<Outcome, LimitsError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{seq}", self.nonce);
        let limit = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.keys.token_used(req.project_id, req.token_id))
            .key(self.keys.token_window(req.project_id, req.token_id))
            .key(self.keys.project_window(req.project_id))
            .arg(req.used)
            .arg(limit(req.max_requests))
            .arg(limit(req.token_rpm.map(u64::from)))
            .arg(limit(req.project_rpm.map(u64::from)))
            .arg(self.config.window_us())
            .arg(member)
            .arg((duration_us(self.config.counter_ttl) / 1_000_000).max(1));
        let mut conn = self.conn.clone();
        let values: Vec<i64> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Outcome::from_script(&values)
    }
}

#[async_trait]
impl Admission for RedisAdmission {
    #[instrument(skip_all, fields(token_id = %req.token_id, project_id = %req.project_id))]
    async fn admit(&self, req: &AdmissionRequest) -> Result<Decision, LimitsError> {
        let outcome = self.check(req).await?;
        if outcome.status == Status::Admitted {
            self.ledger.record(req.token_id);
        }
        Ok(outcome.into_decision(req))
    }

    fn drain_usage(&self) -> Vec<TokenUsage> {
        self.ledger.drain()
    }

    fn health(&self) -> AdmissionHealth {
        AdmissionHealth::redis()
    }
}
