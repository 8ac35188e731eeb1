//! `set-status`: a platform sets (or, with an empty `status`, clears) a user's
//! self-defined status, the line `status` returns with who set it and when. It is kept
//! after the user logs out, so the user need not be online. Inputs: `jid`, `status`.

use super::doc::Doc;
use super::execute::{target, Executed, Input, Outcome, Target};
use super::fields::Spec;
use super::{Ctx, Flow, Node};
use crate::directory::self_status::MAX_CHARS;
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::rights::Platform;
use crate::rights::Right;
use crate::store::{SelfStatusRecord, Write};
use crate::xep::forms::DataForm;

pub struct SetStatus;

/// The status; none clears it.
const STATUS: Spec = Spec::text("status", "Status").max(MAX_CHARS, false);

pub struct SetStatusQuery {
    input: Input,
    status: Option<String>,
}

impl TryFrom<&DataForm> for SetStatusQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<SetStatusQuery, Failure> {
        Ok(SetStatusQuery {
            input: Input::read(form)?,
            status: STATUS.text_of(form)?,
        })
    }
}

impl Node for SetStatus {
    const NODE: &'static str = "set-status";
    const NAME: &'static str = "Set a user's status for games";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::SetStatus);
    type Query = SetStatusQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Sets the user's self-defined status (or clears it without `status`).",
        input: &[super::execute::USER, STATUS],
        answer: super::execute::ANSWER,
    });

    fn run(query: SetStatusQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let outcome = if query.status.is_some() {
            Outcome::Set
        } else {
            Outcome::Cleared
        };
        let jid = match target(ctx, &query.input, Right::SetStatus)? {
            // Answered as for a user never heard of, and nothing is stored.
            Target::Unseen(jid) => {
                return Flow::done(Executed {
                    right: Right::SetStatus,
                    jid,
                    outcome,
                })
            }
            Target::User { jid, .. } => jid,
        };
        let id = &ctx.caller.id;
        if query.status.is_some() && !ctx.self_status.has_room_for(jid.as_str()) {
            return Err(Failure::resource_constraint(
                "the bridge holds as many statuses as it can; try again later",
            ));
        }
        let status = query.status.map(|text| SelfStatusRecord {
            user: jid.to_string(),
            text,
            set_by: id.to_string(),
            set_at: unix_secs(ctx.now),
        });
        ctx.out.write(Write::SelfStatus {
            user: jid.to_string(),
            status,
        });
        ctx.disclose(jid.as_str());
        Flow::done(Executed {
            right: Right::SetStatus,
            jid,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::store::Write;

    #[test]
    fn stores_the_status_set_by_the_platform() {
        let mut bench = Bench::new();
        let ran = bench.run::<SetStatus>(
            &bench.platform(),
            &[("jid", &[&jid("bob")]), ("status", &["In a match"])],
        );
        assert_eq!(ran.field("result"), ["set"]);
        let [Write::SelfStatus {
            user,
            status: Some(status),
        }] = ran.writes()
        else {
            panic!("{:?}", ran.writes());
        };
        assert_eq!(
            (user.as_str(), status.text.as_str()),
            (&*jid("bob"), "In a match")
        );
        assert_eq!(status.set_by, "game@example.test");
        bench.commit(&ran);
        let cleared = bench.run::<SetStatus>(&bench.platform(), &[("jid", &[&jid("bob")])]);
        assert_eq!(cleared.field("result"), ["cleared"]);
    }
}
