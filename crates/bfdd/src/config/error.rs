//! [`ConfigError`] and the mapping of TOML byte offsets and serde paths to `file:line: key`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

/// Why a configuration was refused. Display is `file:line: key: message`, so an operator (or
/// `bfdd --check-config`) can go straight to the offending line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file itself could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// the configuration file
        path: PathBuf,
        /// why reading failed
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// the configuration file, as given
        file: PathBuf,
        /// 1-based line; 0 if the parser gave no position
        line: usize,
        /// the parser's message
        message: String,
    },
    /// Valid TOML, but a key is unknown, missing, duplicated or has a refused value.
    #[error("{}:{line}: {key}: {message}", file.display())]
    Invalid {
        /// the configuration file, as given
        file: PathBuf,
        /// 1-based line; 0 if the parser gave no position
        line: usize,
        /// dotted key path such as `peer[1].desired-min-tx` (array indices are 0-based)
        key: String,
        /// what is wrong and, where useful, what is accepted
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line the error points at, if it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. } => Some(*line),
        }
    }

    /// The key path the error points at, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The text being parsed and its file name, to turn spans into [`ConfigError`]s.
pub(super) struct Origin<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Origin<'_> {
    /// 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    pub fn invalid(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line(span.start),
            key: key.into(),
            message: message.into(),
        }
    }

    fn span_line(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(0, |s| self.line(s.start))
    }

    pub fn syntax(&self, err: &toml::de::Error) -> ConfigError {
        ConfigError::Syntax {
            file: self.file.to_owned(),
            line: self.span_line(err.span()),
            message: one_line(err.message()),
        }
    }

    /// A serde error from deserializing the typed configuration: the tracked path gives the key.
    /// `renumber` maps the key as the parsed text numbers it to the whole file's numbering.
    pub fn serde(
        &self,
        err: serde_path_to_error::Error<toml::de::Error>,
        renumber: impl Fn(&str) -> String,
    ) -> ConfigError {
        let key = renumber(&key_path(err.path()));
        let inner = err.into_inner();
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.span_line(inner.span()),
            key,
            message: one_line(inner.message()),
        }
    }
}

/// The parser's multi-line messages ("invalid table header\nexpected ...") on one line.
fn one_line(message: &str) -> String {
    message.trim().lines().collect::<Vec<_>>().join(": ")
}

/// `peer[1].auth.key-id` from serde's path, without toml's `Spanned` wrapper fields.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    out.push_str(key);
                } else {
                    // Quoted as TOML would need it, so the key can be found in the file.
                    out.push_str(&format!("{key:?}"));
                }
            }
            Segment::Enum { .. } => {}
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        out.push_str("(top level)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        let o = Origin {
            file: Path::new("x.toml"),
            text: "a\nb\n\nc",
        };
        assert_eq!(o.line(0), 1);
        assert_eq!(o.line(1), 1);
        assert_eq!(o.line(2), 2);
        assert_eq!(o.line(5), 4);
        assert_eq!(o.line(500), 4);
    }

    #[test]
    fn display_formats() {
        let e = ConfigError::Invalid {
            file: "bfdd.toml".into(),
            line: 12,
            key: "peer[1].desired-min-tx".into(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "bfdd.toml:12: peer[1].desired-min-tx: bad");
        let e = ConfigError::Syntax {
            file: "bfdd.toml".into(),
            line: 3,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "bfdd.toml:3: bad");
    }
}
