//! Permissions, HBase's model: four kinds (`read`, `write`, `create`, `admin`), each granted
//! for every table (`read`), for one table (`write:clickstream`) or for the tables whose names
//! start with a prefix (`admin:staging_*`). Only `admin` implies the other kinds.
//!
//! This file owns the permission words (parsing and printing them) and the pure matcher
//! [`Permission::allows`]. It must never know which RPC needs what (that is `authorize.rs`)
//! nor who holds a permission (that is `tokens.rs`).

use std::fmt;
use std::str::FromStr;

/// What a permission lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Read rows and table descriptions.
    Read,
    /// Write rows.
    Write,
    /// Create, alter, drop, disable and enable tables.
    Create,
    /// Flush, compact, bulk-ingest, and everything the other kinds allow.
    Admin,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 4] = [Kind::Read, Kind::Write, Kind::Create, Kind::Admin];

    /// The permission word (`read`, `write`, `create`, `admin`).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Create => "create",
            Kind::Admin => "admin",
        }
    }

    /// Whether holding `self` grants `need`: the same kind, or admin.
    pub fn implies(self, need: Kind) -> bool {
        self == need || self == Kind::Admin
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Which tables a permission covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every table (and the server itself: ServerInfo, reflection).
    Global,
    /// The one table of this name.
    Table(String),
    /// Every table whose name starts with this prefix (written `prefix*`).
    Prefix(String),
}

impl Scope {
    /// Whether the scope covers `table`.
    pub fn covers(&self, table: &str) -> bool {
        match self {
            Scope::Global => true,
            Scope::Table(t) => t == table,
            Scope::Prefix(p) => table.starts_with(p.as_str()),
        }
    }
}

/// One permission: a kind over a scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    /// What it allows.
    pub kind: Kind,
    /// Where.
    pub scope: Scope,
}

/// What the request is about, for the matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// One table.
    Table(&'a str),
    /// The server as a whole (ServerInfo, reflection): any permission of the kind, whatever
    /// its scope, is enough, since the holder may use the server for that kind on some table.
    Server,
}

impl Permission {
    /// Whether this permission grants `need` on `target`.
    pub fn allows(&self, need: Kind, target: Target<'_>) -> bool {
        self.kind.implies(need)
            && match target {
                Target::Table(t) => self.scope.covers(t),
                Target::Server => true,
            }
    }
}

/// Why a permission word was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// The kind before the `:` is not one of the four words.
    #[error(
        "unknown permission {0:?}: use read, write, create or admin, each alone (every table), \
         as KIND:TABLE or as KIND:PREFIX*"
    )]
    UnknownKind(String),
    /// The table part is empty, has a character a table name cannot have, or a `*` that does
    /// not end it.
    #[error(
        "bad table in permission {word:?}: {why} (table names match [A-Za-z0-9_][A-Za-z0-9_.-]*; \
         a prefix ends with one *)"
    )]
    BadTable {
        /// The whole word.
        word: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// Longest table name (the brief's limit), so a longer scope can never match.
const MAX_TABLE: usize = 255;

fn table_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Check the table part of a scope (without a trailing `*`); empty is allowed for a prefix.
fn check_table(name: &str, prefix: bool) -> Result<(), &'static str> {
    if name.is_empty() && !prefix {
        return Err("the table name is empty");
    }
    if name.len() > MAX_TABLE {
        return Err("longer than 255 bytes");
    }
    if name.contains('*') {
        return Err("a * may only end the name");
    }
    if !name.chars().all(table_char) {
        return Err("it has a character no table name has");
    }
    if name.starts_with(['.', '-']) {
        return Err("a table name starts with a letter, a digit or _");
    }
    Ok(())
}

impl FromStr for Permission {
    type Err = PermissionError;

