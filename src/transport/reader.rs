//! Reading the server's XML stream (RFC 6120 §4, XEP-0114 §3) into stanzas, without
//! trusting their size or shape. Sans-IO: bytes in, [`StreamEvent`]s out.
//!
//! The bridge owns this reader because tokio-xmpp's stream reader builds its XML parser
//! with rxml's default 8 KiB token limit and offers no way to raise it: one attribute value,
//! attribute name or element name over 8 KiB ended the stream, and both servers forward
//! such stanzas from any user (Prosody takes client stanzas up to 256 KiB). Here:
//! - the token limit is the stanza limit, and at least [`MIN_TOKEN_BYTES`] (twice what
//!   Prosody forwards from its users, and what it takes from other servers), so any
//!   token a server forwards parses;
//! - a stanza larger than [`ReaderLimits::max_stanza_bytes`], with more than
//!   [`MAX_NODES`] elements and texts, or nested deeper than [`ReaderLimits::max_depth`]
//!   is read to its end without being built, reported as [`StreamEvent::Skipped`] with
//!   its top element (so an IQ can still be answered), and the stream goes on;
//! - elements are built with an explicit stack, never by recursion: a stanza nested
//!   30,000 levels deep costs no call stack.
//!
//! Only XML that is not well-formed, or a single token larger than that, ends the stream:
//! the parser cannot resynchronise after either. Neither server forwards the first; the
//! second needs a server that accepts stanzas over 1 MiB (ejabberd's c2s listener with no
//! `max_stanza_size`), and the link is then rebuilt.

use minidom::rxml::error::EndOrError;
use minidom::rxml::{AttrMap, Event, Options, Parse, Parser, QName, WithOptions};
use minidom::Element;

/// The stream namespace (RFC 6120 §4.8.1).
pub const NS_STREAM: &str = "http://etherx.jabber.org/streams";

/// Deepest nesting accepted in a stanza. Real stanzas nest a handful of levels (an ad-hoc
/// command with a data form is five); XEP-0356 forwarding adds three.
pub const MAX_DEPTH: usize = 64;

/// Default for [`ReaderLimits::max_stanza_bytes`]: above both servers' defaults for
/// what they forward (Prosody: 256 KiB from clients, 512 KiB from components).
pub const DEFAULT_MAX_STANZA_BYTES: usize = 1024 * 1024;

/// The token limit never goes below this, whatever the stanza limit: a lower stanza limit
/// skips more stanzas, but must not let one long attribute end the stream.
pub const MIN_TOKEN_BYTES: usize = 1024 * 1024;

/// Elements and text nodes built per stanza at most: a stanza within the size limit made
/// of tiny elements would otherwise cost some 70 times its size in memory.
pub const MAX_NODES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// A stanza larger than this (as bytes on the wire) is skipped. Also the longest
    /// single token (name, attribute value, text chunk) the parser accepts.
    pub max_stanza_bytes: usize,
    /// A stanza nested deeper than this is skipped.
    pub max_depth: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            max_stanza_bytes: DEFAULT_MAX_STANZA_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

/// What the stream said.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The server's `<stream:stream>` header, with its `id` (XEP-0114 §3 hashes it).
    Header { id: Option<String> },
    /// One complete top-level element: a stanza, `<handshake/>` or `<stream:error/>`.
    Stanza(Element),
    /// A stanza read to its end but not built: its top element, without children.
    Skipped { reason: Skip, head: Element },
    /// `</stream:stream>`: the server closed the stream.
    Footer,
}

/// Why a stanza was not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    TooLarge,
    TooDeep,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::TooLarge => "larger than the bridge accepts (in bytes or elements)",
            Skip::TooDeep => "nested deeper than the bridge accepts",
        }
    }
}

/// The stream cannot go on: not well-formed, or a token over the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable XML from the server: {0}")]
pub struct ReadError(String);

