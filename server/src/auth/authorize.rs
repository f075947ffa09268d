//! THE authorization decision: which permission each operation needs ([`Action::needs`]) and
//! whether a principal holds it ([`authorize`]). Every listener (gRPC now; the HTTP pages and
//! Thrift methods in phase 2) maps its calls to an [`Action`] and asks here; nothing else in
//! the server decides who may do what.
//!
//! | permission | actions |
//! |---|---|
//! | read | Get, MultiGet, Scan, Aggregate, DescribeTable; ServerInfo and reflection (read on any table) |
//! | write | Mutate, MutateRows, MutateStream (each batch's table), Increment, Append |
//! | read + write | CheckAndMutate |
//! | create | CreateTable, AlterTable, DeleteTable, DisableTable, EnableTable |
//! | admin | Flush, Compact, BulkIngest, and everything above |
//! | none (authenticated) | ListTables (lists only the tables the caller may read), Health |
//!
//! This file is pure: it must never do I/O, log, or look at requests; auditing is
//! `audit.rs`, extracting the principal is the listener's.

use std::fmt;

use super::permission::{Kind, Target};
use super::principal::Principal;

/// One operation a caller asks for, named after its gRPC RPC (the other listeners map their
/// methods onto these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Action {
    Get,
    MultiGet,
    Scan,
    Aggregate,
    DescribeTable,
    ServerInfo,
    ListTables,
    Mutate,
    MutateRows,
    MutateStream,
    Increment,
    Append,
    CheckAndMutate,
    CreateTable,
    AlterTable,
    DeleteTable,
    DisableTable,
    EnableTable,
    Flush,
    Compact,
    BulkIngest,
    /// The gRPC reflection service (describes the API; needs read on any table).
    Reflection,
    /// The health service (authenticated only, or open with `--open-health-metrics`).
    Health,
}

impl Action {
    /// The permissions the action needs (all of them).
    pub fn needs(self) -> &'static [Kind] {
        use Action::*;
        match self {
            Get | MultiGet | Scan | Aggregate | DescribeTable | ServerInfo | Reflection => {
                &[Kind::Read]
            }
            Mutate | MutateRows | MutateStream | Increment | Append => &[Kind::Write],
            CheckAndMutate => &[Kind::Read, Kind::Write],
            CreateTable | AlterTable | DeleteTable | DisableTable | EnableTable => &[Kind::Create],
            Flush | Compact | BulkIngest => &[Kind::Admin],
            ListTables | Health => &[],
        }
    }

    /// Whether the action is about the server rather than one table.
    pub fn is_server_level(self) -> bool {
        matches!(
            self,
            Action::ServerInfo | Action::ListTables | Action::Reflection | Action::Health
        )
    }

    /// Whether every use of the action goes to the audit log (create and admin actions;
    /// denials of any action always do).
    pub fn is_audited(self) -> bool {
        self.needs()
            .iter()
            .any(|k| matches!(k, Kind::Create | Kind::Admin))
    }

    /// The action's name (its gRPC RPC's).
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Get => "Get",
            MultiGet => "MultiGet",
            Scan => "Scan",
            Aggregate => "Aggregate",
            DescribeTable => "DescribeTable",
            ServerInfo => "ServerInfo",
            ListTables => "ListTables",
            Mutate => "Mutate",
            MutateRows => "MutateRows",
            MutateStream => "MutateStream",
            Increment => "Increment",
            Append => "Append",
            CheckAndMutate => "CheckAndMutate",
            CreateTable => "CreateTable",
            AlterTable => "AlterTable",
            DeleteTable => "DeleteTable",
            DisableTable => "DisableTable",
            EnableTable => "EnableTable",
            Flush => "Flush",
            Compact => "Compact",
            BulkIngest => "BulkIngest",
            Reflection => "ServerReflection",
            Health => "Health",
        }
    }
}

/// A refusal: who lacked which permission where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// The principal refused.
    pub principal: String,
    /// The action refused.
    pub action: Action,
    /// The permission it lacks (the first missing one).
    pub missing: Kind,
    /// The table, or `None` for a server-level action.
    pub table: Option<String>,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "principal {:?} lacks the {} permission ",
            self.principal, self.missing
        )?;
        match &self.table {
            Some(t) => write!(f, "on table {t:?}")?,
            None => write!(f, "on any table")?,
        }
        write!(f, " (needed by {})", self.action.name())
    }
}

impl std::error::Error for Denied {}

/// Whether `principal` may do `action` on `table` (`None` for server-level actions; a
/// table action without a table needs the permission on every table).
pub fn authorize(principal: &Principal, action: Action, table: Option<&str>) -> Result<(), Denied> {
    let target = match table {
        Some(t) => Target::Table(t),
        None if action.is_server_level() => Target::Server,
        // No table named: only a permission whose scope covers every table will do.
        None => Target::Table(""),
    };
    for &need in action.needs() {
        let held = principal.holds(need, target);
        if !held {
            return Err(Denied {
                principal: principal.name().to_owned(),
                action,
                missing: need,
                table: table.map(str::to_owned),
            });
        }
    }
    Ok(())
}

