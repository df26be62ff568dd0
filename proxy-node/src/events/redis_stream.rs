//! The distributed event sink: each batch goes to the `{prefix}:events:{shard}` streams in one
//! pipelined round trip. While Redis is slow or down, batches go to the local [`Spill`]
//! instead (durable, so `write_batch` still succeeds) and a background task replays them in
//! order once Redis answers; until the spill is empty, new batches queue behind it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_core::SecretString;
use llm_proxy_platform::redis::KeySpace;
use llm_proxy_platform::Settings;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};
use tokio::task::JoinHandle;

use super::sink_stats::{RedisSinkCounters, RedisSinkStats};
use super::spill_replay;
use super::stream_publisher::{PublishFailure, StreamPublisher};
use super::{BatchOutcome, EventSink, SinkError};
use llm_proxy_platform::spill::Spill;

/// At most one "spill is full" warning per this interval; the counter has every drop.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Everything [`RedisStreamSink::open_with`] needs; [`RedisStreamSink::open`] reads it from
/// the settings.
pub struct RedisSinkOptions {
    pub url: SecretString,
    pub keys: KeySpace,
    pub spill_dir: PathBuf,
    pub spill_max_bytes: u64,
    /// How long a batch may take to reach Redis before it is spilled instead.
    pub publish_timeout: Duration,
}

impl RedisSinkOptions {
    /// `redis.url`, `redis.key_prefix`, `events.{shards, stream_maxlen, spill_max_bytes,
    /// publish_timeout_ms}` and `Settings::spill_dir()`.
    pub fn from_settings(settings: &Settings) -> Result<Self, SinkError> {
        let url = settings
            .redis
            .url
            .clone()
            .ok_or_else(|| config_error("redis.url is not set".to_owned()))?;
        Ok(Self {
            url,
            keys: KeySpace::from_settings(settings),
            spill_dir: settings.spill_dir(),
            spill_max_bytes: settings.events.spill_max_bytes,
            publish_timeout: Duration::from_millis(settings.events.publish_timeout_ms),
        })
    }
}

pub struct RedisStreamSink {
    shared: Arc<Shared>,
    replayer: JoinHandle<()>,
}

/// What the sink and its replay task share. The spill's mutex also orders publishing: a
/// batch is published directly only while holding it with the spill empty.
pub(super) struct Shared {
    pub(super) publisher: StreamPublisher,
    pub(super) gate: Arc<Mutex<Gate>>,
    pub(super) counters: Arc<RedisSinkCounters>,
    /// Rung when a batch was spilled.
    pub(super) wake: Notify,
    pub(super) publish_timeout: Duration,
    /// Longer than `publish_timeout`: a replay chunk is bigger than a batch.
    pub(super) replay_timeout: Duration,
}

pub(super) struct Gate {
    pub(super) spill: Spill,
    drops_unlogged: usize,
    last_drop_log: Option<Instant>,
}

impl RedisStreamSink {
    /// See [`RedisSinkOptions::from_settings`].
    pub fn open(settings: &Settings) -> Result<Self, SinkError> {
        Self::open_with(RedisSinkOptions::from_settings(settings)?)
    }

    /// Opens the spill (a leftover one is replayed as soon as Redis answers) and starts the
    /// replay task. Redis need not be up. Must be called inside a Tokio runtime (an actix
    /// `System` is one).
    pub fn open_with(options: RedisSinkOptions) -> Result<Self, SinkError> {
        let spill = Spill::open(&options.spill_dir, options.spill_max_bytes)
            .map_err(|e| spill_error(&options.spill_dir, e))?;
        let replay_timeout = (options.publish_timeout * 8).max(Duration::from_secs(2));
        let publisher = StreamPublisher::new(options.url.expose(), options.keys, replay_timeout)
            .map_err(|e| config_error(e.to_string()))?;
        let counters = Arc::new(RedisSinkCounters::default());
        counters.set_spill_bytes(spill.disk_bytes(), spill.pending_bytes());
        let leftover = spill.pending_bytes();
        let shared = Arc::new(Shared {
            publisher,
            gate: Arc::new(Mutex::new(Gate {
                spill,
                drops_unlogged: 0,
                last_drop_log: None,
            })),
            counters,
            wake: Notify::new(),
            publish_timeout: options.publish_timeout,
            replay_timeout,
        });
        if leftover > 0 {
            tracing::info!(
                bytes = leftover,
                "replaying request events spilled by a previous process"
            );
        }
        let replayer = tokio::spawn(spill_replay::run(Arc::clone(&shared)));
        Ok(Self { shared, replayer })
    }