pub struct StreamReader {
    parser: Parser,
    limits: ReaderLimits,
    /// Open elements: 0 before the header, 1 between stanzas, 2 and more inside one.
    depth: usize,
    /// The current stanza's open elements, outermost first (empty while skipping).
    stack: Vec<Element>,
    /// Bytes of the current stanza so far.
    stanza_bytes: usize,
    /// Elements and texts of the current stanza so far.
    nodes: usize,
    skipping: Option<Skip>,
    /// The top element of a stanza being skipped, without children.
    head: Option<Element>,
    /// Empty elements of the names seen first, cloned for each element of those names:
    /// a clone shares its namespace, where building an element from its names copies
    /// the namespace twice. A presence is made of the same five names every time.
    templates: Vec<Element>,
}

/// Element templates kept at most.
const TEMPLATES: usize = 32;

impl StreamReader {
    pub fn new(limits: ReaderLimits) -> StreamReader {
        let options = Options {
            max_token_length: limits.max_stanza_bytes.max(MIN_TOKEN_BYTES),
            ..Options::default()
        };
        StreamReader {
            parser: Parser::with_options(options),
            limits,
            depth: 0,
            stack: Vec::new(),
            stanza_bytes: 0,
            nodes: 0,
            skipping: None,
            head: None,
            templates: Vec::new(),
        }
    }

    /// Parses `data`, all of it, appending what it completes to `out`. Incomplete input is
    /// kept for the next call. `at_eof`: the connection is closed, no more data will come.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        at_eof: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ReadError> {
        loop {
            match self.parser.parse(&mut data, at_eof) {
                Ok(Some(event)) => self.on_event(event, out)?,
                Ok(None) => return Ok(()),
                Err(EndOrError::NeedMoreData) => return Ok(()),
                Err(EndOrError::Error(e)) => return Err(ReadError(e.to_string())),
            }
        }
    }

    fn on_event(&mut self, event: Event, out: &mut Vec<StreamEvent>) -> Result<(), ReadError> {
        if self.depth >= 2 {
            self.stanza_bytes = self.stanza_bytes.saturating_add(event.metrics().len());
        }
        match event {
            Event::XmlDeclaration(..) => {}
            Event::StartElement(metrics, qname, attrs) => match self.depth {
                0 => {
                    if qname.0 != NS_STREAM || qname.1 != "stream" {
                        return Err(ReadError(format!(
                            "expected a stream header, got <{}/>",
                            qname.1
                        )));
                    }
                    let id = attrs
                        .into_iter()
                        .find(|((ns, name), _)| ns.is_none() && *name == "id")
                        .map(|(_, value)| value);
                    self.depth = 1;
                    out.push(StreamEvent::Header { id });
                }
                1 => {
                    self.depth = 2;
                    self.stanza_bytes = metrics.len();
                    self.nodes = 1;
                    self.skipping = None;
                    self.head = None;
                    self.stack.clear();
                    let el = self.element(qname, attrs);
                    self.stack.push(el);
                }
                _ => {
                    self.depth += 1;
                    self.nodes += 1;
                    if self.skipping.is_none() {
                        if self.stack.len() >= self.limits.max_depth {
                            self.skip(Skip::TooDeep);
                        } else {
                            let el = self.element(qname, attrs);
                            self.stack.push(el);
                        }
                    }
                }
            },
            Event::Text(_, text) => {
                self.nodes += 1;
                // Whitespace between stanzas (depth 1) means nothing.
                if self.depth >= 2 && self.skipping.is_none() {
                    if let Some(open) = self.stack.last_mut() {
                        open.append_text(text);
                    }
                }
            }
            Event::EndElement(_) => match self.depth {
                0 => {}
                1 => {
                    self.depth = 0;
                    out.push(StreamEvent::Footer);
                }
                _ => {
                    self.depth -= 1;
                    if let Some(reason) = self.skipping {
                        if self.depth == 1 {
                            self.skipping = None;
                            if let Some(head) = self.head.take() {
                                out.push(StreamEvent::Skipped { reason, head });
                            }
                        }
                    } else if let Some(closed) = self.stack.pop() {
                        match self.stack.last_mut() {
                            Some(parent) => {
                                parent.append_child(closed);
                            }
                            None => out.push(StreamEvent::Stanza(closed)),
                        }
                    }
                }
            },
        }
        if self.depth >= 2
            && self.skipping.is_none()
            && (self.stanza_bytes > self.limits.max_stanza_bytes || self.nodes > MAX_NODES)
        {
            self.skip(Skip::TooLarge);
        }
        Ok(())
    }

    fn skip(&mut self, reason: Skip) {
        self.skipping = Some(reason);
        // The top element's name and attributes say who sent what (an IQ gets its error);
        // the rest is freed now rather than when the stanza ends.
        self.head = self.stack.first().map(|top| {
            let mut head = Element::builder(top.name(), top.ns());
            for ((ns, name), value) in top.attrs().iter() {
                head = head.attr_ns(ns.clone(), name.clone(), value.clone());
            }
            head.build()
        });
        self.stack = Vec::new();
    }
}

