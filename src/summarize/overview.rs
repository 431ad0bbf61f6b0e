//! The cross-article overview: a few sentences across all articles, each citing every
//! article that reports the same fact.
//!
//! Candidates are the articles' extractive summary sentences, and only they are compared,
//! so the work grows with the number of summary sentences, not with every sentence of
//! every article, and a run of thousands of articles keeps a few vectors per article.
//! For each candidate, every other article's closest candidate is found; when it is a
//! near-duplicate (the same fact in other words, or agency copy printed twice) it becomes
//! another citation. Candidates reported by more articles rank first, then the more
//! central ones; a candidate too close to one already taken is skipped, so each overview
//! sentence says something new. The result keeps the articles' order (by date).
//!
//! Similarities are computed as blocks of matrix products into one reused buffer, so ten
//! thousand articles take seconds and a bounded amount of memory.

/// One article's part in the overview: the embeddings of its candidate sentences.
pub struct ArticleSentences<'a> {
    pub embeddings: Vec<&'a [f32]>,
}

/// Overview settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverviewSettings {
    /// Most overview sentences (6); fewer when the articles offer fewer distinct facts.
    pub max_sentences: usize,
    /// Similarity at which sentences of two articles count as the same fact.
    pub same_fact: f32,
    /// Similarity above which a candidate repeats an overview sentence already taken.
    pub repeat: f32,
}

impl Default for OverviewSettings {
    fn default() -> Self {
        Self {
            max_sentences: 6,
            same_fact: 0.75,
            repeat: 0.8,
        }
    }
}

/// An overview sentence before the citation check: the candidate it is (article index,
/// candidate index) and the candidates it cites, as (article index, candidate index).
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewPick {
    pub article: usize,
    pub sentence: usize,
    pub cites: Vec<(usize, usize)>,
}

/// Similarities held at once (16M floats, 64 MB): a block of candidates against all.
const BLOCK_FLOATS: usize = 1 << 24;

/// Chooses the overview from `articles` (in the order the briefing shows them).
pub fn overview(articles: &[ArticleSentences], settings: &OverviewSettings) -> Vec<OverviewPick> {
    // Candidates in reading order, each as (article, index in the article), unit length.
    let mut owner: Vec<(usize, usize)> = Vec::new();
    let mut unit: Vec<f32> = Vec::new();
    let mut dim = 0;
    for (a, art) in articles.iter().enumerate() {
        for (s, e) in art.embeddings.iter().enumerate() {
            if dim == 0 {
                dim = e.len();
            }
            if e.len() != dim || dim == 0 {
                continue;
            }
            let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
            let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            unit.extend(e.iter().map(|x| x * scale));
            owner.push((a, s));
        }
    }
    let n = owner.len();
    if n == 0 {
        return Vec::new();
    }
    // Centrality: the mean similarity to the other candidates, from the sum of all.
    let mut total = vec![0f32; dim];
    for e in unit.chunks_exact(dim) {
        total.iter_mut().zip(e).for_each(|(t, x)| *t += x);
    }
    // Per candidate, how many articles report its fact (itself included) and how central it
    // is; the citations themselves are found again for the few candidates taken.
    let mut reach: Vec<usize> = Vec::with_capacity(n);
    let mut centrality: Vec<f32> = Vec::with_capacity(n);
    let block_rows = (BLOCK_FLOATS / n).clamp(1, 4096);
    // One buffer for every block, so the similarities never pile up as fresh allocations.
    let mut sims = vec![0f32; block_rows.min(n) * n];
    for start in (0..n).step_by(block_rows) {
        let rows = block_rows.min(n - start);
        similarities(&unit, dim, start, rows, &mut sims[..rows * n]);
        for (r, row) in sims[..rows * n].chunks_exact(n).enumerate() {
            let i = start + r;
            let own = &unit[i * dim..(i + 1) * dim];
            centrality.push(if n > 1 {
                (dot(own, &total) - row[i]) / (n - 1) as f32
            } else {
                1.0
            });
            reach.push(1 + same_fact(&owner, i, row, settings.same_fact).count());
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    // More articles first, then more central; ties in reading order.
    order.sort_by(|&x, &y| {
        reach[y]
            .cmp(&reach[x])
            .then(centrality[y].total_cmp(&centrality[x]))
            .then(x.cmp(&y))
    });
    // As many as there are distinct candidates, up to the maximum.
    let row = |i: usize| &unit[i * dim..(i + 1) * dim];
    let mut taken: Vec<usize> = Vec::new();
    for &i in &order {
        if taken.len() == settings.max_sentences {
            break;
        }
        if taken.iter().all(|&t| dot(row(i), row(t)) < settings.repeat) {
            taken.push(i);
        }
    }
    taken.sort_unstable();
    let mut row = vec![0f32; n];
    taken
        .into_iter()
        .map(|i| {
            similarities(&unit, dim, i, 1, &mut row);
            OverviewPick {
                article: owner[i].0,
                sentence: owner[i].1,
                cites: std::iter::once(owner[i])
                    .chain(same_fact(&owner, i, &row, settings.same_fact))
                    .collect(),
            }
        })
        .collect()
}

/// For candidate `i` with similarities `row` to all candidates (grouped by article, in
/// order): each other article's closest candidate, when it is at least `threshold` close.
fn same_fact<'a>(
    owner: &'a [(usize, usize)],
    i: usize,
    row: &'a [f32],
    threshold: f32,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    owner
        .chunk_by(|x, y| x.0 == y.0)
        .scan(0, |at, group| {
            let first = *at;
            *at += group.len();
            Some((first, group))
        })
        .filter(move |(_, group)| group[0].0 != owner[i].0)
        .filter_map(move |(first, group)| {
            let (k, sim) = (0..group.len()).map(|k| (k, row[first + k])).fold(
                None,
                |best: Option<(usize, f32)>, (k, s)| match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((k, s)),
                },
            )?;
            (sim >= threshold).then_some(group[k])
        })
}

