//! From a request message to its reply: the method table (name, argument schema, declared
//! exceptions, handler) and the one place that encodes results, declared exceptions and
//! `TApplicationException`s.
//!
//! An unknown method answers `TApplicationException(UNKNOWN_METHOD)`, arguments that cannot be
//! decoded `PROTOCOL_ERROR`; in both cases the message was already delimited, so the connection
//! stays usable. The reply echoes the call's name and sequence id.
//!
//! Every call is recorded here, once, in the API metrics (`api="thrift"`): the method's name
//! (`unknown` for a name the service does not have, so made-up names cannot grow the
//! registry), the outcome as the client sees it (`OK`, the exception sent: `IOError`,
//! `IllegalArgument`, `AlreadyExists`, or the `TApplicationException` type: `UNKNOWN_METHOD`,
//! `PROTOCOL_ERROR`, `INVALID_MESSAGE_TYPE`) and the time from the message's arrival to its
//! encoded reply. This module must never call the engine itself.

use std::time::Instant;

use bytes::Bytes;

use super::args::{Args, Kind};
use super::error::{ThriftError, Throws};
use super::handler::{Gateway, Outcome, Peer, admin, atomic, reads, scanners, writes};
use super::protocol::{
    Codec, Cursor, InputProtocol, MessageHeader, MessageType, OutputProtocol, TType,
};
use super::types::{ApplicationException, ExceptionMessage, Value};
use crate::metrics::{self, Api};

/// One method of the service.
pub struct Method {
    /// Its name on the wire.
    pub name: &'static str,
    /// Its arguments (the `attributes` maps are left out: skipped unread).
    pub args: &'static [(i16, Kind)],
    /// Exceptions it declares besides `IOError`.
    pub throws: Throws,
    /// Its handler.
    pub run: fn(&Gateway, &Peer, &mut Args) -> Outcome,
}

const IO: Throws = Throws {
    illegal_argument: false,
    already_exists: false,
};
const IO_IA: Throws = Throws {
    illegal_argument: true,
    already_exists: false,
};
const IO_IA_AE: Throws = Throws {
    illegal_argument: true,
    already_exists: true,
};

use Kind::{Append, Batches, Binaries, Binary, Descriptors, I32, I64, Increment, Increments};

macro_rules! method {
    ($name:literal, [$($id:literal: $kind:expr),*], $throws:expr, $run:path) => {
        Method { name: $name, args: &[$(($id, $kind)),*], throws: $throws, run: $run }
    };
}

