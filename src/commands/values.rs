//! How answers write the values they share: a user's availability and a platform's
//! rights.

use crate::directory::Seen;
use crate::rights::Rights;

/// The word the tables use for what the directory knows of a user.
pub fn availability_label(seen: &Seen<'_>) -> &'static str {
    match seen {
        Seen::Online { availability, .. } => availability.as_str(),
        Seen::Offline { .. } => "offline",
        Seen::Unknown => "unknown",
    }
}

/// Rights as one field value: their names, comma-separated (`open-url,invite`), in the
/// order of the rights table; empty for none. One value rather than one per right keeps
/// a row at one element per column.
pub fn rights_value(rights: Rights) -> &'static str {
    rights.as_list()
}

/// In a compact answer, an item's rights where they differ from the root's (which an
/// item without `rights` has): `none` for no rights, empty (left out) for the same.
pub fn rights_other_than(rights: Rights, root: Rights) -> &'static str {
    if rights == root {
        ""
    } else if rights.as_list().is_empty() {
        "none"
    } else {
        rights.as_list()
    }
}
