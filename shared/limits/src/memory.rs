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
use llm_proxy_core::budget::Spend;
use llm_proxy_core::token::TokenUsage;
use uuid::Uuid;

use crate::budget::{room, BudgetLimit, Reservation};
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
    budgets: Budgets,
    last_seen_us: u64,
}

#[derive(Default)]
struct TokenState {
    used: u64,
    window: VecDeque<u64>,
    budgets: Budgets,
    last_seen_us: u64,
}

/// Budget counters by period key.
type Budgets = HashMap<String, Counter>;

/// Spend plus outstanding reservations of one budget period.
#[derive(Default)]
struct Counter {
    spend: Spend,
    /// Reservations not settled yet: the counter is kept while any is.
    outstanding: u32,
    last_us: u64,
}

impl Counter {
    fn busy(&self) -> bool {
        self.outstanding > 0
    }
}

/// The period's counter, raised to what the ledger says was spent.
fn counter<'a>(budgets: &'a mut Budgets, limit: &BudgetLimit, now: u64) -> &'a mut Counter {
    let c = budgets.entry(limit.period.clone()).or_default();
    c.spend.tokens = c.spend.tokens.max(limit.spent.tokens);
    c.spend.cost_nano_usd = c.spend.cost_nano_usd.max(limit.spent.cost_nano_usd);
    c.last_us = now;
    c
}

fn add(c: &mut Counter, delta: Spend) {
    c.spend.tokens = c.spend.tokens.saturating_add(delta.tokens);
    c.spend.cost_nano_usd = c.spend.cost_nano_usd.saturating_add(delta.cost_nano_usd);
}

