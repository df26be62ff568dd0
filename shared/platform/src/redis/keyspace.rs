//! Every Redis key the gateway uses, derived from one prefix (STYLE §7).

use uuid::Uuid;

use crate::Settings;

/// Names Redis keys under `redis.key_prefix`.
///
/// - `{prefix}:events:{shard}`: the event stream, `shard = fnv1a(project_id) mod shards`;
/// - `{prefix}:events:dlq:{sink}`: entries a sink could not deliver;
/// - `{prefix}:control`: the pub/sub channel of control events.
///
/// Consumer groups are named after their sink (`file`, `loki`, `lunary`, `helicone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    prefix: String,
    shards: u32,
    stream_maxlen: u64,
}

impl KeySpace {
    /// `shards` and `stream_maxlen` below 1 are raised to 1.
    pub fn new(prefix: impl Into<String>, shards: u32, stream_maxlen: u64) -> Self {
        Self {
            prefix: prefix.into(),
            shards: shards.max(1),
            stream_maxlen: stream_maxlen.max(1),
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.redis.key_prefix.clone(),
            settings.events.shards,
            settings.events.stream_maxlen,
        )
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The approximate cap (`XADD … MAXLEN ~ n`) of every event stream and DLQ.
    pub fn stream_maxlen(&self) -> u64 {
        self.stream_maxlen
    }

    /// The shard of a project: FNV-1a over the id bytes (stable across processes and
    /// versions); events without a project go to shard 0.
    pub fn shard_for(&self, project_id: Option<Uuid>) -> u32 {
        match project_id {
            None => 0,
            Some(id) => {
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for byte in id.as_bytes() {
                    hash ^= u64::from(*byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                (hash % u64::from(self.shards)) as u32
            }
        }
    }

    pub fn events_stream(&self, shard: u32) -> String {
        format!("{}:events:{}", self.prefix, shard)
    }

    /// The stream an event of this project goes to.
    pub fn events_stream_for(&self, project_id: Option<Uuid>) -> String {
        self.events_stream(self.shard_for(project_id))
    }

    /// Every shard's stream, in shard order (dispatchers read all of them).
    pub fn event_streams(&self) -> Vec<String> {
        (0..self.shards).map(|s| self.events_stream(s)).collect()
    }

    pub fn dlq(&self, sink: &str) -> String {
        format!("{}:events:dlq:{}", self.prefix, sink)
    }

    /// The pub/sub channel control events travel on between nodes.
    pub fn control_channel(&self) -> String {
        format!("{}:control", self.prefix)
    }

    /// The consumer group of a sink.
    pub fn group(&self, sink: &str) -> String {
        sink.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_shards_are_stable() {
        let ks = KeySpace::new("llmp", 1, 1000);
        assert_eq!(ks.events_stream(0), "llmp:events:0");
        assert_eq!(ks.dlq("loki"), "llmp:events:dlq:loki");
        assert_eq!(ks.control_channel(), "llmp:control");
        assert_eq!(ks.shard_for(Some(Uuid::new_v4())), 0);
        assert_eq!(ks.event_streams(), vec!["llmp:events:0".to_owned()]);

        let ks = KeySpace::new("p", 4, 1000);
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let shard = ks.shard_for(Some(id));
        assert!(shard < 4);
        assert_eq!(shard, ks.shard_for(Some(id)));
        assert_eq!(ks.shard_for(None), 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(ks.shard_for(Some(Uuid::new_v4())));
        }
        assert_eq!(seen.len(), 4, "projects spread over every shard");
        assert_eq!(ks.event_streams().len(), 4);
    }

    #[test]
    fn zero_shards_means_one() {
        assert_eq!(KeySpace::new("p", 0, 0).shards(), 1);
    }
}
