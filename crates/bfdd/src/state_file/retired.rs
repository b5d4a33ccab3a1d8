//! Removed peers' discriminators, kept for when the peers come back: OVN holds on to a
//! discriminator it heard AdminDown from and addresses it, not a new one (design/ovn-peer.md,
//! "Stale discriminator").

use std::collections::{BTreeMap, HashMap};

/// At most [`Retired::MAX`] entries, the oldest dropped first; one key per discriminator and
/// one discriminator per key. Every operation is a map lookup or two.
#[derive(Debug, Default)]
pub struct Retired {
    /// Key as text -> (order retired, discriminator).
    by_key: HashMap<String, (u64, u32)>,
    by_order: BTreeMap<u64, String>,
    by_discriminator: HashMap<u32, String>,
    count: u64,
}

impl Retired {
    /// Enough for every node of a large cluster to come and go, a few hundred kilobytes of
    /// file.
    pub const MAX: usize = 4096;

    /// Keeps `discriminator` for `key`, replacing what either had.
    pub fn insert(&mut self, key: String, discriminator: u32) {
        self.release(discriminator);
        self.take(&key);
        self.count += 1;
        self.by_order.insert(self.count, key.clone());
        self.by_discriminator.insert(discriminator, key.clone());
        self.by_key.insert(key, (self.count, discriminator));
        if self.by_key.len() > Self::MAX {
            if let Some((_, oldest)) = self.by_order.pop_first() {
                if let Some((_, d)) = self.by_key.remove(&oldest) {
                    self.by_discriminator.remove(&d);
                }
            }
        }
    }

    /// The discriminator kept for `key`, handed out once.
    pub fn take(&mut self, key: &str) -> Option<u32> {
        let (order, d) = self.by_key.remove(key)?;
        self.by_order.remove(&order);
        self.by_discriminator.remove(&d);
        Some(d)
    }

    /// Forgets `discriminator`, whoever it was kept for.
    pub fn release(&mut self, discriminator: u32) {
        if let Some(key) = self.by_discriminator.remove(&discriminator) {
            if let Some((order, _)) = self.by_key.remove(&key) {
                self.by_order.remove(&order);
            }
        }
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every discriminator kept.
    pub fn discriminators(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_discriminator.keys().copied()
    }

    /// (key, discriminator), oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.by_order.values().filter_map(|key| {
            let (_, d) = self.by_key.get(key)?;
            Some((key.as_str(), *d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past [`Retired::MAX`] the oldest go first; a key or a discriminator kept again replaces
    /// its old entry.
    #[test]
    fn bounded_oldest_first_one_entry_per_key_and_discriminator() {
        let mut r = Retired::default();
        let last = u32::try_from(Retired::MAX).expect("small");
        for i in 0..=last {
            r.insert(format!("k{i}"), 1_000 + i);
        }
        assert_eq!(r.discriminators().count(), Retired::MAX);
        assert_eq!(r.take("k0"), None, "the oldest went");
        assert_eq!(r.in_order().next(), Some(("k1", 1_001)));
        r.insert("k2".into(), 5);
        r.insert("k3".into(), 5);
        assert_eq!(r.take("k2"), None, "its discriminator went to k3");
        assert_eq!(r.take("k3"), Some(5));
        assert_eq!(r.take("k3"), None, "handed out once");
        r.release(1_004);
        assert_eq!(r.take("k4"), None);
        let newest = format!("k{last}");
        assert_eq!(r.in_order().last(), Some((newest.as_str(), 1_000 + last)));
    }
}
