//! Sharding: which scalers one daemon of several handles (`--shard i/N`), by a stable hash of
//! namespace/name. Each shard campaigns for its own Lease.

/// Which scalers this daemon handles: shard `index` of `count`, by a hash of namespace/name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This daemon's shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parse `i/N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| format!("--shard {text}: expected i/N, e.g. 0/2"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("--shard {text}: {i} is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("--shard {text}: {n} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("--shard {text}: need 0 <= i < N"));
        }
        Ok(Self { index, count })
    }

    /// Whether namespace/name falls in this shard (FNV-1a: the same answer in every build).
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in namespace.bytes().chain(std::iter::once(b'/')).chain(name.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_scaler_exactly_once() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for i in 0..200 {
            let name = format!("scaler-{i}");
            assert_eq!(shards.iter().filter(|s| s.owns("ns", &name)).count(), 1, "{name}");
        }
        assert!(Shard::default().owns("any", "thing"));
    }

    #[test]
    fn bad_shards_are_named() {
        assert_eq!(Shard::parse(" 1/2 "), Ok(Shard { index: 1, count: 2 }));
        for bad in ["2/2", "0/0", "x/2", "1", "1/y"] {
            assert!(Shard::parse(bad).unwrap_err().starts_with(&format!("--shard {bad}")), "{bad}");
        }
    }
}
