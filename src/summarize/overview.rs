//! The cross-article overview: a few sentences across all articles, each citing every
//! article that reports the same fact.
//!
//! Candidates are the articles' extractive summary sentences, and only they are compared,
//! so the work grows with the number of summary sentences, not with every sentence of
//! every article. For each candidate, every other article's closest candidate is found;
//! when it is a near-duplicate (the same fact in other words, or agency copy printed
//! twice) it becomes another citation. Candidates reported by more articles rank first,
//! then the more central ones; a candidate too close to one already taken is skipped, so
//! each overview sentence says something new. The result keeps the articles' order (by
//! date).
//!
//! The embeddings are read a block at a time through [`Rows`] (from memory, or from a file
//! the batch runner writes), and similarities are computed block against block as matrix
//! products into reused buffers. So memory holds a few blocks and a few numbers per
//! candidate, however many articles there are.
use std::cmp::Ordering;
use std::io;
use std::ops::Range;

use rayon::prelude::*;

/// Candidate embeddings, row by row, in the order the briefing shows their articles.
pub trait Rows {
    /// The length of every row.
    fn dim(&self) -> usize;
    /// How many rows there are.
    fn count(&self) -> usize;
    /// Fills `out` (a whole number of rows) with the rows from `start` on.
    fn read(&self, start: usize, out: &mut [f32]) -> io::Result<()>;
}

/// Rows held in memory: `data` is `len x dim`, row-major.
pub struct InMemory<'a> {
    pub dim: usize,
    pub data: &'a [f32],
}

impl Rows for InMemory<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn count(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    fn read(&self, start: usize, out: &mut [f32]) -> io::Result<()> {
        let from = start * self.dim;
        let rows = self
            .data
            .get(from..from + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "rows past the end"))?;
        out.copy_from_slice(rows);
        Ok(())
    }
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

/// Candidates in a block: similarities are computed `BLOCK` rows against `BLOCK` rows
/// (16 MB of similarities, and two blocks of embeddings).
const BLOCK: usize = 2048;

/// Chooses the overview. Row `i` of `rows` is candidate `owner[i]` (article index,
/// candidate index in the article); rows are grouped by article, articles in the order
/// the briefing shows them.
pub fn overview(
    owner: &[(usize, usize)],
    rows: &dyn Rows,
    settings: &OverviewSettings,
) -> io::Result<Vec<OverviewPick>> {
    overview_in_blocks(owner, rows, settings, BLOCK)
}