    fn from_str(word: &str) -> Result<Self, PermissionError> {
        let (kind_word, table) = match word.split_once(':') {
            Some((k, t)) => (k, Some(t)),
            None => (word, None),
        };
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.word() == kind_word)
            .ok_or_else(|| PermissionError::UnknownKind(word.to_owned()))?;
        let bad = |why| PermissionError::BadTable {
            word: word.to_owned(),
            why,
        };
        let scope = match table {
            None => Scope::Global,
            Some(t) => match t.strip_suffix('*') {
                Some(prefix) => {
                    check_table(prefix, true).map_err(bad)?;
                    Scope::Prefix(prefix.to_owned())
                }
                None => {
                    check_table(t, false).map_err(bad)?;
                    Scope::Table(t.to_owned())
                }
            },
        };
        Ok(Permission { kind, scope })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Scope::Global => write!(f, "{}", self.kind),
            Scope::Table(t) => write!(f, "{}:{t}", self.kind),
            Scope::Prefix(p) => write!(f, "{}:{p}*", self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Permission {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn words_parse_into_kind_and_scope() {
        assert_eq!(
            p("read"),
            Permission {
                kind: Kind::Read,
                scope: Scope::Global
            }
        );
        assert_eq!(
            p("write:clickstream").scope,
            Scope::Table("clickstream".into())
        );
        assert_eq!(p("admin:staging_*").scope, Scope::Prefix("staging_".into()));
        assert_eq!(p("create:*").scope, Scope::Prefix(String::new()));
    }

    #[test]
    fn bad_words_are_refused_with_the_word() {
        for bad in [
            "raed",
            "READ",
            "read:",
            "write:a*b",
            "write:**",
            "admin:bad name",
            "read:.hidden",
            "",
        ] {
            let e = bad.parse::<Permission>().expect_err(bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn only_admin_implies_the_other_kinds() {
        let t = Target::Table("t");
        assert!(p("admin").allows(Kind::Read, t));
        assert!(p("admin").allows(Kind::Write, t));
        assert!(p("admin").allows(Kind::Create, t));
        assert!(!p("write").allows(Kind::Read, t));
        assert!(!p("create").allows(Kind::Write, t));
        assert!(!p("read").allows(Kind::Admin, t));
    }

    #[test]
    fn scopes_match_one_table_or_a_prefix() {
        assert!(p("read:logs").allows(Kind::Read, Target::Table("logs")));
        assert!(!p("read:logs").allows(Kind::Read, Target::Table("logs2")));
        assert!(p("read:stag*").allows(Kind::Read, Target::Table("staging_1")));
        assert!(!p("read:stag*").allows(Kind::Read, Target::Table("prod")));
        assert!(p("read:logs").allows(Kind::Read, Target::Server));
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop::sample::select(Kind::ALL.to_vec())
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z_][a-z0-9_.-]{0,6}"
    }

    fn scope() -> impl Strategy<Value = Scope> {
        prop_oneof![
            Just(Scope::Global),
            name().prop_map(Scope::Table),
            "[a-z_]{0,4}".prop_map(Scope::Prefix),
        ]
    }

    proptest! {
        #[test]
        fn printing_and_parsing_round_trip(kind in kind(), scope in scope()) {
            let perm = Permission { kind, scope };
            prop_assert_eq!(perm.to_string().parse::<Permission>(), Ok(perm));
        }

        #[test]
        fn the_matcher_agrees_with_the_model(
            kind in kind(), scope in scope(), need in kind(), table in name()
        ) {
            let perm = Permission { kind, scope: scope.clone() };
            let kind_ok = kind == need || kind == Kind::Admin;
            let scope_ok = match &scope {
                Scope::Global => true,
                Scope::Table(t) => *t == table,
                Scope::Prefix(pre) => table.len() >= pre.len() && table[..pre.len()] == **pre,
            };
            prop_assert_eq!(perm.allows(need, Target::Table(&table)), kind_ok && scope_ok);
            prop_assert_eq!(perm.allows(need, Target::Server), kind_ok);
        }

        #[test]
        fn any_word_either_parses_or_names_itself(word in "[a-z:*_ .]{0,12}") {
            match word.parse::<Permission>() {
                Ok(perm) => prop_assert_eq!(perm.to_string(), word),
                Err(e) => {
                    let quoted = format!("{word:?}");
                    prop_assert!(e.to_string().contains(&quoted), "{}", e);
                }
            }
        }
    }
}
