//! The node tree: [`Node`], [`Attrs`], [`AttrValue`], [`Content`].

use std::borrow::Cow;
use std::fmt;

use crate::jid::Jid;

/// One element of a stanza: a tag, ordered attributes and optional content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// Element name, e.g. `iq`, `message`. Must not be empty.
    pub tag: String,
    /// Attributes in insertion order.
    pub attrs: Attrs,
    /// Children, bytes, a string, or nothing.
    pub content: Content,
}

/// Ordered attributes; keys are unique ([`Attrs::insert`] replaces an existing value in place).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attrs(Vec<(String, AttrValue)>);

/// An attribute value: a plain string or a JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// Text (a string that is a canonical JID is written as a JID and decodes as [`AttrValue::Jid`]).
    Str(String),
    /// A JID.
    Jid(Jid),
}

/// What a node holds after its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// No content.
    #[default]
    None,
    /// Child nodes (an empty vector is written as an empty list).
    Nodes(Vec<Node>),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A string. Only strings written compactly (tokens, nibble/hex packed, JIDs) decode as
    /// `Str`; any other text is written as raw bytes and decodes as [`Content::Bytes`].
    Str(String),
}

impl Attrs {
    /// No attributes.
    pub fn new() -> Self {
        Attrs(Vec::new())
    }

    /// Sets `key` to `value`, replacing an existing value in place or appending.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<AttrValue>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<AttrValue> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }

    /// Attributes in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<AttrValue>> FromIterator<(K, V)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attrs = Attrs::new();
        for (k, v) in iter {
            attrs.insert(k, v);
        }
        attrs
    }
}

impl AttrValue {
    /// The value as text (a JID is rendered with its `Display` form).
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Str(s) => Cow::Borrowed(s),
            AttrValue::Jid(j) => Cow::Owned(j.to_string()),
        }
    }

    /// The value as a JID: the JID itself, or a string that parses as one.
    pub fn to_jid(&self) -> Option<Jid> {
        match self {
            AttrValue::Str(s) => Jid::parse(s).ok(),
            AttrValue::Jid(j) => Some(j.clone()),
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => f.write_str(s),
            AttrValue::Jid(j) => j.fmt(f),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<&String> for AttrValue {
    fn from(s: &String) -> Self {
        AttrValue::Str(s.clone())
    }
}
impl From<Jid> for AttrValue {
    fn from(j: Jid) -> Self {
        AttrValue::Jid(j)
    }
}
impl From<&Jid> for AttrValue {
    fn from(j: &Jid) -> Self {
        AttrValue::Jid(j.clone())
    }
}
macro_rules! attr_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for AttrValue {
            fn from(n: $t) -> Self {
                AttrValue::Str(n.to_string())
            }
        }
    )*};
}
attr_from_int!(u8, u16, u32, u64, usize, i32, i64);

impl Node {
    /// A node with `tag`, no attributes and no content.
    pub fn new(tag: impl Into<String>) -> Self {
        Node {
            tag: tag.into(),
            ..Node::default()
        }
    }

    /// Builder: sets attribute `key`.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.attrs.insert(key, value);
        self
    }

    /// Builder: sets the content to child nodes.
    pub fn children(mut self, children: Vec<Node>) -> Self {
        self.content = Content::Nodes(children);
        self
    }

    /// Builder: sets the content to raw bytes.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Builder: sets the content to a string.
    pub fn string(mut self, s: impl Into<String>) -> Self {
        self.content = Content::Str(s.into());
        self
    }

    /// The value of attribute `key`.
    pub fn get_attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.get(key)
    }

    /// Attribute `key` as text.
    pub fn attr_str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attrs.get(key).map(AttrValue::as_str)
    }

    /// Attribute `key` as a JID (a JID value, or a string that parses as one).
    pub fn attr_jid(&self, key: &str) -> Option<Jid> {
        self.attrs.get(key).and_then(AttrValue::to_jid)
    }

    /// All child nodes (empty unless the content is [`Content::Nodes`]).
    pub fn nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with `tag`.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.nodes().iter().find(|n| n.tag == tag)
    }

    /// All children with `tag`, in order.
    pub fn children_with_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes().iter().filter(move |n| n.tag == tag)
    }

    /// The content as bytes: raw bytes, or the UTF-8 of a string content.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            Content::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

impl Attrs {
    /// Attributes exactly as decoded (duplicate keys kept in wire order; `get` finds the first).
    pub(crate) fn from_decoded(attrs: Vec<(String, AttrValue)>) -> Self {
        Attrs(attrs)
    }
}
