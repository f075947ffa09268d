//! What the security tests share: certificates made at test time with rcgen (a CA, server
//! and client certificates, as PEM files in a temporary directory), `--auth-tokens` files,
//! and the client side of a protected server ([`Access`]: the CA to trust, a client
//! certificate, a bearer token) with a Strata client that sends the token on every call.
//!
//! It only builds credentials and clients; it must never weaken what it connects to (no
//! skipped verification: clients trust exactly the CA given).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use strata_proto::v1::strata_client::StrataClient;
use tempfile::TempDir;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e:?}"));
        let mut params = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("CA params: {e:?}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("CA certificate: {e:?}"))
            .pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate signed by this CA: (certificate PEM, key PEM). `cn` may be empty (no
    /// Subject CN); `sans` are DNS names or IP addresses.
    pub fn issue(
        &self,
        cn: &str,
        sans: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("leaf key: {e:?}"));
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("leaf params: {e:?}"));
        if !cn.is_empty() {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("leaf certificate: {e:?}"));
        (cert.pem(), key.serialize_pem())
    }
}

/// A CA and the PEM files of its certificates, in a temporary directory.
pub struct Pki {
    dir: TempDir,
    /// The authority.
    pub ca: Ca,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    /// A fresh CA (`ca.pem` written) in a fresh directory.
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("pki dir: {e:?}")),
            ca: Ca::new("Strata test CA"),
        };
        pki.write("ca.pem", pki.ca.pem());
        pki
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write `contents` to `name` in the directory.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write pki file: {e:?}"));
        path
    }

    /// `ca.pem`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `localhost` and 127.0.0.1 as `NAME.pem` and `NAME.key`.
    pub fn server(&self, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.ca.issue(
            "strata-server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        (
            self.write(&format!("{name}.pem"), &cert),
            self.write(&format!("{name}.key"), &key),
        )
    }

    /// A client certificate with Subject CN `cn`: (certificate PEM, key PEM), also written
    /// as `client-CN.pem` and `client-CN.key`.
    pub fn client(&self, cn: &str) -> (String, String) {
        let (cert, key) = self.ca.issue(cn, &[], ExtendedKeyUsagePurpose::ClientAuth);
        self.write(&format!("client-{cn}.pem"), &cert);
        self.write(&format!("client-{cn}.key"), &key);
        (cert, key)
    }
}

/// The hex SHA-256 of a token, as `token_sha256` holds it.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An `--auth-tokens` file in `dir` with one principal per `(name, token, permissions)`.
pub fn tokens_file(dir: &Path, principals: &[(&str, &str, &[&str])]) -> PathBuf {
    let mut text = String::new();
    for (name, token, permissions) in principals {
        let perms: Vec<String> = permissions.iter().map(|p| format!("{p:?}")).collect();
        text.push_str(&format!(
            "[[principal]]\nname = {name:?}\ntoken_sha256 = \"{}\"\npermissions = [{}]\n\n",
            token_sha256(token),
            perms.join(", ")
        ));
    }
    let path = dir.join("tokens.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write tokens file: {e:?}"));
    path
}

/// How a client reaches a protected server.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// The CA to trust (`Some`: connect with https).
    pub ca_pem: Option<String>,
    /// A client certificate and key (PEM), for mTLS.
    pub identity: Option<(String, String)>,
    /// The bearer token the harness uses (health checks, [`crate::Server::authed`]).
    pub token: Option<String>,
}

impl Access {
    /// `https` with a CA, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// An endpoint for `url` with this access's TLS.
    pub fn endpoint(&self, url: &str) -> Endpoint {
        let endpoint =
            Endpoint::from_shared(url.to_owned()).unwrap_or_else(|e| panic!("valid url: {e:?}"));
        match &self.ca_pem {
            None => endpoint,
            Some(ca) => {
                let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
                if let Some((cert, key)) = &self.identity {
                    tls = tls.identity(Identity::from_pem(cert, key));
                }
                endpoint
                    .tls_config(tls)
                    .unwrap_or_else(|e| panic!("client TLS config: {e:?}"))
            }
        }
    }
}

/// Sends `authorization: Bearer TOKEN` on every call (nothing without a token).
#[derive(Clone, Debug)]
pub struct Token(Option<AsciiMetadataValue>);

impl Token {
    /// The interceptor for `token`.
    pub fn new(token: Option<&str>) -> Token {
        Token(token.map(|t| {
            format!("Bearer {t}")
                .parse()
                .unwrap_or_else(|e| panic!("token header: {e:?}"))
        }))
    }
}

impl Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A Strata client sending a token.
pub type Authed = StrataClient<InterceptedService<Channel, Token>>;

/// A Strata client over `channel` sending `token`.
pub fn authed(channel: Channel, token: Option<&str>) -> Authed {
    StrataClient::with_interceptor(channel, Token::new(token))
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20)
}

/// Create `table` with the family `f` through `c`.
pub async fn create(c: &mut Authed, table: &str) {
    c.create_table(strata_proto::v1::CreateTableRequest {
        table: table.into(),
        families: vec![crate::family("f")],
    })
    .await
    .unwrap_or_else(|s| panic!("create {table}: {s:?}"));
}
