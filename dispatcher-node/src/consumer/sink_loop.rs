//! The loop of one sink over every shard: take over idle entries (`XAUTOCLAIM`), read its own
//! leftovers, then new entries (`XREADGROUP`); deliver with retries; `XACK` only what the sink
//! confirmed; dead-letter what can never be delivered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_proxy_platform::redis::{blocking_connection, connection_manager, decode_entry, KeySpace};
use llm_proxy_platform::Settings;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use tokio::sync::watch;

use super::ops::{self, Entry};
use crate::delivery::{Delivery, RetryPolicy};
use crate::error::DispatcherError;
use crate::metrics::SinkMetrics;
use crate::sink::recent::RecentIds;
use crate::sink::{SharedEvent, Sink};

/// Event ids a sink loop delivered lately: an event the proxy published twice (an `XADD` that
/// timed out after Redis stored it is spilled and published again) reaches each sink once.
const RECENT_CAPACITY: usize = 50_000;

/// What one sink loop needs besides its sink.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub redis_url: String,
    pub keys: KeySpace,
    pub sink: &'static str,
    pub group: String,
    pub consumer: String,
    pub batch_size: usize,
    pub block: Duration,
    pub linger: Duration,
    pub claim_idle: Duration,
    pub claim_interval: Duration,
    pub policy: RetryPolicy,
}

impl LoopConfig {
    pub fn from_settings(settings: &Settings, sink: &'static str) -> Result<Self, DispatcherError> {
        let url = settings
            .redis
            .url
            .as_ref()
            .ok_or(DispatcherError::RedisNotConfigured)?;
        let keys = KeySpace::from_settings(settings);
        let d = &settings.dispatcher;
        Ok(Self {
            redis_url: url.expose().to_owned(),
            group: keys.group(sink),
            keys,
            sink,
            consumer: d
                .consumer_name
                .clone()
                .unwrap_or_else(|| settings.node_name()),
            batch_size: d.batch_size,
            block: Duration::from_millis(d.block_ms),
            linger: Duration::from_millis(d.linger_ms),
            claim_idle: Duration::from_millis(d.claim_idle_ms),
            claim_interval: Duration::from_millis(d.claim_interval_ms),
            policy: RetryPolicy::from_settings(d),
        })
    }
}

struct Conns {
    shared: ConnectionManager,
    blocking: MultiplexedConnection,
}

struct State {
    conns: Option<Conns>,
    /// New entries read (and decoded) while the previous batch was being delivered.
    prefetched: Option<Decoded>,
    /// Reading this consumer's own pending entries (left by an earlier run) first.
    backlog: bool,
    last_claim: Option<Instant>,
    cursors: HashMap<String, String>,
    recent: RecentIds,
}

/// Waits `d` unless the stop signal comes first; `true` when stopping.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Runs until `stop` turns true. Entries in flight when it stops stay pending in Redis: the
/// next run (same consumer name) or another dispatcher (`XAUTOCLAIM`) delivers them.
pub async fn run_sink_loop(
    sink: Box<dyn Sink>,
    config: LoopConfig,
    metrics: SinkMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut state = State {
        conns: None,
        prefetched: None,
        backlog: true,
        last_claim: None,
        cursors: HashMap::new(),
        recent: RecentIds::new(RECENT_CAPACITY),
    };
    let mut failures: u32 = 0;
    tracing::info!(sink = config.sink, consumer = %config.consumer, "sink loop started");
    loop {
        if *stop.borrow() {
            break;
        }
        match step(&*sink, &config, &metrics, &mut state, &mut stop).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                state.conns = None;
                // Read but not delivered: still pending in Redis, read again as backlog.
                state.prefetched = None;
                let delay = config.policy.backoff(failures.min(8), None);
                tracing::warn!(sink = config.sink, error = %e, retry_in_ms = delay.as_millis() as u64, "Redis error in sink loop");
                if sleep_or_stop(delay, &mut stop).await {
                    break;
                }
            }
        }
    }
    tracing::info!(sink = config.sink, "sink loop stopped");
}

async fn connect(config: &LoopConfig) -> Result<Conns, DispatcherError> {
    let mut shared = connection_manager(&config.redis_url, Duration::from_secs(5)).await?;
    let blocking = blocking_connection(&config.redis_url, config.block.max(config.linger)).await?;
    ops::ensure_groups(&mut shared, &config.keys, &config.group).await?;
    Ok(Conns { shared, blocking })
}