/// `counter + actual - reserved`, never below zero.
fn reconcile(c: &mut Counter, reserved: Spend, actual: Spend) {
    c.spend.tokens = c
        .spend
        .tokens
        .saturating_add(actual.tokens)
        .saturating_sub(reserved.tokens);
    c.spend.cost_nano_usd = c
        .spend
        .cost_nano_usd
        .saturating_add(actual.cost_nano_usd)
        .saturating_sub(reserved.cost_nano_usd);
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

    fn shard(&self, project_id: Uuid) -> std::sync::MutexGuard<'_, Shard> {
        let bits = project_id.as_u128();
        let mixed = (bits as u64) ^ ((bits >> 64) as u64);
        self.shards[(mixed % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The same steps as `admit.lua`, under one shard lock.
    pub(crate) fn check(&self, req: &AdmissionRequest) -> Outcome {
        let now = self.now_us();
        let w = self.window_us;
        let mut shard = self.shard(req.project_id);
        if now >= shard.next_sweep_us {
            sweep(&mut shard, now, self.idle_us);
        }
        let project = shard.projects.entry(req.project_id).or_default();
        project.last_seen_us = now;
        let ProjectState {
            window: project_window,
            tokens,
            budgets: project_budgets,
            ..
        } = project;
        let token = tokens.entry(req.token_id).or_default();
        token.last_seen_us = now;

        let used = token.used.max(req.used);
        if req.max_requests.is_some_and(|max| used >= max) {
            return Outcome::bare(Status::Quota, used);
        }

        // Budgets: how much output fits in every budget that applies.
        let ask = req.budget.as_ref().filter(|a| a.applies());
        let mut granted = None;
        let (mut token_budget, mut project_budget) = (None, None);
        if let Some(ask) = ask {
            let base = Spend::new(ask.prompt_tokens, ask.prompt_cost_nano_usd);
            let mut grant = ask.max_output;
            let scopes = [
                (ask.token.as_ref(), &mut token.budgets, Status::TokenBudget),
                (ask.project.as_ref(), project_budgets, Status::ProjectBudget),
            ];
            let mut counters = [None, None];
            for (i, (limit, budgets, refusal)) in scopes.into_iter().enumerate() {
                let Some(limit) = limit else { continue };
                let c = counter(budgets, limit, now);
                counters[i] = Some(c.spend);
                match room(limit, c.spend, base, ask.output_nanos_per_token) {
                    Some(room) if room >= ask.min_output => grant = grant.min(room),
                    _ => {
                        let mut refused = Outcome::bare(refusal, used);
                        refused.token_budget = counters[0];
                        refused.project_budget = counters[1];
                        return refused;
                    }
                }
            }
            granted = Some(grant);
            [token_budget, project_budget] = counters;
        }

        let mut token_state = None;
        if let Some(limit) = req.token_rpm {
            let (state, retry) = check_window(&mut token.window, limit, now, w);
            if let Some(retry_us) = retry {
                let mut refused = Outcome::bare(Status::TokenRate, used);
                refused.token = Some(state);
                refused.retry_us = retry_us;
                return refused;
            }
            token_state = Some(state);
        }
        let mut project_state = None;
        if let Some(limit) = req.project_rpm {
            let (state, retry) = check_window(project_window, limit, now, w);
            if let Some(retry_us) = retry {
                let mut refused = Outcome::bare(Status::ProjectRate, used);
                refused.token = token_state;
                refused.project = Some(state);
                refused.retry_us = retry_us;
                return refused;
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
            project_window.push_back(now);
            project_state = Some(window_state(project_window, now, w));
        }
        if let (Some(ask), Some(grant)) = (ask, granted) {
            let reserve = Spend::new(
                ask.prompt_tokens.saturating_add(grant),
                ask.prompt_cost_nano_usd
                    .saturating_add(grant.saturating_mul(ask.output_nanos_per_token)),
            );
            let scopes = [
                (ask.token.as_ref(), &mut token.budgets, &mut token_budget),
                (ask.project.as_ref(), project_budgets, &mut project_budget),
            ];
            for (limit, budgets, after) in scopes {
                let Some(limit) = limit else { continue };
                let c = counter(budgets, limit, now);
                add(c, reserve);
                c.outstanding += 1;
                *after = Some(c.spend);
            }
        }
        Outcome {
            status: Status::Admitted,
            used: used + 1,
            token: token_state,
            project: project_state,
            retry_us: 0,
            granted_output: granted,
            token_budget,
            project_budget,
        }
    }

    /// Moves the reservation's counters by `actual - reserved` and releases it.
    pub(crate) fn settle_local(&self, res: &Reservation, actual: Spend) {
        let now = self.now_us();
        let mut shard = self.shard(res.project_id);
        let project = shard.projects.entry(res.project_id).or_default();
        let ProjectState {
            tokens, budgets, ..
        } = project;
        let token = tokens.entry(res.token_id).or_default();
        let scopes = [
            (res.token.as_ref(), &mut token.budgets),
            (res.project.as_ref(), budgets),
        ];
        for (limit, budgets) in scopes {
            let Some(limit) = limit else { continue };
            let c = counter(budgets, limit, now);
            reconcile(c, res.reserved, actual);
            c.outstanding = c.outstanding.saturating_sub(1);
        }
    }

    /// Reserves between `min` and `max` more output tokens where every budget has room.
    pub(crate) fn extend_local(&self, res: &mut Reservation, min: u64, max: u64) -> Option<u64> {
        let now = self.now_us();
        let mut shard = self.shard(res.project_id);
        let project = shard.projects.entry(res.project_id).or_default();
        let ProjectState {
            tokens, budgets, ..
        } = project;
        let token = tokens.entry(res.token_id).or_default();
        let per_token = res.output_nanos_per_token;
        let mut scopes = [
            (res.token.as_ref(), &mut token.budgets),
            (res.project.as_ref(), budgets),
        ];
        let mut grant = max;
        for (limit, budgets) in scopes.iter_mut() {
            let Some(limit) = limit else { continue };
            let c = counter(budgets, limit, now);
            grant = grant.min(room(limit, c.spend, Spend::default(), per_token)?);
        }
        if grant < min {
            return None;
        }
        let more = res.output_spend(grant);
        for (limit, budgets) in scopes {
            let Some(limit) = limit else { continue };
            add(counter(budgets, limit, now), more);
        }
        res.reserved.tokens = res.reserved.tokens.saturating_add(more.tokens);
        res.reserved.cost_nano_usd = res
            .reserved
            .cost_nano_usd
            .saturating_add(more.cost_nano_usd);
        res.output_tokens = res.output_tokens.saturating_add(grant);
        Some(grant)
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

/// Forgets idle tokens, projects and budget counters; never a counter with an outstanding
/// reservation (its settlement must find it).
fn sweep(shard: &mut Shard, now: u64, idle_us: u64) {
    let fresh = |last: u64| last + idle_us > now;
    let keep_budgets = |budgets: &mut Budgets| {
        budgets.retain(|_, c| c.busy() || fresh(c.last_us));
        !budgets.is_empty()
    };
    shard.projects.retain(|_, project| {
        project.tokens.retain(|_, token| {
            let busy = keep_budgets(&mut token.budgets);
            busy || fresh(token.last_seen_us)
        });
        let busy = keep_budgets(&mut project.budgets);
        busy || !project.tokens.is_empty() || fresh(project.last_seen_us)
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

    async fn settle(&self, reservation: &Reservation, actual: Spend) -> Result<(), LimitsError> {
        self.settle_local(reservation, actual);
        Ok(())
    }

    async fn extend(
        &self,
        reservation: &mut Reservation,
        min_output: u64,
        max_output: u64,
    ) -> Result<Option<u64>, LimitsError> {
        Ok(self.extend_local(reservation, min_output, max_output))
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
            budget: None,
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