    pub fn stats(&self) -> RedisSinkStats {
        self.shared.counters.snapshot()
    }

    /// The live counters, for a metrics registry that outlives this handle's type.
    pub fn counters(&self) -> Arc<RedisSinkCounters> {
        Arc::clone(&self.shared.counters)
    }

    async fn spill(
        &self,
        gate: OwnedMutexGuard<Gate>,
        events: &[RequestEvent],
    ) -> Result<BatchOutcome, SinkError> {
        let lines = events
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        let (mut gate, appended) = with_gate(gate, move |gate| {
            let appended = gate.spill.append(&lines);
            let dir = gate.spill.dir().to_path_buf();
            appended.map_err(|e| spill_error(&dir, e))
        })
        .await?;
        let appended = appended?;
        let counters = &self.shared.counters;
        counters.add_spilled(appended.written);
        counters.set_spill_bytes(gate.spill.disk_bytes(), gate.spill.pending_bytes());
        if appended.dropped > 0 {
            counters.add_dropped(appended.dropped);
            gate.note_drops(appended.dropped);
        }
        drop(gate);
        self.shared.wake.notify_one();
        Ok(BatchOutcome {
            dropped: appended.dropped,
        })
    }
}

impl Gate {
    fn note_drops(&mut self, dropped: usize) {
        self.drops_unlogged += dropped;
        let due = self
            .last_drop_log
            .is_none_or(|at| at.elapsed() >= DROP_LOG_EVERY);
        if due {
            tracing::warn!(
                dropped = self.drops_unlogged,
                spill_bytes = self.spill.disk_bytes(),
                "Redis unavailable and the event spill is full: request events dropped"
            );
            self.drops_unlogged = 0;
            self.last_drop_log = Some(Instant::now());
        }
    }
}

impl Drop for RedisStreamSink {
    fn drop(&mut self) {
        self.replayer.abort();
    }
}

#[async_trait]
impl EventSink for RedisStreamSink {
    /// Ok once the batch is in Redis or fsynced in the spill; events the full spill could not
    /// take are counted in `dropped` and logged, not reported as an error.
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        if events.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let gate = Arc::clone(&self.shared.gate).lock_owned().await;
        if gate.spill.is_empty() {
            let counters = &self.shared.counters;
            match self
                .shared
                .publisher
                .publish(&events, self.shared.publish_timeout)
                .await
            {
                Ok(()) => {
                    counters.add_published(events.len());
                    counters.set_redis_available(true);
                    return Ok(BatchOutcome::default());
                }
                Err(PublishFailure::Encode(e)) => return Err(SinkError::Encode(e)),
                Err(PublishFailure::Unavailable(error)) => {
                    if counters.set_redis_available(false) {
                        tracing::warn!(%error, "Redis unavailable: spilling request events to disk");
                    }
                }
            }
        }
        self.spill(gate, &events).await
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// Runs `f` on the blocking pool while holding the spill.
pub(super) async fn with_gate<T, F>(
    gate: OwnedMutexGuard<Gate>,
    f: F,
) -> Result<(OwnedMutexGuard<Gate>, T), SinkError>
where
    F: FnOnce(&mut Gate) -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut gate = gate;
        let out = f(&mut gate);
        (gate, out)
    })
    .await
    .map_err(|e| SinkError::Task(e.to_string()))
}

pub(super) fn spill_error(dir: &std::path::Path, source: std::io::Error) -> SinkError {
    SinkError::Io {
        path: dir.display().to_string(),
        source,
    }
}

/// `SinkError` has no configuration variant; an invalid input on `redis.url` says what is wrong
/// without echoing the URL (it may hold a password).
fn config_error(message: String) -> SinkError {
    SinkError::Io {
        path: "redis.url".to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    }
}
