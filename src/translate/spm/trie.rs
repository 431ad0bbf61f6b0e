//! A compact, read-only byte trie: the piece dictionary of the unigram model and the
//! user-defined-symbol matcher of the normalizer.
//!
//! sentencepiece looks pieces up byte by byte in a darts-clone trie; this is the same
//! lookup over a flat array of nodes whose children are contiguous and sorted, built once
//! at load time so that encoding never allocates for it.

const NO_VALUE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    first_child: u32,
    n_children: u16,
    value: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct ByteTrie {
    nodes: Vec<Node>,
    /// Edge labels; a node's children are `first_child..first_child + n_children`, sorted by
    /// label, and the edge into node `i` (i > 0) has label `labels[i]`.
    labels: Vec<u8>,
}

impl ByteTrie {
    /// Builds the trie from `(key, value)` pairs; keys must be non-empty. When a key occurs
    /// twice, the first value wins.
    pub(crate) fn build<'a>(keys: impl IntoIterator<Item = (&'a [u8], u32)>) -> Self {
        let mut sorted: Vec<(&[u8], u32, usize)> = keys
            .into_iter()
            .enumerate()
            .filter(|(_, (k, _))| !k.is_empty())
            .map(|(i, (k, v))| (k, v, i))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0).then(a.2.cmp(&b.2)));
        let mut nodes = vec![Node {
            first_child: 0,
            n_children: 0,
            value: NO_VALUE,
        }];
        let mut labels = vec![0u8];
        // Breadth first: (node, range of keys sharing the node's prefix, depth).
        let mut queue = std::collections::VecDeque::new();
        queue.push_back((0usize, 0usize, sorted.len(), 0usize));
        while let Some((node, lo, hi, depth)) = queue.pop_front() {
            let mut i = lo;
            if i < hi && sorted[i].0.len() == depth {
                nodes[node].value = sorted[i].1;
                while i < hi && sorted[i].0.len() == depth {
                    i += 1;
                }
            }
            let first = nodes.len();
            let mut groups = Vec::new();
            while i < hi {
                let b = sorted[i].0[depth];
                let start = i;
                while i < hi && sorted[i].0[depth] == b {
                    i += 1;
                }
                groups.push((b, start, i));
            }
            nodes[node].first_child = u32::try_from(first).unwrap_or(u32::MAX);
            // At most 256 distinct bytes follow one prefix.
            nodes[node].n_children = u16::try_from(groups.len()).unwrap_or(u16::MAX);
            for (b, start, end) in groups {
                let child = nodes.len();
                nodes.push(Node {
                    first_child: 0,
                    n_children: 0,
                    value: NO_VALUE,
                });
                labels.push(b);
                queue.push_back((child, start, end, depth + 1));
            }
        }
        Self { nodes, labels }
    }

    #[inline]
    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let n = self.nodes[node];
        let first = n.first_child as usize;
        let kids = &self.labels[first..first + n.n_children as usize];
        kids.binary_search(&b).ok().map(|i| first + i)
    }

    /// Calls `f(length, value)` for every key that is a prefix of `s`, shortest first.
    #[inline]
    pub(crate) fn for_each_prefix(&self, s: &[u8], mut f: impl FnMut(usize, u32)) {
        let mut node = 0;
        for (i, &b) in s.iter().enumerate() {
            match self.child(node, b) {
                Some(c) => node = c,
                None => return,
            }
            let v = self.nodes[node].value;
            if v != NO_VALUE {
                f(i + 1, v);
            }
        }
    }

    /// The length of the longest key that is a prefix of `s`.
    pub(crate) fn longest_prefix_len(&self, s: &[u8]) -> Option<usize> {
        let mut best = None;
        self.for_each_prefix(s, |len, _| best = Some(len));
        best
    }

    /// The value stored for exactly `key`.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        let mut node = 0;
        for &b in key {
            node = self.child(node, b)?;
        }
        let v = self.nodes[node].value;
        (v != NO_VALUE).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_all_prefixes_in_order() {
        let keys: Vec<(&[u8], u32)> = vec![
            (b"abc", 1),
            (b"a", 2),
            (b"ab", 3),
            (b"b", 4),
            (b"abd", 5),
            (b"a", 9),
        ];
        let t = ByteTrie::build(keys);
        let mut seen = Vec::new();
        t.for_each_prefix(b"abcz", |l, v| seen.push((l, v)));
        assert_eq!(seen, vec![(1, 2), (2, 3), (3, 1)]);
        assert_eq!(t.get(b"abd"), Some(5));
        assert_eq!(t.get(b"ab"), Some(3));
        assert_eq!(t.get(b"abx"), None);
        assert_eq!(t.get(b"a"), Some(2), "first value of a repeated key wins");
        assert_eq!(t.longest_prefix_len(b"abdd"), Some(3));
        assert_eq!(t.longest_prefix_len(b"c"), None);
    }

    #[test]
    fn empty_trie_matches_nothing() {
        let t = ByteTrie::build(std::iter::empty());
        assert_eq!(t.longest_prefix_len(b"abc"), None);
    }
}
