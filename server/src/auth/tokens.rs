//! The `--auth-tokens FILE`: a TOML file of principals, each with the SHA-256 of its token
//! (never the token itself) and its permissions:
//!
//! ```toml
//! [[principal]]
//! name = "loader"
//! token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! permissions = ["read", "write:clickstream", "create:staging_*", "admin:staging_*"]
//! ```
//!
//! `token_sha256` is the hex SHA-256 of the token's UTF-8 bytes, in either case. It may be
//! left out for a principal that only authenticates with a client certificate (mTLS) whose
//! name is the principal's. A malformed entry (a bad hash, an unknown permission word, a
//! duplicate name or token) is an error naming the entry.
//!
//! This file owns the file format and the token lookup. The lookup hashes the presented
//! token and compares it with every entry's hash in constant time ([`subtle`]), so neither
//! the time taken nor the error says which principals exist or how close a guess was. It
//! must never keep or log a plain token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::permission::{Permission, PermissionError};

/// One principal of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalEntry {
    /// Its name (in logs, audit lines and PERMISSION_DENIED messages).
    pub name: String,
    /// SHA-256 of its token; `None`: it authenticates only by client certificate.
    pub token_sha256: Option<[u8; 32]>,
    /// What it may do.
    pub permissions: Vec<Permission>,
}

/// A parsed token file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFile {
    entries: Vec<PrincipalEntry>,
}

