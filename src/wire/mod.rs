//! Stanzas as bytes: everything the core sends is serialised once, straight into the
//! buffer the link writes, with no second copy and, for command results (`peers`,
//! `status` and every other node's), no element tree at all (see
//! [`crate::commands::render`]).
//!
//! A [`Wire`] collects the stanzas answering the inputs the core handled at one wake-up;
//! the link writes them with one `write`. It is also the last guard of the server's stanza limit
//! (Prosody: `component_stanza_size_limit`, 512 KiB; a larger stanza makes the server
//! close the stream): a stanza larger than [`Wire::max_stanza_bytes`] is taken back. An
//! IQ result is replaced by a `resource-constraint` error to its requester, so they still
//! get one answer; anything else is dropped and counted.

pub mod xml;

use minidom::rxml::xml_ncname;
use minidom::Element;
use xmpp_parsers::ns;

use crate::failure::Failure;
pub use xml::Xml;

/// The default namespace of a XEP-0114 stream: stanzas in it need no `xmlns`.
pub const STREAM_NS: &str = ns::COMPONENT_ACCEPT;

/// Default for the largest stanza sent: half of Prosody's default limit for components.
pub const DEFAULT_MAX_STANZA_BYTES: usize = 256 * 1024;

/// Serialised stanzas, one after the other, ready to be written.
#[derive(Debug)]
pub struct Wire {
    buf: Vec<u8>,
    /// Where each stanza ends in `buf`.
    ends: Vec<usize>,
    max_stanza_bytes: usize,
    /// Stanzas taken back for their size since the wire was made.
    oversized: u64,
}

/// A stanza that did not fit: its size in bytes, taken back from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub usize);

/// A stanza to send: an element tree, or one written straight as bytes (a prompt's
/// message, sent by the thousand: building its tree first cost more than writing it).
#[derive(Debug, Clone, PartialEq)]
pub enum Stanza {
    Tree(Element),
    /// One whole stanza in the stream's default namespace, as [`Xml`] writes it.
    Written(String),
}

impl From<Element> for Stanza {
    fn from(el: Element) -> Stanza {
        Stanza::Tree(el)
    }
}

impl Stanza {
    /// Writes a stanza with `write`.
    pub fn write(write: impl FnOnce(&mut Xml<'_>)) -> Stanza {
        let mut buf = Vec::new();
        write(&mut Xml::new(&mut buf));
        // Xml writes only what it is given as `&str`, escaped: the bytes are UTF-8.
        Stanza::Written(
            String::from_utf8(buf)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// The stanza as an element tree, parsed back if it was written: for tests.
    pub fn to_element(&self) -> Result<Element, minidom::Error> {
        match self {
            Stanza::Tree(el) => Ok(el.clone()),
            Stanza::Written(text) => parse_stanza(text),
        }
    }

    /// The tree, if it is one (written stanzas are never news to a platform).
    pub fn tree(&self) -> Option<&Element> {
        match self {
            Stanza::Tree(el) => Some(el),
            Stanza::Written(_) => None,
        }
    }
}

impl Wire {
    pub fn new(max_stanza_bytes: usize) -> Wire {
        Wire {
            buf: Vec::new(),
            ends: Vec::new(),
            max_stanza_bytes,
            oversized: 0,
        }
    }

    pub fn max_stanza_bytes(&self) -> usize {
        self.max_stanza_bytes
    }

    /// Writes one stanza with `write`. One larger than the limit is taken back.
    pub fn stanza(&mut self, write: impl FnOnce(&mut Xml<'_>)) -> Result<(), TooLarge> {
        let start = self.buf.len();
        write(&mut Xml::new(&mut self.buf));
        let size = self.buf.len() - start;
        if size > self.max_stanza_bytes {
            self.buf.truncate(start);
            return Err(TooLarge(size));
        }
        if size > 0 {
            self.ends.push(self.buf.len());
        }
        Ok(())
    }

    /// Serialises `el` as a stanza. An oversized IQ result becomes a
    /// `resource-constraint` error to its requester; anything else oversized is dropped.
    /// Both are counted in [`Wire::oversized`].
    pub fn send(&mut self, el: &Element) {
        let Err(TooLarge(size)) = self.stanza(|xml| xml.element(el, STREAM_NS)) else {
            return;
        };
        self.oversized += 1;
        if el.name() == "iq" && el.attr("type") == Some("result") {
            self.too_large_answer(el.attr("id"), el.attr("from"), el.attr("to"), size);
        }
    }

    /// Sends `stanza` as [`Wire::send`] does; one written as bytes is never an IQ
    /// result, and is dropped (and counted) if it is too large.
    pub fn send_stanza(&mut self, stanza: &Stanza) {
        match stanza {
            Stanza::Tree(el) => self.send(el),
            Stanza::Written(text) => {
                if self.stanza(|xml| _ = xml.raw(text.as_bytes())).is_err() {
                    self.oversized += 1;
                }
            }
        }
    }

    /// In place of an IQ result of `size` bytes that was too large: the error its
    /// requester gets.
    pub fn too_large_answer(
        &mut self,
        id: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        size: usize,
    ) {
        let failure = Failure::resource_constraint(format!(
            "the answer ({} KiB) is larger than the bridge may send through the chat server; ask for less",
            size / 1024
        ));
        let mut reply = Element::builder("iq", STREAM_NS)
            .attr(xml_ncname!("type").into(), "error")
            .append(failure.to_element());
        for (name, value) in [
            (xml_ncname!("id"), id),
            (xml_ncname!("from"), from),
            (xml_ncname!("to"), to),
        ] {
            if let Some(value) = value {
                reply = reply.attr(name.into(), value);
            }
        }
        let reply = reply.build();
        // An id too long for even the error is dropped: the request had no valid answer.
        let _ = self.stanza(|xml| xml.element(&reply, STREAM_NS));
    }

    /// Counts a stanza taken back by a caller of [`Wire::stanza`].
    pub fn count_oversized(&mut self) {
        self.oversized += 1;
    }

    /// Stanzas taken back for their size.
    pub fn oversized(&self) -> u64 {
        self.oversized
    }

    /// Stanzas waiting.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of every stanza waiting.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Each stanza waiting, in order.
    pub fn stanzas(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let stanza = &self.buf[start..end];
            start = end;
            stanza
        })
    }

    /// Takes every stanza waiting, leaving the wire empty (with room for as many bytes,
    /// up to a bound, so a steady flow does not grow its buffer again each time).
    pub fn take(&mut self) -> Stanzas {
        let count = self.ends.len();
        let ends = std::mem::replace(&mut self.ends, Vec::with_capacity(count));
        let room = self.buf.len().min(KEPT_ROOM);
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(room));
        Stanzas { bytes, ends }
    }
}

/// Room a wire keeps for the next batch, at most.
const KEPT_ROOM: usize = 256 * 1024;

/// Serialised stanzas handed to the link.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stanzas {
    pub bytes: Vec<u8>,
    /// Where each stanza ends in `bytes`.
    pub ends: Vec<usize>,
}

