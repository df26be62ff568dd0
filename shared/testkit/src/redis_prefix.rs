//! A unique Redis key prefix per test, so tests share one Redis without seeing each other's keys.

use uuid::Uuid;

pub const TEST_REDIS_URL_VAR: &str = "LLM_PROXY_TEST_REDIS_URL";
pub const DEFAULT_TEST_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Redis URL tests use (`LLM_PROXY_TEST_REDIS_URL` or the local default).
pub fn test_redis_url() -> String {
    std::env::var(TEST_REDIS_URL_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_REDIS_URL.to_owned())
}

/// `llmp_test_<uuid>` plus the Redis URL to use it on.
#[derive(Debug, Clone)]
pub struct RedisPrefix {
    prefix: String,
    url: String,
}

impl RedisPrefix {
    pub fn unique() -> Self {
        Self {
            prefix: format!("llmp_test_{}", Uuid::new_v4().simple()),
            url: test_redis_url(),
        }
    }

    /// The key prefix (for `redis.key_prefix`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Applies URL and prefix to settings.
    pub fn apply(&self, settings: &mut llm_proxy_platform::Settings) {
        settings.redis.url = Some(llm_proxy_core::SecretString::new(self.url.clone()));
        settings.redis.key_prefix = self.prefix.clone();
    }

    /// Deletes every `prefix:*` key (SCAN, never KEYS or FLUSH); returns how many.
    pub async fn cleanup(&self) -> redis::RedisResult<u64> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut con)
                .await?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut con)
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn prefixes_are_unique_and_cleanup_deletes_only_their_keys() {
        let mine = RedisPrefix::unique();
        let other = RedisPrefix::unique();
        assert_ne!(mine.prefix(), other.prefix());
        assert!(mine.prefix().starts_with("llmp_test_"));

        let client = redis::Client::open(mine.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        for i in 0..1200 {
            let _: () = redis::cmd("SET")
                .arg(format!("{}:k:{i}", mine.prefix()))
                .arg(1)
                .query_async(&mut con)
                .await
                .unwrap();
        }
        let other_key = format!("{}:keep", other.prefix());
        let _: () = redis::cmd("SET")
            .arg(&other_key)
            .arg(1)
            .query_async(&mut con)
            .await
            .unwrap();

        assert_eq!(mine.cleanup().await.unwrap(), 1200);
        assert_eq!(mine.cleanup().await.unwrap(), 0);
        let kept: i64 = redis::cmd("EXISTS")
            .arg(&other_key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(kept, 1);
        other.cleanup().await.unwrap();
    }
}
