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
}
