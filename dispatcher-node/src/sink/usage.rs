//! The `usage` sink: rolls events up into the store's usage ledger (requests, errors, tokens
//! and cost per project, token, provider, model and hour), one transaction per batch,
//! idempotent per event id. The dispatcher role feeds it from its own consumer group;
//! `llm-proxy up` runs the same sink behind the in-process queue.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use llm_proxy_core::event::{RequestEvent, Termination};
use llm_proxy_core::usage_cost::{PriceTable, TokenCounts};
use llm_proxy_platform::Settings;
use llm_proxy_store::{DynStore, StoreError, UsageRecord};
use tokio::sync::OnceCell;

use super::{SharedEvent, Sink, SinkError};

pub const NAME: &str = "usage";

/// How often the ids of events past the retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

enum Ledger {
    Given(DynStore),
    /// Opened on the first delivery (the dispatcher holds no encryption key, and a database
    /// that is down at start must not stop the other sinks).
    FromSettings(Arc<Settings>, OnceCell<DynStore>),
}

pub struct UsageSink {
    ledger: Ledger,
    prices: PriceTable,
    retention: TimeDelta,
    next_prune: Cell<Instant>,
}

impl UsageSink {
    /// Over an open store (`llm-proxy up`).
    pub fn new(store: DynStore, settings: &Settings) -> Self {
        Self::with(Ledger::Given(store), settings)
    }

    /// Over the store `database.url` names, opened when first needed (the dispatcher role).
    pub fn from_settings(settings: Arc<Settings>) -> Self {
        let ledger = Ledger::FromSettings(Arc::clone(&settings), OnceCell::new());
        Self::with(ledger, &settings)
    }

    fn with(ledger: Ledger, settings: &Settings) -> Self {
        let hours = i64::try_from(settings.usage.dedupe_retention_hours).unwrap_or(i64::MAX);
        Self {
            ledger,
            prices: settings.pricing.table(),
            retention: TimeDelta::try_hours(hours).unwrap_or(TimeDelta::MAX),
            next_prune: Cell::new(Instant::now()),
        }
    }

    async fn store(&self) -> Result<&DynStore, SinkError> {
        match &self.ledger {
            Ledger::Given(store) => Ok(store),
            Ledger::FromSettings(settings, cell) => cell
                .get_or_try_init(|| llm_proxy_store::open_ledger(settings))
                .await
                .map_err(|e| SinkError::retryable(format!("usage ledger: {e}"))),
        }
    }

    /// Forgets old event ids now and then; a failure only delays it.
    async fn prune(&self, store: &DynStore) {
        let now = Instant::now();
        if now < self.next_prune.get() {
            return;
        }
        self.next_prune.set(now + PRUNE_EVERY);
        match store.prune_usage_events(Utc::now() - self.retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(pruned = n, "usage ledger forgot old event ids"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the usage ledger's event ids"),
        }
    }
}

/// One event's contribution; events without a project (refused before the token was known)
/// belong to no ledger row. The cost is 0 when no price is configured for the model.
pub fn usage_record(event: &RequestEvent, prices: &PriceTable) -> Option<UsageRecord> {
    let usage = event.usage.clone().unwrap_or_default();
    let counts = TokenCounts {
        prompt: usage.prompt_tokens.unwrap_or(0),
        completion: usage.completion_tokens.unwrap_or(0),
        cached: usage.cached_tokens.unwrap_or(0),
    };
    let cost = event
        .model
        .as_deref()
        .and_then(|model| prices.cost(&event.provider, model, counts))
        .unwrap_or(0);
    Some(UsageRecord {
        event_id: event.id,
        occurred_at: event.occurred_at,
        project_id: event.project_id?,
        token_id: event.token_id,
        provider: event.provider.clone(),
        model: event.model.clone(),
        is_error: event.status >= 400
            || matches!(
                event.termination,
                Termination::UpstreamError | Termination::Timeout
            ),
        prompt_tokens: counts.prompt,
        completion_tokens: counts.completion,
        cached_tokens: counts.cached,
        cost_nano_usd: cost,
    })
}

#[async_trait(?Send)]
impl Sink for UsageSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let horizon = Utc::now() - self.retention;
        let (records, stale): (Vec<UsageRecord>, Vec<UsageRecord>) = batch
            .iter()
            .filter_map(|e| usage_record(e, &self.prices))
            .partition(|r| r.occurred_at >= horizon);
        if !stale.is_empty() {
            // Their ids may have been forgotten already: counting them risks counting twice.
            tracing::warn!(
                events = stale.len(),
                retention_hours = self.retention.num_hours(),
                "usage events older than usage.dedupe_retention_hours are not counted"
            );
        }
        let store = self.store().await?;
        self.prune(store).await;
        if records.is_empty() {
            return Ok(());
        }
        store
            .record_usage(&records)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                StoreError::Invalid(message) => SinkError::permanent(message),
                other => SinkError::retryable(other.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use llm_proxy_core::event::Usage;
    use llm_proxy_core::usage_cost::ModelPrice;
    use llm_proxy_testkit::fake_sinks::sample_event;

    use super::*;

    fn prices() -> PriceTable {
        PriceTable::new(vec![ModelPrice {
            model: "gpt-4o-mini*".into(),
            provider: None,
            input: 0.15,
            output: 0.6,
            cached_input: Some(0.075),
        }])
    }

    #[test]
    fn events_become_priced_ledger_records() {
        let mut event = sample_event();
        event.model = Some("gpt-4o-mini-2024-07-18".into());
        event.usage = Some(Usage {
            prompt_tokens: Some(1000),
            completion_tokens: Some(500),
            total_tokens: Some(1500),
            cached_tokens: Some(200),
            estimated: false,
        });
        let record = usage_record(&event, &prices()).unwrap();
        assert_eq!(Some(record.project_id), event.project_id);
        assert_eq!(record.event_id, event.id);
        assert_eq!(
            (record.prompt_tokens, record.completion_tokens),
            (1000, 500)
        );
        assert_eq!(record.cost_nano_usd, 800 * 150 + 200 * 75 + 500 * 600);
        assert!(!record.is_error);

        event.model = Some("o3".into());
        assert_eq!(usage_record(&event, &prices()).unwrap().cost_nano_usd, 0);

        let failed = RequestEvent {
            status: 502,
            termination: Termination::UpstreamError,
            ..sample_event()
        };
        assert!(usage_record(&failed, &prices()).unwrap().is_error);
        let anonymous = RequestEvent {
            project_id: None,
            status: 401,
            ..sample_event()
        };
        assert!(usage_record(&anonymous, &prices()).is_none());
    }
}
