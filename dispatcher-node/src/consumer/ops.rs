//! The consumer-group commands of one sink, as plain async functions over a connection.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use llm_proxy_platform::redis::{raw_event, KeySpace, FIELD_EVENT, FIELD_EVENT_ID};
use redis::aio::ConnectionLike;
use redis::streams::{StreamAutoClaimReply, StreamPendingCountReply, StreamReadReply};
use redis::{RedisResult, Value};

/// One stream entry as read.
#[derive(Debug, Clone)]
pub struct Entry {
    pub stream: String,
    pub id: String,
    pub fields: HashMap<String, Value>,
}

/// Creates the sink's group on every shard (from the start of each stream) if missing.
pub async fn ensure_groups<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &KeySpace,
    group: &str,
) -> RedisResult<()> {
    for stream in keys.event_streams() {
        let created: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn entries(reply: Option<StreamReadReply>) -> Vec<Entry> {
    reply
        .map(|r| r.keys)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|key| {
            let stream = key.key;
            key.ids.into_iter().map(move |id| Entry {
                stream: stream.clone(),
                id: id.id,
                fields: id.map,
            })
        })
        .collect()
}

/// `XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s… id…`. `id` is `>` (new entries) or
/// `0` (this consumer's own pending entries, e.g. after a restart).
pub async fn read_group<C: ConnectionLike + Send>(
    conn: &mut C,
    streams: &[String],
    group: &str,
    consumer: &str,
    id: &str,
    count: usize,
    block: Option<Duration>,
) -> RedisResult<Vec<Entry>> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(block) = block {
        cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
    }
    cmd.arg("STREAMS").arg(streams);
    for _ in streams {
        cmd.arg(id);
    }
    let reply: Option<StreamReadReply> = cmd.query_async(conn).await?;
    Ok(entries(reply))
}

/// `XAUTOCLAIM`: takes over entries of any consumer idle longer than `min_idle`. Returns the
/// next cursor (`0-0` once the scan wrapped) and the claimed entries (trimmed ones dropped).
pub async fn autoclaim<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> RedisResult<(String, Vec<Entry>)> {
    let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle.as_millis() as u64)
        .arg(cursor)
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    if !reply.deleted_ids.is_empty() {
        tracing::warn!(
            stream,
            group,
            lost = reply.deleted_ids.len(),
            "pending entries were trimmed from the stream before delivery"
        );
    }
    let claimed = reply
        .claimed
        .into_iter()
        .map(|id| Entry {
            stream: stream.to_owned(),
            id: id.id,
            fields: id.map,
        })
        .collect();
    Ok((reply.next_stream_id, claimed))
}

/// How often each of this consumer's pending entries was delivered, by `(stream, id)`.
pub async fn delivery_counts<C: ConnectionLike + Send>(
    conn: &mut C,
    entries: &[Entry],
    group: &str,
    consumer: &str,
) -> RedisResult<HashMap<(String, String), u32>> {
    let mut counts = HashMap::new();
    let mut streams: Vec<&str> = entries.iter().map(|e| e.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    for stream in streams {
        let ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.id.as_str())
            .collect();
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            continue;
        };
        let reply: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(*first)
            .arg(*last)
            .arg(ids.len() * 2 + 16)
            .arg(consumer)
            .query_async(conn)
            .await?;
        for p in reply.ids {
            counts.insert(
                (stream.to_owned(), p.id),
                u32::try_from(p.times_delivered).unwrap_or(u32::MAX),
            );
        }
    }
    Ok(counts)
}

/// `XACK` the entries, one command per stream, pipelined.
pub async fn ack<C: ConnectionLike + Send>(
    conn: &mut C,
    group: &str,
    entries: &[&Entry],
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut by_stream: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in entries {
        by_stream.entry(&e.stream).or_default().push(&e.id);
    }
    let mut pipe = redis::pipe();
    for (stream, ids) in by_stream {
        pipe.cmd("XACK").arg(stream).arg(group).arg(ids).ignore();
    }
    pipe.query_async::<()>(conn).await
}

/// Moves entries to `{prefix}:events:dlq:{sink}` and acknowledges them, atomically
/// (`MULTI`/`EXEC`), so an entry is in exactly one of the two places.
pub async fn dead_letter<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &KeySpace,
    sink: &str,
    group: &str,
    entries: &[(&Entry, String, u32)],
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let dlq = keys.dlq(sink);
    let now = Utc::now().to_rfc3339();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (entry, reason, attempts) in entries {
        let raw = raw_event(&entry.fields)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let event_id = match entry.fields.get(FIELD_EVENT_ID) {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        pipe.cmd("XADD")
            .arg(&dlq)
            .arg("MAXLEN")
            .arg("~")
            .arg(keys.stream_maxlen())
            .arg("*")
            .arg(FIELD_EVENT)
            .arg(raw)
            .arg(FIELD_EVENT_ID)
            .arg(event_id)
            .arg("sink")
            .arg(sink)
            .arg("source_stream")
            .arg(&entry.stream)
            .arg("source_id")
            .arg(&entry.id)
            .arg("error")
            .arg(reason)
            .arg("attempts")
            .arg(*attempts)
            .arg("failed_at")
            .arg(&now)
            .ignore();
        pipe.cmd("XACK")
            .arg(&entry.stream)
            .arg(group)
            .arg(&entry.id)
            .ignore();
    }
    pipe.query_async::<()>(conn).await
}

/// Resets the idle time of entries this consumer is still working on (`XCLAIM … JUSTID`
/// does not count as a delivery), so other dispatchers do not take them over.
pub async fn touch<C: ConnectionLike + Send>(
    conn: &mut C,
    group: &str,
    consumer: &str,
    entries: &[&Entry],
) -> RedisResult<()> {
    let mut by_stream: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in entries {
        by_stream.entry(&e.stream).or_default().push(&e.id);
    }
    let mut pipe = redis::pipe();
    for (stream, ids) in by_stream {
        pipe.cmd("XCLAIM")
            .arg(stream)
            .arg(group)
            .arg(consumer)
            .arg(0)
            .arg(ids)
            .arg("JUSTID")
            .ignore();
    }
    pipe.query_async::<()>(conn).await
}
