//! Requests in flight per provider on this node (`max_concurrent_requests`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::provider::Providers;

#[derive(Clone, Default)]
pub struct Concurrency {
    by_provider: Arc<HashMap<String, Arc<Semaphore>>>,
}

impl Concurrency {
    pub fn new(providers: &Providers) -> Self {
        let by_provider = providers
            .iter()
            .map(|p| {
                let limit = p.settings.max_concurrent_requests.max(1);
                (p.name.clone(), Arc::new(Semaphore::new(limit)))
            })
            .collect();
        Self {
            by_provider: Arc::new(by_provider),
        }
    }

    /// A slot for one call, held until its answer ends; `None` when none freed up in `wait`.
    /// Providers without a limit get a slot at once.
    pub async fn acquire(
        &self,
        provider: &str,
        wait: Duration,
    ) -> Option<Option<OwnedSemaphorePermit>> {
        let Some(semaphore) = self.by_provider.get(provider) else {
            return Some(None);
        };
        match tokio::time::timeout(wait, Arc::clone(semaphore).acquire_owned()).await {
            Ok(Ok(permit)) => Some(Some(permit)),
            _ => None,
        }
    }
}
