//! The cross-article overview: a few sentences across all articles, each citing every
//! article that reports the same fact.
//!
//! Candidates are the articles' summary sentences. For each candidate, every other
//! article's closest sentence is found; when it is a near-duplicate (the same fact in other
//! words, or agency copy printed twice) it becomes another citation. Candidates reported by
//! more articles rank first, then the more central ones; a candidate too close to one
//! already taken is skipped, so each overview sentence says something new. The result
//! keeps the articles' order (by date).
use super::embed::cosine;

/// One article's part in the overview.
pub struct ArticleSentences<'a> {
    /// Embeddings of all the article's sentences (of their English text).
    pub embeddings: &'a [Vec<f32>],
    /// Indices of its summary sentences.
    pub summary: &'a [usize],
}

/// Overview settings.
#[derive(Debug, Clone, PartialEq)]
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

/// An overview sentence before the citation check: its text and embedding (article,
/// sentence index) and the sentences it cites, as (article index, sentence index).
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewPick {
    pub article: usize,
    pub sentence: usize,
    pub cites: Vec<(usize, usize)>,
}

/// Chooses the overview from `articles` (in the order the briefing shows them).
pub fn overview(articles: &[ArticleSentences], settings: &OverviewSettings) -> Vec<OverviewPick> {
    struct Candidate {
        article: usize,
        sentence: usize,
        cites: Vec<(usize, usize)>,
        centrality: f32,
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for (a, art) in articles.iter().enumerate() {
        for &s in art.summary {
            let Some(e) = art.embeddings.get(s) else {
                continue;
            };
            let mut cites = vec![(a, s)];
            for (b, other) in articles.iter().enumerate() {
                if b == a {
                    continue;
                }
                let best = other
                    .embeddings
                    .iter()
                    .enumerate()
                    .map(|(j, f)| (j, cosine(e, f)))
                    .max_by(|x, y| x.1.total_cmp(&y.1));
                if let Some((j, sim)) = best {
                    if sim >= settings.same_fact {
                        cites.push((b, j));
                    }
                }
            }
            candidates.push(Candidate {
                article: a,
                sentence: s,
                cites,
                centrality: 0.0,
            });
        }
    }
    let n = candidates.len();
    for i in 0..n {
        let e = &articles[candidates[i].article].embeddings[candidates[i].sentence];
        let total: f32 = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                cosine(
                    e,
                    &articles[candidates[j].article].embeddings[candidates[j].sentence],
                )
            })
            .sum();
        candidates[i].centrality = if n > 1 { total / (n - 1) as f32 } else { 1.0 };
    }
    let emb = |c: &Candidate| &articles[c.article].embeddings[c.sentence];
    let mut order: Vec<usize> = (0..n).collect();
    // More articles first, then more central; ties in reading order.
    order.sort_by(|&x, &y| {
        let (cx, cy) = (&candidates[x], &candidates[y]);
        cy.cites
            .len()
            .cmp(&cx.cites.len())
            .then(cy.centrality.total_cmp(&cx.centrality))
            .then(x.cmp(&y))
    });
    // As many as there are distinct candidates, up to the maximum.
    let want = settings.max_sentences;
    let mut taken: Vec<usize> = Vec::new();
    for &i in &order {
        if taken.len() == want {
            break;
        }
        if taken
            .iter()
            .all(|&t| cosine(emb(&candidates[i]), emb(&candidates[t])) < settings.repeat)
        {
            taken.push(i);
        }
    }
    taken.sort_by_key(|&i| (candidates[i].article, candidates[i].sentence));
    taken
        .into_iter()
        .map(|i| OverviewPick {
            article: candidates[i].article,
            sentence: candidates[i].sentence,
            cites: candidates[i].cites.clone(),
        })
        .collect()
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
        let summary = [0usize, 1];
        let arts: Vec<ArticleSentences> = (0..3)
            .map(|a| ArticleSentences {
                embeddings: &emb[a],
                summary: &summary,
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
}
