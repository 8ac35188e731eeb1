//! The one place where refusals become XMPP stanza errors (RFC 6120 §8.3).
//!
//! Handlers return a [`Failure`]: a defined condition, a sentence for the requester, and
//! optionally an application-specific condition (XEP-0050 §6 uses them). Internal details
//! (database errors and the like) are logged where they happen and reach the requester
//! only as `internal-server-error` with a generic text.

use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::xep::commands::SpecificCondition;

/// Longest piece of input quoted in an error text or a log line, in characters.
pub const QUOTE_CHARS: usize = 100;

/// Longest error text sent, in characters: a sentence with a quote or two.
pub const MAX_TEXT_CHARS: usize = 400;

/// `text` cut to at most `max_chars` characters and `…` where it was cut (`None` when
/// it fits).
pub fn cut(text: &str, max_chars: usize) -> Option<String> {
    let (end, _) = text.char_indices().nth(max_chars)?;
    let mut cut = String::with_capacity(end + '…'.len_utf8());
    cut.push_str(&text[..end]);
    cut.push('…');
    Some(cut)
}

/// `input` as it may appear in an error text or a log line: at most [`QUOTE_CHARS`]
/// characters, with `…` and the full length where it was cut. Error texts go back through
/// the server, whose stanza limit they must not push an answer over; logs must not
/// grow with what a user sends.
pub fn quote(input: &str) -> String {
    match cut(input, QUOTE_CHARS) {
        None => input.to_owned(),
        Some(cut) => format!("{cut} ({} characters)", input.chars().count()),
    }
}

/// A request refused, with a human-readable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub condition: DefinedCondition,
    pub text: String,
    pub specific: Option<SpecificCondition>,
}

impl Failure {
    fn new(condition: DefinedCondition, text: impl Into<String>) -> Failure {
        let text = text.into();
        Failure {
            condition,
            // Texts quote input through [`quote`]; this bounds any that forgot to.
            text: cut(&text, MAX_TEXT_CHARS).unwrap_or(text),
            specific: None,
        }
    }

