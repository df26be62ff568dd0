//! `llm-proxy up` feeds the store's usage ledger (what `GET /manage/usage` and the dashboard
//! read) from the request events, as one more in-process sink: its own bounded queue, the
//! dispatcher's retries and DLQ file, and idempotent per event id in the store.

use async_trait::async_trait;
use dispatcher_node::{Sink, SinkError, SinkSpec};
use llm_proxy_core::event::{RequestEvent, Termination};
use llm_proxy_store::{DynStore, StoreError, UsageRecord};

pub const NAME: &str = "usage";

pub struct UsageLedgerSink {
    store: DynStore,
}

/// The sink, built on the dispatcher's arbiter thread like the others.
pub fn spec(store: DynStore) -> SinkSpec {
    SinkSpec::new(NAME, move || {
        Ok(Box::new(UsageLedgerSink { store }) as Box<dyn Sink>)
    })
}

/// One event's contribution; events without a project (refused before the token was known)
/// belong to no ledger row.
pub fn usage_record(event: &RequestEvent) -> Option<UsageRecord> {
    let usage = event.usage.clone().unwrap_or_default();
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
        prompt_tokens: usage.prompt_tokens.unwrap_or(0),
        completion_tokens: usage.completion_tokens.unwrap_or(0),
        cached_tokens: usage.cached_tokens.unwrap_or(0),
    })
}

#[async_trait(?Send)]
impl Sink for UsageLedgerSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deliver(&self, batch: &[RequestEvent]) -> Result<(), SinkError> {
        let records: Vec<UsageRecord> = batch.iter().filter_map(usage_record).collect();
        if records.is_empty() {
            return Ok(());
        }
        self.store
            .record_usage(&records)
            .await
            .map_err(|e| match e {
                StoreError::Invalid(message) => SinkError::permanent(message),
                other => SinkError::retryable(other.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_proxy_testkit::fake_sinks::sample_event;

    #[test]
    fn events_become_ledger_records() {
        let event = sample_event();
        let record = usage_record(&event).unwrap();
        assert_eq!(Some(record.project_id), event.project_id);
        assert_eq!(record.event_id, event.id);
        assert_eq!((record.prompt_tokens, record.completion_tokens), (10, 5));
        assert!(!record.is_error);

        let failed = RequestEvent {
            status: 502,
            termination: Termination::UpstreamError,
            ..sample_event()
        };
        assert!(usage_record(&failed).unwrap().is_error);
        let anonymous = RequestEvent {
            project_id: None,
            status: 401,
            ..sample_event()
        };
        assert!(usage_record(&anonymous).is_none());
    }
}