/// Every method the gateway answers (happybase's IDL and HBase 2.x's additions); the others
/// are unknown.
pub static METHODS: &[Method] = &[
    // Admin.
    method!("enableTable", [1: Binary], IO, admin::enable_table),
    method!("disableTable", [1: Binary], IO, admin::disable_table),
    method!("isTableEnabled", [1: Binary], IO, admin::is_table_enabled),
    method!("compact", [1: Binary], IO, admin::minor_compact),
    method!("majorCompact", [1: Binary], IO, admin::major_compact),
    method!("getTableNames", [], IO, admin::get_table_names),
    method!(
        "getTableNamesWithIsTableEnabled",
        [],
        IO,
        admin::get_table_names_with_is_table_enabled
    ),
    method!("getColumnDescriptors", [1: Binary], IO, admin::get_column_descriptors),
    method!("getTableRegions", [1: Binary], IO, admin::get_table_regions),
    method!("createTable", [1: Binary, 2: Descriptors], IO_IA_AE, admin::create_table),
    method!("deleteTable", [1: Binary], IO, admin::delete_table),
    method!("getThriftServerType", [], IO, admin::get_thrift_server_type),
    method!("getClusterId", [], IO, admin::get_cluster_id),
    // Reads.
    method!("get", [1: Binary, 2: Binary, 3: Binary], IO, reads::get),
    method!("getVer", [1: Binary, 2: Binary, 3: Binary, 4: I32], IO, reads::get_ver),
    method!("getVerTs", [1: Binary, 2: Binary, 3: Binary, 4: I64, 5: I32], IO, reads::get_ver_ts),
    method!("getRow", [1: Binary, 2: Binary], IO, reads::get_row),
    method!("getRowWithColumns", [1: Binary, 2: Binary, 3: Binaries], IO, reads::get_row_with_columns),
    method!("getRowTs", [1: Binary, 2: Binary, 3: I64], IO, reads::get_row_ts),
    method!("getRowWithColumnsTs", [1: Binary, 2: Binary, 3: Binaries, 4: I64], IO, reads::get_row_with_columns_ts),
    method!("getRows", [1: Binary, 2: Binaries], IO, reads::get_rows_plain),
    method!("getRowsWithColumns", [1: Binary, 2: Binaries, 3: Binaries], IO, reads::get_rows_with_columns),
    method!("getRowsTs", [1: Binary, 2: Binaries, 3: I64], IO, reads::get_rows_ts),
    method!("getRowsWithColumnsTs", [1: Binary, 2: Binaries, 3: Binaries, 4: I64], IO, reads::get_rows_with_columns_ts),
    // Scanners.
    method!("scannerOpenWithScan", [1: Binary, 2: Kind::Scan], IO, scanners::open_with_scan),
    method!("scannerOpen", [1: Binary, 2: Binary, 3: Binaries], IO, scanners::open_plain),
    method!("scannerOpenWithStop", [1: Binary, 2: Binary, 3: Binary, 4: Binaries], IO, scanners::open_with_stop),
    method!("scannerOpenWithPrefix", [1: Binary, 2: Binary, 3: Binaries], IO, scanners::open_with_prefix),
    method!("scannerOpenTs", [1: Binary, 2: Binary, 3: Binaries, 4: I64], IO, scanners::open_ts),
    method!("scannerOpenWithStopTs", [1: Binary, 2: Binary, 3: Binary, 4: Binaries, 5: I64], IO, scanners::open_with_stop_ts),
    method!("scannerGet", [1: I32], IO_IA, scanners::get),
    method!("scannerGetList", [1: I32, 2: I32], IO_IA, scanners::get_list),
    method!("scannerClose", [1: I32], IO_IA, scanners::close),
    // Writes.
    method!("mutateRow", [1: Binary, 2: Binary, 3: Kind::Mutations], IO_IA, writes::mutate_row),
    method!("mutateRowTs", [1: Binary, 2: Binary, 3: Kind::Mutations, 4: I64], IO_IA, writes::mutate_row_ts),
    method!("mutateRows", [1: Binary, 2: Batches], IO_IA, writes::mutate_rows),
    method!("mutateRowsTs", [1: Binary, 2: Batches, 3: I64], IO_IA, writes::mutate_rows_ts),
    method!("deleteAll", [1: Binary, 2: Binary, 3: Binary], IO, writes::delete_all),
    method!("deleteAllTs", [1: Binary, 2: Binary, 3: Binary, 4: I64], IO, writes::delete_all_ts),
    method!("deleteAllRow", [1: Binary, 2: Binary], IO, writes::delete_all_row),
    method!("deleteAllRowTs", [1: Binary, 2: Binary, 3: I64], IO, writes::delete_all_row_ts),
    method!("atomicIncrement", [1: Binary, 2: Binary, 3: Binary, 4: I64], IO_IA, atomic::atomic_increment),
    method!("increment", [1: Increment], IO, atomic::increment),
    method!("incrementRows", [1: Increments], IO, atomic::increment_rows),
    method!("append", [1: Append], IO, atomic::append),
    method!("checkAndPut", [1: Binary, 2: Binary, 3: Binary, 5: Binary, 6: Kind::Mutation], IO_IA, atomic::check_and_put),
];

/// The method called `name`.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// The `method` label of a call named `name`.
fn method_label(name: &str) -> &str {
    find(name).map_or("unknown", |m| m.name)
}

/// The `code` label of a `TApplicationException` type.
fn application_code(kind: i32) -> &'static str {
    match kind {
        ApplicationException::UNKNOWN_METHOD => "UNKNOWN_METHOD",
        ApplicationException::INVALID_MESSAGE_TYPE => "INVALID_MESSAGE_TYPE",
        ApplicationException::PROTOCOL_ERROR => "PROTOCOL_ERROR",
        _ => "INTERNAL_ERROR",
    }
}

