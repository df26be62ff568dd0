//! Request admission for the proxy (DESIGN §4 step 4): the token's lifetime `max_requests`, the
//! token's and the project's budgets (see [`budget`]), a per-token request rate and a
//! per-project request rate, checked and counted in **one atomic operation** per request.
//!
//! - [`MemoryAdmission`]: embedded mode, exact on one node.
//! - [`RedisAdmission`]: distributed mode, one Lua script (one round trip) per request, exact
//!   across any number of nodes.
//! - [`GuardedAdmission`]: wraps a [`RedisAdmission`] with the deployment's
//!   `redis.unavailable_policy`: `fail_closed` answers [`LimitsError::Unavailable`], `degraded`
//!   enforces this node's share of every limit in memory and marks decisions `degraded`.
//!
//! [`build`] picks one from the settings. All of them implement [`Admission`].
//!
//! # Semantics (the same in every implementation)
//!
//! Checks run in this order and the first that fails decides; a rejected request counts nowhere:
//! 1. lifetime quota: `max(counter, AdmissionRequest::used) >= max_requests` → `QuotaExceeded`;
//! 2. token budget, then project budget: the prompt estimate plus at least
//!    [`BudgetAsk::min_output`] completion tokens must fit (tokens and cost) on top of the
//!    period's spend and outstanding reservations → `BudgetExceeded { scope }`; an admitted
//!    call reserves as much as fits up to [`BudgetAsk::max_output`];
//! 3. token rate: sliding-window log, at most `rpm` admitted requests in any window of
//!    [`LimitsConfig::window`] (60 s) → `RateLimited { scope: Token }`;
//! 4. project rate: the same over all tokens of the project → `RateLimited { scope: Project }`.
//!
//! The sliding-window log is exact (never more than `rpm` in *any* 60 s span, unlike fixed
//! windows, which allow 2×rpm across a boundary, or GCRA, which refills continuously) and its
//! memory is bounded by the limit itself: a window holds at most `rpm` timestamps.
//!
//! # Plugging it into the proxy
//!
//! - Build one [`DynAdmission`] with [`build`] at start-up and keep it in `AppState`.
//! - Per request, after expiry/revocation/project checks: `admit(&AdmissionRequest { .. })`
//!   with the token's `max_requests`, its cached `request_count` as `used`, and both
//!   `rate_limit_rpm`s. `QuotaExceeded` → 429 `quota_exceeded`; `RateLimited` → 429
//!   `rate_limit_exceeded`; every decision's [`Decision::headers`] go on the response (on the
//!   upstream's answer too when admitted); [`LimitsError::Unavailable`] → 503
//!   `limits_unavailable`; [`LimitsError::Protocol`] → 500. `BudgetExceeded` → 429
//!   `budget_exceeded`.
//! - An admitted decision with a [`Reservation`]: when the call ends, [`Admission::settle`] it
//!   with the real usage (nothing when the upstream failed before answering); a stream that
//!   outgrows it asks [`Admission::extend`] for more, and ends when it gets none.
//! - On a timer (`token_cache.flush_interval_ms`): [`Admission::drain_usage`] →
//!   the store's batched `record_token_usage`, never one UPDATE per request.
//! - Export [`Admission::health`] as metrics (mode, outages, degraded decisions, refusals).

pub mod budget;
mod config;
mod decision;
mod error;
mod guarded;
mod health;
mod memory;
mod outcome;
mod redis_backend;
mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use llm_proxy_core::budget::Spend;
use llm_proxy_core::token::TokenUsage;

pub use budget::{BudgetAsk, BudgetLimit, BudgetStatus, Reservation};
pub use config::LimitsConfig;
pub use decision::{AdmissionRequest, Decision, QuotaStatus, RateStatus, Scope, Verdict};
pub use error::LimitsError;
pub use guarded::GuardedAdmission;
pub use health::{AdmissionHealth, AdmissionMode};
pub use llm_proxy_platform::settings::UnavailablePolicy;
pub use memory::MemoryAdmission;
pub use redis_backend::{LimitKeys, RedisAdmission, ScopeKeys, WINDOW_TRIM_PER_CALL};

/// One call per proxied request.
#[async_trait]
pub trait Admission: Send + Sync {
    /// Checks and counts one request atomically. `Ok` carries the verdict (admitted or why not);
    /// `Err` means no verdict could be reached (Redis unavailable under `fail_closed`).
    async fn admit(&self, req: &AdmissionRequest) -> Result<Decision, LimitsError>;

    /// Ends a reservation with what the call really used (`Spend::default()` when the
    /// upstream failed before answering): its counters move by `actual - reserved`. Call it
    /// exactly once per reservation.
    async fn settle(&self, reservation: &Reservation, actual: Spend) -> Result<(), LimitsError>;

    /// Reserves between `min_output` and `max_output` more completion tokens for a call that
    /// is still running (a stream outgrowing its reservation), as many as every budget has
    /// room for; `Ok(None)` when not even `min_output` fit (the stream must end).
    async fn extend(
        &self,
        reservation: &mut Reservation,
        min_output: u64,
        max_output: u64,
    ) -> Result<Option<u64>, LimitsError>;

    /// Requests this node admitted since the last drain, per token, for the store's batched
    /// write-back (`request_count`, `last_used_at`). Call it from a timer, off the request path.
    fn drain_usage(&self) -> Vec<TokenUsage>;

    /// Whether decisions currently come from Redis, memory, or nowhere (for `/readyz` and
    /// metrics).
    fn health(&self) -> AdmissionHealth;
}

pub type DynAdmission = Arc<dyn Admission>;

/// The implementation the settings ask for: memory without `redis.url`, otherwise Redis behind
/// the configured unavailable policy. Opening does no I/O; check Redis with
/// [`RedisAdmission::ping`] at start-up if wanted.
pub fn build(settings: &llm_proxy_platform::Settings) -> Result<DynAdmission, LimitsError> {
    let config = LimitsConfig::from_settings(settings);
    match &settings.redis.url {
        None => Ok(Arc::new(MemoryAdmission::new(config))),
        Some(url) => {
            let keys = LimitKeys::new(&settings.redis.key_prefix)?;
            let redis = RedisAdmission::open(url.expose(), keys, config.clone())?;
            Ok(Arc::new(GuardedAdmission::new(redis, config)))
        }
    }
}