impl StreamReader {
    /// The element as the parser gave it: its attribute map is taken as it is, not built
    /// again attribute by attribute.
    fn element(&mut self, (ns, name): QName, attrs: AttrMap) -> Element {
        let template = self
            .templates
            .iter()
            .find(|t| t.name() == name.as_str() && t.has_ns(ns.as_str()));
        let mut el = match template {
            Some(template) => template.clone(),
            None => {
                let el = Element::bare(name, ns);
                if self.templates.len() < TEMPLATES {
                    self.templates.push(el.clone());
                }
                el
            }
        };
        *el.attrs_mut() = attrs;
        el
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='game.example.test' id='abc'>";

    fn read_with(limits: ReaderLimits, chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, ReadError> {
        let mut reader = StreamReader::new(limits);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, false, &mut out)?;
        }
        Ok(out)
    }

    fn read(body: &str) -> Vec<StreamEvent> {
        let xml = format!("{HEADER}{body}");
        read_with(ReaderLimits::default(), &[xml.as_bytes()]).unwrap()
    }

    fn stanzas(events: &[StreamEvent]) -> Vec<&Element> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Stanza(el) => Some(el),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_the_header_id_and_stanzas_as_minidom_would() {
        let stanza = "<iq xmlns='jabber:component:accept' type='set' id='a' from='x@y/z' to='g'>\
            <command xmlns='http://jabber.org/protocol/commands' node='peers' xml:lang='fr'>\
            <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>a@b</value></field></x>\
            </command>text &amp; more</iq>";
        let events = read(&format!(
            "{stanza}\n  <presence from='a@b' to='g'/></stream:stream>"
        ));
        assert_eq!(
            events[0],
            StreamEvent::Header {
                id: Some("abc".into())
            }
        );
        let expected: Element = stanza.parse().unwrap();
        // Text may be split into several nodes by either builder; the XML is the same.
        assert_eq!(String::from(stanzas(&events)[0]), String::from(&expected));
        assert_eq!(stanzas(&events)[0].text(), "text & more");
        assert_eq!(stanzas(&events)[1].name(), "presence");
        assert_eq!(events.last(), Some(&StreamEvent::Footer));
    }

    #[test]
    fn a_stanza_split_across_reads_at_every_byte_is_the_same_stanza() {
        let xml = format!("{HEADER}<message from='a@b/c' to='g' id='&lt;1&gt;'><body>h\u{e9}llo \u{1F600}</body></message>");
        let whole = read_with(ReaderLimits::default(), &[xml.as_bytes()]).unwrap();
        let bytes = xml.as_bytes();
        for cut in 1..bytes.len() {
            let split =
                read_with(ReaderLimits::default(), &[&bytes[..cut], &bytes[cut..]]).unwrap();
            assert_eq!(split, whole, "cut at {cut}");
        }
    }

