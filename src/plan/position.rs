//! A path → position index over the plan's YAML text.
//!
//! serde_yaml reports positions only for syntax and type errors, and stops at the first one. The
//! semantic checks of the second stage (a duplicate app name, a bad regex, a literal password) need
//! to point at the line and column of the value they reject, so this module walks the document once
//! with yaml-rust2's event parser, which keeps a mark for every scalar, mapping and sequence, and
//! records where each path starts. yaml-rust2 was chosen over a second full YAML library because its
//! event API is small, pure Rust, and gives exactly the marks needed without building a second tree.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    pub const START: Position = Position { line: 1, column: 1 };
}

/// How deep mappings and sequences may nest. A real plan nests six levels; the bound keeps every
/// parser after this one (serde_yaml's recursive deserializer among them) far from a stack
/// overflow, and this scan linear: it stops at the first node past the bound.
pub const MAX_DEPTH: usize = 64;
/// How long a mapping key may be. The plan's longest key has 36 characters; the bound keeps the
/// "did you mean" hint of an unknown key cheap.
pub const MAX_KEY_LENGTH: usize = 256;

/// A syntax error found while indexing, with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub position: Position,
    pub message: String,
    /// The document is well-formed as far as read, but exceeds [`MAX_DEPTH`] or
    /// [`MAX_KEY_LENGTH`]: no other parser should be given it.
    pub limit: bool,
}

/// Where each path of the document starts. Paths look like `source.tls.ca_file` or `apps[1].name`.
#[derive(Debug, Default)]
pub struct PositionIndex {
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
}

impl PositionIndex {
    pub fn build(text: &str) -> Result<Self, SyntaxError> {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser.next_token().map_err(|error| SyntaxError {
                position: to_position(error.marker()),
                message: error.info().to_string(),
                limit: false,
            })?;
            let position = to_position(&mark);
            let last = matches!(event, Event::StreamEnd | Event::DocumentEnd);
            if let Event::Scalar(text, ..) = &event
                && builder.expects_key()
                && text.chars().count() > MAX_KEY_LENGTH
            {
                return Err(SyntaxError {
                    position,
                    message: format!(
                        "a key of {} characters; keys are at most {MAX_KEY_LENGTH} characters long",
                        text.chars().count()
                    ),
                    limit: true,
                });
            }
            builder.on_event(event, mark);
            if builder.stack.len() > MAX_DEPTH {
                return Err(SyntaxError {
                    position,
                    message: format!("mappings and sequences nested deeper than {MAX_DEPTH} levels"),
                    limit: true,
                });
            }
            if last {
                break;
            }
        }
        Ok(Self { values: builder.values, keys: builder.keys })
    }

    /// The position of `path`'s value, or of its nearest ancestor that is present in the file
    /// (a missing field is reported where its parent mapping starts).
    pub fn locate(&self, path: &str) -> Position {
        let mut current = path;
        loop {
            if let Some(position) = self.values.get(current) {
                return *position;
            }
            match parent_path(current) {
                Some(parent) => current = parent,
                None => return Position::START,
            }
        }
    }

    /// The position of the key that introduces `path` (`source:` for `source`), for problems with
    /// the key itself; the start of the document for the root; else as [`Self::locate`].
    pub fn locate_key(&self, path: &str) -> Position {
        if path.is_empty() {
            return Position::START;
        }
        self.keys.get(path).copied().unwrap_or_else(|| self.locate(path))
    }

    /// Whether the path is written in the file (as opposed to defaulted).
    pub fn contains(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

/// `apps[1].name` → `apps[1]` → `apps` → none.
fn parent_path(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// Joins a child segment onto a path: a key with `.`, an index with `[i]`.
pub fn child_key(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

pub fn child_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn to_position(marker: &Marker) -> Position {
    // yaml-rust2's marks: 1-based lines, 0-based columns.
    Position { line: marker.line(), column: marker.col() + 1 }
}

enum Frame {
    Mapping { path: String, pending_key: Option<String> },
    Sequence { path: String, next_index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
}

impl Builder {
    /// Whether the next scalar is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { pending_key: None, .. }))
    }

    /// The path a new node takes, or `None` when the node is a mapping key (whose position is
    /// then recorded under the path it introduces).
    fn claim_path(&mut self, key_text: Option<&str>, position: Position) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(child_key(path, &key)),
                None => {
                    // Complex (non-scalar) keys get a placeholder name: serde rejects them anyway.
                    let key = key_text.unwrap_or("?").to_string();
                    self.keys.entry(child_key(path, &key)).or_insert(position);
                    *pending_key = Some(key);
                    None
                }
            },
            Some(Frame::Sequence { path, next_index }) => {
                let child = child_index(path, *next_index);
                *next_index += 1;
                Some(child)
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let position = to_position(&mark);
        match event {
            Event::Scalar(text, ..) => {
                if let Some(path) = self.claim_path(Some(&text), position) {
                    self.values.entry(path).or_insert(position);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.claim_path(None, position) {
                    self.values.entry(path).or_insert(position);
                }
            }
            Event::MappingStart(..) => {
                let path = self.claim_path(None, position).unwrap_or_else(|| "?".to_string());
                self.values.entry(path.clone()).or_insert(position);
                self.stack.push(Frame::Mapping { path, pending_key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.claim_path(None, position).unwrap_or_else(|| "?".to_string());
                self.values.entry(path.clone()).or_insert(position);
                self.stack.push(Frame::Sequence { path, next_index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: demo\nsource:\n  bootstrap_servers: a:1\n  tls:\n    ca_file: x.pem\napps:\n  - name: orders\n  - name: status\n    produces: [a, b]\n";

    #[test]
    fn locates_nested_keys_and_sequence_items() {
        let index = PositionIndex::build(DOC).unwrap();
        assert_eq!(index.locate("name"), Position { line: 1, column: 7 });
        assert_eq!(index.locate("source.bootstrap_servers"), Position { line: 3, column: 22 });
        assert_eq!(index.locate("source.tls.ca_file"), Position { line: 5, column: 14 });
        assert_eq!(index.locate("apps[1].name"), Position { line: 8, column: 11 });
        assert_eq!(index.locate("apps[1].produces[1]"), Position { line: 9, column: 19 });
        assert_eq!(index.locate_key("source.tls"), Position { line: 4, column: 3 });
        assert_eq!(index.locate_key("apps[1].produces"), Position { line: 9, column: 5 });
        assert_eq!(index.locate_key(""), Position::START);
    }

    #[test]
    fn a_missing_path_falls_back_to_its_nearest_ancestor() {
        let index = PositionIndex::build(DOC).unwrap();
        assert_eq!(index.locate("source.tls.enabled"), index.locate("source.tls"));
        assert_eq!(index.locate("replication.topics"), Position::START);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let error = PositionIndex::build("name: demo\nsource: [a\n").unwrap_err();
        assert!(error.position.line >= 2, "{error:?}");
    }
}
