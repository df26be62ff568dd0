//! The distributed backend: one Redis hash per entry (`meta` JSON and the raw `body`, or the
//! `vary` names), expiring by itself, shared by every proxy node. Keys:
//! `{redis.key_prefix}:rcache:{cache key}`.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use llm_proxy_core::control::CachePurgeScope;
use llm_proxy_platform::redis::lazy_connection_manager;
use redis::aio::ConnectionManager;

use super::entry::{Item, Meta};
use super::store::{scope_prefix, CacheStore};
use crate::error::ProxyError;

pub struct RedisStore {
    prefix: String,
    conn: ConnectionManager,
}

const SCAN_BATCH: usize = 1000;

fn redis_error(e: redis::RedisError) -> ProxyError {
    ProxyError::Cache(format!("redis: {e}"))
}

/// `*`, `?`, `[`, `]` and `\` are glob syntax in `SCAN … MATCH`.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    /// Connects on first use. Must be called inside a Tokio runtime.
    pub fn new(url: &str, key_prefix: &str, timeout: Duration) -> Result<Self, ProxyError> {
        let conn = lazy_connection_manager(url, timeout)
            .map_err(|e| ProxyError::Settings(format!("redis.url: {e}")))?;
        Ok(Self {
            prefix: format!("{key_prefix}:rcache:"),
            conn,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn delete_matching(&self, pattern: &str) -> Result<u64, ProxyError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_error)?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

#[async_trait]
impl CacheStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Item>, ProxyError> {
        let mut conn = self.conn.clone();
        let (meta, body, vary): (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>) =
            redis::cmd("HMGET")
                .arg(self.key(key))
                .arg("meta")
                .arg("body")
                .arg("vary")
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
        let decode = |e: serde_json::Error| ProxyError::Cache(format!("bad cache entry: {e}"));
        if let Some(vary) = vary {
            let names: Vec<String> = serde_json::from_slice(&vary).map_err(decode)?;
            return Ok(Some(Item::Vary(names)));
        }
        match (meta, body) {
            (Some(meta), Some(body)) => {
                let meta: Meta = serde_json::from_slice(&meta).map_err(decode)?;
                Ok(Some(Item::Answer {
                    meta,
                    body: Bytes::from(body),
                }))
            }
            _ => Ok(None),
        }
    }

    async fn put(&self, key: &str, item: Item, ttl: Duration) -> Result<(), ProxyError> {
        let key = self.key(key);
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        match item {
            Item::Answer { meta, body } => {
                let meta = serde_json::to_vec(&meta)
                    .map_err(|e| ProxyError::Cache(format!("cannot encode an entry: {e}")))?;
                pipe.cmd("HSET")
                    .arg(&key)
                    .arg("meta")
                    .arg(meta)
                    .arg("body")
                    .arg(body.as_ref())
                    .ignore();
            }
            Item::Vary(names) => {
                let names = serde_json::to_vec(&names)
                    .map_err(|e| ProxyError::Cache(format!("cannot encode an entry: {e}")))?;
                pipe.cmd("HSET").arg(&key).arg("vary").arg(names).ignore();
            }
        }
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms).ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(redis_error)
    }

    async fn purge(&self, scope: &CachePurgeScope) -> Result<u64, ProxyError> {
        match scope_prefix(scope) {
            Some(prefix) => {
                let pattern = format!("{}{}*", glob_escape(&self.prefix), glob_escape(&prefix));
                self.delete_matching(&pattern).await
            }
            None => {
                let CachePurgeScope::Key { key } = scope else {
                    return Ok(0);
                };
                let mut conn = self.conn.clone();
                let n: u64 = redis::cmd("UNLINK")
                    .arg(self.key(key))
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_error)?;
                let variants = format!("{}#*", glob_escape(&self.key(key)));
                Ok(n + self.delete_matching(&variants).await?)
            }
        }
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