impl Stanzas {
    /// How many stanzas the bytes hold.
    pub fn count(&self) -> usize {
        self.ends.len()
    }

    /// Keeps the first `n` stanzas.
    pub fn truncate(&mut self, n: usize) {
        if n < self.ends.len() {
            let end = if n == 0 { 0 } else { self.ends[n - 1] };
            self.bytes.truncate(end);
            self.ends.truncate(n);
        }
    }

    /// Drops the first `n` stanzas (all of them if there are fewer).
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.ends.len());
        if n == 0 {
            return;
        }
        let cut = self.ends[n - 1];
        self.bytes.drain(..cut);
        self.ends.drain(..n);
        for end in &mut self.ends {
            *end -= cut;
        }
    }
}

/// The bare JID a serialised stanza is addressed to (its `to` up to any resource, as
/// written): the link's send queues are per destination. Reads the start tag as [`xml`]
/// writes it: attributes `name='value'`, values with `'` and `>` escaped. Empty for a
/// stanza without a `to`.
pub fn destination(stanza: &[u8]) -> &[u8] {
    let to = to_attribute(stanza).unwrap_or_default();
    let end = to.iter().position(|&b| b == b'/').unwrap_or(to.len());
    &to[..end]
}

/// The raw value of the `to` attribute of a serialised stanza's start tag.
fn to_attribute(stanza: &[u8]) -> Option<&[u8]> {
    let tag_end = stanza.iter().position(|&b| b == b'>')?;
    let tag = &stanza[..tag_end];
    // Skip the element name.
    let mut i = tag.iter().position(|&b| b == b' ')?;
    while i < tag.len() {
        while tag.get(i) == Some(&b' ') {
            i += 1;
        }
        let eq = i + tag[i..].iter().position(|&b| b == b'=')?;
        let name = &tag[i..eq];
        let quote = *tag.get(eq + 1)?;
        let start = eq + 2;
        let len = tag.get(start..)?.iter().position(|&b| b == quote)?;
        if name == b"to" {
            return Some(&tag[start..start + len]);
        }
        i = start + len + 1;
    }
    None
}

/// Parses one stanza as written on the stream (its namespace may be the stream's
/// default, not written): for tests and tools that look at what the core sends.
pub fn parse_stanza(stanza: &str) -> Result<Element, minidom::Error> {
    let doc = format!("<stream xmlns='{STREAM_NS}'>{stanza}</stream>");
    let mut root: Element = doc.parse()?;
    root.take_nodes()
        .into_iter()
        .find_map(|node| node.into_element())
        .ok_or(minidom::Error::EndOfDocument)
}

#[cfg(test)]
mod tests;