    #[test]
    fn tokens_far_over_eight_kib_are_read() {
        let long = "v".repeat(200_000);
        let name = "n".repeat(20_000);
        let events = read(&format!(
            "<presence from='a@b/c' to='g'><c xmlns='http://jabber.org/protocol/caps' ver='{long}' {name}='x'/><{name} xmlns='urn:x'/></presence><iq from='a@b/c' to='g' id='2' type='get'/>"
        ));
        let got = stanzas(&events);
        assert_eq!(got.len(), 2, "{events:?}");
        let caps = got[0].children().next().unwrap();
        assert_eq!(caps.attr("ver").map(str::len), Some(200_000));
        assert_eq!(caps.attr(name.as_str()), Some("x"));
        assert_eq!(got[0].children().nth(1).unwrap().name(), name);
    }

    #[test]
    fn a_stanza_over_the_limit_is_skipped_and_the_next_one_read() {
        let limits = ReaderLimits {
            max_stanza_bytes: 1_000,
            max_depth: MAX_DEPTH,
        };
        let big = format!(
            "<message from='a@b/c' to='g'>{}</message>",
            "<x xmlns='urn:x'>text</x>".repeat(200)
        );
        let xml = format!("{HEADER}{big}<iq from='a@b/c' to='g' id='2' type='get'/>");
        let events = read_with(limits, &[xml.as_bytes()]).unwrap();
        assert!(
            matches!(&events[1], StreamEvent::Skipped { reason: Skip::TooLarge, head } if head.name() == "message" && head.children().next().is_none()),
            "{:?}",
            events[1]
        );
        assert_eq!(stanzas(&events).len(), 1);
        assert_eq!(stanzas(&events)[0].name(), "iq");
    }

    #[test]
    fn under_a_low_limit_a_long_token_skips_its_stanza_and_only_past_a_mib_ends_the_stream() {
        let limits = ReaderLimits {
            max_stanza_bytes: 1_000,
            max_depth: MAX_DEPTH,
        };
        let xml = format!(
            "{HEADER}<presence from='a@b/c' ver='{}'/><iq from='a@b/c' to='g' id='2'/>",
            "v".repeat(300_000)
        );
        let events = read_with(limits, &[xml.as_bytes()]).unwrap();
        assert!(matches!(
            events[1],
            StreamEvent::Skipped {
                reason: Skip::TooLarge,
                ..
            }
        ));
        assert_eq!(stanzas(&events)[0].name(), "iq");
        let xml = format!(
            "{HEADER}<presence ver='{}'/>",
            "v".repeat(MIN_TOKEN_BYTES + 1)
        );
        assert!(read_with(limits, &[xml.as_bytes()]).is_err());
    }

    #[test]
    fn a_stanza_of_too_many_tiny_elements_is_skipped() {
        let xml = format!(
            "{HEADER}<message from='a@b/c' to='g'>{}</message><iq from='a@b/c' to='g' id='2'/>",
            "<a/>".repeat(MAX_NODES + 1)
        );
        let events = read_with(ReaderLimits::default(), &[xml.as_bytes()]).unwrap();
        assert!(matches!(
            events[1],
            StreamEvent::Skipped {
                reason: Skip::TooLarge,
                ..
            }
        ));
        assert_eq!(stanzas(&events)[0].name(), "iq");
    }

    #[test]
    fn nesting_up_to_the_limit_is_built_and_deeper_is_skipped() {
        let nest = |depth: usize| {
            format!(
                "<message from='a@b/c' to='g'>{}{}</message>",
                "<a xmlns='urn:x'>".repeat(depth - 1),
                "</a>".repeat(depth - 1)
            )
        };
        let events = read(&nest(MAX_DEPTH));
        assert_eq!(stanzas(&events).len(), 1);
        let events = read(&format!("{}<iq from='a@b/c' to='g'/>", nest(MAX_DEPTH + 1)));
        assert!(matches!(
            events[1],
            StreamEvent::Skipped {
                reason: Skip::TooDeep,
                ..
            }
        ));
        assert_eq!(stanzas(&events)[0].name(), "iq");
    }