async fn step(
    sink: &dyn Sink,
    config: &LoopConfig,
    metrics: &SinkMetrics,
    state: &mut State,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), DispatcherError> {
    if state.conns.is_none() {
        state.conns = Some(connect(config).await?);
        state.backlog = true;
    }
    let Some(conns) = state.conns.as_mut() else {
        return Ok(());
    };
    let streams = config.keys.event_streams();
    // Prefetch only while no claim is due, so a steady load never starves the claim.
    let prefetch = |backlog: bool, last_claim: Option<Instant>| {
        !backlog && last_claim.is_some_and(|at| at.elapsed() < config.claim_interval)
    };
    if let Some(batch) = state.prefetched.take() {
        let ahead = prefetch(state.backlog, state.last_claim);
        state.prefetched = process(
            sink,
            config,
            metrics,
            conns,
            batch,
            &HashMap::new(),
            &mut state.recent,
            ahead,
            stop,
        )
        .await?;
        return Ok(());
    }

    let mut entries = Vec::new();
    let mut counted = false;
    let claim_due = state
        .last_claim
        .is_none_or(|at| at.elapsed() >= config.claim_interval);
    if claim_due {
        state.last_claim = Some(Instant::now());
        for stream in &streams {
            let cursor = state
                .cursors
                .get(stream)
                .cloned()
                .unwrap_or_else(|| "0-0".to_owned());
            let (next, claimed) = ops::autoclaim(
                &mut conns.shared,
                stream,
                &config.group,
                &config.consumer,
                config.claim_idle,
                &cursor,
                config.batch_size,
            )
            .await?;
            if !claimed.is_empty() {
                tracing::info!(sink = config.sink, stream = %stream, claimed = claimed.len(), "took over idle entries");
                // More may be waiting: claim again next step.
                state.last_claim = None;
            }
            state.cursors.insert(stream.clone(), next);
            entries.extend(claimed);
        }
        counted = !entries.is_empty();
    }
    if entries.is_empty() && state.backlog {
        entries = ops::read_group(
            &mut conns.shared,
            &streams,
            &config.group,
            &config.consumer,
            "0",
            config.batch_size,
            None,
        )
        .await?;
        if entries.is_empty() {
            state.backlog = false;
        } else {
            counted = true;
        }
    }
    if entries.is_empty() && !state.backlog {
        let read = ops::read_group(
            &mut conns.blocking,
            &streams,
            &config.group,
            &config.consumer,
            ">",
            config.batch_size,
            Some(config.block),
        );
        entries = tokio::select! {
            r = read => r?,
            _ = stop.changed() => return Ok(()),
        };
        // Linger to fill the batch.
        let started = Instant::now();
        while !entries.is_empty()
            && entries.len() < config.batch_size
            && started.elapsed() < config.linger
        {
            let more = ops::read_group(
                &mut conns.blocking,
                &streams,
                &config.group,
                &config.consumer,
                ">",
                config.batch_size - entries.len(),
                Some(config.linger.saturating_sub(started.elapsed())),
            )
            .await?;
            if more.is_empty() {
                break;
            }
            entries.extend(more);
        }
    }
    if entries.is_empty() {
        return Ok(());
    }

    // Earlier deliveries of claimed/leftover entries count toward max_deliveries.
    let counts = if counted {
        ops::delivery_counts(&mut conns.shared, &entries, &config.group, &config.consumer).await?
    } else {
        HashMap::new()
    };
    let batch = Decoded::from(entries);
    let ahead = prefetch(state.backlog, state.last_claim);
    state.prefetched = process(
        sink,
        config,
        metrics,
        conns,
        batch,
        &counts,
        &mut state.recent,
        ahead,
        stop,
    )
    .await?;
    Ok(())
}

/// Entries as read, each decoded (or why not).
struct Decoded {
    entries: Vec<Entry>,
    events: Vec<Result<SharedEvent, String>>,
}

