//! Who may call which Thrift method: every call is authenticated and authorized here, by the
//! server's one authorization table (`auth::authorize`), before its handler runs.
//!
//! Thrift1 has no headers, so no token: on a listener with client certificates
//! (`--thrift-tls` and `--tls-client-ca`) the principal is the certificate's name, judged
//! per call like a gRPC request (a principal removed from the token file on SIGHUP is refused
//! at once); on any other Thrift listener (loopback, or `--insecure`; `serve` warns at
//! start-up) every caller is `anonymous` with every permission.
//!
//! Each method maps to the [`Action`] of its gRPC counterpart and the table its arguments
//! name ([`rule`]); `getTableNames*` list only readable tables; a scanner is usable only by
//! the principal that opened it, and only while it may still read the scanner's table. A
//! refusal is an `IOError` whose message starts `PERMISSION_DENIED:` (or `UNAUTHENTICATED:`)
//! and names the permission and the table.
//!
//! This file must never decide a permission itself (that is `auth::authorize`) nor call the
//! engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::args::Args;
use super::dispatch::Method;
use super::error::ThriftError;
use super::handler::{Gateway, Outcome, Peer, Reply};
use crate::auth::{Action, Call, Credentials, Principal, Security, can_read};
use crate::tls::ReloadableTls;

/// The `api` of Thrift calls in the audit log.
pub const API: &str = "thrift";

/// Where a method's table is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableArg {
    /// Argument 1, a table name.
    Name,
    /// Argument 1, a table or region name (`table,start,id`).
    TableOrRegion,
    /// Inside the `TIncrement`, `list<TIncrement>` or `TAppend` of argument 1.
    Struct,
    /// The table of the scanner whose id is argument 1.
    Scanner,
    /// None: the method is about the server.
    Server,
}

/// The action and the table of each method (`None`: no rule, refused).
pub fn rule(method: &str) -> Option<(Action, TableArg)> {
    use Action as A;
    use TableArg::*;
    Some(match method {
        "enableTable" => (A::EnableTable, Name),
        "disableTable" => (A::DisableTable, Name),
        "createTable" => (A::CreateTable, Name),
        "deleteTable" => (A::DeleteTable, Name),
        "isTableEnabled" | "getColumnDescriptors" | "getTableRegions" => (A::DescribeTable, Name),
        "compact" | "majorCompact" => (A::Compact, TableOrRegion),
        "getTableNames"
        | "getTableNamesWithIsTableEnabled"
        | "getThriftServerType"
        | "getClusterId" => (A::ListTables, Server),
        "get"
        | "getVer"
        | "getVerTs"
        | "getRow"
        | "getRowWithColumns"
        | "getRowTs"
        | "getRowWithColumnsTs" => (A::Get, Name),
        "getRows" | "getRowsWithColumns" | "getRowsTs" | "getRowsWithColumnsTs" => {
            (A::MultiGet, Name)
        }
        "scannerOpenWithScan"
        | "scannerOpen"
        | "scannerOpenWithStop"
        | "scannerOpenWithPrefix"
        | "scannerOpenTs"
        | "scannerOpenWithStopTs" => (A::Scan, Name),
        "scannerGet" | "scannerGetList" | "scannerClose" => (A::Scan, Scanner),
        "mutateRow" | "mutateRowTs" | "deleteAll" | "deleteAllTs" | "deleteAllRow"
        | "deleteAllRowTs" => (A::Mutate, Name),
        "mutateRows" | "mutateRowsTs" => (A::MutateRows, Name),
        "atomicIncrement" => (A::Increment, Name),
        "increment" | "incrementRows" => (A::Increment, Struct),
        "append" => (A::Append, Struct),
        "checkAndPut" => (A::CheckAndMutate, Name),
        _ => return None,
    })
}

/// The security of the Thrift listener.
#[derive(Debug)]
pub struct ThriftSecurity {
    /// The server's authentication, authorization and audit (shared with gRPC and HTTP).
    pub security: Arc<Security>,
    /// `--thrift-tls`: the listener's TLS (the same files as gRPC's).
    pub tls: Option<Arc<ReloadableTls>>,
    owners: Mutex<HashMap<i32, (Arc<str>, String)>>,
}

impl ThriftSecurity {
    /// No TLS, no authentication.
    pub fn off() -> ThriftSecurity {
        ThriftSecurity::new(Arc::new(Security::off()), None)
    }

