//! Scripts: splitting text into statements at `;` and substituting `${variables}`.
//!
//! Splitting is lexical (quotes, back-quotes and comments are respected) and remembers where
//! each statement starts, so that parse errors report positions in the whole script. The shell
//! uses [`is_complete`] to decide whether a multi-line statement has ended.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// Text without the terminating `;` (leading whitespace and comments trimmed).
    pub text: String,
    /// 1-based line where the statement starts.
    pub line: u64,
    /// 1-based column where the statement starts.
    pub column: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Single,
    Double,
    Back,
    LineComment,
    BlockComment,
}

/// Walks `chars`, calling `code(i, c)` for every character outside quotes and comments (an
/// opening quote included), and returns the state at the end. Doubled quotes escape
/// themselves; comments are `-- …` to the end of the line and `/* … */`.
fn scan(chars: &[char], mut code: impl FnMut(usize, char)) -> State {
    let mut state = State::Code;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match state {
            State::Code => match c {
                '-' if next == Some('-') => {
                    state = State::LineComment;
                    i += 1;
                }
                '/' if next == Some('*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                _ => {
                    code(i, c);
                    state = match c {
                        '\'' => State::Single,
                        '"' => State::Double,
                        '`' => State::Back,
                        _ => State::Code,
                    };
                }
            },
            State::Single | State::Double | State::Back => {
                let q = match state {
                    State::Single => '\'',
                    State::Double => '"',
                    _ => '`',
                };
                if c == q {
                    if next == Some(q) {
                        i += 1; // a doubled quote escapes itself
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::LineComment => {
                if c == '\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if c == '*' && next == Some('/') {
                    state = State::Code;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    state
}

/// Splits a script into statements. Text after the last `;` that is not only whitespace or
/// comments is returned as a final statement (the parser reports it if it is incomplete).
pub fn split_statements(script: &str) -> Vec<StatementText> {
    let chars: Vec<char> = script.chars().collect();
    // Byte offset, line and column of every character (and of the end).
    let mut pos = Vec::with_capacity(chars.len() + 1);
    let (mut byte, mut line, mut col) = (0usize, 1u64, 1u64);
    for c in &chars {
        pos.push((byte, line, col));
        byte += c.len_utf8();
        if *c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    pos.push((byte, line, col));
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let statement = |s: usize, end: usize| StatementText {
        text: script[pos[s].0..pos[end].0].trim_end().to_string(),
        line: pos[s].1,
        column: pos[s].2,
    };
    scan(&chars, |i, c| {
        if c == ';' {
            if let Some(s) = start.take() {
                out.push(statement(s, i));
            }
        } else if !c.is_whitespace() && start.is_none() {
            start = Some(i);
        }
    });
    if let Some(s) = start {
        let last = statement(s, chars.len());
        if !last.text.is_empty() {
            out.push(last);
        }
    }
    out
}

/// Whether `buffer` ends with a complete statement: its last non-comment, non-whitespace
/// character outside quotes is `;`. The shell keeps reading lines until this holds.
pub fn is_complete(buffer: &str) -> bool {
    let chars: Vec<char> = buffer.chars().collect();
    let mut last_code = None;
    let state = scan(&chars, |_, c| {
        if !c.is_whitespace() {
            last_code = Some(c);
        }
    });
    matches!(state, State::Code | State::LineComment) && last_code == Some(';')
}

/// Replaces `${name}` with the variable's value (names are case-insensitive). An unknown
/// variable is an error, so a typo does not silently run a different statement.
pub fn substitute_variables(text: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(Error::plan(format!(
                "unterminated variable reference '${{{}' (expected '}}')",
                after.chars().take(20).collect::<String>()
            )));
        };
        let name = after[..end].trim();
        match vars.get(&name.to_uppercase()) {
            Some(v) => out.push_str(v),
            None => {
                return Err(Error::Catalog(format!(
                    "variable '{name}' is not defined; use DEFINE {name} = '…'; first"
                )));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_respecting_quotes_and_comments() {
        let s = "SELECT ';' FROM a;\n  -- note; here\n  INSERT INTO b VALUES ('x;y');\n/* ; */ SHOW STREAMS";
        let parts = split_statements(s);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].text, "SELECT ';' FROM a");
        assert_eq!((parts[1].line, parts[1].column), (3, 3));
        assert_eq!(parts[1].text, "INSERT INTO b VALUES ('x;y')");
        assert_eq!(parts[2].text, "SHOW STREAMS");
        assert_eq!((parts[2].line, parts[2].column), (4, 9));
    }

    #[test]
    fn completeness() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT ';'"));
        assert!(!is_complete("SELECT 'a;"));
        assert!(!is_complete("CREATE STREAM s (a INT)\n"));
    }

    #[test]
    fn variables() {
        let mut vars = BTreeMap::new();
        vars.insert("TOPIC".to_string(), "orders".to_string());
        assert_eq!(
            substitute_variables("WITH (KAFKA_TOPIC='${topic}')", &vars).unwrap(),
            "WITH (KAFKA_TOPIC='orders')"
        );
        assert!(substitute_variables("${nope}", &vars).is_err());
        assert!(substitute_variables("${topic", &vars).is_err());
    }
}
