//! The cache backend: memory (one node) or Redis (shared by every node).

use std::time::Duration;

use async_trait::async_trait;
use llm_proxy_core::control::CachePurgeScope;

use super::entry::Item;
use super::key;
use crate::error::ProxyError;

#[async_trait]
pub trait CacheStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Item>, ProxyError>;
    async fn put(&self, key: &str, item: Item, ttl: Duration) -> Result<(), ProxyError>;
    /// Removes the entries in scope; returns how many there were.
    async fn purge(&self, scope: &CachePurgeScope) -> Result<u64, ProxyError>;
    fn name(&self) -> &'static str;
}

/// The key prefix a scope covers; `None` for one exact key.
pub fn scope_prefix(scope: &CachePurgeScope) -> Option<String> {
    match scope {
        CachePurgeScope::Key { .. } => None,
        CachePurgeScope::Prefix { prefix } => Some(prefix.clone()),
        CachePurgeScope::Project { project_id } => Some(key::project_prefix(*project_id)),
        CachePurgeScope::All => Some(String::new()),
    }
}
