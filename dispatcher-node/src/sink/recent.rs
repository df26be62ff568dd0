//! A bounded memory of event ids a sink delivered, so a batch delivered again by the same
//! process (a retry after a partial failure, entries re-read after a lost `XACK`) is not
//! written twice. Another process's redeliveries (after `XAUTOCLAIM`) are not caught.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    set: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        self.set.contains(id)
    }

    /// Remembers `id`, forgetting the oldest beyond the capacity.
    pub fn remember(&mut self, id: Uuid) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut recent = RecentIds::new(3);
        for id in &ids {
            recent.remember(*id);
        }
        recent.remember(ids[3]);
        assert!(!recent.contains(&ids[0]));
        assert!(ids[1..].iter().all(|id| recent.contains(id)));
    }
}
