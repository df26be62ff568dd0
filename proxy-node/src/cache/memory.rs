//! The embedded backend: answers in memory, bounded in bytes, least recently used out first.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_proxy_core::control::CachePurgeScope;
use lru::LruCache;

use super::entry::Item;
use super::store::{scope_prefix, CacheStore};
use crate::error::ProxyError;

struct Slot {
    item: Item,
    expires: Instant,
    size: u64,
}

struct Inner {
    lru: LruCache<String, Slot>,
    bytes: u64,
}

pub struct MemoryStore {
    max_bytes: u64,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.lock().lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn remove(&mut self, key: &str) -> bool {
        match self.lru.pop(key) {
            Some(slot) => {
                self.bytes -= slot.size;
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl CacheStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Item>, ProxyError> {
        let mut inner = self.lock();
        let expired = match inner.lru.get(key) {
            None => return Ok(None),
            Some(slot) if slot.expires > Instant::now() => return Ok(Some(slot.item.clone())),
            Some(_) => true,
        };
        if expired {
            inner.remove(key);
        }
        Ok(None)
    }

    async fn put(&self, key: &str, item: Item, ttl: Duration) -> Result<(), ProxyError> {
        let size = (key.len() + item.size()) as u64;
        if size > self.max_bytes {
            return Ok(());
        }
        let mut inner = self.lock();
        inner.remove(key);
        inner.lru.put(
            key.to_owned(),
            Slot {
                item,
                expires: Instant::now() + ttl,
                size,
            },
        );
        inner.bytes += size;
        while inner.bytes > self.max_bytes {
            match inner.lru.pop_lru() {
                Some((_, slot)) => inner.bytes -= slot.size,
                None => break,
            }
        }
        Ok(())
    }

    async fn purge(&self, scope: &CachePurgeScope) -> Result<u64, ProxyError> {
        let mut inner = self.lock();
        let Some(prefix) = scope_prefix(scope) else {
            let CachePurgeScope::Key { key } = scope else {
                return Ok(0);
            };
            // The answers of a `Vary` key live under `{key}#…`.
            let variants: Vec<String> = inner
                .lru
                .iter()
                .map(|(k, _)| k)
                .filter(|k| {
                    k.strip_prefix(key.as_str())
                        .is_some_and(|r| r.starts_with('#'))
                })
                .cloned()
                .collect();
            let mut n = u64::from(inner.remove(key));
            for k in variants {
                n += u64::from(inner.remove(&k));
            }
            return Ok(n);
        };
        let keys: Vec<String> = inner
            .lru
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in &keys {
            inner.remove(k);
        }
        Ok(keys.len() as u64)
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::cache::entry::Meta;
    use bytes::Bytes;
    use uuid::Uuid;

    fn answer(n: usize) -> Item {
        Item::Answer {
            meta: Meta {
                status: 200,
                headers: Vec::new(),
                stored_at_ms: 0,
                ttl_secs: 60,
                stream: false,
            },
            body: Bytes::from(vec![b'x'; n]),
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[actix_web::test]
    async fn least_recently_used_go_first_when_over_budget() {
        let store = MemoryStore::new(1000);
        store.put("a", answer(300), MINUTE).await.unwrap();
        store.put("b", answer(300), MINUTE).await.unwrap();
        // Touch a: b is now the least recently used.
        assert!(store.get("a").await.unwrap().is_some());
        store.put("c", answer(300), MINUTE).await.unwrap();
        assert!(store.get("b").await.unwrap().is_none());
        assert!(store.get("a").await.unwrap().is_some());
        assert!(store.get("c").await.unwrap().is_some());
        assert!(store.bytes() <= 1000);
        // Larger than the whole budget: never stored.
        store.put("d", answer(2000), MINUTE).await.unwrap();
        assert!(store.get("d").await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn expired_entries_are_gone() {
        let store = MemoryStore::new(1000);
        store.put("a", answer(1), Duration::ZERO).await.unwrap();
        assert!(store.get("a").await.unwrap().is_none());
        assert_eq!(store.bytes(), 0);
    }

    #[actix_web::test]
    async fn purge_by_key_prefix_and_project() {
        let store = MemoryStore::new(100_000);
        let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
        for k in [
            format!("{p}:GET:x"),
            format!("{p}:POST:y"),
            format!("{p}:POST:y#v1"),
            format!("{q}:GET:x"),
        ] {
            store.put(&k, answer(1), MINUTE).await.unwrap();
        }
        let key = CachePurgeScope::Key {
            key: format!("{p}:POST:y"),
        };
        assert_eq!(store.purge(&key).await.unwrap(), 2);
        let prefix = CachePurgeScope::Prefix {
            prefix: format!("{q}:GET"),
        };
        assert_eq!(store.purge(&prefix).await.unwrap(), 1);
        let project = CachePurgeScope::Project { project_id: p };
        assert_eq!(store.purge(&project).await.unwrap(), 1);
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
    }
}
