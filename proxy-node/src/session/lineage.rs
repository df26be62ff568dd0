//! Where a call sits in its session: its sequence number and its lineage, decided from what the
//! session store remembers of the session's earlier calls. Both stores apply this rule (the
//! memory one through [`decide`], the Redis one in `place.lua`, which mirrors it):
//!
//! 1. the call's whole conversation was an earlier call's whole conversation (a retry): it is
//!    placed like that call, same lineage and parent;
//! 2. else the longest *proper* prefix an earlier call sent decides: it was an earlier call's
//!    whole conversation → `continuation` of that call; it was only part of earlier calls →
//!    `fork` from the latest call that contained it (history edited, rewound, compacted);
//! 3. nothing shared → `new`, or `continuation` without a parent when the provider keeps the
//!    conversation (`previous_response_id`, `conversation`).

use llm_proxy_core::event::Lineage;

use super::chain::{Chain, PrefixHash};

/// Prefix hashes sent to the store per call at most (the longest ones): a fork further back
/// than this many messages is reported as `new`.
pub const MAX_PREFIXES: usize = 2_000;
/// Prefixes remembered per session at most; past it the session's lineage starts over.
pub const MAX_SESSION_PREFIXES: usize = 50_000;

/// An earlier call whose whole conversation a prefix was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub seq: u64,
    pub lineage: Lineage,
    pub parent_seq: Option<u64>,
}

/// The longest proper prefix of the call that an earlier call sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Its index in [`window`].
    pub index: usize,
    /// The latest call whose conversation contained it.
    pub last_seq: u64,
    /// The latest call whose whole conversation it was.
    pub tip_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub lineage: Lineage,
    pub parent_seq: Option<u64>,
    /// Index in [`window`] of the longest proper prefix an earlier call sent.
    pub matched: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub seq: u64,
    pub lineage: Option<Lineage>,
    pub parent_seq: Option<u64>,
    /// Messages this call shares with the earlier calls of its session.
    pub shared_items: usize,
}

/// The prefixes the store is told about: the last `MAX_PREFIXES` of the chain.
pub fn window(chain: &Chain) -> &[PrefixHash] {
    let start = chain.hashes.len().saturating_sub(MAX_PREFIXES);
    &chain.hashes[start..]
}

/// The rule above. `repeat`: the call's whole conversation was this earlier call's.
pub fn decide(chain: &Chain, repeat: Option<Tip>, found: Option<Match>) -> Decision {
    let matched = found.map(|m| m.index);
    let (lineage, parent_seq) = match (repeat, found) {
        (Some(tip), _) => (tip.lineage, tip.parent_seq),
        (
            None,
            Some(Match {
                tip_seq: Some(tip), ..
            }),
        ) => (Lineage::Continuation, Some(tip)),
        (None, Some(m)) => (Lineage::Fork, Some(m.last_seq)),
        (None, None) if chain.server_state => (Lineage::Continuation, None),
        (None, None) => (Lineage::New, None),
    };
    Decision {
        lineage,
        parent_seq,
        matched,
    }
}

/// The call's placement from its sequence number and, for a conversation, the decision.
pub fn placement(seq: u64, chain: Option<&Chain>, decision: Option<Decision>) -> Placement {
    let (Some(chain), Some(decision)) = (chain, decision) else {
        return Placement {
            seq,
            ..Placement::default()
        };
    };
    let offset = chain.hashes.len() - window(chain).len();
    Placement {
        seq,
        lineage: Some(decision.lineage),
        parent_seq: decision.parent_seq,
        shared_items: decision
            .matched
            .map(|index| offset + index + 1)
            .unwrap_or(0),
    }
}

/// `place.lua`'s numbers for a lineage.
pub fn code(lineage: Lineage) -> u8 {
    match lineage {
        Lineage::New => 1,
        Lineage::Continuation => 2,
        Lineage::Fork => 3,
    }
}

pub fn from_code(code: u8) -> Option<Lineage> {
    match code {
        1 => Some(Lineage::New),
        2 => Some(Lineage::Continuation),
        3 => Some(Lineage::Fork),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Chain {
        Chain {
            hashes: (0..n).map(|i| [(i % 251) as u8; 16]).collect(),
            server_state: false,
        }
    }

    fn found(index: usize, last_seq: u64, tip_seq: Option<u64>) -> Option<Match> {
        Some(Match {
            index,
            last_seq,
            tip_seq,
        })
    }

    #[test]
    fn the_rule() {
        let c = chain(4);
        let cont = decide(&c, None, found(2, 4, Some(3)));
        assert_eq!(
            (cont.lineage, cont.parent_seq, cont.matched),
            (Lineage::Continuation, Some(3), Some(2))
        );
        assert_eq!(placement(5, Some(&c), Some(cont)).shared_items, 3);

        let fork = decide(&c, None, found(0, 4, None));
        assert_eq!((fork.lineage, fork.parent_seq), (Lineage::Fork, Some(4)));
        assert_eq!(placement(5, Some(&c), Some(fork)).shared_items, 1);

        let new = decide(&c, None, None);
        assert_eq!((new.lineage, new.parent_seq), (Lineage::New, None));

        let original = Tip {
            seq: 2,
            lineage: Lineage::Fork,
            parent_seq: Some(1),
        };
        let retry = decide(&c, Some(original), found(1, 2, None));
        assert_eq!((retry.lineage, retry.parent_seq), (Lineage::Fork, Some(1)));

        let mut server = chain(1);
        server.server_state = true;
        assert_eq!(decide(&server, None, None).lineage, Lineage::Continuation);
        assert_eq!(placement(7, None, None).lineage, None);
        for l in [Lineage::New, Lineage::Continuation, Lineage::Fork] {
            assert_eq!(from_code(code(l)), Some(l));
        }
    }

    #[test]
    fn long_chains_send_only_their_last_prefixes() {
        let c = chain(MAX_PREFIXES + 10);
        let w = window(&c);
        assert_eq!(w.len(), MAX_PREFIXES);
        assert_eq!(w[0], c.hashes[10]);
        let d = decide(&c, None, found(0, 1, Some(1)));
        assert_eq!(placement(9, Some(&c), Some(d)).shared_items, 11);
    }
}