    #[test]
    fn a_stanza_nested_thirty_thousand_levels_is_skipped_quickly() {
        let depth = 30_000;
        let xml = format!(
            "{HEADER}<message from='a@b/c' to='g'>{}{}</message>",
            "<a xmlns='urn:x'>".repeat(depth),
            "</a>".repeat(depth)
        );
        let start = std::time::Instant::now();
        let events = read_with(ReaderLimits::default(), &[xml.as_bytes()]).unwrap();
        assert!(matches!(
            events[1],
            StreamEvent::Skipped {
                reason: Skip::TooDeep,
                ..
            }
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Feeds `bytes` in pieces cut at `cuts` (positions taken modulo the length).
    fn read_cut(
        limits: ReaderLimits,
        bytes: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<StreamEvent>, ReadError> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for p in points {
            pieces.push(&bytes[start..p]);
            start = p;
        }
        pieces.push(&bytes[start..]);
        read_with(limits, &pieces)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// parse(serialise(x)) == x for any stanza, however the bytes are cut, and the
        /// stanza after it is read too.
        #[test]
        fn any_stanza_survives_the_writer_and_the_reader(
            el in crate::testing::stanza(),
            cuts in proptest::collection::vec(0usize..100_000, 0..6),
        ) {
            let mut wire = crate::wire::Wire::new(usize::MAX);
            wire.send(&el);
            let mut bytes = HEADER.as_bytes().to_vec();
            bytes.extend_from_slice(wire.bytes());
            bytes.extend_from_slice(b"<iq xmlns='jabber:component:accept' id='next'/>");
            let events = read_cut(ReaderLimits::default(), &bytes, &cuts).unwrap();
            let got = stanzas(&events);
            // Within the depth limit it is built; deeper, skipped; the next one is read.
            if got.len() == 2 {
                proptest::prop_assert_eq!(String::from(got[0]), String::from(&el));
            } else {
                let skipped = events.iter().any(|e| matches!(e, StreamEvent::Skipped { reason: Skip::TooDeep, .. }));
                proptest::prop_assert!(skipped);
            }
            proptest::prop_assert_eq!(got.last().and_then(|e| e.attr("id")), Some("next"));
        }

        /// Whatever bytes come, in whatever pieces: events or an error, never a panic,
        /// and never a stanza over the limit.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3_000),
            cuts in proptest::collection::vec(0usize..3_000, 0..4),
        ) {
            let mut all = HEADER.as_bytes().to_vec();
            all.extend_from_slice(&bytes);
            let limits = ReaderLimits { max_stanza_bytes: 512, max_depth: 8 };
            if let Ok(events) = read_cut(limits, &all, &cuts) {
                for el in stanzas(&events) {
                    proptest::prop_assert!(String::from(el).len() <= 4 * 512);
                }
            }
        }

        /// Markup soup: sequences of tokens a parser must get right (entities, CDATA,
        /// comments, processing instructions, odd nesting).
        #[test]
        fn markup_soup_never_panics(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "<a>", "</a>", "<b x='1' y=\"2\"/>", "&amp;", "&#x1F600;", "&#0;", "&bogus;",
                "text", "<!-- c -->", "<![CDATA[<x>]]>", "<?pi x?>", "\u{0}", "<a xmlns='urn:x'>",
                "<p:a xmlns:p='urn:p'>", "</p:a>", "<a xml:lang='en'>", "'", "\"", ">", "<",
                "<message to='g' from='a@b/c'>", "</message>",
            ]), 0..40),
        ) {
            let xml = format!("{HEADER}{}", tokens.concat());
            let _ = read_with(ReaderLimits::default(), &[xml.as_bytes()]);
        }
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        let xml = format!("{HEADER}<message from='a' to='b'></presence>");
        assert!(read_with(ReaderLimits::default(), &[xml.as_bytes()]).is_err());
        assert!(read_with(ReaderLimits::default(), &[b"<notastream/>"]).is_err());
    }
}
