//! Session sequence numbers (DESIGN §6): 1, 2, 3 per session id, across nodes on Redis, 0 when
//! Redis cannot say (the request still succeeds), and a call without an id is its own session.

use std::sync::Arc;

use llm_proxy_core::event::RequestEvent;
use llm_proxy_limits::UnavailablePolicy;
use proxy_node::ProxyParts;

use crate::helpers::{closed_redis_url, spawn_app_full, spawn_redis_app, CollectingSink, TestApp};

/// Waits until the sink holds `n` events, flushing the event log of every node.
async fn collected(sink: &CollectingSink, nodes: &[&TestApp], n: usize) -> Vec<RequestEvent> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        for node in nodes {
            node.state.events.flush().await;
        }
        let events = sink.events();
        if events.len() >= n || std::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn seq_of(events: &[RequestEvent], request_id: &str) -> u64 {
    events
        .iter()
        .find(|e| e.request_id == request_id)
        .unwrap_or_else(|| panic!("no event for {request_id}"))
        .session
        .seq
}

async fn call(app: &TestApp, bearer: &str, request_id: &str, session: Option<&str>) {
    let mut request = app.chat(bearer).insert_header(("x-request-id", request_id));
    if let Some(session) = session {
        request = request.insert_header(("x-session-id", session));
    }
    let (s, _, b) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_eq!(s, 200, "{b}");
}

#[actix_web::test]
async fn session_seq_counts_1_2_3_in_memory() {
    let sink = Arc::new(CollectingSink::default());
    let app = spawn_app_full(
        |_, _| {},
        ProxyParts::default().with_sink(sink.clone()),
        None,
    )
    .await;
    let seeded = app.seed().await;
    let bearer = seeded.bearer();
    for i in 1..=3 {
        call(&app, &bearer, &format!("mem-{i}"), Some("sess-mem")).await;
    }
    call(&app, &bearer, "mem-other", Some("sess-other")).await;
    call(&app, &bearer, "mem-none", None).await;

    let events = collected(&sink, &[&app], 5).await;
    assert_eq!(
        [1, 2, 3].map(|i| seq_of(&events, &format!("mem-{i}"))),
        [1, 2, 3]
    );
    assert_eq!(seq_of(&events, "mem-other"), 1);
    let own = events.iter().find(|e| e.request_id == "mem-none").unwrap();
    assert_eq!(
        (
            own.session.id.as_str(),
            own.session.source.as_str(),
            own.session.seq
        ),
        ("mem-none", "generated", 1)
    );
    app.stop().await;
}

#[actix_web::test]
async fn session_seq_counts_across_nodes_on_redis() {
    let sink = Arc::new(CollectingSink::default());
    let first = spawn_redis_app(|_, _| {}, ProxyParts::default().with_sink(sink.clone())).await;
    let second = first.spawn_peer(ProxyParts::default().with_sink(sink.clone()));
    let seeded = first.seed().await;
    let bearer = seeded.bearer();
    let session = format!("sess-{}", uuid::Uuid::new_v4().simple());
    call(&first, &bearer, "redis-1", Some(&session)).await;
    call(&second, &bearer, "redis-2", Some(&session)).await;
    call(&first, &bearer, "redis-3", Some(&session)).await;

    let events = collected(&sink, &[&first, &second], 3).await;
    assert_eq!(
        [1, 2, 3].map(|i| seq_of(&events, &format!("redis-{i}"))),
        [1, 2, 3]
    );

    // One key per session under the prefix, expiring within a day.
    let key = format!(
        "{}:session:{{{session}}}:seq",
        first.settings.redis.key_prefix
    );
    let client = redis::Client::open(llm_proxy_testkit::redis_prefix::test_redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!((1..=86_400).contains(&ttl), "ttl {ttl}");
    second.stop().await;
    first.stop().await;
}

#[actix_web::test]
async fn session_seq_is_0_when_redis_is_away_and_the_request_still_succeeds() {
    let sink = Arc::new(CollectingSink::default());
    let app = spawn_app_full(
        |settings, _| {
            settings.redis.url = Some(llm_proxy_core::SecretString::new(closed_redis_url()));
            settings.redis.unavailable_policy = UnavailablePolicy::Degraded;
        },
        ProxyParts::default().with_sink(sink.clone()),
        None,
    )
    .await;
    let seeded = app.seed().await;
    call(&app, &seeded.bearer(), "away-1", Some("sess-away")).await;
    call(&app, &seeded.bearer(), "away-2", None).await;

    let events = collected(&sink, &[&app], 2).await;
    assert_eq!(seq_of(&events, "away-1"), 0);
    assert_eq!(
        seq_of(&events, "away-2"),
        1,
        "no Redis call for an own session"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("llm_proxy_session_seq_fallbacks_total 1"),
        "{metrics}"
    );
    app.stop().await;
}

/// A redis-server of this test's own (never the shared one), killed and restarted on its port.
struct OwnRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self { port, child: None };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<()>(&mut con).await.is_ok() {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

#[actix_web::test]
async fn session_seq_comes_back_when_redis_does() {
    let mut redis = OwnRedis::start().await;
    let sink = Arc::new(CollectingSink::default());
    let url = redis.url();
    let app = spawn_app_full(
        move |settings, _| {
            settings.redis.url = Some(llm_proxy_core::SecretString::new(url));
            settings.redis.unavailable_policy = UnavailablePolicy::Degraded;
        },
        ProxyParts::default().with_sink(sink.clone()),
        None,
    )
    .await;
    let seeded = app.seed().await;
    let bearer = seeded.bearer();
    call(&app, &bearer, "back-1", Some("sess-back")).await;
    redis.kill().await;
    call(&app, &bearer, "back-2", Some("sess-back")).await;
    redis.restart().await;

    // The restarted server is empty, so the session counts from 1 again once it is used.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut n = 2;
    loop {
        n += 1;
        let id = format!("back-{n}");
        call(&app, &bearer, &id, Some("sess-back")).await;
        let events = collected(&sink, &[&app], n).await;
        if seq_of(&events, &id) > 0 {
            assert_eq!(seq_of(&events, "back-1"), 1);
            assert_eq!(seq_of(&events, "back-2"), 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sequence numbers never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
    redis.kill().await;
}