impl From<Vec<Entry>> for Decoded {
    fn from(entries: Vec<Entry>) -> Self {
        let events = entries
            .iter()
            .map(|entry| {
                decode_entry(&entry.fields)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .collect();
        Self { entries, events }
    }
}

/// New entries, without waiting for any, decoded.
async fn read_next(
    conn: &mut MultiplexedConnection,
    config: &LoopConfig,
) -> Result<Decoded, DispatcherError> {
    let streams = config.keys.event_streams();
    let entries = ops::read_group(
        conn,
        &streams,
        &config.group,
        &config.consumer,
        ">",
        config.batch_size,
        None,
    )
    .await?;
    Ok(Decoded::from(entries))
}

/// Delivers a batch, acknowledges it and dead-letters what failed for good. With `read_ahead`,
/// the following batch is read and decoded while the sink works on the first attempt, and
/// returned.
#[allow(clippy::too_many_arguments)]
async fn process(
    sink: &dyn Sink,
    config: &LoopConfig,
    metrics: &SinkMetrics,
    conns: &mut Conns,
    batch: Decoded,
    counts: &HashMap<(String, String), u32>,
    recent: &mut RecentIds,
    read_ahead: bool,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Decoded>, DispatcherError> {
    let Decoded {
        entries,
        events: decoded,
    } = batch;
    let mut undecodable: Vec<(&Entry, String, u32)> = Vec::new();
    let mut duplicates: Vec<&Entry> = Vec::new();
    let mut in_batch = HashSet::new();
    let mut events = Vec::with_capacity(entries.len());
    let mut owners = Vec::with_capacity(entries.len());
    let mut attempts = Vec::with_capacity(entries.len());
    for (entry, event) in entries.iter().zip(decoded) {
        let before = if counts.is_empty() {
            0
        } else {
            counts
                .get(&(entry.stream.clone(), entry.id.clone()))
                .map_or(0, |c| c.saturating_sub(1))
        };
        match event {
            Ok(event) if recent.contains(&event.id) || !in_batch.insert(event.id) => {
                duplicates.push(entry);
            }
            Ok(event) => {
                events.push(event);
                owners.push(entry);
                attempts.push(before);
            }
            Err(e) => undecodable.push((entry, e, before)),
        }
    }
    if !undecodable.is_empty() {
        tracing::error!(
            sink = config.sink,
            count = undecodable.len(),
            "undecodable entries go to the DLQ"
        );
        ops::dead_letter(
            &mut conns.shared,
            &config.keys,
            config.sink,
            &config.group,
            &undecodable,
        )
        .await?;
        metrics.dead_lettered.inc_by(undecodable.len() as u64);
    }
    if !duplicates.is_empty() {
        tracing::info!(
            sink = config.sink,
            count = duplicates.len(),
            "events delivered lately were published again: acknowledged, not delivered twice"
        );
        ops::ack(&mut conns.shared, &config.group, &duplicates).await?;
    }

    let mut delivery = Delivery::new(events, attempts);
    let mut last_touch = Instant::now();
    let (mut retry, ahead) = if read_ahead {
        let (retry, read) = tokio::join!(
            delivery.attempt(sink, &config.policy, metrics),
            read_next(&mut conns.blocking, config)
        );
        // A failed read-ahead only costs the overlap: the next step reads again.
        (retry, read.ok().filter(|b| !b.entries.is_empty()))
    } else {
        (delivery.attempt(sink, &config.policy, metrics).await, None)
    };
    while let Some(wait) = retry {
        // Keep the claim on entries we are still retrying (and those read ahead) while we wait.
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let slice = (deadline - now).min(config.claim_idle / 3);
            if sleep_or_stop(slice, stop).await {
                // Stopping: what is settled gets settled; the rest stays pending.
                settle(config, metrics, conns, &owners, &mut delivery, recent).await?;
                return Ok(None);
            }
            if last_touch.elapsed() >= config.claim_idle / 3 {
                let mut held: Vec<&Entry> = delivery.pending().iter().map(|&i| owners[i]).collect();
                held.extend(ahead.iter().flat_map(|b| b.entries.iter()));
                ops::touch(&mut conns.shared, &config.group, &config.consumer, &held).await?;
                last_touch = Instant::now();
            }
        }
        retry = delivery.attempt(sink, &config.policy, metrics).await;
    }
    settle(config, metrics, conns, &owners, &mut delivery, recent).await?;
    Ok(ahead)
}

/// Acknowledges delivered entries and dead-letters rejected ones.
async fn settle(
    config: &LoopConfig,
    metrics: &SinkMetrics,
    conns: &mut Conns,
    owners: &[&Entry],
    delivery: &mut Delivery,
    recent: &mut RecentIds,
) -> Result<(), DispatcherError> {
    let delivered: Vec<&Entry> = delivery.delivered.iter().map(|&i| owners[i]).collect();
    ops::ack(&mut conns.shared, &config.group, &delivered).await?;
    for &i in &delivery.delivered {
        recent.remember(delivery.events[i].id);
    }
    delivery.delivered.clear();
    if !delivery.dead.is_empty() {
        let dead: Vec<(&Entry, String, u32)> = delivery
            .dead
            .iter()
            .map(|(i, reason)| (owners[*i], reason.clone(), delivery.attempts[*i]))
            .collect();
        ops::dead_letter(
            &mut conns.shared,
            &config.keys,
            config.sink,
            &config.group,
            &dead,
        )
        .await?;
        metrics.dead_lettered.inc_by(dead.len() as u64);
        tracing::warn!(sink = config.sink, count = dead.len(), dlq = %config.keys.dlq(config.sink), "events dead-lettered");
        delivery.dead.clear();
    }
    Ok(())
}