/// `out` (rows x n, row-major) = the similarities of candidates `start..start + rows` to
/// all `n` candidates of `unit` (n x dim, row-major, unit rows), as one matrix product.
fn similarities(unit: &[f32], dim: usize, start: usize, rows: usize, out: &mut [f32]) {
    let n = unit.len() / dim;
    assert!(out.len() == rows * n && start + rows <= n);
    let lhs = &unit[start * dim..(start + rows) * dim];
    // SAFETY: every pointer and stride stays inside its slice: `out` is rows x n with row
    // stride n, `lhs` is rows x dim with row stride dim, and the right-hand side reads
    // `unit` as its transpose (dim x n: element (k, j) at j * dim + k).
    unsafe {
        gemm::gemm(
            rows,
            n,
            dim,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            dim as isize,
            unit.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn a_fact_in_several_articles_cites_each_and_ranks_first() {
        // Sentence 1 of every article is the same fact; sentence 2 is each article's own.
        let emb: Vec<Vec<Vec<f32>>> = vec![
            vec![unit(&[1.0, 0.05, 0.0, 0.0]), unit(&[0.0, 1.0, 0.0, 0.0])],
            vec![unit(&[1.0, 0.0, 0.05, 0.0]), unit(&[0.0, 0.0, 1.0, 0.0])],
            vec![unit(&[1.0, 0.0, 0.0, 0.05]), unit(&[0.0, 0.0, 0.0, 1.0])],
        ];
        let arts: Vec<ArticleSentences> = (0..3)
            .map(|a| ArticleSentences {
                embeddings: emb[a].iter().map(Vec::as_slice).collect(),
            })
            .collect();
        let picks = overview(&arts, &OverviewSettings::default());
        // The shared fact once (not three times), plus each article's own sentence.
        assert_eq!(picks.len(), 4, "{picks:?}");
        let shared: Vec<&OverviewPick> = picks.iter().filter(|p| p.sentence == 0).collect();
        assert_eq!(shared.len(), 1);
        let mut cited: Vec<usize> = shared[0].cites.iter().map(|c| c.0).collect();
        cited.sort();
        assert_eq!(cited, vec![0, 1, 2]);
        assert!(picks
            .windows(2)
            .all(|w| (w[0].article, w[0].sentence) < (w[1].article, w[1].sentence)));
    }

    #[test]
    fn the_block_product_is_every_pairs_dot_product() {
        let (n, dim) = (37, 5);
        let unit: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let (start, rows) = (11, 9);
        let mut out = vec![f32::NAN; rows * n];
        similarities(&unit, dim, start, rows, &mut out);
        for r in 0..rows {
            for j in 0..n {
                let a = &unit[(start + r) * dim..(start + r + 1) * dim];
                let b = &unit[j * dim..(j + 1) * dim];
                assert!((out[r * n + j] - dot(a, b)).abs() < 1e-5, "({r}, {j})");
            }
        }
    }
}
