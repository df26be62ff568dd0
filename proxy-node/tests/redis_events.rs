//! The Redis Streams event sink on real Redis: the entry format dispatchers decode, the local
//! spill while Redis is down or slow (a redis-server each fault test starts itself), replay in
//! order, a spill left by a previous process, and counted drops when the spill is full.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_core::project::NewProject;
use llm_proxy_core::token::NewToken;
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_core::SecretString;
use llm_proxy_platform::redis::{decode_entry, KeySpace, FIELD_EVENT_ID};
use llm_proxy_platform::settings::UnavailablePolicy;
use llm_proxy_platform::{Cipher, ControlBus, EncryptionKey};
use llm_proxy_store::DynStore;
use llm_proxy_testkit::db::TestSqlite;
use llm_proxy_testkit::fake_sinks::sample_event;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use llm_proxy_testkit::redis_server::RedisServer;
use proxy_node::events::{RedisSinkOptions, RedisStreamSink};
use proxy_node::{Application, EventSink, ProxyState};
use redis::streams::StreamRangeReply;
use redis::Value;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

fn options(url: &str, keys: KeySpace, spill_dir: &std::path::Path) -> RedisSinkOptions {
    RedisSinkOptions {
        url: SecretString::new(url),
        keys,
        spill_dir: spill_dir.to_path_buf(),
        spill_max_bytes: 64 * 1024 * 1024,
        publish_timeout: Duration::from_millis(200),
    }
}

fn events(n: usize) -> Vec<RequestEvent> {
    (0..n).map(|_| sample_event()).collect()
}

/// Every entry of one stream, oldest first.
async fn entries(url: &str, stream: &str) -> Vec<HashMap<String, Value>> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    reply.ids.into_iter().map(|id| id.map).collect()
}

/// The events of every shard, each shard oldest first.
async fn published(url: &str, keys: &KeySpace) -> Vec<RequestEvent> {
    let mut out = Vec::new();
    for stream in keys.event_streams() {
        for fields in entries(url, &stream).await {
            out.push(decode_entry(&fields).unwrap());
        }
    }
    out
}

