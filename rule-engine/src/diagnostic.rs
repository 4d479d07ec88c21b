//! Findings about a policy file, with file, line and column, printed like a
//! compiler prints them.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy cannot be used.
    Error,
    /// The policy works, but probably not as its author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One error or warning about a policy file, pointing at the offending text.
///
/// `Display` prints it the way `rustc` does:
///
/// ```text
/// error: unknown condition `recipent`
///   --> policy.toml:4:10
///    |
///  4 | when = { recipent = "a@b.example" }
///    |          ^^^^^^^^
///    = help: did you mean `recipient`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file name the policy was loaded from (or the name given to
    /// [`Policy::parse`](crate::Policy::parse)).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// How many characters of the line the finding covers (at least 1).
    pub width: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The text of the line the finding points at.
    pub source_line: String,
}

impl Diagnostic {
    /// Whether this finding makes the policy unusable.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(f, "{}: {}", self.severity, self.message)?;
        writeln!(f, "{pad}--> {}:{}:{}", self.file, self.line, self.column)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {}", self.source_line)?;
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(self.column.saturating_sub(1)),
            "^".repeat(self.width.max(1))
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets of a policy text into lines and columns.
#[derive(Debug)]
pub(crate) struct SourceMap<'s> {
    text: &'s str,
    file: String,
    line_starts: Vec<usize>,
}

impl<'s> SourceMap<'s> {
    pub(crate) fn new(text: &'s str, file: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            text,
            file: file.to_owned(),
            line_starts,
        }
    }

    /// A diagnostic for the bytes `span` of the text.
    pub(crate) fn diagnostic(
        &self,
        severity: Severity,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let start = span.start.min(self.text.len());
        let line_index = match self.line_starts.binary_search(&start) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let line_end = self
            .text
            .get(line_start..)
            .and_then(|rest| rest.find('\n'))
            .map_or(self.text.len(), |i| line_start + i);
        let line_text = self
            .text
            .get(line_start..line_end)
            .unwrap_or("")
            .trim_end_matches('\r');
        let column = self
            .text
            .get(line_start..start)
            .map_or(0, |s| s.chars().count())
            + 1;
        let end = span.end.clamp(start, line_end.max(start));
        let width = self.text.get(start..end).map_or(1, |s| s.chars().count());
        Diagnostic {
            severity,
            file: self.file.clone(),
            line: line_index + 1,
            column,
            width: width.max(1),
            message: message.into(),
            help,
            source_line: line_text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let map = SourceMap::new("a = 1\nbé = 2\n", "p.toml");
        let d = map.diagnostic(Severity::Error, 10..11, "x", None);
        assert_eq!((d.line, d.column, d.width), (2, 4, 1));
        assert_eq!(d.source_line, "bé = 2");
    }

    #[test]
    fn display_looks_like_a_compiler() {
        let map = SourceMap::new("[policy]\nnmae = 1\n", "p.toml");
        let d = map.diagnostic(
            Severity::Error,
            9..13,
            "unknown key `nmae`",
            Some("did you mean `name`?".into()),
        );
        assert_eq!(
            d.to_string(),
            "error: unknown key `nmae`\n --> p.toml:2:1\n  |\n2 | nmae = 1\n  | ^^^^\n  = help: did you mean `name`?"
        );
    }

    #[test]
    fn spans_past_the_end_do_not_panic() {
        let map = SourceMap::new("x", "p.toml");
        let d = map.diagnostic(Severity::Warning, 50..60, "x", None);
        assert_eq!(d.line, 1);
    }
}
