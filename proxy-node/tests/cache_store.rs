//! One conformance suite for both response-cache backends: the memory store (embedded) and the
//! Redis store (distributed, on the shared test Redis under a prefix of its own).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use llm_proxy_core::control::CachePurgeScope;
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use proxy_node::cache::{CacheStore, Item, MemoryStore, Meta, RedisStore};
use uuid::Uuid;

const MINUTE: Duration = Duration::from_secs(60);

fn answer(body: &str) -> Item {
    Item::Answer {
        meta: Meta {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            stored_at_ms: 1,
            ttl_secs: 60,
            stream: false,
        },
        body: Bytes::from(body.to_owned()),
    }
}

async fn conformance(store: &dyn CacheStore) {
    let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
    let key = |project: Uuid, rest: &str| format!("{project}:{rest}");

    // Round trips, binary bodies included.
    store
        .put(&key(p, "GET:a"), answer("{\"a\":1}"), MINUTE)
        .await
        .unwrap();
    assert_eq!(
        store.get(&key(p, "GET:a")).await.unwrap(),
        Some(answer("{\"a\":1}"))
    );
    let binary = Item::Answer {
        meta: Meta {
            status: 203,
            headers: Vec::new(),
            stored_at_ms: 2,
            ttl_secs: 5,
            stream: true,
        },
        body: Bytes::from_static(b"\x00\xffdata: [DONE]\n\n"),
    };
    store
        .put(&key(p, "POST:b"), binary.clone(), MINUTE)
        .await
        .unwrap();
    assert_eq!(store.get(&key(p, "POST:b")).await.unwrap(), Some(binary));
    let vary = Item::Vary(vec!["accept-language".into()]);
    store
        .put(&key(p, "GET:v"), vary.clone(), MINUTE)
        .await
        .unwrap();
    assert_eq!(store.get(&key(p, "GET:v")).await.unwrap(), Some(vary));
    assert_eq!(store.get(&key(p, "missing")).await.unwrap(), None);

    // A put replaces, whatever the kind before.
    store
        .put(&key(p, "GET:v"), answer("x"), MINUTE)
        .await
        .unwrap();
    assert_eq!(
        store.get(&key(p, "GET:v")).await.unwrap(),
        Some(answer("x"))
    );

    // Entries expire by themselves.
    store
        .put(&key(p, "GET:short"), answer("s"), Duration::from_millis(50))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.get(&key(p, "GET:short")).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Purge by key takes the key's variants along, nothing else.
    store
        .put(&key(p, "GET:v#1"), answer("v1"), MINUTE)
        .await
        .unwrap();
    store
        .put(&key(p, "GET:v#2"), answer("v2"), MINUTE)
        .await
        .unwrap();
    store
        .put(&key(p, "GET:vx"), answer("vx"), MINUTE)
        .await
        .unwrap();
    let n = store
        .purge(&CachePurgeScope::Key {
            key: key(p, "GET:v"),
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert!(store.get(&key(p, "GET:v#1")).await.unwrap().is_none());
    assert!(store.get(&key(p, "GET:vx")).await.unwrap().is_some());

    // Purge by prefix, with glob characters taken literally.
    store
        .put(&key(q, "GET:/a*[b]?"), answer("1"), MINUTE)
        .await
        .unwrap();
    store
        .put(&key(q, "GET:/a*[b]?/more"), answer("2"), MINUTE)
        .await
        .unwrap();
    store
        .put(&key(q, "GET:/aX[b]?"), answer("3"), MINUTE)
        .await
        .unwrap();
    let n = store
        .purge(&CachePurgeScope::Prefix {
            prefix: key(q, "GET:/a*[b]?"),
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert!(store.get(&key(q, "GET:/aX[b]?")).await.unwrap().is_some());

    // Purge by project leaves the other project alone; purge all empties the store.
    let n = store
        .purge(&CachePurgeScope::Project { project_id: p })
        .await
        .unwrap();
    assert_eq!(n, 3, "GET:a, POST:b and GET:vx");
    assert!(store.get(&key(q, "GET:/aX[b]?")).await.unwrap().is_some());
    store.purge(&CachePurgeScope::All).await.unwrap();
    assert!(store.get(&key(q, "GET:/aX[b]?")).await.unwrap().is_none());
}

#[actix_web::test]
async fn memory_store_conforms() {
    let store = MemoryStore::new(1024 * 1024);
    conformance(&store).await;
    assert!(store.is_empty());
    assert_eq!(store.bytes(), 0);
}

#[actix_web::test]
async fn redis_store_conforms() {
    let prefix = RedisPrefix::unique();
    let store = RedisStore::new(prefix.url(), prefix.prefix(), Duration::from_secs(2)).unwrap();
    conformance(&store).await;
    prefix.cleanup().await.unwrap();
}
