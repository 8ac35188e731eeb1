//! Refusals as problem details (RFC 9457, `application/problem+json`): the status, its
//! title, the same short text an XMPP error carries as `detail`, and the XMPP condition
//! it stands for, so that one documentation serves both doors.

use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::failure::Failure;

use super::body::Body;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a platform past its rate waits: rates are per second.
const RATE_RETRY_SECS: &str = "1";
/// Seconds to wait while the bridge cannot answer (its link is down, it is full).
const UNAVAILABLE_RETRY_SECS: &str = "5";

/// The status `failure`'s condition maps to ([`Failure::http_status`]).
pub fn status(failure: &Failure) -> StatusCode {
    StatusCode::from_u16(failure.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The problem document of `failure`, refused with `status`.
pub fn document(status: StatusCode, failure: &Failure) -> Vec<u8> {
    let detail = if failure.text.is_empty() {
        // A requester refused again and again is told once in words, then briefly.
        "refused; try again shortly"
    } else {
        failure.text.as_str()
    };
    let document = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "condition": failure.condition_name(),
    });
    serde_json::to_vec(&document).unwrap_or_default()
}

/// The response refusing a request with `status`, for `failure`.
pub fn response(status: StatusCode, failure: &Failure) -> Response<Body> {
    let mut response = Response::new(Body::whole(document(status, failure)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(RATE_RETRY_SECS));
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from_static(UNAVAILABLE_RETRY_SECS),
            );
        }
        StatusCode::UNAUTHORIZED => {
            headers.insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"xmpp-game-bridge\""),
            );
        }
        _ => {}
    }
    response
}

/// The whole response to a connection refused at the cap, written before closing it.
pub fn connection_refused() -> Vec<u8> {
    let body = document(
        StatusCode::SERVICE_UNAVAILABLE,
        &Failure::service_unavailable(
            "the bridge has as many HTTP connections open as it allows; try again shortly, or reuse a connection",
        ),
    );
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM_JSON}\r\nretry-after: {UNAVAILABLE_RETRY_SECS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_a_problem_with_the_xmpp_text() {
        let failure = Failure::item_not_found("there is no invite 7");
        let value: serde_json::Value =
            serde_json::from_slice(&document(status(&failure), &failure)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"type": "about:blank", "title": "Not Found", "status": 404,
                "detail": "there is no invite 7", "condition": "item-not-found"})
        );
        let busy = Failure::resource_constraint(String::new());
        let response = response(status(&busy), &busy);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let who = Failure::not_authorized("who?");
        let response = super::response(status(&who), &who);
        assert!(response
            .headers()
            .contains_key(hyper::header::WWW_AUTHENTICATE));
    }

    #[test]
    fn the_refusal_at_the_cap_is_a_whole_response() {
        let bytes = connection_refused();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["status"], 503);
    }
}
