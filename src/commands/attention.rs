//! `attention`: asks the user's chat client to get their attention (XEP-0224: Gajim and
//! Psi flash or raise the window), with a readable line saying which platform asks and
//! why. At most one per user per `rights.attention_interval_secs`, whichever platform
//! asks; a refusal says when to try again. Inputs: `jid`, `reason` (optional).

use super::doc::Doc;
use super::execute::{self, deliver, platform_name, target, Input, Target};
use super::fields::Spec;
use super::{Ctx, Flow, Got, Node};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::rights::Platform;
use crate::rights::Right;
use crate::store::AuditFilter;
use crate::xep::forms::DataForm;
use minidom::Element;

pub const NS: &str = "urn:xmpp:attention:0";

pub struct Attention;

/// Why the user is asked to look.
const REASON: Spec = Spec::text("reason", "Reason").max(200, false);

pub struct AttentionQuery {
    input: Input,
    reason: Option<String>,
}

impl TryFrom<&DataForm> for AttentionQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<AttentionQuery, Failure> {
        Ok(AttentionQuery {
            input: Input::read(form)?,
            reason: REASON.text_of(form)?,
        })
    }
}

impl Node for Attention {
    const NODE: &'static str = "attention";
    const NAME: &'static str = "Ask a user's chat client for their attention";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Attention);
    type Query = AttentionQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Asks for the user's attention (XEP-0224), at most once per interval.",
        input: &[execute::USER, REASON],
        answer: execute::ANSWER,
    });

    fn run(query: AttentionQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let target = target(ctx, &query.input, Right::Attention)?;
        if let Target::User { jid, online: true } = &target {
            let wait = crate::fetched!(wait_secs(ctx, jid.as_str()), move |ctx| Self::run(
                query, ctx
            ));
            if wait > 0 {
                return Err(Failure::resource_constraint(format!(
                    "{} was asked for attention a moment ago; try again in {wait} s",
                    jid
                )));
            }
        }
        deliver(ctx, target, Right::Attention, |ctx, to| {
            let name = platform_name(ctx);
            let lang = ctx.directory.lang(to.as_str());
            let body = crate::strings::asks_attention(lang, name, query.reason.as_deref());
            execute::message(
                ctx,
                to,
                "chat",
                &body,
                vec![Element::builder("attention", NS).build()],
            )
        })
    }
}

/// Seconds until `user` may be asked for attention again: the record of disclosures
/// says when the last `attention` was.
fn wait_secs(ctx: &Ctx<'_, Platform>, user: &str) -> Result<Got<u32>, Failure> {
    let interval = ctx.settings.attention_interval_secs;
    let now = unix_secs(ctx.now);
    let pending = ctx
        .audit
        .pending()
        .filter(|r| r.user == user && r.command == Attention::NODE)
        .map(|r| r.at)
        .max();
    let stored = crate::ready!(ctx.stored_audit(AuditFilter {
        user: Some(user.to_owned()),
        since: Some(now.saturating_sub(interval)),
        limit: 64,
        ..AuditFilter::default()
    }))
    .into_iter()
    .filter(|r| r.command == Attention::NODE)
    .map(|r| r.at)
    .max();
    let last = pending.max(stored);
    Ok(Got::Ready(
        last.map_or(0, |at| (at + interval).saturating_sub(now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::directory::presence::Availability;

    #[test]
    fn asks_an_online_user_for_attention_with_the_reason() {
        let mut bench = Bench::new();
        bench.online("carol", Availability::Away, None);
        let ran = bench.run::<Attention>(
            &bench.platform(),
            &[("jid", &[&jid("carol")]), ("reason", &["Your turn"])],
        );
        assert_eq!(ran.field("result"), ["delivered"]);
        let sent = ran.sent();
        assert!(sent[0].has_child("attention", NS));
        assert!(String::from(&sent[0]).contains("Your turn"));
    }
}
