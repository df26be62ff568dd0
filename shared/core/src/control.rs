//! Control events: published after a commit that changes admission, consumed by every proxy's
//! token cache (DESIGN §7).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlEvent {
    /// A token was revoked or its limits changed.
    TokenChanged { token_id: Uuid },
    /// A project was deactivated or its keys or limits changed: evict all of its tokens.
    ProjectChanged { project_id: Uuid },
    /// Drop everything (a node reconnected after missing events).
    FlushAll,
    /// Drop response-cache entries (`POST /manage/cache/purge`); token caches ignore it.
    CachePurge { scope: CachePurgeScope },
}

/// Which response-cache entries a purge drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum CachePurgeScope {
    /// One entry, by the key a response showed in `Cache-Status: …; key="…"`.
    Key {
        key: String,
    },
    /// Every entry whose key starts with this text (keys start with the project id).
    Prefix {
        prefix: String,
    },
    /// Every entry of one project.
    Project {
        project_id: Uuid,
    },
    All,
}
