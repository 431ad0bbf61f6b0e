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
//! Similarities are computed as blocks of matrix products, so ten thousand articles take
//! seconds, not the hours a pairwise loop would.
use candle_core::{Device, Tensor};

/// One article's part in the overview: the embeddings of its candidate sentences.
pub struct ArticleSentences<'a> {
    pub embeddings: &'a [Vec<f32>],
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

/// Rows of candidates compared with all the others at once.
const BLOCK: usize = 512;

/// Chooses the overview from `articles` (in the order the briefing shows them).
pub fn overview(
    articles: &[ArticleSentences],
    settings: &OverviewSettings,
) -> candle_core::Result<Vec<OverviewPick>> {
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
        return Ok(Vec::new());
    }
    let all = Tensor::from_vec(unit, (n, dim), &Device::Cpu)?;
    let all_t = all.t()?.contiguous()?;
    // Centrality: the mean similarity to the other candidates, from the sum of all.
    let total: Vec<f32> = all.sum(0)?.to_vec1()?;
    let mut cites: Vec<Vec<(usize, usize)>> = Vec::with_capacity(n);
    let mut centrality: Vec<f32> = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        let block = all.narrow(0, start, rows)?;
        let sims: Vec<Vec<f32>> = block.matmul(&all_t)?.to_vec2()?;
        let own: Vec<Vec<f32>> = block.to_vec2()?;
        for (r, row) in sims.iter().enumerate() {
            let i = start + r;
            let self_sim: f32 = row[i];
            let to_total: f32 = own[r].iter().zip(&total).map(|(x, t)| x * t).sum();
            centrality.push(if n > 1 {
                (to_total - self_sim) / (n - 1) as f32
            } else {
                1.0
            });
            // Each other article's closest candidate, when close enough.
            let mut list = vec![owner[i]];
            let mut j = 0;
            while j < n {
                let article = owner[j].0;
                let mut best: Option<(usize, f32)> = None;
                while j < n && owner[j].0 == article {
                    if best.is_none_or(|(_, s)| row[j] > s) {
                        best = Some((owner[j].1, row[j]));
                    }
                    j += 1;
                }
                if let Some((s, sim)) = best {
                    if article != owner[i].0 && sim >= settings.same_fact {
                        list.push((article, s));
                    }
                }
            }
            cites.push(list);
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    // More articles first, then more central; ties in reading order.
    order.sort_by(|&x, &y| {
        cites[y]
            .len()
            .cmp(&cites[x].len())
            .then(centrality[y].total_cmp(&centrality[x]))
            .then(x.cmp(&y))
    });
    // As many as there are distinct candidates, up to the maximum.
    let row = |i: usize| all.get(i).and_then(|t| t.to_vec1::<f32>());
    let mut taken: Vec<(usize, Vec<f32>)> = Vec::new();
    for &i in &order {
        if taken.len() == settings.max_sentences {
            break;
        }
        let e = row(i)?;
        if taken.iter().all(|(_, t)| dot(&e, t) < settings.repeat) {
            taken.push((i, e));
        }
    }
    let mut taken: Vec<usize> = taken.into_iter().map(|(i, _)| i).collect();
    taken.sort_unstable();
    Ok(taken
        .into_iter()
        .map(|i| OverviewPick {
            article: owner[i].0,
            sentence: owner[i].1,
            cites: std::mem::take(&mut cites[i]),
        })
        .collect())
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
                embeddings: &emb[a],
            })
            .collect();
        let picks = overview(&arts, &OverviewSettings::default()).unwrap();
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
}
