//! Where in the scenario text a problem is: key paths, their lines, and the
//! messages of serde's errors rewritten to name the key and suggest a fix.

use super::ScenarioError;

/// A failed check: `Err` with the key path and the message.
pub(super) fn err<T>(path: Vec<Seg>, message: String) -> Result<T, (Vec<Seg>, String)> {
    Err((path, message))
}

/// The 1-based line of the key at `keys` (plain table keys, outermost
/// first) in a TOML text, for errors about files other than scenarios.
pub fn line_of_keys(text: &str, keys: &[&str]) -> Option<usize> {
    let path: Vec<Seg> = keys.iter().map(|k| Seg::Name(k.to_string())).collect();
    locate(text, &path)
}

/// One step of a key path.
#[derive(Clone, Debug)]
pub(super) enum Seg {
    Key(&'static str),
    /// A key known only at run time.
    Name(String),
    Idx(usize),
}

impl Seg {
    fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Name(k) => Some(k),
            Seg::Idx(_) => None,
        }
    }
}

/// The error for the key at `path` in `text` (the contents of `file`).
pub(super) fn error_at(text: &str, file: &str, path: &[Seg], message: String) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        line: locate(text, path),
        key: path_string(path),
        message,
    }
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg.key() {
            Some(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            None => {
                if let Seg::Idx(i) = seg {
                    s.push_str(&format!("[{i}]"));
                }
            }
        }
    }
    s
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The line of the deepest part of `path` present in `text`.
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut value: Option<&DeValue> = None;
    let mut table = Some(doc.get_ref());
    for seg in path {
        let next = match (seg, table, value) {
            (Seg::Key(_) | Seg::Name(_), Some(t), _) => t
                .iter()
                .find(|(key, _)| Some(key.get_ref().as_ref()) == seg.key())
                .map(|(key, v)| {
                    span = Some(key.span());
                    v
                }),
            (Seg::Idx(i), _, Some(DeValue::Array(a))) => {
                a.get(*i).inspect(|v| span = Some(v.span()))
            }
            _ => None,
        };
        let Some(v) = next else { break };
        value = Some(v.get_ref());
        table = match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    // Nothing of the path is in the file (e.g. a default that conflicts with
    // another value): point at the top of the file, the key names the rest.
    Some(span.map_or(1, |s| line_of(text, s.start)))
}

/// The deepest key path whose key or value span contains `offset`. Header
/// tables (`[network]`, `[[validators]]`) may have spans that do not cover
/// their keys, so every entry is searched, not only the enclosing ones.
fn path_at(text: &str, offset: usize) -> String {
    use toml::de::{DeTable, DeValue};
    fn walk(v: &DeValue, offset: usize, path: &mut Vec<String>, best: &mut (usize, Vec<String>)) {
        let mut visit = |label: String, hit: bool, child: &DeValue, path: &mut Vec<String>| {
            path.push(label);
            if hit && path.len() > best.0 {
                *best = (path.len(), path.clone());
            }
            walk(child, offset, path, best);
            path.pop();
        };
        match v {
            DeValue::Table(t) => {
                for (k, val) in t.iter() {
                    let hit = k.span().contains(&offset) || val.span().contains(&offset);
                    visit(k.get_ref().to_string(), hit, val.get_ref(), path);
                }
            }
            DeValue::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    visit(
                        format!("[{i}]"),
                        val.span().contains(&offset),
                        val.get_ref(),
                        path,
                    );
                }
            }
            _ => {}
        }
    }
    let Ok(doc) = DeTable::parse(text) else {
        return String::new();
    };
    let root = DeValue::Table(doc.into_inner());
    let mut best = (0, Vec::new());
    walk(&root, offset, &mut Vec::new(), &mut best);
    let mut out = String::new();
    for seg in best.1 {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(&seg);
    }
    out
}

/// The names serde lists after the first backticked word of its message
/// ("… `x`, expected one of `a`, `b`"): `a`, `b`.
fn expected_names(rest: &str) -> Vec<String> {
    rest.split('`')
        .skip(2)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

pub(super) fn serde_error(text: &str, file: &str, e: &toml::de::Error) -> ScenarioError {
    let raw = e.message().trim().to_string();
    let line = Some(e.span().map_or(1, |s| line_of(text, s.start)));
    let mut key = e.span().map(|s| path_at(text, s.start)).unwrap_or_default();
    let mut message = raw.clone();
    // serde: "unknown field `x`, expected one of `a`, `b`" / "expected `a`".
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let expected = expected_names(rest);
        if !key.ends_with(field) {
            key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
        }
        message = format!("unknown key `{field}`{}", did_you_mean(field, &expected));
        if !expected.is_empty() {
            message.push_str(&format!(" (allowed here: {})", expected.join(", ")));
        }
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        key = if key.is_empty() {
            field.to_string()
        } else {
            format!("{key}.{field}")
        };
        message = format!("required key `{field}` is missing");
    } else if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or("");
        let expected = expected_names(rest);
        message = format!(
            "unknown value {value:?}{} (allowed: {})",
            did_you_mean(value, &expected),
            expected.join(", ")
        );
    }
    if key.is_empty() {
        key = "(document)".to_string();
    }
    ScenarioError {
        file: file.to_string(),
        line,
        key,
        message,
    }
}

/// ", did you mean `x`?" when a candidate is close, else "".
pub fn did_you_mean(word: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_the_line_an_offset_is_on() {
        let t = "a = 1\nb = 2\n";
        assert_eq!(line_of(t, 0), 1);
        assert_eq!(
            line_of(t, 6),
            2,
            "the first byte after a newline is on the next line"
        );
        assert_eq!(line_of(t, 12), 3);
    }
}