/// Answer one complete request message; `None` for a oneway call. Records the call in the
/// metrics.
pub fn handle<C: Codec>(gw: &Gateway, peer: &Peer, msg: &Bytes) -> Option<Vec<u8>> {
    let started = Instant::now();
    let mut r = C::reader(Cursor::shared(msg), C::State::default());
    let header = match r.read_message_begin() {
        Ok(h) => h,
        Err(e) => {
            let unknown = MessageHeader {
                name: String::new(),
                kind: MessageType::Call,
                seqid: 0,
            };
            let msg = format!("cannot read the message header: {e}");
            let kind = ApplicationException::PROTOCOL_ERROR;
            let reply = application_error::<C>(&unknown, kind, msg);
            let code = application_code(kind);
            metrics::observe_rpc(Api::Thrift, "unknown", code, started.elapsed());
            return Some(reply);
        }
    };
    let answer = answer(gw, peer, &header, &mut r);
    let code = match &answer {
        Ok((_, Ok(_))) => "OK",
        Ok((throws, Err(e))) => e.sent_as(*throws),
        Err((kind, _)) => application_code(*kind),
    };
    let reply = match answer {
        _ if header.kind == MessageType::Oneway => None,
        Ok((throws, outcome)) => Some(reply::<C>(&header, throws, &outcome)),
        Err((kind, message)) => Some(application_error::<C>(&header, kind, message)),
    };
    let method = method_label(&header.name);
    metrics::observe_rpc(Api::Thrift, method, code, started.elapsed());
    reply
}

/// Run the call: the method's declared exceptions and outcome, or the `TApplicationException`
/// (type and message) that answers it instead.
fn answer<P: InputProtocol>(
    gw: &Gateway,
    peer: &Peer,
    header: &MessageHeader,
    r: &mut P,
) -> Result<(Throws, Outcome), (i32, String)> {
    let name = &header.name;
    if !matches!(header.kind, MessageType::Call | MessageType::Oneway) {
        let msg = format!("{name}: message type {:?} is not a call", header.kind);
        return Err((ApplicationException::INVALID_MESSAGE_TYPE, msg));
    }
    let method = find(name).ok_or_else(|| {
        tracing::debug!(method = %name, "unknown thrift method");
        let msg = format!("Invalid method name: '{name}'");
        (ApplicationException::UNKNOWN_METHOD, msg)
    })?;
    let mut args = Args::read(r, method.args).map_err(|e| {
        let msg = format!(
            "{name}: cannot decode the arguments: {}",
            e.truncated_is_invalid()
        );
        (ApplicationException::PROTOCOL_ERROR, msg)
    })?;
    let outcome = super::auth::run(gw, peer, method, &mut args);
    if let Err(e) = &outcome {
        tracing::debug!(method = method.name, error = %e, "thrift call failed");
    }
    Ok((method.throws, outcome))
}

/// The REPLY message of a call: the success field or the declared exception.
pub fn reply<C: Codec>(header: &MessageHeader, throws: Throws, outcome: &Outcome) -> Vec<u8> {
    let mut w = C::writer(256);
    w.write_message_begin(&header.name, MessageType::Reply, header.seqid);
    w.write_struct_begin();
    match outcome {
        Ok(value) => value.write(&mut w),
        Err(e) => write_exception(&mut w, e, throws),
    }
    w.write_struct_end();
    w.finish()
}

fn write_exception<P: OutputProtocol>(w: &mut P, e: &ThriftError, throws: Throws) {
    w.write_field_begin(TType::Struct, e.field(throws));
    ExceptionMessage {
        message: e.message().to_string(),
    }
    .write(w);
}

/// An EXCEPTION message (`TApplicationException`) answering `header`.
pub fn application_error<C: Codec>(header: &MessageHeader, kind: i32, message: String) -> Vec<u8> {
    let mut w = C::writer(64 + message.len());
    w.write_message_begin(&header.name, MessageType::Exception, header.seqid);
    ApplicationException { message, kind }.write(&mut w);
    w.finish()
}

#[cfg(test)]
mod tests;
