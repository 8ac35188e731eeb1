//! XML read by scanning bytes, without building elements: fast enough not to be what is measured.

use super::*;

#[derive(Debug)]
pub(crate) enum Tok {
    Header(Range<usize>),
    Stanza(Range<usize>),
    Footer,
}

/// Splits the incoming stream into top-level elements without building them: tracks
/// depth over tags (quotes respected) and remembers where it stopped between reads.
#[derive(Default)]
pub(crate) struct Scanner {
    pub(crate) buf: Vec<u8>,
    /// Next byte to look at; never inside a tag.
    pub(crate) pos: usize,
    /// Where the stanza being read began.
    pub(crate) start: usize,
    pub(crate) depth: usize,
}

impl Scanner {
    pub(crate) fn next(&mut self) -> Result<Option<Tok>, String> {
        loop {
            let i = self.pos;
            let Some(&b) = self.buf.get(i) else {
                return Ok(None);
            };
            if b != b'<' {
                let end = find_byte(&self.buf[i..], b'<').map_or(self.buf.len(), |off| i + off);
                if self.depth == 0 && !self.buf[i..end].iter().all(u8::is_ascii_whitespace) {
                    return Err(format!(
                        "text outside any stanza: {:?}",
                        truncate(&String::from_utf8_lossy(&self.buf[i..end]), 80)
                    ));
                }
                self.pos = end;
                continue;
            }
            let Some(&next) = self.buf.get(i + 1) else {
                return Ok(None);
            };
            match next {
                b'/' => {
                    let Some(off) = find_byte(&self.buf[i..], b'>') else {
                        return Ok(None);
                    };
                    let end = i + off + 1;
                    self.pos = end;
                    if self.depth == 0 {
                        return Ok(Some(Tok::Footer));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(Tok::Stanza(self.start..end)));
                    }
                }
                b'?' => {
                    let Some(off) = find(&self.buf[i..], b"?>") else {
                        return Ok(None);
                    };
                    self.pos = i + off + 2;
                }
                b'!' => {
                    let rest = &self.buf[i..];
                    let close: &[u8] = if rest.starts_with(b"<!--") {
                        b"-->"
                    } else if rest.starts_with(b"<![CDATA[") {
                        b"]]>"
                    } else if rest.len() < 9 {
                        return Ok(None);
                    } else {
                        return Err("unexpected <! markup".to_owned());
                    };
                    let Some(off) = find(rest, close) else {
                        return Ok(None);
                    };
                    self.pos = i + off + close.len();
                }
                _ => {
                    let Some((len, empty)) = tag_end(&self.buf[i..]) else {
                        return Ok(None);
                    };
                    let end = i + len;
                    self.pos = end;
                    if self.depth == 0 {
                        self.start = i;
                        if self.buf[i..end].starts_with(b"<stream:stream") {
                            return Ok(Some(Tok::Header(i..end)));
                        }
                        if empty {
                            return Ok(Some(Tok::Stanza(i..end)));
                        }
                    }
                    if !empty {
                        self.depth += 1;
                    }
                }
            }
        }
    }

    /// Forgets the bytes of the stanzas already returned.
    pub(crate) fn compact(&mut self) {
        let keep_from = if self.depth > 0 { self.start } else { self.pos };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            self.start = self.start.saturating_sub(keep_from);
        }
    }
}

/// Length of the tag at the start of `s` (which begins with `<`), and whether it is
/// empty (`/>`); `None` if it is not complete yet.
pub(crate) fn tag_end(s: &[u8]) -> Option<(usize, bool)> {
    let mut quote = 0u8;
    for (k, &b) in s.iter().enumerate().skip(1) {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = b,
            b'>' => return Some((k + 1, s[k - 1] == b'/')),
            _ => {}
        }
    }
    None
}

pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    /// Where the tag ends in the bytes it was read from.
    pub(crate) end: usize,
}

impl Tag {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The start tag at the beginning of `s`, attribute values unescaped.
pub(crate) fn parse_tag(s: &[u8]) -> Option<Tag> {
    let (end, empty) = tag_end(s)?;
    let inner = &s[1..end - if empty { 2 } else { 1 }];
    let text = std::str::from_utf8(inner).ok()?;
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let mut rest = &text[name_end..];
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let quote = rest.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let close = rest[1..].find(quote)? + 1;
        attrs.push((key.to_owned(), unescape(&rest[1..close])));
        rest = &rest[close + 1..];
    }
    Some(Tag {
        name: text[..name_end].to_owned(),
        attrs,
        end,
    })
}

/// The first child's start tag of the stanza `s` whose own tag ends at `after`.
pub(crate) fn first_child(s: &[u8], after: usize) -> Option<Tag> {
    let rest = s.get(after..)?;
    let skip = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[skip..];
    if rest.starts_with(b"</") || !rest.starts_with(b"<") {
        return None;
    }
    parse_tag(rest)
}

/// `var` → first `<value>` of each `<field>` of a data form, by scanning.
pub(crate) fn form_fields(body: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    let mut rest = body;
    while let Some(start) = rest.find("<field") {
        rest = &rest[start..];
        let Some(tag) = parse_tag(rest.as_bytes()) else {
            break;
        };
        let head_end = tag.end;
        let empty = rest.as_bytes().get(head_end.wrapping_sub(2)) == Some(&b'/');
        let close = if empty {
            head_end
        } else {
            rest.find("</field>").unwrap_or(head_end)
        };
        let inside = &rest[head_end..close.max(head_end)];
        if let Some(var) = tag.attr("var") {
            let value = inside
                .find("<value>")
                .and_then(|v| {
                    let from = v + "<value>".len();
                    inside[from..]
                        .find("</value>")
                        .map(|e| unescape(&inside[from..from + e]))
                })
                .unwrap_or_default();
            fields.insert(var.to_owned(), value);
        }
        rest = &rest[head_end..];
    }
    fields
}

pub(crate) fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

pub(crate) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn escape_attr(s: &str) -> String {
    escape_text(s)
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// Lets `write!` append to a byte buffer.
pub(crate) struct Buf<'a>(pub(crate) &'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