    pub fn bad_request(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::BadRequest, text)
    }

    /// The requester did not prove who it is (a front door's missing or unknown token).
    pub fn not_authorized(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::NotAuthorized, text)
    }

    pub fn forbidden(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::Forbidden, text)
    }

    pub fn item_not_found(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::ItemNotFound, text)
    }

    /// The request is well formed, but what it asks cannot be done now.
    pub fn not_acceptable(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::NotAcceptable, text)
    }

    pub fn not_allowed(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::NotAllowed, text)
    }

    pub fn service_unavailable(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::ServiceUnavailable, text)
    }

    pub fn feature_not_implemented(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::FeatureNotImplemented, text)
    }

    /// The request breaks a rule of this service (too large, too deep).
    pub fn policy_violation(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::PolicyViolation, text)
    }

    /// Too much is waiting already; the requester may try again later.
    pub fn resource_constraint(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::ResourceConstraint, text)
    }

    /// The chat server did not answer a query this request depended on.
    pub fn remote_timeout(text: impl Into<String>) -> Failure {
        Failure::new(DefinedCondition::RemoteServerTimeout, text)
    }

    /// For faults on our side; the cause is logged by the caller, not sent.
    pub fn internal() -> Failure {
        Failure::new(
            DefinedCondition::InternalServerError,
            "the game bridge could not complete this request; the operator can find the cause in its log",
        )
    }

    /// A disclosure the bridge cannot record: it is not made.
    pub fn unrecordable() -> Failure {
        Failure::new(
            DefinedCondition::InternalServerError,
            "the bridge cannot write its record of what platforms learn about users right now, so it tells nothing about them; try again in a minute",
        )
    }

    /// The HTTP status a front door other than XMPP answers this refusal with: the
    /// codes XEP-0086 gives the conditions, except `resource-constraint`, which is a
    /// requester past its rate or a full queue: 429, to be tried again later.
    pub fn http_status(&self) -> u16 {
        match self.condition {
            DefinedCondition::BadRequest
            | DefinedCondition::JidMalformed
            | DefinedCondition::PolicyViolation => 400,
            DefinedCondition::NotAuthorized => 401,
            DefinedCondition::Forbidden => 403,
            DefinedCondition::ItemNotFound | DefinedCondition::RecipientUnavailable => 404,
            DefinedCondition::NotAllowed => 405,
            DefinedCondition::NotAcceptable => 406,
            DefinedCondition::Conflict => 409,
            DefinedCondition::ResourceConstraint => 429,
            DefinedCondition::FeatureNotImplemented => 501,
            DefinedCondition::ServiceUnavailable => 503,
            DefinedCondition::RemoteServerTimeout => 504,
            _ => 500,
        }
    }

    /// The condition's element name (RFC 6120 §8.3.3), as an XMPP error carries it.
    pub fn condition_name(&self) -> &'static str {
        match self.condition {
            DefinedCondition::BadRequest => "bad-request",
            DefinedCondition::Conflict => "conflict",
            DefinedCondition::FeatureNotImplemented => "feature-not-implemented",
            DefinedCondition::Forbidden => "forbidden",
            DefinedCondition::Gone { .. } => "gone",
            DefinedCondition::InternalServerError => "internal-server-error",
            DefinedCondition::ItemNotFound => "item-not-found",
            DefinedCondition::JidMalformed => "jid-malformed",
            DefinedCondition::NotAcceptable => "not-acceptable",
            DefinedCondition::NotAllowed => "not-allowed",
            DefinedCondition::NotAuthorized => "not-authorized",
            DefinedCondition::PolicyViolation => "policy-violation",
            DefinedCondition::RecipientUnavailable => "recipient-unavailable",
            DefinedCondition::Redirect { .. } => "redirect",
            DefinedCondition::RegistrationRequired => "registration-required",
            DefinedCondition::RemoteServerNotFound => "remote-server-not-found",
            DefinedCondition::RemoteServerTimeout => "remote-server-timeout",
            DefinedCondition::ResourceConstraint => "resource-constraint",
            DefinedCondition::ServiceUnavailable => "service-unavailable",
            DefinedCondition::SubscriptionRequired => "subscription-required",
            DefinedCondition::UndefinedCondition => "undefined-condition",
            DefinedCondition::UnexpectedRequest => "unexpected-request",
            #[allow(unreachable_patterns)]
            _ => "undefined-condition",
        }
    }

    pub fn with_specific(mut self, specific: SpecificCondition) -> Failure {
        self.specific = Some(specific);
        self
    }

    /// The error type RFC 6120 §8.3.2 pairs with each condition.
    fn error_type(&self) -> ErrorType {
        match self.condition {
            DefinedCondition::BadRequest
            | DefinedCondition::PolicyViolation
            | DefinedCondition::FeatureNotImplemented
            | DefinedCondition::NotAllowed
            | DefinedCondition::JidMalformed
            | DefinedCondition::NotAcceptable => ErrorType::Modify,
            DefinedCondition::Forbidden | DefinedCondition::NotAuthorized => ErrorType::Auth,
            DefinedCondition::ItemNotFound | DefinedCondition::ServiceUnavailable => {
                ErrorType::Cancel
            }
            DefinedCondition::ResourceConstraint
            | DefinedCondition::InternalServerError
            | DefinedCondition::RemoteServerTimeout => ErrorType::Wait,
            _ => ErrorType::Cancel,
        }
    }

    pub fn to_stanza_error(&self) -> StanzaError {
        let mut error =
            StanzaError::new(self.error_type(), self.condition.clone(), "en", &self.text);
        error.other = self.specific.as_ref().map(SpecificCondition::to_element);
        error
    }

    pub fn to_element(&self) -> Element {
        self.to_stanza_error().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sessionid_carries_the_commands_condition_and_text() {
        let el = Failure::bad_request("no such session")
            .with_specific(SpecificCondition::BadSessionid)
            .to_element();
        assert_eq!(el.attr("type"), Some("modify"));
        assert!(el.has_child("bad-request", "urn:ietf:params:xml:ns:xmpp-stanzas"));
        assert!(el.has_child("bad-sessionid", "http://jabber.org/protocol/commands"));
        let text = el
            .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
            .unwrap();
        assert_eq!(text.text(), "no such session");
    }

    #[test]
    fn quotes_are_cut_at_a_character_boundary_and_say_the_length() {
        assert_eq!(quote("short"), "short");
        let long = "\u{1F600}".repeat(150);
        let quoted = quote(&long);
        assert!(quoted.starts_with(&"\u{1F600}".repeat(QUOTE_CHARS)));
        assert!(quoted.ends_with("… (150 characters)"), "{quoted}");
        assert_eq!(quote(&"x".repeat(QUOTE_CHARS)), "x".repeat(QUOTE_CHARS));
    }

    #[test]
    fn error_types_follow_rfc6120() {
        let cases = [
            (Failure::forbidden("x"), "auth"),
            (Failure::item_not_found("x"), "cancel"),
            (Failure::service_unavailable("x"), "cancel"),
            (Failure::not_allowed("x"), "modify"),
            (Failure::internal(), "wait"),
        ];
        for (failure, expected) in cases {
            assert_eq!(
                failure.to_element().attr("type"),
                Some(expected),
                "{failure:?}"
            );
        }
    }
}