fn ids(events: &[RequestEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spill_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[tokio::test]
async fn published_events_decode_from_their_shard_with_every_field() {
    let prefix = RedisPrefix::unique();
    let keys = KeySpace::new(prefix.prefix(), 4, 1000);
    let dir = tempfile::tempdir().unwrap();
    let sink = RedisStreamSink::open_with(options(prefix.url(), keys.clone(), dir.path())).unwrap();

    let mut sent = events(40);
    sent[0].project_id = None;
    sink.write_batch(sent.clone()).await.unwrap();
    sink.write_batch(events(0)).await.unwrap();

    let mut seen = 0;
    for shard in 0..keys.shards() {
        for fields in entries(prefix.url(), &keys.events_stream(shard)).await {
            let event = decode_entry(&fields).unwrap();
            let original = sent.iter().find(|e| e.id == event.id).unwrap();
            assert_eq!(&event, original, "every field survives the stream");
            assert_eq!(keys.shard_for(event.project_id), shard);
            let Some(Value::BulkString(id)) = fields.get(FIELD_EVENT_ID) else {
                panic!("no id field: {fields:?}");
            };
            assert_eq!(id.as_slice(), event.id.to_string().as_bytes());
            seen += 1;
        }
    }
    assert_eq!(seen, sent.len());
    let stats = sink.stats();
    assert_eq!(stats.published, 40);
    assert_eq!((stats.spilled, stats.dropped, stats.spill_bytes), (0, 0, 0));
    assert!(stats.redis_available);
    prefix.cleanup().await.unwrap();
}

#[tokio::test]
async fn batches_spill_while_redis_is_down_and_replay_in_order_when_it_returns() {
    let mut redis = RedisServer::start_persistent().await;
    let keys = KeySpace::new("spill", 1, 100_000);
    let dir = tempfile::tempdir().unwrap();
    let sink = RedisStreamSink::open_with(options(&redis.url(), keys.clone(), dir.path())).unwrap();
    let mut sent = Vec::new();

    let before = events(30);
    sink.write_batch(before.clone()).await.unwrap();
    sent.extend(before);

    redis.stop();
    let mut spill_sizes = Vec::new();
    for _ in 0..10 {
        let batch = events(25);
        sink.write_batch(batch.clone()).await.unwrap();
        sent.extend(batch);
        spill_sizes.push(sink.stats().spill_bytes);
    }
    let stats = sink.stats();
    assert!(!stats.redis_available);
    assert_eq!(stats.spilled, 250);
    assert!(
        spill_sizes.windows(2).all(|w| w[1] > w[0]),
        "{spill_sizes:?}"
    );
    assert!(spill_files(dir.path()) > 0);

    redis.start_again().await;
    // Batches written while the replay runs keep their place behind the spilled ones.
    for _ in 0..10 {
        let batch = events(10);
        sink.write_batch(batch.clone()).await.unwrap();
        sent.extend(batch);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        eventually(WAIT, || async { sink.stats().spill_pending_bytes == 0 }).await,
        "{:?}",
        sink.stats()
    );
    let stats = sink.stats();
    assert_eq!(stats.published + stats.replayed, 380, "{stats:?}");
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.spill_bytes, 0);
    assert_eq!(
        spill_files(dir.path()),
        0,
        "the spill is removed once replayed"
    );
    assert_eq!(ids(&published(&redis.url(), &keys).await), ids(&sent));
}

#[tokio::test]
async fn a_slow_redis_spills_instead_of_holding_up_the_batch() {
    let redis = RedisServer::start().await;
    let keys = KeySpace::new("slow", 1, 100_000);
    let dir = tempfile::tempdir().unwrap();
    let sink = RedisStreamSink::open_with(options(&redis.url(), keys.clone(), dir.path())).unwrap();
    let first = events(5);
    sink.write_batch(first.clone()).await.unwrap();

    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("WRITE")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let slow = events(5);
    let started = std::time::Instant::now();
    sink.write_batch(slow.clone()).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(sink.stats().spilled, 5);

    assert!(eventually(WAIT, || async { sink.stats().spill_pending_bytes == 0 }).await);
    let stored = published(&redis.url(), &keys).await;
    // A timed-out XADD may still land: at least once, in order of first appearance.
    let mut unique = Vec::new();
    for id in ids(&stored) {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    let expected: Vec<Uuid> = ids(&first).into_iter().chain(ids(&slow)).collect();
    assert_eq!(unique, expected);
}

#[tokio::test]
async fn a_spill_left_by_a_previous_process_is_replayed_at_start() {
    let mut gone = RedisServer::start().await;
    gone.stop();
    let prefix = RedisPrefix::unique();
    let keys = KeySpace::new(prefix.prefix(), 2, 100_000);
    let dir = tempfile::tempdir().unwrap();

    let previous =
        RedisStreamSink::open_with(options(&gone.url(), keys.clone(), dir.path())).unwrap();
    let mut sent = Vec::new();
    for _ in 0..4 {
        let batch = events(50);
        previous.write_batch(batch.clone()).await.unwrap();
        sent.extend(batch);
    }
    assert_eq!(previous.stats().spilled, 200);
    drop(previous);
    assert!(spill_files(dir.path()) > 0);

    let next = RedisStreamSink::open_with(options(prefix.url(), keys.clone(), dir.path())).unwrap();
    assert!(next.stats().spill_pending_bytes > 0);
    assert!(eventually(WAIT, || async { next.stats().spill_pending_bytes == 0 }).await);
    assert_eq!(next.stats().replayed, 200);
    assert_eq!(spill_files(dir.path()), 0);

    let stored = published(prefix.url(), &keys).await;
    assert_eq!(stored.len(), 200, "none lost, none twice");
    for shard in 0..keys.shards() {
        let in_shard: Vec<Uuid> = sent
            .iter()
            .filter(|e| keys.shard_for(e.project_id) == shard)
            .map(|e| e.id)
            .collect();
        let stored_in_shard: Vec<Uuid> = stored
            .iter()
            .filter(|e| keys.shard_for(e.project_id) == shard)
            .map(|e| e.id)
            .collect();
        assert_eq!(stored_in_shard, in_shard, "shard {shard} keeps the order");
    }
    prefix.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_full_spill_drops_and_counts_every_event_it_cannot_keep() {
    let mut redis = RedisServer::start().await;
    let keys = KeySpace::new("full", 1, 100_000);
    let dir = tempfile::tempdir().unwrap();
    let one_line = serde_json::to_string(&sample_event()).unwrap().len() as u64 + 1;
    let mut opts = options(&redis.url(), keys.clone(), dir.path());
    opts.spill_max_bytes = one_line * 30 + one_line / 2;
    let sink = RedisStreamSink::open_with(opts).unwrap();

    redis.stop();
    let mut sent = Vec::new();
    for _ in 0..5 {
        let batch = events(10);
        sink.write_batch(batch.clone()).await.unwrap();
        sent.extend(batch);
    }
    let stats = sink.stats();
    assert_eq!(stats.spilled + stats.dropped, 50, "{stats:?}");
    assert!(
        (25..=30).contains(&stats.spilled),
        "the spill takes what fits: {stats:?}"
    );
    assert!(stats.spill_bytes <= one_line * 30 + one_line / 2);

    redis.start_again().await;
    assert!(eventually(WAIT, || async { sink.stats().spill_pending_bytes == 0 }).await);
    let stats = sink.stats();
    assert_eq!(stats.replayed, stats.spilled);
    let stored = published(&redis.url(), &keys).await;
    assert_eq!(
        ids(&stored),
        ids(&sent[..stored.len()]),
        "the oldest are kept"
    );
    assert_eq!(stored.len() as u64, stats.spilled);
}

/// The real proxy with the Redis sink: requests succeed while its Redis is down, their events
/// spill, and every one reaches the stream once Redis is back.
#[actix_web::test]
async fn requests_keep_succeeding_while_redis_is_down_and_no_event_is_lost() {
    let mut redis = RedisServer::start_persistent().await;
    let upstream = FakeUpstream::start().await;
    let db = TestSqlite::create().await;
    let mut settings = db.settings();
    settings.server.port = 0;
    settings.server.workers = Some(1);
    settings.redis.url = Some(SecretString::new(redis.url()));
    settings.redis.key_prefix = "e2e".to_owned();
    settings.redis.unavailable_policy = UnavailablePolicy::Degraded;
    settings.events.publish_timeout_ms = 200;
    for provider in settings.providers.values_mut() {
        provider.base_url = upstream.base_url();
        provider.allowed_upstreams = vec![upstream.host()];
    }
    let settings = Arc::new(settings);
    let keys = KeySpace::from_settings(&settings);
    let store: DynStore = Arc::new(db.store(Cipher::new(&EncryptionKey::generate())).await);
    let sink = Arc::new(RedisStreamSink::open(&settings).unwrap());
    let state = ProxyState::start_with_sink(
        Arc::clone(&settings),
        store.clone(),
        ControlBus::in_process(),
        Arc::clone(&sink) as Arc<dyn EventSink>,
    )
    .unwrap();
    let app = Application::with_state(Arc::clone(&settings), state.clone()).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    let bearer = seed(&store).await;

    let client = awc::Client::default();
    let mut request_ids = Vec::new();
    for n in 0..10 {
        let status = chat(&client, &address, &bearer, &mut request_ids, n).await;
        assert_eq!(status, 200);
    }
    state.events.flush().await;

    redis.stop();
    for n in 10..40 {
        let status = chat(&client, &address, &bearer, &mut request_ids, n).await;
        assert_eq!(status, 200, "request {n}");
    }
    state.events.flush().await;
    let stats = sink.stats();
    assert!(stats.spilled >= 30, "{stats:?}");
    assert!(stats.spill_bytes > 0);

    redis.start_again().await;
    for n in 40..50 {
        let status = chat(&client, &address, &bearer, &mut request_ids, n).await;
        assert_eq!(status, 200, "request {n}");
    }
    state.events.flush().await;
    assert!(eventually(WAIT, || async { sink.stats().spill_pending_bytes == 0 }).await);
    let stored = published(&redis.url(), &keys).await;
    let stored_ids: Vec<&str> = stored.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(stored_ids, request_ids, "all 50, in order, none twice");
    assert_eq!(sink.stats().dropped, 0);

    handle.stop(true).await;
    state.shutdown().await;
    upstream.stop().await;
}

/// One chat call, read to the end; its request id is appended to `sent`.
async fn chat(
    client: &awc::Client,
    address: &str,
    bearer: &str,
    sent: &mut Vec<String>,
    n: usize,
) -> u16 {
    let id = format!("req-{n}");
    sent.push(id.clone());
    let mut response = client
        .post(format!("{address}/v1/chat/completions"))
        .insert_header(("authorization", bearer))
        .insert_header(("x-request-id", id))
        .send_json(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .await
        .unwrap();
    response.body().await.unwrap();
    response.status().as_u16()
}

async fn seed(store: &DynStore) -> String {
    let project = store
        .create_project(
            NewProject {
                name: format!("p-{}", Uuid::new_v4().simple()),
                provider_keys: BTreeMap::from([(
                    "openai".to_owned(),
                    SecretString::new("sk-proj-upstream-openai-key-0001"),
                )]),
                rate_limit_rpm: None,
            },
            &AuditContext::system("test"),
        )
        .await
        .unwrap();
    let secret = TokenSecret::generate();
    store
        .create_token(
            NewToken {
                project_id: project.id,
                token_hash: secret.hash(),
                obfuscated: secret.obfuscated(),
                expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
                max_requests: None,
                rate_limit_rpm: None,
            },
            &AuditContext::system("test"),
        )
        .await
        .unwrap();
    format!("Bearer {}", secret.expose())
}