/// Whether `principal` may read `table` (ListTables shows only these).
pub fn can_read(principal: &Principal, table: &str) -> bool {
    principal.holds(Kind::Read, Target::Table(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::permission::Permission;

    fn who(perms: &[&str]) -> Principal {
        let perms: Vec<Permission> = perms
            .iter()
            .map(|p| p.parse().expect("valid permission"))
            .collect();
        Principal::with("p", &perms)
    }

    const ALL: [Action; 23] = [
        Action::Get,
        Action::MultiGet,
        Action::Scan,
        Action::Aggregate,
        Action::DescribeTable,
        Action::ServerInfo,
        Action::ListTables,
        Action::Mutate,
        Action::MutateRows,
        Action::MutateStream,
        Action::Increment,
        Action::Append,
        Action::CheckAndMutate,
        Action::CreateTable,
        Action::AlterTable,
        Action::DeleteTable,
        Action::DisableTable,
        Action::EnableTable,
        Action::Flush,
        Action::Compact,
        Action::BulkIngest,
        Action::Reflection,
        Action::Health,
    ];

    #[test]
    fn read_allows_exactly_the_reads() {
        let reader = who(&["read"]);
        for a in ALL {
            let ok = authorize(&reader, a, Some("t")).is_ok();
            let reads = matches!(
                a,
                Action::Get
                    | Action::MultiGet
                    | Action::Scan
                    | Action::Aggregate
                    | Action::DescribeTable
                    | Action::ServerInfo
                    | Action::ListTables
                    | Action::Reflection
                    | Action::Health
            );
            assert_eq!(ok, reads, "{a:?}");
        }
    }

    #[test]
    fn admin_allows_everything_and_nothing_else_does() {
        for a in ALL {
            assert!(authorize(&who(&["admin"]), a, Some("t")).is_ok(), "{a:?}");
        }
        let create = who(&["create"]);
        assert!(authorize(&create, Action::DeleteTable, Some("t")).is_ok());
        assert!(authorize(&create, Action::Flush, Some("t")).is_err());
        assert!(authorize(&create, Action::Mutate, Some("t")).is_err());
    }

    #[test]
    fn check_and_mutate_needs_read_and_write() {
        let e =
            authorize(&who(&["write"]), Action::CheckAndMutate, Some("t")).expect_err("no read");
        assert_eq!(e.missing, Kind::Read);
        let e =
            authorize(&who(&["read"]), Action::CheckAndMutate, Some("t")).expect_err("no write");
        assert_eq!(e.missing, Kind::Write);
        assert!(
            authorize(
                &who(&["read", "write:t"]),
                Action::CheckAndMutate,
                Some("t")
            )
            .is_ok()
        );
    }

    #[test]
    fn scoped_permissions_hold_only_on_their_tables() {
        let loader = who(&["write:clickstream", "admin:staging_*"]);
        assert!(authorize(&loader, Action::Mutate, Some("clickstream")).is_ok());
        assert!(authorize(&loader, Action::Mutate, Some("orders")).is_err());
        assert!(authorize(&loader, Action::BulkIngest, Some("staging_1")).is_ok());
        assert!(authorize(&loader, Action::Scan, Some("staging_1")).is_ok());
        assert!(authorize(&loader, Action::BulkIngest, Some("clickstream")).is_err());
        // Without a table, a scoped permission is not enough.
        assert!(authorize(&loader, Action::Mutate, None).is_err());
        assert!(authorize(&who(&["write"]), Action::Mutate, None).is_ok());
    }

    #[test]
    fn server_level_reads_need_read_somewhere() {
        assert!(authorize(&who(&["read:x"]), Action::ServerInfo, None).is_ok());
        assert!(authorize(&who(&["write"]), Action::ServerInfo, None).is_err());
        assert!(authorize(&who(&["write"]), Action::Reflection, None).is_err());
        assert!(authorize(&who(&[]), Action::ListTables, None).is_ok());
        assert!(authorize(&who(&[]), Action::Health, None).is_ok());
    }

    #[test]
    fn a_denial_names_the_permission_and_the_table() {
        let e = authorize(&who(&["read"]), Action::Mutate, Some("orders")).expect_err("denied");
        let m = e.to_string();
        assert!(m.contains("write") && m.contains("\"orders\""), "{m}");
        let e = authorize(&who(&[]), Action::ServerInfo, None).expect_err("denied");
        assert!(
            e.to_string().contains("read permission on any table"),
            "{e}"
        );
    }

    #[test]
    fn create_and_admin_actions_are_audited() {
        let audited: Vec<Action> = ALL.into_iter().filter(|a| a.is_audited()).collect();
        assert_eq!(
            audited,
            [
                Action::CreateTable,
                Action::AlterTable,
                Action::DeleteTable,
                Action::DisableTable,
                Action::EnableTable,
                Action::Flush,
                Action::Compact,
                Action::BulkIngest,
            ]
        );
    }
}
