//! Embedded mode: every limit in this process's memory, exact on one node.
//!
//! State is sharded by **project** (a request locks exactly one shard, which holds the project's
//! window and all of its tokens), mirroring the Redis layout where all keys of one request share
//! the project's hash slot. Memory is bounded: a window holds at most `rpm` timestamps, and
//! tokens and projects idle for `idle_ttl` are swept (each shard sweeps itself at most every
//! `idle_ttl / 4`, under the lock it already holds).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use llm_proxy_core::token::TokenUsage;
use uuid::Uuid;

use crate::config::duration_us;
use crate::outcome::{Outcome, Status, WindowState};
use crate::usage::UsageLedger;
use crate::{Admission, AdmissionHealth, AdmissionRequest, Decision, LimitsConfig, LimitsError};

const SHARDS: usize = 64;

pub struct MemoryAdmission {
    shards: Box<[Mutex<Shard>]>,
    epoch: Instant,
    window_us: u64,
    idle_us: u64,
    ledger: UsageLedger,
}

#[derive(Default)]
struct Shard {
    projects: HashMap<Uuid, ProjectState>,
    next_sweep_us: u64,
}

#[derive(Default)]
struct ProjectState {
    window: VecDeque<u64>,
    tokens: HashMap<Uuid, TokenState>,
    last_seen_us: u64,
}

#[derive(Default)]
struct TokenState {
    used: u64,
    window: VecDeque<u64>,
    last_seen_us: u64,
}

impl MemoryAdmission {
    pub fn new(config: LimitsConfig) -> Self {
        let window_us = config.window_us();
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            epoch: Instant::now(),
            window_us,
            idle_us: duration_us(config.idle_ttl).max(window_us),
            ledger: UsageLedger::default(),
        }
    }

    /// Tokens currently held in memory (for tests and metrics).
    pub fn tracked_tokens(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap_or_else(|e| e.into_inner());
                shard
                    .projects
                    .values()
                    .map(|p| p.tokens.len())
                    .sum::<usize>()
            })
            .sum()
    }

    fn now_us(&self) -> u64 {
        // Offset by one window so "now - window" never underflows.
        duration_us(self.epoch.elapsed()) + self.window_us
    }

    fn shard(&self, project_id: Uuid) -> &Mutex<Shard> {
        let bits = project_id.as_u128();
        let mixed = (bits as u64) ^ ((bits >> 64) as u64);
        &self.shards[(mixed % SHARDS as u64) as usize]
    }

    /// The same steps as `admit.lua`, under one shard lock.
    pub(crate) fn check(&self, req: &AdmissionRequest) -> Outcome {
        let now = self.now_us();
        let w = self.window_us;
        let mut shard = self
            .shard(req.project_id)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now >= shard.next_sweep_us {
            sweep(&mut shard, now, self.idle_us);
        }
        let project = shard.projects.entry(req.project_id).or_default();
        project.last_seen_us = now;
        let token = project.tokens.entry(req.token_id).or_default();
        token.last_seen_us = now;

        let used = token.used.max(req.used);
        if req.max_requests.is_some_and(|max| used >= max) {
            return Outcome {
                status: Status::Quota,
                used,
                token: None,
                project: None,
                retry_us: 0,
            };
        }

        let mut token_state = None;
        if let Some(limit) = req.token_rpm {
            let (state, retry) = check_window(&mut token.window, limit, now, w);
            if let Some(retry_us) = retry {
                return Outcome {
                    status: Status::TokenRate,
                    used,
                    token: Some(state),
                    project: None,
                    retry_us,
                };
            }
            token_state = Some(state);
        }
        let mut project_state = None;
        if let Some(limit) = req.project_rpm {
            let (state, retry) = check_window(&mut project.window, limit, now, w);
            if let Some(retry_us) = retry {
                return Outcome {
                    status: Status::ProjectRate,
                    used,
                    token: token_state,
                    project: Some(state),
                    retry_us,
                };
            }
            project_state = Some(state);
        }

        // Admitted: count it everywhere at once.
        token.used = used + 1;
        if req.token_rpm.is_some() {
            token.window.push_back(now);
            token_state = Some(window_state(&token.window, now, w));
        }
        if req.project_rpm.is_some() {
            project.window.push_back(now);
            project_state = Some(window_state(&project.window, now, w));
        }
        Outcome {
            status: Status::Admitted,
            used: used + 1,
            token: token_state,
            project: project_state,
            retry_us: 0,
        }
    }
}

/// Drops expired timestamps; `Some(retry_us)` when the window is full.
fn check_window(
    window: &mut VecDeque<u64>,
    limit: u32,
    now: u64,
    w: u64,
) -> (WindowState, Option<u64>) {
    while window.front().is_some_and(|&ts| ts + w <= now) {
        window.pop_front();
    }
    let state = window_state(window, now, w);
    let count = window.len();
    let limit = limit as usize;
    if count < limit {
        return (state, None);
    }
    // The request that must leave before one more fits (more than one when the limit shrank).
    let retry = window.get(count - limit).map_or(w, |&ts| ts + w - now);
    (state, Some(retry))
}

fn window_state(window: &VecDeque<u64>, now: u64, w: u64) -> WindowState {
    WindowState {
        count: window.len() as u64,
        reset_us: window.front().map_or(0, |&ts| ts + w - now),
    }
}

fn sweep(shard: &mut Shard, now: u64, idle_us: u64) {
    shard.projects.retain(|_, project| {
        project
            .tokens
            .retain(|_, token| token.last_seen_us + idle_us > now);
        !project.tokens.is_empty() || project.last_seen_us + idle_us > now
    });
    shard.next_sweep_us = now + (idle_us / 4).max(1);
}

#[async_trait]
impl Admission for MemoryAdmission {
    async fn admit(&self, req: &AdmissionRequest) -> Result<Decision, LimitsError> {
        let outcome = self.check(req);
        if outcome.status == Status::Admitted {
            self.ledger.record(req.token_id);
        }
        Ok(outcome.into_decision(req))
    }

    fn drain_usage(&self) -> Vec<TokenUsage> {
        self.ledger.drain()
    }

    fn health(&self) -> AdmissionHealth {
        AdmissionHealth::memory()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    fn req(project_id: Uuid) -> AdmissionRequest {
        AdmissionRequest {
            token_id: Uuid::new_v4(),
            project_id,
            max_requests: None,
            used: 0,
            token_rpm: Some(3),
            project_rpm: None,
        }
    }

    #[tokio::test]
    async fn idle_tokens_are_evicted() {
        let limits = MemoryAdmission::new(LimitsConfig {
            window: Duration::from_millis(20),
            idle_ttl: Duration::from_millis(20),
            ..LimitsConfig::default()
        });
        let project = Uuid::new_v4();
        for _ in 0..50 {
            assert!(limits.admit(&req(project)).await.unwrap().is_admitted());
        }
        assert_eq!(limits.tracked_tokens(), 50);
        // Poll with a deadline: a later request on the same shard sweeps the idle ones.
        let active = req(project);
        let deadline = Instant::now() + Duration::from_secs(5);
        while limits.tracked_tokens() > 1 {
            assert!(Instant::now() < deadline, "idle tokens were never evicted");
            tokio::time::sleep(Duration::from_millis(5)).await;
            limits.admit(&active).await.unwrap();
        }
    }
}