    /// `security` for the calls, over `tls` when given.
    pub fn new(security: Arc<Security>, tls: Option<Arc<ReloadableTls>>) -> ThriftSecurity {
        ThriftSecurity {
            security,
            tls,
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// Whether callers authenticate with client certificates (TLS with client CAs).
    pub fn client_certificates(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.files().client_ca.is_some())
    }

    fn principal(&self, call: &Call<'_>, peer: &Peer) -> Result<Principal, ThriftError> {
        if !self.client_certificates() {
            return Ok(Principal::anonymous());
        }
        let credentials = Credentials {
            certificate: peer.certificate.as_deref(),
            ..Credentials::default()
        };
        self.security
            .authenticate(call, credentials)
            .map_err(|e| ThriftError::io(format!("UNAUTHENTICATED: {e}")))
    }

    fn check(
        &self,
        call: &Call<'_>,
        who: &Principal,
        action: Action,
        table: Option<&str>,
    ) -> Result<(), ThriftError> {
        self.security
            .authorize(call, who, action, table)
            .map_err(|d| ThriftError::io(format!("PERMISSION_DENIED: {d}")))
    }

    /// The table of scanner `id` if `who` opened it; a scanner another principal opened is
    /// refused (an unknown id is left to the handler, which names it).
    fn scanner_table(&self, who: &Principal, id: i32) -> Result<Option<String>, ThriftError> {
        match self.owners.lock().get(&id) {
            None => Ok(None),
            Some((owner, table)) if **owner == *who.name() => Ok(Some(table.clone())),
            Some(_) => Err(ThriftError::io(format!(
                "PERMISSION_DENIED: principal {:?} did not open scanner {id}",
                who.name()
            ))),
        }
    }

    fn record_scanner(&self, gw: &Gateway, id: i32, who: &Principal, table: String) {
        let mut owners = self.owners.lock();
        owners.insert(id, (Arc::from(who.name()), table));
        // Scanners that expired leave their entry: sweep once they could be most of it.
        if owners.len() > 2 * gw.scanners.max_open().max(1) {
            let now = Instant::now();
            owners.retain(|id, _| gw.scanners.get(*id, now).is_ok());
        }
    }
}

fn lossy(raw: &Bytes) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// The tables `args` name for `arg` (empty for server-level methods and scanners).
fn tables(arg: TableArg, args: &Args) -> Vec<String> {
    match arg {
        // An absent name is the empty one, as the handlers read it.
        TableArg::Name => vec![args.peek_binary(1).map(lossy).unwrap_or_default()],
        TableArg::TableOrRegion => args
            .peek_binary(1)
            .map(|raw| {
                let end = raw.iter().position(|&b| b == b',').unwrap_or(raw.len());
                lossy(&raw.slice(..end))
            })
            .into_iter()
            .collect(),
        TableArg::Struct => args.peek_struct_tables(1).iter().map(lossy).collect(),
        TableArg::Scanner | TableArg::Server => Vec::new(),
    }
}

/// Authenticate the caller, authorize `method` on its tables, run it, and keep only what the
/// caller may see of its reply.
pub fn run(gw: &Gateway, peer: &Peer, method: &Method, args: &mut Args) -> Outcome {
    let sec = &gw.security;
    let call = Call {
        api: API,
        method: method.name,
        peer: peer.client,
    };
    let who = sec.principal(&call, peer)?;
    let Some((action, arg)) = rule(method.name) else {
        return Err(ThriftError::io(format!(
            "PERMISSION_DENIED: method {} has no authorization rule",
            method.name
        )));
    };
    let mut targets = tables(arg, args);
    match arg {
        TableArg::Server => sec.check(&call, &who, action, None)?,
        TableArg::Scanner => {
            // An id nobody opened is left to the handler, which names it.
            if let Some(table) = sec.scanner_table(&who, args.peek_i32(1))? {
                sec.check(&call, &who, action, Some(&table))?;
            }
        }
        // No table named: only a permission on every table will do.
        _ if targets.is_empty() => sec.check(&call, &who, action, None)?,
        _ => {
            for table in &targets {
                sec.check(&call, &who, action, Some(table))?;
            }
        }
    }
    let scanner = (arg == TableArg::Scanner).then(|| args.peek_i32(1));
    let outcome = (method.run)(gw, peer, args)?;
    Ok(match outcome {
        Reply::Names(names) => Reply::Names(
            names
                .into_iter()
                .filter(|n| can_read(&who, &lossy(n)))
                .collect(),
        ),
        Reply::Flags(mut flags) => {
            flags.0.retain(|(n, _)| can_read(&who, &lossy(n)));
            Reply::Flags(flags)
        }
        Reply::I32(id) if action == Action::Scan && arg == TableArg::Name => {
            if let Some(table) = targets.pop() {
                sec.record_scanner(gw, id, &who, table);
            }
            Reply::I32(id)
        }
        Reply::Void if method.name == "scannerClose" => {
            if let Some(id) = scanner {
                sec.owners.lock().remove(&id);
            }
            Reply::Void
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::dispatch::METHODS;

    #[test]
    fn every_method_has_an_authorization_rule() {
        for m in METHODS {
            assert!(rule(m.name).is_some(), "{} has no rule", m.name);
        }
        assert_eq!(rule("grant"), None);
    }

    #[test]
    fn methods_need_the_permission_of_their_grpc_counterpart() {
        let needs = |m| rule(m).map(|(a, _)| a.needs());
        use crate::auth::Kind;
        assert_eq!(needs("getRow"), Some(&[Kind::Read][..]));
        assert_eq!(needs("scannerGetList"), Some(&[Kind::Read][..]));
        assert_eq!(needs("mutateRows"), Some(&[Kind::Write][..]));
        assert_eq!(needs("deleteAllRow"), Some(&[Kind::Write][..]));
        assert_eq!(needs("createTable"), Some(&[Kind::Create][..]));
        assert_eq!(needs("majorCompact"), Some(&[Kind::Admin][..]));
        assert_eq!(needs("checkAndPut"), Some(&[Kind::Read, Kind::Write][..]));
        assert_eq!(needs("getTableNames"), Some(&[][..]));
    }
}
