//! Writing the component's side of the stream: the header, the bytes of stanzas, the
//! footer.
//!
//! The stanzas come serialised (see [`crate::wire`]): everything ready at one wake-up is
//! gathered here and written with one `write`.

/// The opening of the component's stream (XEP-0114 §3).
pub fn stream_header(component: &str) -> Vec<u8> {
    let mut header = b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='".to_vec();
    crate::wire::xml::escape(&mut header, component, true);
    header.extend_from_slice(b"'>");
    header
}

pub const STREAM_FOOTER: &[u8] = b"</stream:stream>";

/// Bytes waiting to be written.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Adds serialised stanzas after those waiting.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if self.buf.is_empty() {
            // The usual case: the batch is written as it came, without a copy.
            self.buf = bytes;
        } else {
            self.buf.extend_from_slice(&bytes);
        }
    }

    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// After a successful write.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_escapes_the_component_name() {
        let header = String::from_utf8(stream_header("game.example.test")).unwrap();
        assert!(header.ends_with("to='game.example.test'>"), "{header}");
        let odd = String::from_utf8(stream_header("a'b")).unwrap();
        assert!(odd.ends_with("to='a&apos;b'>"), "{odd}");
    }

    #[test]
    fn batches_are_written_in_order() {
        let mut writer = Writer::default();
        writer.push(b"<a/>".to_vec());
        writer.push(b"<b/>".to_vec());
        assert_eq!(writer.pending(), b"<a/><b/>");
        writer.clear();
        assert!(writer.is_empty());
    }
}
