//! DLP keywords of the whole policy in one Aho-Corasick automaton, so the
//! decoded text of a mail is scanned once per evaluation however many rules
//! and recipients ask.
//!
//! Every occurrence of every keyword counts, overlapping ones included. The
//! fast search (leftmost-longest, non-overlapping, several GB/s) finds them
//! all when no keyword can partially overlap another in a text (a proper
//! suffix of one being a prefix of another, or of itself): a keyword
//! contained in a longer one is then counted from the longer one's matches.
//! Otherwise the slower overlapping search is used.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::syntax::{BodyTest, Condition, Scope};

/// Every distinct keyword (in the normal form of
/// [`crate::shown_text::normalize`]) and the automaton over them.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeywordIndex {
    keywords: Vec<String>,
    automaton: Option<AhoCorasick>,
    /// Per keyword: the other keywords inside it, and how often.
    contained: Vec<Vec<(usize, u64)>>,
    /// Whether the leftmost-longest search finds every occurrence.
    fast: bool,
}

/// Occurrences of `needle` in `haystack`, overlapping ones included.
fn occurrences(haystack: &[u8], needle: &[u8]) -> u64 {
    if needle.is_empty() || needle.len() > haystack.len() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count() as u64
}

/// Whether a proper suffix of `a` is a proper prefix of `b`.
fn partially_overlaps(a: &[u8], b: &[u8]) -> bool {
    (1..a.len().min(b.len())).any(|l| a.ends_with(b.get(..l).unwrap_or(&[])))
}

impl PartialEq for KeywordIndex {
    fn eq(&self, other: &Self) -> bool {
        self.keywords == other.keywords
    }
}

fn visit(condition: &mut Condition, f: &mut impl FnMut(&mut BodyTest)) {
    match condition {
        Condition::All(items) | Condition::Any(items) => {
            items.iter_mut().for_each(|c| visit(c, f));
        }
        Condition::Not(inner) => visit(inner, f),
        Condition::Body(test) => f(test),
        _ => {}
    }
}

impl KeywordIndex {
    /// Collects the keywords of every body condition, gives each
    /// `BodyTest` the ids of its keywords, and builds the automaton.
    /// Fails only if the automaton would be too large.
    pub(crate) fn build(scopes: &mut [Scope]) -> Result<Self, aho_corasick::BuildError> {
        let mut keywords: Vec<String> = Vec::new();
        let mut ids = std::collections::HashMap::new();
        for scope in scopes.iter_mut() {
            for rule in &mut scope.rules {
                if let Some(when) = &mut rule.when {
                    visit(when, &mut |test| {
                        // In the normal form the text is matched in
                        // (`Message::keyword_text`); a keyword of only
                        // invisible characters is in nothing (an empty
                        // pattern would match everywhere).
                        test.keyword_ids = test
                            .keywords
                            .iter()
                            .map(|k| crate::shown_text::normalize(k))
                            .filter(|k| !k.is_empty())
                            .map(|k| {
                                *ids.entry(k.clone()).or_insert_with(|| {
                                    keywords.push(k);
                                    keywords.len() - 1
                                })
                            })
                            .collect();
                        test.keyword_ids.dedup();
                    });
                }
            }
        }
        let fast = keywords.iter().all(|a| {
            keywords
                .iter()
                .all(|b| !partially_overlaps(a.as_bytes(), b.as_bytes()))
        });
        let contained = keywords
            .iter()
            .map(|k| {
                keywords
                    .iter()
                    .enumerate()
                    .filter(|(_, j)| j.len() < k.len())
                    .map(|(id, j)| (id, occurrences(k.as_bytes(), j.as_bytes())))
                    .filter(|(_, n)| *n > 0)
                    .collect()
            })
            .collect();
        let kind = if fast {
            MatchKind::LeftmostLongest
        } else {
            MatchKind::Standard
        };
        let automaton = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(kind)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&keywords)
                    .or_else(|_| {
                        // Too many states for a DFA: the NFA is slower but
                        // has no such limit.
                        AhoCorasickBuilder::new().match_kind(kind).build(&keywords)
                    })?,
            )
        };
        Ok(Self {
            keywords,
            automaton,
            contained,
            fast,
        })
    }

    /// Occurrences of each keyword in `text` (already in normal form,
    /// `Message::keyword_text`),
    /// overlapping occurrences included, by keyword id.
    pub(crate) fn count(&self, text: &str) -> Vec<u64> {
        let mut counts = vec![0u64; self.keywords.len()];
        let Some(automaton) = &self.automaton else {
            return counts;
        };
        if !self.fast {
            for m in automaton.find_overlapping_iter(text) {
                if let Some(n) = counts.get_mut(m.pattern().as_usize()) {
                    *n += 1;
                }
            }
            return counts;
        }
        // Matches per keyword first, then what they contain.
        let mut matched = vec![0u64; self.keywords.len()];
        for m in automaton.find_iter(text) {
            if let Some(n) = matched.get_mut(m.pattern().as_usize()) {
                *n += 1;
            }
        }
        for (id, &n) in matched.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if let Some(c) = counts.get_mut(id) {
                *c += n;
            }
            for &(inner, times) in self.contained.get(id).map_or(&[][..], Vec::as_slice) {
                if let Some(c) = counts.get_mut(inner) {
                    *c = c.saturating_add(n.saturating_mul(times));
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(keywords: &[&str]) -> KeywordIndex {
        let text = format!(
            "[[rules]]\nid = \"a\"\nwhen = {{ body = {{ keywords = {keywords:?} }} }}\nthen = {{ archive = true }}\n\n[default]\nthen = {{ deliver = true }}\n"
        );
        let (policy, _) = crate::Policy::parse(&text, "k.toml").unwrap();
        policy.keywords
    }

    /// Counts by brute force: every occurrence of every keyword.
    fn brute(keywords: &[&str], text: &str) -> Vec<u64> {
        keywords
            .iter()
            .map(|k| occurrences(text.as_bytes(), k.as_bytes()))
            .collect()
    }

    #[test]
    fn contained_keywords_are_counted_on_the_fast_path() {
        let kw = ["streng geheim", "geheim", "verschlusssache"];
        let i = index(&kw);
        assert!(i.fast);
        let text = "streng geheim und geheim, verschlusssache streng geheim";
        assert_eq!(i.count(text), brute(&kw, text));
        assert_eq!(i.count(text), [2, 3, 1]);
    }

    #[test]
    fn partially_overlapping_keywords_use_the_exact_search() {
        for kw in [&["ab", "bc"][..], &["aa"][..], &["abab", "b"][..]] {
            let i = index(kw);
            let text = "abcaaaababab";
            assert_eq!(i.count(text), brute(kw, text), "{kw:?}");
        }
        assert!(!index(&["ab", "bc"]).fast);
        assert!(!index(&["aa"]).fast);
    }

    #[test]
    fn the_fast_path_agrees_with_brute_force_on_many_texts() {
        let kw = ["vs-nfd", "nfd", "geheim", "streng geheim", "akte"];
        let i = index(&kw);
        assert!(i.fast);
        let words = [
            "vs-nfd",
            "nfd",
            "streng",
            "geheim",
            "akte",
            "personalakte",
            " ",
            "x",
        ];
        for seed in 0u64..300 {
            let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut text = String::new();
            for _ in 0..20 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(words[(state >> 33) as usize % words.len()]);
            }
            assert_eq!(i.count(&text), brute(&kw, &text), "{text}");
        }
    }
}