fn overview_in_blocks(
    owner: &[(usize, usize)],
    rows: &dyn Rows,
    settings: &OverviewSettings,
    block: usize,
) -> io::Result<Vec<OverviewPick>> {
    let n = owner.len();
    let dim = rows.dim();
    if n == 0 || dim == 0 {
        return Ok(Vec::new());
    }
    assert_eq!(n, rows.count(), "one owner per row");
    let block = block.min(n);
    let mut left = vec![0f32; block * dim];
    let mut right = vec![0f32; block * dim];
    let mut sims = vec![0f32; block * block];
    let blocks = |from: usize| (from..n).step_by(block).map(move |s| (s, block.min(n - s)));

    // Centrality: the mean similarity to the other candidates, from the sum of all.
    let mut total = vec![0f32; dim];
    for (start, count) in blocks(0) {
        read_unit(rows, start, &mut left[..count * dim])?;
        for e in left[..count * dim].chunks_exact(dim) {
            total.iter_mut().zip(e).for_each(|(t, x)| *t += x);
        }
    }
    // Per candidate, how many articles report its fact (itself included) and how central it
    // is; the citations themselves are found again for the few candidates taken.
    let mut reach: Vec<u32> = Vec::with_capacity(n);
    let mut centrality: Vec<f32> = Vec::with_capacity(n);
    for (start, count) in blocks(0) {
        let lhs = &mut left[..count * dim];
        read_unit(rows, start, lhs)?;
        let mut scans: Vec<Closest> = (start..start + count)
            .map(|i| Closest::new(owner[i].0, false))
            .collect();
        let mut own = vec![0f32; count];
        for (col, cols) in blocks(0) {
            read_unit(rows, col, &mut right[..cols * dim])?;
            let out = &mut sims[..count * cols];
            product(lhs, &right[..cols * dim], dim, out);
            let groups = groups(owner, col, cols);
            out.par_chunks_exact(cols)
                .zip(scans.par_iter_mut())
                .for_each(|(row, scan)| scan.feed(col, &groups, row, settings.same_fact));
            for (r, row) in out.chunks_exact(cols).enumerate() {
                if let Some(j) = (start + r).checked_sub(col).filter(|&j| j < cols) {
                    own[r] = row[j];
                }
            }
        }
        for ((e, scan), own) in lhs.chunks_exact(dim).zip(&mut scans).zip(own) {
            scan.finish(settings.same_fact);
            reach.push(1 + scan.count);
            centrality.push(if n > 1 {
                (dot(e, &total) - own) / (n - 1) as f32
            } else {
                1.0
            });
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
    drop((reach, centrality));
    // As many as there are distinct candidates, up to the maximum.
    let mut taken: Vec<(usize, Vec<f32>)> = Vec::new();
    let mut candidate = vec![0f32; dim];
    for &i in &order {
        if taken.len() == settings.max_sentences {
            break;
        }
        read_unit(rows, i, &mut candidate)?;
        if taken
            .iter()
            .all(|(_, t)| dot(&candidate, t) < settings.repeat)
        {
            taken.push((i, candidate.clone()));
        }
    }
    taken.sort_unstable_by_key(|(i, _)| *i);
    // The citations of the candidates taken: their rows against all.
    let picked: Vec<f32> = taken.iter().flat_map(|(_, e)| e.iter().copied()).collect();
    let mut scans: Vec<Closest> = taken
        .iter()
        .map(|&(i, _)| Closest::new(owner[i].0, true))
        .collect();
    sims.resize(taken.len().max(block) * block, 0.0);
    for (col, cols) in blocks(0) {
        read_unit(rows, col, &mut right[..cols * dim])?;
        let out = &mut sims[..taken.len() * cols];
        product(&picked, &right[..cols * dim], dim, out);
        let groups = groups(owner, col, cols);
        for (row, scan) in out.chunks_exact(cols).zip(&mut scans) {
            scan.feed(col, &groups, row, settings.same_fact);
        }
    }
    Ok(taken
        .iter()
        .zip(scans)
        .map(|(&(i, _), mut scan)| {
            scan.finish(settings.same_fact);
            OverviewPick {
                article: owner[i].0,
                sentence: owner[i].1,
                cites: std::iter::once(owner[i])
                    .chain(scan.rows.iter().map(|&j| owner[j]))
                    .collect(),
            }
        })
        .collect())
}

/// Reads rows from `start` into `out` and scales each to unit length.
fn read_unit(rows: &dyn Rows, start: usize, out: &mut [f32]) -> io::Result<()> {
    rows.read(start, out)?;
    for e in out.chunks_exact_mut(rows.dim()) {
        let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        e.iter_mut().for_each(|x| *x *= scale);
    }
    Ok(())
}

/// The articles' groups of rows among rows `first..first + count`: (article, rows relative
/// to `first`), in order.
fn groups(owner: &[(usize, usize)], first: usize, count: usize) -> Vec<(usize, Range<usize>)> {
    let mut out: Vec<(usize, Range<usize>)> = Vec::new();
    for (j, &(article, _)) in owner[first..first + count].iter().enumerate() {
        match out.last_mut() {
            Some((a, rows)) if *a == article => rows.end = j + 1,
            _ => out.push((article, j..j + 1)),
        }
    }
    out
}

/// One candidate's similarities to all, scanned in row order a block at a time: each other
/// article's closest candidate (the first of equals) is counted, and kept when asked for,
/// when it is at least the threshold close. An article's group of rows may run on into the
/// next block.
struct Closest {
    own: usize,
    /// The article being scanned, its closest row so far and that row's similarity.
    best: Option<(usize, usize, f32)>,
    count: u32,
    keep: bool,
    rows: Vec<usize>,
}

impl Closest {
    fn new(own: usize, keep: bool) -> Self {
        Self {
            own,
            best: None,
            count: 0,
            keep,
            rows: Vec::new(),
        }
    }

    /// Scans `sims`, the similarities to the block of rows from `first`, whose articles'
    /// groups are `groups`.
    fn feed(
        &mut self,
        first: usize,
        groups: &[(usize, Range<usize>)],
        sims: &[f32],
        threshold: f32,
    ) {
        for (article, range) in groups {
            if *article == self.own {
                continue;
            }
            // An article's group may go on from the block before: fold on from its best.
            let mut rows = range.clone();
            let (mut row, mut best) = match self.best {
                Some((a, row, best)) if a == *article => (row, best),
                _ => {
                    self.finish(threshold);
                    let j = rows.next().expect("a group has a row");
                    (first + j, sims[j])
                }
            };
            for j in rows {
                // Only a closer one takes its place (the first of equals stays); where
                // either is NaN the later one does, so a NaN best gives way to the next row.
                if matches!(best.partial_cmp(&sims[j]), Some(Ordering::Less) | None) {
                    (row, best) = (first + j, sims[j]);
                }
            }
            self.best = Some((*article, row, best));
        }
    }

    /// Settles the last article's closest row.
    fn finish(&mut self, threshold: f32) {
        if let Some((_, row, s)) = self.best.take() {
            if s >= threshold {
                self.count += 1;
                if self.keep {
                    self.rows.push(row);
                }
            }
        }
    }
}

/// `out` (rows x cols, row-major) = `lhs` (rows x dim) times the transpose of `rhs`
/// (cols x dim): every pair's dot product, as one matrix product.
fn product(lhs: &[f32], rhs: &[f32], dim: usize, out: &mut [f32]) {
    let (rows, cols) = (lhs.len() / dim, rhs.len() / dim);
    assert!(out.len() == rows * cols && lhs.len() == rows * dim && rhs.len() == cols * dim);
    // SAFETY: every pointer and stride stays inside its slice: `out` is rows x cols with row
    // stride cols, `lhs` is rows x dim with row stride dim, and the right-hand side reads
    // `rhs` as its transpose (dim x cols: element (k, j) at j * dim + k).
    unsafe {
        gemm::gemm(
            rows,
            cols,
            dim,
            out.as_mut_ptr(),
            1,
            cols as isize,
            false,
            lhs.as_ptr(),
            1,
            dim as isize,
            rhs.as_ptr(),
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

    /// Owners and rows of articles given as lists of embeddings.
    fn table(articles: &[Vec<Vec<f32>>]) -> (Vec<(usize, usize)>, Vec<f32>) {
        let mut owner = Vec::new();
        let mut data = Vec::new();
        for (a, sentences) in articles.iter().enumerate() {
            for (s, e) in sentences.iter().enumerate() {
                owner.push((a, s));
                data.extend_from_slice(e);
            }
        }
        (owner, data)
    }

    #[test]
    fn a_fact_in_several_articles_cites_each_and_ranks_first() {
        // Sentence 1 of every article is the same fact; sentence 2 is each article's own.
        let (owner, data) = table(&[
            vec![unit(&[1.0, 0.05, 0.0, 0.0]), unit(&[0.0, 1.0, 0.0, 0.0])],
            vec![unit(&[1.0, 0.0, 0.05, 0.0]), unit(&[0.0, 0.0, 1.0, 0.0])],
            vec![unit(&[1.0, 0.0, 0.0, 0.05]), unit(&[0.0, 0.0, 0.0, 1.0])],
        ]);
        let rows = InMemory {
            dim: 4,
            data: &data,
        };
        let picks = overview(&owner, &rows, &OverviewSettings::default()).unwrap();
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
    fn blocks_of_any_size_choose_the_same_overview() {
        // 40 articles of 1 to 4 sentences, drawn around 5 facts, so many sentences have
        // near-duplicates in other articles and in their own.
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let facts: Vec<Vec<f32>> = (0..5).map(|_| (0..8).map(|_| next()).collect()).collect();
        let articles: Vec<Vec<Vec<f32>>> = (0..40)
            .map(|a| {
                (0..1 + a % 4)
                    .map(|s| {
                        let f = &facts[(a * 3 + s * 7) % 5];
                        f.iter().map(|x| x + 0.15 * next()).collect()
                    })
                    .collect()
            })
            .collect();
        let (owner, data) = table(&articles);
        let rows = InMemory {
            dim: 8,
            data: &data,
        };
        let settings = OverviewSettings {
            max_sentences: 4,
            same_fact: 0.9,
            repeat: 0.95,
        };
        let whole = overview_in_blocks(&owner, &rows, &settings, BLOCK).unwrap();
        assert!(
            whole.len() >= 2 && whole.iter().any(|p| p.cites.len() > 5),
            "the data has shared facts: {whole:?}"
        );
        for block in [1, 3, 7, 64] {
            let blocked = overview_in_blocks(&owner, &rows, &settings, block).unwrap();
            assert_eq!(blocked, whole, "blocks of {block}");
        }
        // Each citation is another article's closest sentence to the pick, and close enough.
        for p in &whole {
            let row = |(a, s): (usize, usize)| unit(&articles[a][s]);
            let me = row((p.article, p.sentence));
            assert_eq!(p.cites[0], (p.article, p.sentence));
            for &(a, s) in &p.cites[1..] {
                assert_ne!(a, p.article);
                let sim = dot(&me, &row((a, s)));
                assert!(sim >= settings.same_fact);
                assert!((0..articles[a].len()).all(|k| dot(&me, &row((a, k))) <= sim + 1e-6));
            }
        }
    }

    #[test]
    fn a_nan_similarity_never_stands_for_an_article() {
        // Article 1's first sentence has an infinite number, so its similarities are NaN;
        // its second sentence is article 0's fact. Whether the two fall in one block or
        // two, the second is the one cited.
        let (owner, data) = table(&[
            vec![vec![1.0, 0.0]],
            vec![vec![f32::INFINITY, 0.0], vec![1.0, 0.01]],
        ]);
        let rows = InMemory {
            dim: 2,
            data: &data,
        };
        for block in [1, 2, BLOCK] {
            let picks =
                overview_in_blocks(&owner, &rows, &OverviewSettings::default(), block).unwrap();
            let first = picks
                .iter()
                .find(|p| p.article == 0)
                .expect("article 0 is picked");
            assert_eq!(first.cites, [(0, 0), (1, 1)], "blocks of {block}");
        }
    }

    #[test]
    fn the_block_product_is_every_pairs_dot_product() {
        let dim = 5;
        let lhs: Vec<f32> = (0..9 * dim)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let rhs: Vec<f32> = (0..37 * dim)
            .map(|i| ((i * 104729) % 97) as f32 / 40.0 - 1.0)
            .collect();
        let mut out = vec![f32::NAN; 9 * 37];
        product(&lhs, &rhs, dim, &mut out);
        for r in 0..9 {
            for j in 0..37 {
                let a = &lhs[r * dim..(r + 1) * dim];
                let b = &rhs[j * dim..(j + 1) * dim];
                assert!((out[r * 37 + j] - dot(a, b)).abs() < 1e-5, "({r}, {j})");
            }
        }
    }
}
