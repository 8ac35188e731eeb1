//! Writing XML bytes directly: escaping, tags, and any [`Element`] in one pass.
//!
//! The output is always well-formed XML 1.0 whatever the strings hold: markup characters
//! are escaped, characters XML 1.0 does not allow (C0 controls other than tab, newline and
//! carriage return; U+FFFE and U+FFFF) become U+FFFD, carriage returns and, in attribute
//! values, tabs and newlines are written as character references so that a parser gives
//! back exactly the string written (XML parsers normalise them otherwise). Attribute
//! values are quoted with `'`.
//!
//! Names written with [`Xml::open`] and [`Xml::attr`] are the bridge's own constants and
//! are not checked; names from an [`Element`] were checked when it was built or parsed.

use minidom::{Element, Node};

/// Bytes that need more than copying, in text (`1`) and additionally in attribute
/// values (`2`). Bytes ≥ 0x80 are copied, except the lead byte of U+FFFE/U+FFFF (`3`).
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = 1;
        b += 1;
    }
    table[b'\t' as usize] = 2;
    table[b'\n' as usize] = 2;
    table[b'&' as usize] = 1;
    table[b'<' as usize] = 1;
    table[b'>' as usize] = 1;
    table[b'\'' as usize] = 2;
    table[b'"' as usize] = 2;
    table[0xEF] = 3;
    table
};

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Appends `s` to `out`, escaped for text content (`attr` false) or for an attribute
/// value quoted with `'` (`attr` true).
pub fn escape(out: &mut Vec<u8>, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let class = CLASS[b as usize];
        if class == 0 || (class == 2 && !attr) {
            i += 1;
            continue;
        }
        let mut width = 1;
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            b'\t' => b"&#9;",
            b'\n' => b"&#10;",
            b'\r' => b"&#13;",
            0xEF => {
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF; any other EF sequence is fine.
                if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                {
                    width = 3;
                    REPLACEMENT
                } else {
                    i += 1;
                    continue;
                }
            }
            _ => REPLACEMENT,
        };
        out.extend_from_slice(&bytes[copied..i]);
        out.extend_from_slice(replacement);
        i += width;
        copied = i;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// The length of `s` once escaped as text or as an attribute value.
pub fn escaped_len(s: &str, attr: bool) -> usize {
    let mut scratch = Vec::new();
    let plain = s
        .bytes()
        .all(|b| CLASS[b as usize] == 0 || (CLASS[b as usize] == 2 && !attr));
    if plain {
        return s.len();
    }
    escape(&mut scratch, s, attr);
    scratch.len()
}

/// An XML writer over a byte buffer: the caller opens and closes tags in order.
pub struct Xml<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Xml<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Xml<'a> {
        Xml { out }
    }

    /// Bytes in the buffer (all stanzas so far, not only this one).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Takes back what was written after `len`.
    pub fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }

    /// `<name`: attributes may follow, then [`Xml::head_end`] or [`Xml::empty_end`].
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self
    }

    /// ` name='value'`, the value escaped.
    pub fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push(b' ');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"='");
        escape(self.out, value, true);
        self.out.push(b'\'');
        self
    }

    /// An attribute whose value is known to need no escaping (a number, a fixed word).
    pub fn attr_plain(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.out.push(b' ');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"='");
        self.out.extend_from_slice(value);
        self.out.push(b'\'');
        self
    }

    /// Closes a start tag: children follow, then [`Xml::close`].
    pub fn head_end(&mut self) -> &mut Self {
        self.out.push(b'>');
        self
    }

    /// Closes a start tag as an empty element: `/>`.
    pub fn empty_end(&mut self) -> &mut Self {
        self.out.extend_from_slice(b"/>");
        self
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
        self
    }

    /// Text content, escaped.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape(self.out, text, false);
        self
    }

    /// `<name>text</name>`, or `<name/>` for an empty text.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        if text.is_empty() {
            return self.empty_end();
        }
        self.head_end().text(text).close(name)
    }

    /// Bytes already well-formed (a fragment written by this module).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Writes `el` and everything in it. `parent_ns` is the default namespace in scope
    /// (for a stanza, the stream's): `xmlns` is written where an element's namespace
    /// differs from its parent's. Namespaced attributes other than `xml:` ones get a
    /// prefix declared on their element. Iterative: no depth costs call stack.
    pub fn element(&mut self, el: &Element, parent_ns: &str) {
        // The namespaces in use; elements refer to theirs by index.
        let mut namespaces: Vec<String> = vec![parent_ns.to_owned()];
        let ns = self.start(el, 0, &mut namespaces);
        if !has_children(el) {
            self.empty_end();
            return;
        }
        self.head_end();
        // Each open element with its remaining children and its namespace.
        let mut stack: Vec<(&Element, std::slice::Iter<'_, Node>, usize)> =
            vec![(el, el.nodes(), ns)];
        while let Some((parent, nodes, parent_ns)) = stack.last_mut() {
            let parent_ns = *parent_ns;
            let Some(node) = nodes.next() else {
                self.close(parent.name());
                stack.pop();
                continue;
            };
            match node {
                Node::Text(text) => {
                    self.text(text);
                }
                Node::Element(child) => {
                    let child_ns = self.start(child, parent_ns, &mut namespaces);
                    if has_children(child) {
                        self.head_end();
                        stack.push((child, child.nodes(), child_ns));
                    } else {
                        self.empty_end();
                    }
                }
            }
        }
    }

    /// `<name xmlns=… attrs`: returns the index of the element's namespace.
    fn start(&mut self, el: &Element, parent_ns: usize, namespaces: &mut Vec<String>) -> usize {
        self.open(el.name());
        let inherited = namespaces
            .get(parent_ns)
            .is_some_and(|ns| el.has_ns(ns.as_str()));
        let ns = if inherited {
            parent_ns
        } else {
            let ns = el.ns();
            self.attr("xmlns", &ns);
            namespaces.push(ns);
            namespaces.len() - 1
        };
        let mut prefixes = 0;
        for ((attr_ns, name), value) in el.attrs().iter() {
            if attr_ns.is_none() {
                self.attr(name.as_str(), value);
            } else if attr_ns.as_str() == minidom::rxml::Namespace::xml().as_str() {
                self.out.extend_from_slice(b" xml:");
                self.out.extend_from_slice(name.as_bytes());
                self.out.extend_from_slice(b"='");
                escape(self.out, value, true);
                self.out.push(b'\'');
            } else {
                prefixes += 1;
                let prefix = format!("a{prefixes}");
                self.attr(&format!("xmlns:{prefix}"), attr_ns.as_str());
                self.attr(&format!("{prefix}:{}", name.as_str()), value);
            }
        }
        ns
    }
}

fn has_children(el: &Element) -> bool {
    el.nodes().next().is_some()
}