/// What is wrong with a token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or not the expected shape (the parser's message names the line).
    #[error("invalid token file{}: {message}", at(.path))]
    Syntax {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The TOML parser's message.
        message: String,
    },
    /// One entry is malformed.
    #[error("invalid token file{}: principal #{index} ({name:?}): {problem}", at(.path))]
    Entry {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// 1-based position of the `[[principal]]` entry.
        index: usize,
        /// Its name as written.
        name: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// No `[[principal]]` at all: nobody could connect.
    #[error("invalid token file{}: it defines no [[principal]]", at(.path))]
    Empty {
        /// The file, when read from one.
        path: Option<PathBuf>,
    },
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

/// What is wrong with one `[[principal]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// The name is empty or has control characters.
    #[error("the name must be non-empty text without control characters")]
    BadName,
    /// The hash is not 64 hex digits.
    #[error("token_sha256 must be 64 hex digits (the SHA-256 of the token), got {0} characters")]
    BadHash(usize),
    /// A permission word is not valid.
    #[error(transparent)]
    Permission(#[from] PermissionError),
    /// Another entry has the same name.
    #[error("the name is also used by principal #{0}")]
    DuplicateName(usize),
    /// Another entry has the same token.
    #[error("the token_sha256 is also used by principal #{0}")]
    DuplicateToken(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    principal: Vec<RawPrincipal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    name: String,
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// The SHA-256 of a token's UTF-8 bytes.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hash(hex: &str) -> Result<[u8; 32], EntryProblem> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err(EntryProblem::BadHash(hex.chars().count()));
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        out[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(out)
}

fn entry(raw: RawPrincipal) -> Result<PrincipalEntry, EntryProblem> {
    if raw.name.trim().is_empty() || raw.name.chars().any(char::is_control) {
        return Err(EntryProblem::BadName);
    }
    let token_sha256 = raw.token_sha256.as_deref().map(parse_hash).transpose()?;
    let permissions = raw
        .permissions
        .iter()
        .map(|w| w.parse())
        .collect::<Result<_, _>>()?;
    Ok(PrincipalEntry {
        name: raw.name,
        token_sha256,
        permissions,
    })
}

impl TokenFile {
    /// Read and parse the file at `path`.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TokenFile::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parse token-file text.
    pub fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| TokenFileError::Syntax {
            path: None,
            message: e.to_string(),
        })?;
        if raw.principal.is_empty() {
            return Err(TokenFileError::Empty { path: None });
        }
        let mut entries = Vec::with_capacity(raw.principal.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut hashes: HashMap<[u8; 32], usize> = HashMap::new();
        for (i, raw) in raw.principal.into_iter().enumerate() {
            let index = i + 1;
            let name = raw.name.clone();
            let fail = |problem| TokenFileError::Entry {
                path: None,
                index,
                name: name.clone(),
                problem,
            };
            let e = entry(raw).map_err(fail)?;
            if let Some(&other) = names.get(&e.name) {
                return Err(fail(EntryProblem::DuplicateName(other)));
            }
            names.insert(e.name.clone(), index);
            if let Some(h) = e.token_sha256 {
                if let Some(&other) = hashes.get(&h) {
                    return Err(fail(EntryProblem::DuplicateToken(other)));
                }
                hashes.insert(h, index);
            }
            entries.push(e);
        }
        Ok(TokenFile { entries })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[PrincipalEntry] {
        &self.entries
    }

    /// The principal whose token is `token`, if any.
    ///
    /// Every entry is compared, in constant time, whatever matches: the time depends only on
    /// the number of entries.
    pub fn by_token(&self, token: &str) -> Option<&PrincipalEntry> {
        let presented = token_hash(token);
        let mut found = subtle::Choice::from(0);
        let mut index: u64 = 0;
        for (i, e) in self.entries.iter().enumerate() {
            // An entry without a token gets an impossible-to-match comparison of the same cost.
            let (hash, has) = match &e.token_sha256 {
                Some(h) => (*h, subtle::Choice::from(1)),
                None => ([0u8; 32], subtle::Choice::from(0)),
            };
            let hit = hash.ct_eq(&presented) & has;
            index = u64::conditional_select(&index, &(i as u64), hit);
            found |= hit;
        }
        if bool::from(found) {
            self.entries.get(usize::try_from(index).ok()?)
        } else {
            None
        }
    }

    /// The principal named `name` (a client certificate's name), if any.
    pub fn by_name(&self, name: &str) -> Option<&PrincipalEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

impl TokenFileError {
    fn in_file(self, file: &Path) -> TokenFileError {
        let file = Some(file.to_path_buf());
        match self {
            TokenFileError::Syntax { message, .. } => TokenFileError::Syntax {
                path: file,
                message,
            },
            TokenFileError::Entry {
                index,
                name,
                problem,
                ..
            } => TokenFileError::Entry {
                path: file,
                index,
                name,
                problem,
            },
            TokenFileError::Empty { .. } => TokenFileError::Empty { path: file },
            read @ TokenFileError::Read { .. } => read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::permission::{Kind, Scope};
    use proptest::prelude::*;

    fn hex(h: &[u8; 32]) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn file(entries: &[(&str, &str, &[&str])]) -> String {
        let mut s = String::new();
        for (name, token, perms) in entries {
            let perms: Vec<String> = perms.iter().map(|p| format!("{p:?}")).collect();
            s.push_str(&format!(
                "[[principal]]\nname = {name:?}\ntoken_sha256 = {:?}\npermissions = [{}]\n",
                hex(&token_hash(token)),
                perms.join(", ")
            ));
        }
        s
    }

    #[test]
    fn the_issue_example_parses_and_tokens_find_their_principal() {
        let text = file(&[
            ("dashboard", "dash-secret", &["read"]),
            (
                "loader",
                "load-secret",
                &[
                    "read",
                    "write:clickstream",
                    "create:staging_*",
                    "admin:staging_*",
                ],
            ),
        ]);
        let f = TokenFile::parse(&text).expect("valid");
        assert_eq!(f.entries().len(), 2);
        let loader = f.by_token("load-secret").expect("loader's token");
        assert_eq!(loader.name, "loader");
        assert_eq!(loader.permissions[3].kind, Kind::Admin);
        assert_eq!(
            loader.permissions[3].scope,
            Scope::Prefix("staging_".into())
        );
        assert_eq!(
            f.by_token("dash-secret").map(|e| &*e.name),
            Some("dashboard")
        );
        assert!(f.by_token("guess").is_none());
        assert!(f.by_token("").is_none());
    }

    #[test]
    fn the_hash_may_be_upper_case() {
        let text = format!(
            "[[principal]]\nname = \"a\"\ntoken_sha256 = {:?}\npermissions = [\"read\"]\n",
            hex(&token_hash("t")).to_uppercase()
        );
        let f = TokenFile::parse(&text).expect("valid");
        assert_eq!(f.by_token("t").map(|e| &*e.name), Some("a"));
    }

    #[test]
    fn a_principal_without_a_token_is_found_only_by_name() {
        let f = TokenFile::parse("[[principal]]\nname = \"svc\"\npermissions = [\"admin\"]\n")
            .expect("valid");
        assert!(f.by_name("svc").is_some());
        assert!(f.by_token("").is_none());
        assert!(f.by_token("svc").is_none());
    }

    #[track_caller]
    fn entry_error(text: &str) -> (usize, String, String) {
        match TokenFile::parse(text) {
            Err(e @ TokenFileError::Entry { .. }) => {
                let msg = e.to_string();
                let TokenFileError::Entry { index, name, .. } = e else {
                    unreachable!()
                };
                (index, name, msg)
            }
            other => panic!("expected an entry error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_entries_are_named() {
        let good = file(&[("ok", "t1", &["read"])]);
        let (i, n, m) = entry_error(&format!(
            "{good}[[principal]]\nname = \"bad\"\ntoken_sha256 = \"abc\"\n"
        ));
        assert_eq!((i, n.as_str()), (2, "bad"));
        assert!(m.contains("64 hex digits"), "{m}");

        let (i, _, m) = entry_error(&file(&[("x", "t", &["read", "delete"])]));
        assert_eq!(i, 1);
        assert!(
            m.contains("\"delete\"") && m.contains("principal #1 (\"x\")"),
            "{m}"
        );

        let (i, _, m) = entry_error(&file(&[("x", "t1", &[]), ("x", "t2", &[])]));
        assert_eq!(i, 2);
        assert!(m.contains("also used by principal #1"), "{m}");

        let (i, _, m) = entry_error(&file(&[("x", "same", &[]), ("y", "same", &[])]));
        assert_eq!(i, 2);
        assert!(m.contains("token_sha256 is also used"), "{m}");

        let (_, _, m) = entry_error(&file(&[("", "t", &[])]));
        assert!(m.contains("name"), "{m}");
    }

    #[test]
    fn wrong_shapes_and_empty_files_are_refused() {
        let e = TokenFile::parse("[[principals]]\nname = \"a\"\n").expect_err("typo");
        assert!(e.to_string().contains("principals"), "{e}");
        let e = TokenFile::parse("[[principal]]\nname = \"a\"\npermission = []\n")
            .expect_err("unknown key");
        assert!(e.to_string().contains("permission"), "{e}");
        assert!(matches!(
            TokenFile::parse(""),
            Err(TokenFileError::Empty { .. })
        ));
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, file(&[("x", "t", &["reed"])])).expect("write");
        let e = TokenFile::load(&path).expect_err("bad word");
        assert!(e.to_string().contains("tokens.toml"), "{e}");
        assert!(e.to_string().contains("principal #1"), "{e}");
        let e = TokenFile::load(&dir.path().join("missing")).expect_err("missing");
        assert!(matches!(e, TokenFileError::Read { .. }), "{e}");
    }

    fn perm_word() -> impl Strategy<Value = String> {
        let kind = prop::sample::select(vec!["read", "write", "create", "admin"]);
        (
            kind,
            prop_oneof![Just(String::new()), "[a-z_]{1,5}", "[a-z_]{0,5}\\*"],
        )
            .prop_map(|(k, t)| {
                if t.is_empty() {
                    k.to_owned()
                } else {
                    format!("{k}:{t}")
                }
            })
    }

    fn principal() -> impl Strategy<Value = (String, String, bool, Vec<String>)> {
        (
            "[a-z][a-z0-9 _-]{0,8}",
            "[!-~]{1,20}",
            any::<bool>(),
            prop::collection::vec(perm_word(), 0..4),
        )
    }

    fn render(ps: &[(String, String, bool, Vec<String>)]) -> String {
        let mut s = String::new();
        for (name, token, upper, perms) in ps {
            let h = hex(&token_hash(token));
            let h = if *upper { h.to_uppercase() } else { h };
            let perms: Vec<String> = perms.iter().map(|p| format!("{p:?}")).collect();
            s.push_str(&format!(
                "[[principal]]\nname = {name:?}\ntoken_sha256 = {h:?}\npermissions = [{}]\n\n",
                perms.join(", ")
            ));
        }
        s
    }

    fn distinct(ps: &[(String, String, bool, Vec<String>)]) -> bool {
        let names: std::collections::HashSet<_> = ps.iter().map(|p| &p.0).collect();
        let tokens: std::collections::HashSet<_> = ps.iter().map(|p| &p.1).collect();
        names.len() == ps.len() && tokens.len() == ps.len()
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panicking(
            text in "(\\[\\[principal\\]\\]\n|name = \"[a-z]{0,3}\"\n|token_sha256 = \"[0-9a-fA-F]{0,65}\"\n|permissions = \\[(\"[a-z:*_]{0,8}\",? ?){0,3}\\]\n|[ -~]{0,8}\n){0,12}"
        ) {
            // Whatever the text, the parser answers without panicking: an error with a
            // message, or a file whose every entry its name finds.
            match TokenFile::parse(&text) {
                Err(e) => prop_assert!(!e.to_string().is_empty()),
                Ok(f) => {
                    for e in f.entries() {
                        prop_assert_eq!(f.by_name(&e.name).map(|x| &x.name), Some(&e.name));
                    }
                }
            }
        }

        #[test]
        fn rendered_files_parse_back_and_every_token_finds_its_principal(
            ps in prop::collection::vec(principal(), 1..6)
        ) {
            prop_assume!(distinct(&ps));
            let f = TokenFile::parse(&render(&ps)).expect("valid file");
            prop_assert_eq!(f.entries().len(), ps.len());
            for (name, token, _, perms) in &ps {
                let e = f.by_token(token).expect("token found");
                prop_assert_eq!(&e.name, name);
                let words: Vec<String> = e.permissions.iter().map(ToString::to_string).collect();
                prop_assert_eq!(&words, perms);
                let other = format!("{token}x");
                if !ps.iter().any(|p| p.1 == other) {
                    prop_assert!(f.by_token(&other).is_none());
                }
            }
        }

        #[test]
        fn one_corrupted_entry_is_the_entry_named(
            ps in prop::collection::vec(principal(), 1..6),
            pick in any::<prop::sample::Index>(),
            how in 0..3usize,
        ) {
            prop_assume!(distinct(&ps));
            let mut ps = ps;
            let i = pick.index(ps.len());
            let text = match how {
                0 => {
                    ps[i].3.push("superuser".into());
                    render(&ps)
                }
                1 => {
                    let h = hex(&token_hash(&ps[i].1));
                    let h = if ps[i].2 { h.to_uppercase() } else { h };
                    render(&ps).replace(&h, &"g".repeat(64))
                }
                _ => {
                    let dup = ps[(i + 1) % ps.len()].0.clone();
                    prop_assume!(ps.len() > 1);
                    ps[i].0 = dup;
                    render(&ps)
                }
            };
            match TokenFile::parse(&text) {
                Err(TokenFileError::Entry { index, .. }) => {
                    // A duplicate is reported at the later of the two entries.
                    if how == 2 {
                        let j = (i + 1) % ps.len();
                        prop_assert_eq!(index, i.max(j) + 1);
                    } else {
                        prop_assert_eq!(index, i + 1);
                    }
                }
                other => prop_assert!(false, "expected an entry error, got {:?}", other),
            }
        }
    }
}
