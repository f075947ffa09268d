//! Who is calling: the [`Principal`] every listener attaches to a request, and the
//! [`Authenticator`] that turns the credentials a connection and a request present (a bearer
//! token, a claimed user name, a verified client certificate's name) into one.
//!
//! The rules, the same on every listener:
//! - no `--auth-tokens` and no `--tls-client-ca`: authentication is off; every caller is the
//!   principal `anonymous` holding every permission;
//! - `--tls-client-ca` without `--auth-tokens`: the certificate authority is the authority;
//!   every client certificate it signed is a principal (its Subject CN, else its first DNS
//!   SAN) holding every permission;
//! - `--auth-tokens`: a token names its principal; a client certificate without a token names
//!   the principal of the same name in the file. When both are presented they must agree
//!   (the token's principal is the certificate's name), so a stolen token is useless to
//!   another certificate holder.
//!
//! This file must never say in an error which principals exist, and never look at transport
//! details (headers, TLS sessions): listeners extract the credentials, this file judges them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::permission::{Kind, Permission, Target};
use super::tokens::{TokenFile, TokenFileError};

/// The name of every caller when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

#[derive(Clone, Debug)]
enum Grants {
    /// Every permission (authentication off, or a certificate-only server).
    All,
    /// The permissions of a token-file entry.
    Listed(Arc<[Permission]>),
}

/// An authenticated caller. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Principal {
    name: Arc<str>,
    grants: Grants,
}

impl Principal {
    /// The caller when authentication is off: holds every permission.
    pub fn anonymous() -> Principal {
        Principal::all(ANONYMOUS)
    }

    /// A principal named `name` holding every permission.
    pub fn all(name: &str) -> Principal {
        Principal {
            name: name.into(),
            grants: Grants::All,
        }
    }

    /// A principal named `name` holding exactly `permissions`.
    pub fn with(name: &str, permissions: &[Permission]) -> Principal {
        Principal {
            name: name.into(),
            grants: Grants::Listed(permissions.into()),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it holds `need` on `target`.
    pub fn holds(&self, need: Kind, target: Target<'_>) -> bool {
        match &self.grants {
            Grants::All => true,
            Grants::Listed(perms) => perms.iter().any(|p| p.allows(need, target)),
        }
    }
}

/// What one request presents, as its listener extracted it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    /// A bearer token (gRPC `authorization: Bearer TOKEN`, HTTP Bearer or Basic's password).
    pub token: Option<&'a str>,
    /// A name the client claims beside the token (HTTP Basic's user): must be the token's.
    pub user: Option<&'a str>,
    /// The verified client certificate's principal name (see `tls::identity`).
    pub certificate: Option<&'a str>,
}

/// Why a request is not authenticated. The messages never say which principals exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// Neither a token nor a client certificate.
    #[error("authentication required: no token was presented")]
    NoCredentials,
    /// The token (or the user name beside it) matches no principal.
    #[error("the token presented is not valid")]
    BadToken,
    /// A valid token of another principal than the client certificate's.
    #[error("the token and the client certificate name different principals")]
    Mismatch,
    /// A client certificate whose name is no principal, and no token.
    #[error("the client certificate is not registered with this server; present a token")]
    UnknownCertificate,
    /// The server requires client certificates and none was presented.
    #[error("a client certificate is required")]
    NoCertificate,
}

/// Judges credentials. Shared by every listener; the token file can be reloaded.
#[derive(Debug)]
pub struct Authenticator {
    tokens: Option<(PathBuf, ArcSwap<TokenFile>)>,
    client_certs: bool,
    /// The caller when authentication is off, made once (cloning it costs no allocation).
    anonymous: Principal,
}

impl Authenticator {
    /// Authentication off: every caller is [`Principal::anonymous`].
    pub fn off() -> Authenticator {
        Authenticator {
            tokens: None,
            client_certs: false,
            anonymous: Principal::anonymous(),
        }
    }

    /// Tokens from `tokens` (when given), client certificates when `client_certs`.
    pub fn new(tokens: Option<&Path>, client_certs: bool) -> Result<Authenticator, TokenFileError> {
        let tokens = match tokens {
            Some(path) => Some((
                path.to_path_buf(),
                ArcSwap::from_pointee(TokenFile::load(path)?),
            )),
            None => None,
        };
        Ok(Authenticator {
            tokens,
            client_certs,
            anonymous: Principal::anonymous(),
        })
    }

    /// Tokens from an already parsed file (tests, embedders); nothing to reload.
    pub fn from_tokens(tokens: TokenFile, client_certs: bool) -> Authenticator {
        Authenticator {
            tokens: Some((PathBuf::new(), ArcSwap::from_pointee(tokens))),
            client_certs,
            anonymous: Principal::anonymous(),
        }
    }

    /// Whether requests must authenticate at all.
    pub fn is_on(&self) -> bool {
        self.tokens.is_some() || self.client_certs
    }

    /// Whether a token file is in use.
    pub fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// Read the token file again; on an error the old one stays in force.
    pub fn reload(&self) -> Result<(), TokenFileError> {
        if let Some((path, current)) = &self.tokens
            && !path.as_os_str().is_empty()
        {
            current.store(Arc::new(TokenFile::load(path)?));
        }
        Ok(())
    }

