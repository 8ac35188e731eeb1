//! What goes into the core and what comes out of it.

use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::jid::BareJid;

use super::{DoorAnswer, DoorRequest};
use crate::wire::{Stanza, Wire};

/// Something that happened, for the core to decide about.
#[derive(Debug)]
pub enum Input {
    /// The handshake with the server succeeded: the link is up.
    Connected,
    /// The link went down (the transport reconnects on its own).
    Disconnected { reason: String },
    /// A stanza from the server, parsed as XML but not yet as anything else.
    Stanza(Element),
    /// Time passed; timers are due or nearly so.
    Tick,
    /// The transport read a stanza to its end without building it (larger than
    /// `link.max_incoming_stanza_kib`, too many elements, or too deep; logged there,
    /// rate-limited): its top element, so that an IQ request still gets its answer.
    Skipped { head: Element, reason: &'static str },
    /// The answer to [`Output::ListSessions`]: every session's full JID, or why not.
    Sessions {
        domain: BareJid,
        /// The `link` of the request it answers.
        link: u32,
        sessions: Result<Vec<String>, String>,
    },
    /// A request through a front door other than XMPP; answered with
    /// [`Output::Answer`].
    Request(Box<DoorRequest>),
    /// Someone outside (`/metrics`, `/readyz`, the service manager's watchdog) asks for
    /// the core's figures and readiness; answered at once, on the core's thread.
    Look(crate::health::Look),
    /// The operator's configuration was reloaded: what the core may change live.
    Reconfigure(Box<super::CoreConfig>),
    /// A job's outcome from the storage worker (the database is away).
    Stored(Box<super::storage::Stored>),
}

/// What the core wants done, one by one (see [`super::Core::handle`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this stanza to the server: its bytes, as serialised for the stream (see
    /// [`crate::wire::parse_stanza`]).
    Send(String),
    /// Deliver a [`Input::Tick`] no later than this.
    WakeAt(SystemTime),
    /// Ask the server's HTTP API (ejabberd) for every session of `domain`; the answer
    /// comes back as [`Input::Sessions`].
    ListSessions {
        domain: BareJid,
        /// Which link (epoch) asks: an answer for another is ignored.
        link: u32,
    },
    /// The answer to an [`Input::Request`], for its front door.
    Answer(DoorAnswer),
    /// A job for the storage worker (the database is away).
    Store { ticket: u64, job: crate::store::Job },
}

/// What handling a batch of inputs produced: the stanzas to send, already serialised in
/// order, and what the driver is asked to do.
#[derive(Debug)]
pub struct Outbox {
    pub wire: Wire,
    /// Deliver a [`Input::Tick`] no later than this.
    pub wake_at: Option<SystemTime>,
    /// Ask the server's HTTP API (ejabberd) for every session of these domains, each for
    /// its link (epoch); the answers come back as [`Input::Sessions`].
    pub list_sessions: Vec<(BareJid, u32)>,
    /// Answers for the other front doors.
    pub answers: Vec<DoorAnswer>,
    /// Whether news were written for the outbox (its deliverer is woken).
    pub news_written: bool,
    /// Requests answered (or refused): their door, node and outcome, and when they
    /// reached the core, for the latency the driver observes once they leave.
    pub answered: Vec<(crate::health::AnswerKey, SystemTime)>,
    /// Jobs for the storage worker (the database is away), by ticket, in order.
    pub jobs: Vec<(u64, crate::store::Job)>,
}

impl Outbox {
    /// Stanzas larger than `max_stanza_bytes` are not sent (see [`Wire`]).
    pub fn new(max_stanza_bytes: usize) -> Outbox {
        Outbox {
            wire: Wire::new(max_stanza_bytes),
            wake_at: None,
            list_sessions: Vec::new(),
            answers: Vec::new(),
            news_written: false,
            answered: Vec::new(),
            jobs: Vec::new(),
        }
    }

    /// Serialises `stanza` as the next one to send.
    pub fn send(&mut self, stanza: impl Into<Stanza>) {
        self.wire.send_stanza(&stanza.into());
    }

    /// Everything in the outbox, one output each: stanzas, then requests, then the wake.
    pub fn into_outputs(self) -> Vec<Output> {
        let mut outputs: Vec<Output> = self
            .wire
            .stanzas()
            .map(|stanza| Output::Send(String::from_utf8_lossy(stanza).into_owned()))
            .collect();
        outputs.extend(
            self.list_sessions
                .into_iter()
                .map(|(domain, link)| Output::ListSessions { domain, link }),
        );
        outputs.extend(self.answers.into_iter().map(Output::Answer));
        outputs.extend(
            self.jobs
                .into_iter()
                .map(|(ticket, job)| Output::Store { ticket, job }),
        );
        outputs.extend(self.wake_at.map(Output::WakeAt));
        outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of presences waits in the link's queue as inputs: a rare kind of input
    /// must not make every one of them larger.
    #[test]
    fn an_input_is_the_size_of_a_stanza() {
        let stanza = std::mem::size_of::<Element>();
        let input = std::mem::size_of::<Input>();
        assert!(
            input <= stanza + 16,
            "an input takes {input} bytes, a stanza {stanza}"
        );
    }
}
