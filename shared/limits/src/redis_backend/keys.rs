//! Every admission key, under the configured prefix (STYLE §7).

use uuid::Uuid;

use crate::LimitsError;

/// Names the admission keys under `redis.key_prefix`:
///
/// - `{prefix}:rl:{<project_id>}:t:<token_id>:used`: the token's lifetime request count;
/// - `{prefix}:rl:{<project_id>}:t:<token_id>:rpm`: the token's rate window (sorted set);
/// - `{prefix}:rl:{<project_id>}:rpm`: the project's rate window (sorted set);
/// - `{prefix}:rl:{<project_id>}:t:<token_id>:budget:<period>`: the token's budget counter for
///   one period (hash: `t` tokens, `c` nano-dollars);
/// - `{prefix}:rl:{<project_id>}:budget:<period>`: the project's budget counter.
///
/// # Hash tags and Redis Cluster
///
/// One admission touches the token's counter and window **and** the project's window, and it
/// must do so atomically, in one script, for the limits to be exact across nodes. A script may
/// only touch keys of one cluster slot, and a project's window is shared by all of its tokens,
/// so a per-token hash tag cannot put it in the same slot as the token's keys. So the hash tag
/// is the **project id**: every key of a project (its window and all of its tokens' keys) lives
/// in the project's slot, and one script checks and counts everything in one round trip.
///
/// Alternatives, and why not:
/// - token-tagged token keys plus a second, project-tagged script: two round trips, and no
///   longer atomic: the first script must reserve and the second refund when the other says
///   no, and in between the reservation makes concurrent requests fail that should pass (or a
///   rejected request has counted for a moment), so neither limit is exact under concurrency;
/// - tag by token only when the project has no rate limit: keys would move slots when a project
///   limit is set or removed, and the lifetime counter would restart from the store's (lagging)
///   count.
///
/// The cost: one project's admissions are served by one shard. A project with a rate limit has
/// that anyway (its window is one key that every request of the project touches), and projects
/// spread evenly over the cluster, the same way the event stream is sharded by project
/// (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitKeys {
    prefix: String,
}

impl LimitKeys {
    /// Rejects an empty prefix, whitespace, and braces (a `{` in the prefix would become the
    /// hash tag and put every key in one slot).
    pub fn new(prefix: &str) -> Result<Self, LimitsError> {
        if prefix.is_empty() || prefix.contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
        {
            return Err(LimitsError::Config(format!(
                "redis.key_prefix `{prefix}` must be non-empty, without whitespace or braces"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash tag every key of this project carries.
    pub fn hash_tag(project_id: Uuid) -> String {
        format!("{{{project_id}}}")
    }

    /// The keys of one project and one of its tokens; an admission names five of them, so the
    /// two bases are formatted once and each key is one concatenation.
    pub fn scope(&self, project_id: Uuid, token_id: Uuid) -> ScopeKeys {
        let mut uuid = Uuid::encode_buffer();
        let project = [
            self.prefix.as_str(),
            ":rl:{",
            project_id.hyphenated().encode_lower(&mut uuid),
            "}",
        ]
        .concat();
        let token = [
            project.as_str(),
            ":t:",
            token_id.hyphenated().encode_lower(&mut uuid),
        ]
        .concat();
        ScopeKeys { project, token }
    }
}

/// Names the keys of one project (`{prefix}:rl:{<project_id>}`) and one of its tokens
/// (`…:t:<token_id>`); see [`LimitKeys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKeys {
    project: String,
    token: String,
}

impl ScopeKeys {
    pub fn token_used(&self) -> String {
        [self.token.as_str(), ":used"].concat()
    }

    pub fn token_window(&self) -> String {
        [self.token.as_str(), ":rpm"].concat()
    }

    pub fn project_window(&self) -> String {
        [self.project.as_str(), ":rpm"].concat()
    }

    /// `period` is `2026-11`, `life`, or `none` for a scope without a budget (the key is
    /// declared to the script but never touched).
    pub fn token_budget(&self, period: &str) -> String {
        [self.token.as_str(), ":budget:", period].concat()
    }

    pub fn project_budget(&self, period: &str) -> String {
        [self.project.as_str(), ":budget:", period].concat()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The part of a key Redis Cluster hashes: the first `{…}` with something inside.
    fn hashed_part(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn keys_of_one_request_share_the_project_slot() {
        let keys = LimitKeys::new("llmp").unwrap();
        let (p, t) = (Uuid::new_v4(), Uuid::new_v4());
        let scope = keys.scope(p, t);
        let all = [
            scope.token_used(),
            scope.token_window(),
            scope.project_window(),
            scope.token_budget("2026-11"),
            scope.project_budget("life"),
        ];
        for key in &all {
            assert!(key.starts_with("llmp:rl:{"), "{key}");
            assert_eq!(hashed_part(key), p.to_string());
        }
        assert_eq!(all[0], format!("llmp:rl:{{{p}}}:t:{t}:used"));
        assert_eq!(all[1], format!("llmp:rl:{{{p}}}:t:{t}:rpm"));
        assert_eq!(all[2], format!("llmp:rl:{{{p}}}:rpm"));
        assert_eq!(all[3], format!("llmp:rl:{{{p}}}:t:{t}:budget:2026-11"));
        assert_eq!(all[4], format!("llmp:rl:{{{p}}}:budget:life"));
        let other = keys.scope(Uuid::new_v4(), t).project_window();
        assert_ne!(hashed_part(&other), p.to_string());
    }

    #[test]
    fn prefixes_that_break_hash_tags_are_refused() {
        for bad in ["", "a b", "x{y", "x}y"] {
            assert!(
                matches!(LimitKeys::new(bad), Err(LimitsError::Config(_))),
                "{bad}"
            );
        }
    }
}
