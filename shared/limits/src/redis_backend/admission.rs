//! [`RedisAdmission`]: one `EVALSHA` of `admit.lua` per request.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use llm_proxy_core::budget::Spend;
use llm_proxy_core::token::TokenUsage;
use redis::aio::ConnectionManagerConfig;
use redis::Script;
use tracing::instrument;

use uuid::Uuid;

use super::per_thread::PerThreadConnection;
use super::LimitKeys;
use crate::budget::{counter_ttl_secs, BudgetLimit, Reservation};
use crate::config::duration_us;
use crate::outcome::{Outcome, Status};
use crate::usage::UsageLedger;
use crate::{Admission, AdmissionHealth, AdmissionRequest, Decision, LimitsConfig, LimitsError};

const ADMIT_LUA: &str = concat!(include_str!("budget.lua"), include_str!("admit.lua"));
const EXTEND_LUA: &str = concat!(include_str!("budget.lua"), include_str!("extend.lua"));
const SETTLE_LUA: &str = concat!(include_str!("budget.lua"), include_str!("settle.lua"));

/// `-1` for "no limit", the way the scripts take it.
/// Expired entries one admission removes from a rate window at most (admit.lua says why).
pub const WINDOW_TRIM_PER_CALL: usize = 256;

fn limit_arg(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The period a budget key is named after; `none` for a scope without a budget.
fn period(limit: Option<&BudgetLimit>) -> &str {
    limit.map_or("none", |l| l.period.as_str())
}

fn signed_delta(actual: u64, reserved: u64) -> i128 {
    i128::from(actual) - i128::from(reserved)
}

/// Exact limits across any number of nodes: every admission is one atomic Lua script (sent as
/// `EVALSHA`, loaded on `NOSCRIPT`) on Redis, with Redis `TIME` as the clock, so node clocks do
/// not matter. Keys are named by [`LimitKeys`] (one hash slot per project).
///
/// Errors and timeouts come back as [`LimitsError::Unavailable`]; [`crate::GuardedAdmission`]
/// applies the configured policy to them.
pub struct RedisAdmission {
    conn: PerThreadConnection,
    keys: LimitKeys,
    script: Script,
    extend_script: Script,
    settle_script: Script,
    config: LimitsConfig,
    /// Makes every request's sorted-set member unique across nodes.
    nonce: String,
    seq: AtomicU64,
    ledger: UsageLedger,
}

impl RedisAdmission {
    /// No I/O here, so a node can start while Redis is away and the policy decides: each thread
    /// opens its own self-reconnecting connection on its first call;
    /// connecting and every call are bounded by `config.redis_timeout`.
    pub fn open(url: &str, keys: LimitKeys, config: LimitsConfig) -> Result<Self, LimitsError> {
        let client =
            redis::Client::open(url).map_err(|e| LimitsError::Config(format!("redis.url: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.redis_timeout))
            .set_response_timeout(Some(config.redis_timeout))
            .set_number_of_retries(1)
            .set_max_delay(config.probe_max);
        Ok(Self {
            conn: PerThreadConnection::new(client, manager_config),
            keys,
            script: Script::new(ADMIT_LUA),
            extend_script: Script::new(EXTEND_LUA),
            settle_script: Script::new(SETTLE_LUA),
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
        let mut conn = self.conn.get()?;
        self.bounded(async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LimitsError> {
        let outcome = tokio::time::timeout(self.config.redis_timeout, call).await;
        if !matches!(outcome, Ok(Ok(_))) {
            self.conn.discard_all();
        }
        match outcome {
            Ok(result) => Ok(result?),
            Err(_) => Err(LimitsError::Unavailable(format!(
                "Redis did not answer within {} ms",
                self.config.redis_timeout.as_millis()
            ))),
        }
    }

    fn counter_ttl_secs(&self) -> u64 {
        (duration_us(self.config.counter_ttl) / 1_000_000).max(1)
    }

    /// The two budget counter keys a script declares (a scope without a budget gets a key
    /// that is never touched).
    fn budget_keys(
        &self,
        project_id: Uuid,
        token_id: Uuid,
        token: Option<&BudgetLimit>,
        project: Option<&BudgetLimit>,
    ) -> [String; 2] {
        let scope = self.keys.scope(project_id, token_id);
        [
            scope.token_budget(period(token)),
            scope.project_budget(period(project)),
        ]
    }

    pub(crate) async fn check(&self, req: &AdmissionRequest) -> Result<Outcome, LimitsError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{seq}", self.nonce);
        let limit = limit_arg;
        let ask = req
            .budget
            .clone()
            .filter(|a| a.applies())
            .unwrap_or_default();
        let scope = self.keys.scope(req.project_id, req.token_id);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(scope.token_used())
            .key(scope.token_window())
            .key(scope.project_window())
            .key(scope.token_budget(period(ask.token.as_ref())))
            .key(scope.project_budget(period(ask.project.as_ref())))
            .arg(req.used)
            .arg(limit(req.max_requests))
            .arg(limit(req.token_rpm.map(u64::from)))
            .arg(limit(req.project_rpm.map(u64::from)))
            .arg(self.config.window_us())
            .arg(member)
            .arg(self.counter_ttl_secs())
            .arg(ask.prompt_tokens)
            .arg(ask.prompt_cost_nano_usd)
            .arg(ask.min_output)
            .arg(ask.max_output)
            .arg(ask.output_nanos_per_token);
        let now = Utc::now();
        for scope in [ask.token.as_ref(), ask.project.as_ref()] {
            match scope {
                Some(l) => invocation
                    .arg(1)
                    .arg(limit(l.max_tokens))
                    .arg(limit(l.max_cost_nano_usd))
                    .arg(l.spent.tokens)
                    .arg(l.spent.cost_nano_usd)
                    .arg(counter_ttl_secs(l, self.counter_ttl_secs(), now)),
                None => invocation.arg(0).arg(-1).arg(-1).arg(0).arg(0).arg(1),
            };
        }
        invocation.arg(WINDOW_TRIM_PER_CALL);
        let mut conn = self.conn.get()?;
        let values: Vec<i64> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Outcome::from_script(&values)
    }
}

#[async_trait]
impl Admission for RedisAdmission {
    #[instrument(level = "debug", skip_all, fields(token_id = %req.token_id, project_id = %req.project_id))]
    async fn admit(&self, req: &AdmissionRequest) -> Result<Decision, LimitsError> {
        let outcome = self.check(req).await?;
        if outcome.status == Status::Admitted {
            self.ledger.record(req.token_id);
        }
        Ok(outcome.into_decision(req))
    }

    #[instrument(level = "debug", skip_all, fields(token_id = %reservation.token_id, project_id = %reservation.project_id))]
    async fn settle(&self, reservation: &Reservation, actual: Spend) -> Result<(), LimitsError> {
        let r = reservation;
        let [token_key, project_key] = self.budget_keys(
            r.project_id,
            r.token_id,
            r.token.as_ref(),
            r.project.as_ref(),
        );
        let now = Utc::now();
        let ttl = |l: Option<&BudgetLimit>| {
            l.map_or(1, |l| counter_ttl_secs(l, self.counter_ttl_secs(), now))
        };
        let mut invocation = self.settle_script.prepare_invoke();
        invocation
            .key(token_key)
            .key(project_key)
            .arg(signed_delta(actual.tokens, r.reserved.tokens).to_string())
            .arg(signed_delta(actual.cost_nano_usd, r.reserved.cost_nano_usd).to_string())
            .arg(u8::from(r.token.is_some()))
            .arg(ttl(r.token.as_ref()))
            .arg(u8::from(r.project.is_some()))
            .arg(ttl(r.project.as_ref()));
        let mut conn = self.conn.get()?;
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    async fn extend(
        &self,
        reservation: &mut Reservation,
        min_output: u64,
        max_output: u64,
    ) -> Result<Option<u64>, LimitsError> {
        let r = &*reservation;
        let [token_key, project_key] = self.budget_keys(
            r.project_id,
            r.token_id,
            r.token.as_ref(),
            r.project.as_ref(),
        );
        let now = Utc::now();
        let mut invocation = self.extend_script.prepare_invoke();
        invocation
            .key(token_key)
            .key(project_key)
            .arg(min_output)
            .arg(max_output)
            .arg(r.output_nanos_per_token);
        for scope in [r.token.as_ref(), r.project.as_ref()] {
            match scope {
                Some(l) => invocation
                    .arg(1)
                    .arg(limit_arg(l.max_tokens))
                    .arg(limit_arg(l.max_cost_nano_usd))
                    .arg(counter_ttl_secs(l, self.counter_ttl_secs(), now)),
                None => invocation.arg(0).arg(-1).arg(-1).arg(1),
            };
        }
        let mut conn = self.conn.get()?;
        let values: Vec<i64> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let granted = values
            .first()
            .ok_or_else(|| LimitsError::Protocol(format!("extend answered {values:?}")))?;
        let Ok(granted) = u64::try_from(*granted) else {
            return Ok(None);
        };
        let more = reservation.output_spend(granted);
        reservation.reserved.tokens = reservation.reserved.tokens.saturating_add(more.tokens);
        reservation.reserved.cost_nano_usd = reservation
            .reserved
            .cost_nano_usd
            .saturating_add(more.cost_nano_usd);
        reservation.output_tokens = reservation.output_tokens.saturating_add(granted);
        Ok(Some(granted))
    }

    fn drain_usage(&self) -> Vec<TokenUsage> {
        self.ledger.drain()
    }

    fn health(&self) -> AdmissionHealth {
        AdmissionHealth::redis()
    }
}
