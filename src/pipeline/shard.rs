//! `--shard K/N`: which articles a machine takes when a run is spread over N of them. An
//! article belongs to the shard its id hashes to, so every machine, given the same inputs,
//! agrees on the split without talking to the others, and a shard run again takes the
//! same articles.
use std::fmt;
use std::str::FromStr;

/// Shard K of N (K counted from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the article (or input) named `key` belongs to this shard.
    pub fn takes(&self, key: &str) -> bool {
        fnv1a(key.as_bytes()) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// 64-bit FNV-1a: fixed by its definition, so the split never changes with the Rust
/// version or the platform, as the standard library's hasher may.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a shard: write K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_belongs_to_exactly_one_shard_and_the_split_is_fair() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        let mut sizes = [0usize; 3];
        for i in 0..3000 {
            let id = format!("artikel-{i}");
            let owners: Vec<usize> = (0..3).filter(|&k| shards[k].takes(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (850..1150).contains(&n)), "{sizes:?}");
    }

    #[test]
    fn the_split_is_fixed() {
        // FNV-1a's published test vector, so the split cannot drift between builds.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let s: Shard = "1/1".parse().unwrap();
        assert!(s.takes("anything"));
    }

    #[test]
    fn bad_shards_are_refused_with_the_form_to_use() {
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
        assert_eq!("2/8".parse::<Shard>().unwrap().to_string(), "2/8");
    }
}
