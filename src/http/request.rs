//! What an HTTP request asks, read without the network: its route, its bearer token, and
//! its JSON body as the form the node reads.
//!
//! A body is one JSON object whose members are the node's fields: a string is one value,
//! an array of strings several (a `-multi` field), `true`/`false` a boolean, a number
//! its decimal text, `null` no value. An empty body is an empty form.

use serde_json::Value;

use crate::failure::{quote, Failure};
use crate::xep::forms::{DataForm, Field, FormType};

/// Where the commands are: `POST /v1/<node>`.
pub const PREFIX: &str = crate::commands::doc::COMMANDS_PATH;

/// The longest node name read from a path.
const MAX_NODE_CHARS: usize = 64;

/// The node a path names, if it names one: `/v1/invite-status` → `invite-status`.
pub fn node(path: &str) -> Option<&str> {
    let node = path.strip_prefix(PREFIX)?;
    let plausible = !node.is_empty()
        && node.len() <= MAX_NODE_CHARS
        && node
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then_some(node)
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(header: Option<&[u8]>) -> Option<String> {
    let text = std::str::from_utf8(header?).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The submitted form a JSON body stands for.
pub fn form(body: &[u8]) -> Result<DataForm, Failure> {
    let mut form = DataForm::new(FormType::Submit, None);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(form);
    }
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(Failure::bad_request(
                "the body is one JSON object whose members are the command's fields",
            ))
        }
        Err(e) => {
            return Err(Failure::bad_request(format!(
                "the body is not JSON ({}); send one object whose members are the command's fields",
                quote(&e.to_string())
            )))
        }
    };
    for (var, value) in object {
        let values = match value {
            Value::Null => Vec::new(),
            Value::Bool(b) => vec![b.to_string()],
            Value::Number(n) => vec![n.to_string()],
            Value::String(s) => vec![s],
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(not_a_value(&var)),
                })
                .collect::<Result<_, _>>()?,
            Value::Object(_) => return Err(not_a_value(&var)),
        };
        form.push_field(Field {
            var: Some(var),
            values,
            ..Field::default()
        });
    }
    Ok(form)
}

fn not_a_value(var: &str) -> Failure {
    Failure::bad_request(format!(
        "the field {} takes a string, a number, true or false, or an array of strings",
        quote(var)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_path_names_a_node_or_nothing() {
        assert_eq!(node("/v1/peers"), Some("peers"));
        assert_eq!(node("/v1/invite-status"), Some("invite-status"));
        for path in [
            "/v1/",
            "/v2/peers",
            "/v1/peers/x",
            "/v1/Peers",
            "/peers",
            "/v1/../x",
        ] {
            assert_eq!(node(path), None, "{path}");
        }
        assert_eq!(node(&format!("/v1/{}", "a".repeat(65))), None);
    }

    #[test]
    fn a_bearer_token_is_read_from_its_header() {
        assert_eq!(
            bearer(Some(b"Bearer xgb1.a.b")),
            Some("xgb1.a.b".to_owned())
        );
        assert_eq!(
            bearer(Some(b"bearer  xgb1.a.b ")),
            Some("xgb1.a.b".to_owned())
        );
        for header in [&b"Basic dXNlcg=="[..], b"Bearer", b"Bearer  ", b"\xff\xfe"] {
            assert_eq!(bearer(Some(header)), None, "{header:?}");
        }
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn a_body_becomes_the_form_the_node_reads() {
        let form = form(
            br#"{"jid": "bob@example.org", "jids": ["a@x", "b@x"], "expiry": 300,
            "open": true, "note": null}"#,
        )
        .unwrap();
        assert_eq!(form.value("jid"), Some("bob@example.org"));
        assert_eq!(form.values("jids"), ["a@x", "b@x"]);
        assert_eq!(form.value("expiry"), Some("300"));
        assert_eq!(form.value("open"), Some("true"));
        assert!(form.values("note").is_empty());
        assert!(super::form(b"").unwrap().fields.is_empty());
        assert!(super::form(b" \n").unwrap().fields.is_empty());
    }

    #[test]
    fn a_body_that_is_not_an_object_of_values_is_refused_in_words() {
        for (body, says) in [
            (&b"[1, 2]"[..], "one JSON object"),
            (b"{\"jid\": ", "not JSON"),
            (b"{\"jid\": {\"a\": 1}}", "the field jid takes"),
            (b"{\"jids\": [[\"a\"]]}", "the field jids takes"),
            (b"\xff", "not JSON"),
        ] {
            let failure = form(body).unwrap_err();
            assert_eq!(failure.http_status(), 400);
            assert!(failure.text.contains(says), "{body:?}: {}", failure.text);
        }
        // However deep the nesting, the parser stops, and says so.
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(form(deep.as_bytes()).unwrap_err().http_status(), 400);
    }

    proptest! {
        /// Any bytes give a form or a refusal, never a panic; a refusal quotes little.
        #[test]
        fn any_body_gives_a_form_or_a_short_refusal(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(failure) = form(&body) {
                prop_assert_eq!(failure.http_status(), 400);
                prop_assert!(failure.text.chars().count() <= 400);
            }
        }

        /// Every string member comes back as the one value of its field.
        #[test]
        fn string_members_are_their_fields(members in proptest::collection::btree_map("[a-z-]{1,12}", ".{0,40}", 0..8)) {
            let body = serde_json::to_vec(&members).unwrap();
            let form = form(&body).unwrap();
            for (var, value) in &members {
                prop_assert_eq!(form.value(var), Some(value.as_str()));
            }
            prop_assert_eq!(form.fields.len(), members.len());
        }
    }
}