    /// The principal `credentials` authenticate.
    pub fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, Unauthenticated> {
        let Some((_, tokens)) = &self.tokens else {
            if !self.client_certs {
                return Ok(self.anonymous.clone());
            }
            return credentials
                .certificate
                .map(Principal::all)
                .ok_or(Unauthenticated::NoCertificate);
        };
        if self.client_certs && credentials.certificate.is_none() {
            return Err(Unauthenticated::NoCertificate);
        }
        let tokens = tokens.load();
        match credentials.token {
            Some(token) => {
                let entry = (!token.is_empty())
                    .then(|| tokens.by_token(token))
                    .flatten()
                    .ok_or(Unauthenticated::BadToken)?;
                if credentials.user.is_some_and(|u| u != entry.name) {
                    return Err(Unauthenticated::BadToken);
                }
                if credentials.certificate.is_some_and(|c| c != entry.name) {
                    return Err(Unauthenticated::Mismatch);
                }
                Ok(Principal::with(&entry.name, &entry.permissions))
            }
            None => match credentials.certificate {
                Some(name) => tokens
                    .by_name(name)
                    .map(|e| Principal::with(&e.name, &e.permissions))
                    .ok_or(Unauthenticated::UnknownCertificate),
                None => Err(Unauthenticated::NoCredentials),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tokens::token_hash;

    fn tokens() -> TokenFile {
        let hex =
            |t: &str| -> String { token_hash(t).iter().map(|b| format!("{b:02x}")).collect() };
        TokenFile::parse(&format!(
            "[[principal]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\npermissions = [\"read\"]\n\
             [[principal]]\nname = \"svc\"\npermissions = [\"admin:svc_*\"]\n",
            hex("r-token")
        ))
        .expect("valid")
    }

    fn token(t: &str) -> Credentials<'_> {
        Credentials {
            token: Some(t),
            ..Credentials::default()
        }
    }

    #[test]
    fn off_means_anonymous_with_every_permission() {
        let p = Authenticator::off()
            .authenticate(Credentials::default())
            .expect("open");
        assert_eq!(p.name(), ANONYMOUS);
        assert!(p.holds(Kind::Admin, Target::Table("any")));
    }

    #[test]
    fn tokens_name_their_principal_and_nothing_else_passes() {
        let a = Authenticator::from_tokens(tokens(), false);
        let p = a.authenticate(token("r-token")).expect("valid token");
        assert_eq!(p.name(), "reader");
        assert!(p.holds(Kind::Read, Target::Table("t")));
        assert!(!p.holds(Kind::Write, Target::Table("t")));
        assert_eq!(
            a.authenticate(token("nope")).err(),
            Some(Unauthenticated::BadToken)
        );
        assert_eq!(
            a.authenticate(token("")).err(),
            Some(Unauthenticated::BadToken)
        );
        assert_eq!(
            a.authenticate(Credentials::default()).err(),
            Some(Unauthenticated::NoCredentials)
        );
        let basic = |user| Credentials {
            token: Some("r-token"),
            user: Some(user),
            certificate: None,
        };
        assert!(a.authenticate(basic("reader")).is_ok());
        assert_eq!(
            a.authenticate(basic("svc")).err(),
            Some(Unauthenticated::BadToken)
        );
    }

    #[test]
    fn certificates_alone_trust_the_ca() {
        let a = Authenticator::new(None, true).expect("no file");
        let cert = Credentials {
            certificate: Some("host-7"),
            ..Credentials::default()
        };
        let p = a.authenticate(cert).expect("cert");
        assert_eq!(p.name(), "host-7");
        assert!(p.holds(Kind::Admin, Target::Server));
        assert_eq!(
            a.authenticate(Credentials::default()).err(),
            Some(Unauthenticated::NoCertificate)
        );
    }

    #[test]
    fn a_certificate_and_a_token_must_agree() {
        let a = Authenticator::from_tokens(tokens(), true);
        let both = |cert, tok| Credentials {
            token: tok,
            user: None,
            certificate: Some(cert),
        };
        assert_eq!(
            a.authenticate(both("reader", Some("r-token")))
                .map(|p| p.name().to_owned()),
            Ok("reader".to_owned())
        );
        assert_eq!(
            a.authenticate(both("svc", Some("r-token"))).err(),
            Some(Unauthenticated::Mismatch)
        );
        let svc = a.authenticate(both("svc", None)).expect("cert principal");
        assert!(svc.holds(Kind::Admin, Target::Table("svc_x")));
        assert!(!svc.holds(Kind::Read, Target::Table("other")));
        assert_eq!(
            a.authenticate(both("stranger", None)).err(),
            Some(Unauthenticated::UnknownCertificate)
        );
        assert_eq!(
            a.authenticate(token("r-token")).err(),
            Some(Unauthenticated::NoCertificate)
        );
    }

    #[test]
    fn messages_name_no_principal() {
        for e in [
            Unauthenticated::NoCredentials,
            Unauthenticated::BadToken,
            Unauthenticated::Mismatch,
            Unauthenticated::UnknownCertificate,
            Unauthenticated::NoCertificate,
        ] {
            let m = e.to_string();
            assert!(!m.contains("reader") && !m.contains("svc"), "{m}");
        }
    }
}
