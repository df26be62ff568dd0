//! Admission "nodes" per backend, concurrent load spread over them, and teardown.

use std::sync::Arc;
use std::time::Duration;

use llm_proxy_limits::{
    AdmissionRequest, Decision, DynAdmission, LimitKeys, LimitsConfig, LimitsError,
    MemoryAdmission, RedisAdmission, Scope, Verdict,
};
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use uuid::Uuid;

pub struct Harness {
    /// Memory: one instance (exact on one node). Redis: three independent instances.
    pub nodes: Vec<DynAdmission>,
    redis: Option<RedisPrefix>,
}

impl Harness {
    pub fn memory() -> Self {
        let mut h = Self {
            nodes: Vec::new(),
            redis: None,
        };
        h.nodes = h.nodes_with(LimitsConfig::default());
        h
    }

    pub fn redis() -> Self {
        let mut h = Self {
            nodes: Vec::new(),
            redis: Some(RedisPrefix::unique()),
        };
        h.nodes = h.nodes_with(LimitsConfig::default());
        h
    }

    /// Fresh nodes on the same backend (same Redis prefix), e.g. with a short window.
    pub fn nodes_with(&self, config: LimitsConfig) -> Vec<DynAdmission> {
        match &self.redis {
            None => vec![Arc::new(MemoryAdmission::new(config)) as DynAdmission],
            Some(prefix) => (0..3)
                .map(|_| {
                    let keys = LimitKeys::new(prefix.prefix()).unwrap();
                    Arc::new(RedisAdmission::open(prefix.url(), keys, config.clone()).unwrap())
                        as DynAdmission
                })
                .collect(),
        }
    }

    /// Deletes this test's Redis keys, then re-raises the test's panic if it had one.
    pub async fn finish(self, outcome: std::thread::Result<()>) {
        if let Some(prefix) = &self.redis {
            prefix.cleanup().await.unwrap();
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// `n` copies of `req` at once, spread round-robin over the nodes, each on its own task.
    pub async fn admit_concurrently(&self, req: &AdmissionRequest, n: usize) -> Vec<Decision> {
        let reqs = vec![req.clone(); n];
        self.admit_all(&self.nodes, reqs).await
    }

    /// Every request at once, spread round-robin over `nodes`, each on its own task.
    pub async fn admit_all(
        &self,
        nodes: &[DynAdmission],
        reqs: Vec<AdmissionRequest>,
    ) -> Vec<Decision> {
        let tasks: Vec<_> = reqs
            .into_iter()
            .enumerate()
            .map(|(i, req)| {
                let node = nodes[i % nodes.len()].clone();
                tokio::spawn(async move { node.admit(&req).await })
            })
            .collect();
        let mut decisions = Vec::with_capacity(tasks.len());
        for task in tasks {
            decisions.push(task.await.unwrap().unwrap());
        }
        decisions
    }

    /// One request on the `i`-th node (round-robin).
    pub async fn admit_on(
        &self,
        i: usize,
        req: &AdmissionRequest,
    ) -> Result<Decision, LimitsError> {
        self.nodes[i % self.nodes.len()].admit(req).await
    }

    pub async fn admit(&self, req: &AdmissionRequest) -> Decision {
        self.admit_on(0, req).await.unwrap()
    }
}

/// A request with no limits; tests set what they need.
pub fn request() -> AdmissionRequest {
    AdmissionRequest {
        token_id: Uuid::new_v4(),
        project_id: Uuid::new_v4(),
        max_requests: None,
        used: 0,
        token_rpm: None,
        project_rpm: None,
        budget: None,
    }
}

pub fn count(decisions: &[Decision], verdict: Verdict) -> usize {
    decisions.iter().filter(|d| d.verdict == verdict).count()
}

pub const TOKEN_LIMITED: Verdict = Verdict::RateLimited {
    scope: Scope::Token,
};
pub const PROJECT_LIMITED: Verdict = Verdict::RateLimited {
    scope: Scope::Project,
};

/// A short window for tests that watch it slide.
pub fn short_window() -> LimitsConfig {
    LimitsConfig {
        window: Duration::from_secs(1),
        ..LimitsConfig::default()
    }
}
