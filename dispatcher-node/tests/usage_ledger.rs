//! The `usage` sink against a real Postgres ledger and a redis-server of the test's own: a
//! dispatcher killed after its batch was committed to the ledger but before the stream entry
//! was acknowledged, another one taking over, then a full replay of the stream: the ledger's
//! totals equal the sum of the published events exactly (no event counted twice), costs from
//! the price table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use dispatcher_node::consumer::LoopConfig;
use dispatcher_node::sink::UsageSink;
use dispatcher_node::{Metrics, RedisDispatcher, ReplayFrom, Sink, SinkError, SinkSpec};
use llm_proxy_core::event::{RequestEvent, Usage};
use llm_proxy_core::usage_cost::{ModelPrice, PriceTable, TokenCounts};
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, EncryptionKey, Settings};
use llm_proxy_store::{DynStore, UsageFilter, UsageTotals};
use llm_proxy_testkit::db::TestDatabase;
use llm_proxy_testkit::fake_sinks::sample_event;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn prices() -> Vec<ModelPrice> {
    let price = |model: &str, input, output| ModelPrice {
        model: model.into(),
        provider: None,
        input,
        output,
        cached_input: None,
    };
    vec![price("gpt-4o-mini*", 0.15, 0.6), price("gpt-4o", 2.5, 10.0)]
}

/// Events over two projects and three models (one without a price), usage varying per event.
fn events(n: usize) -> Vec<RequestEvent> {
    let projects = [Uuid::new_v4(), Uuid::new_v4()];
    let models = ["gpt-4o-mini", "gpt-4o", "unpriced-model"];
    (0..n)
        .map(|i| {
            let mut e = sample_event();
            e.project_id = Some(projects[i % 2]);
            e.model = Some(models[i % 3].to_owned());
            let (prompt, completion) = (100 + i as u64, 7 * i as u64);
            e.usage = Some(Usage {
                prompt_tokens: Some(prompt),
                completion_tokens: Some(completion),
                total_tokens: Some(prompt + completion),
                cached_tokens: Some(0),
                estimated: false,
            });
            if i % 10 == 0 {
                e.status = 500;
            }
            e
        })
        .collect()
}

/// What the ledger must hold for these events.
fn expected(events: &[RequestEvent]) -> UsageTotals {
    let table = PriceTable::new(prices());
    let mut t = UsageTotals::default();
    for e in events {
        let u = e.usage.clone().unwrap();
        let counts = TokenCounts {
            prompt: u.prompt_tokens.unwrap(),
            completion: u.completion_tokens.unwrap(),
            cached: 0,
        };
        t.add(&UsageTotals {
            requests: 1,
            errors: u64::from(e.status >= 400),
            prompt_tokens: counts.prompt,
            completion_tokens: counts.completion,
            cached_tokens: 0,
            cost_nano_usd: table
                .cost(&e.provider, e.model.as_deref().unwrap(), counts)
                .unwrap_or(0),
        });
    }
    t
}

async fn ledger_totals(store: &DynStore) -> UsageTotals {
    let rows = store.usage_summary(&UsageFilter::default()).await.unwrap();
    let mut t = UsageTotals::default();
    for r in rows {
        t.add(&r.totals());
    }
    t
}

/// Commits each batch to the ledger, then hangs before the dispatcher can acknowledge it: the
/// worst moment for a crash.
struct CommitThenHang {
    inner: UsageSink,
    committed: Arc<Mutex<usize>>,
}

#[async_trait(?Send)]
impl Sink for CommitThenHang {
    fn name(&self) -> &'static str {
        "usage"
    }

    async fn deliver(&self, batch: &[dispatcher_node::SharedEvent]) -> Result<(), SinkError> {
        self.inner.deliver(batch).await?;
        *self.committed.lock().unwrap() += batch.len();
        std::future::pending::<()>().await;
        Ok(())
    }
}

fn spec(sink: impl Sink + Send + 'static) -> SinkSpec {
    SinkSpec::new("usage", move || Ok(Box::new(sink) as Box<dyn Sink>))
}

#[actix_web::test]
async fn ledger_totals_survive_a_dispatcher_crash_and_a_full_replay() {
    let redis = OwnRedis::start().await;
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s: Settings = settings(&redis.url(), "usage-crash", dir.path());
    s.database.url = SecretString::new(db.url());
    s.pricing.models = prices();
    let s = Arc::new(s);
    let store: DynStore = Arc::new(db.store(Cipher::new(&EncryptionKey::generate())).await);
    let metrics = Metrics::new();
    let published = events(300);
    publish_these(&s, &published).await;

    // Dispatcher A commits one batch to the ledger and dies before acknowledging it. It has a
    // pool of its own, as a separate process would: a connection opened on a dispatcher's
    // arbiter closes with it, and must not be handed back to the test afterwards.
    let committed = Arc::new(Mutex::new(0));
    let store_a: DynStore = Arc::new(db.store(Cipher::new(&EncryptionKey::generate())).await);
    let crashing = CommitThenHang {
        inner: UsageSink::new(store_a, &s),
        committed: committed.clone(),
    };
    let mut config_a = LoopConfig::from_settings(&s, "usage").unwrap();
    config_a.consumer = "host-a".into();
    let a = RedisDispatcher::start_with(vec![(spec(crashing), config_a)], &metrics);
    assert!(eventually(WAIT, || async { *committed.lock().unwrap() > 0 }).await);
    a.kill();
    let in_flight = *committed.lock().unwrap();
    assert!(in_flight > 0 && in_flight <= 50, "{in_flight}");

    // Dispatcher B takes A's entries over (redelivering the committed batch) and reads the rest.
    let mut config_b = LoopConfig::from_settings(&s, "usage").unwrap();
    config_b.consumer = "host-b".into();
    let store_b: DynStore = Arc::new(db.store(Cipher::new(&EncryptionKey::generate())).await);
    let b = RedisDispatcher::start_with(
        vec![(spec(UsageSink::new(store_b, &s)), config_b)],
        &metrics,
    );
    let want = expected(&published);
    assert!(
        eventually(WAIT, || async {
            ledger_totals(&store).await.requests >= want.requests
        })
        .await,
        "every event reached the ledger: {:?}",
        ledger_totals(&store).await
    );
    b.stop(Duration::from_secs(2)).await;
    assert_eq!(ledger_totals(&store).await, want, "no event counted twice");
    assert!(want.cost_nano_usd > 0);

    // A backfill of the whole stream through the sink the dispatcher role builds from settings
    // (it opens the ledger itself) changes nothing.
    let report = dispatcher_node::replay(&s, "usage", ReplayFrom::StreamId("0".into()))
        .await
        .unwrap();
    assert_eq!(report.delivered, 300, "{report}");
    assert_eq!(
        ledger_totals(&store).await,
        want,
        "a replay counts nothing again"
    );

    drop(store);
    db.drop_db().await;
}

#[actix_web::test]
async fn events_older_than_the_dedupe_window_are_not_counted() {
    let db = TestDatabase::create().await;
    let mut s = db.settings();
    s.usage.dedupe_retention_hours = 1;
    let store: DynStore = Arc::new(db.store(Cipher::new(&EncryptionKey::generate())).await);
    let sink = UsageSink::new(store.clone(), &s);
    let mut old = sample_event();
    old.occurred_at = chrono::Utc::now() - chrono::TimeDelta::hours(2);
    let fresh = sample_event();
    sink.deliver(&[std::sync::Arc::new(old), std::sync::Arc::new(fresh)])
        .await
        .unwrap();
    assert_eq!(ledger_totals(&store).await.requests, 1);
    drop(store);
    db.drop_db().await;
}
