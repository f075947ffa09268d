//! Reading a topic: one fetch task per partition (assigned by the consumer itself, no consumer
//! group), each fetching from its start offset onwards and sending what it got, with the
//! partition's high watermark from the fetch response, into one bounded channel (a slow
//! writer slows the fetches). Partitions added to the topic later are picked up by
//! [`Source::refresh`]. TLS and SASL (PLAIN, SCRAM-SHA-256/512) come from `rskafka`.
//!
//! Owns the Kafka connection, the start-offset checks (a stored offset below the log start or
//! above the high watermark is an error naming topic, partition and offsets; nothing is ever
//! reset or skipped) and retrying a broker that does not answer, with back-off. It must never
//! advance past a record it has not sent, and never take "latest" offsets from ListOffsets
//! (some brokers answer it wrongly; the high watermark comes from fetch responses).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::ConsumeError;
use super::retry::Backoff;

/// How to reach the brokers.
#[derive(Clone, Debug, Default)]
pub struct KafkaOptions {
    /// Bootstrap brokers, `HOST:PORT`.
    pub brokers: Vec<String>,
    /// TLS to the brokers, if set.
    pub tls: Option<TlsOptions>,
    /// SASL authentication, if set.
    pub sasl: Option<SaslOptions>,
    /// Most bytes one fetch asks for per partition.
    pub fetch_max_bytes: i32,
    /// How long a fetch at the end of a partition waits for new records.
    pub fetch_wait: Duration,
}

/// TLS settings.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust (default: the Mozilla roots).
    pub ca: Option<PathBuf>,
    /// PEM certificate chain and key for client authentication.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// SASL mechanisms rskafka speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN.
    Plain,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            _ => Err(format!(
                "unknown SASL mechanism {s:?} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
            )),
        }
    }
}

/// SASL credentials.
#[derive(Clone)]
pub struct SaslOptions {
    /// Mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for SaslOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslOptions")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One fetched record.
#[derive(Debug)]
pub struct FetchedRecord {
    /// Its offset.
    pub offset: i64,
    /// Kafka record timestamp, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
}

/// What the fetch tasks send.
#[derive(Debug)]
pub enum SourceEvent {
    /// Records of one partition in offset order (possibly none), and its high watermark.
    Fetched {
        /// Partition.
        partition: i32,
        /// The offset fetched from.
        from: i64,
        /// Records from `from` on.
        records: Vec<FetchedRecord>,
        /// The partition's high watermark from the fetch response.
        high_watermark: i64,
    },
    /// A partition cannot be read on (its offsets are out of range); the consumer stops.
    Failed(ConsumeError),
}

/// Builds the TLS client configuration.
fn tls_config(t: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, ConsumeError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: String| ConsumeError::Config(what);
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("--broker-ca {}: {e}", path.display())))?
            {
                let cert = cert.map_err(|e| bad(format!("--broker-ca {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("--broker-ca {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match &t.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| bad(format!("--broker-cert {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| bad(format!("--broker-key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("--broker-cert/--broker-key: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// Connect to the brokers, retrying with back-off while none answers.
pub async fn connect(o: &KafkaOptions) -> Result<Client, ConsumeError> {
    let tls = o.tls.as_ref().map(tls_config).transpose()?;
    let mut backoff = Backoff::new();
    loop {
        let mut b = ClientBuilder::new(o.brokers.clone())
            .client_id("strata-consume")
            // rskafka retries inside a call; bound it so an outage surfaces here and is
            // retried (and logged) by the consumer.
            .backoff_config(rskafka::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 3.0,
                deadline: Some(Duration::from_secs(10)),
            });
        if let Some(t) = &tls {
            b = b.tls_config(Arc::clone(t));
        }
        if let Some(s) = &o.sasl {
            let c = Credentials::new(s.username.clone(), s.password.clone());
            b = b.sasl_config(match s.mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(c),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(c),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(c),
            });
        }
        match b.build().await {
            Ok(c) => return Ok(c),
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(brokers = ?o.brokers, error = %e, retry_in = ?wait, "cannot reach the Kafka brokers");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The partitions of `topic`, or `None` if the brokers do not know it.
pub async fn partitions(client: &Client, topic: &str) -> Result<Option<Vec<i32>>, KafkaError> {
    let topics = client.list_topics().await?;
    Ok(topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.into_iter().collect()))
}

/// The fetch tasks of one topic.
pub struct Source {
    client: Arc<Client>,
    topic: String,
    options: KafkaOptions,
    tx: mpsc::Sender<SourceEvent>,
    tasks: BTreeMap<i32, JoinHandle<()>>,
}

impl Source {
    /// A source sending into `tx`; no partition is read until [`Source::start`].
    pub fn new(
        client: Client,
        topic: &str,
        options: KafkaOptions,
        tx: mpsc::Sender<SourceEvent>,
    ) -> Source {
        Source {
            client: Arc::new(client),
            topic: topic.to_string(),
            options,
            tx,
            tasks: BTreeMap::new(),
        }
    }

    /// The Kafka client (shared with the fetch tasks).
    pub fn client(&self) -> Arc<Client> {
        Arc::clone(&self.client)
    }

    /// Whether partition `p` is being read.
    pub fn has(&self, p: i32) -> bool {
        self.tasks.contains_key(&p)
    }

    /// Start reading partition `p` at `start` (the stored next offset), or at the log start
    /// when nothing is stored.
    pub fn start(&mut self, p: i32, start: Option<i64>) {
        if self.tasks.contains_key(&p) {
            return;
        }
        let task = Fetcher {
            client: Arc::clone(&self.client),
            topic: self.topic.clone(),
            partition: p,
            options: self.options.clone(),
            tx: self.tx.clone(),
        };
        self.tasks.insert(p, tokio::spawn(task.run(start)));
    }

    /// The topic's partitions now (a brokers' error is logged, and `None` returned, so the
    /// caller asks again later).
    pub async fn refresh(&self) -> Option<Vec<i32>> {
        match partitions(&self.client, &self.topic).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(topic = %self.topic, error = %e, "cannot list the topic's partitions; will retry");
                None
            }
        }
    }

    /// Stop every fetch task.
    pub fn stop(&mut self) {
        for (_, t) in std::mem::take(&mut self.tasks) {
            t.abort();
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one partition.
struct Fetcher {
    client: Arc<Client>,
    topic: String,
    partition: i32,
    options: KafkaOptions,
    tx: mpsc::Sender<SourceEvent>,
}

/// A fetch answered within this (past its own wait) or it is retried.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

impl Fetcher {
    async fn run(self, start: Option<i64>) {
        if let Err(e) = self.fetch_loop(start).await {
            let _ = self.tx.send(SourceEvent::Failed(e)).await;
        }
    }

    fn out_of_range(&self, offset: i64, log_start: Option<i64>, hwm: i64) -> ConsumeError {
        ConsumeError::OffsetOutOfRange {
            topic: self.topic.clone(),
            partition: self.partition,
            offset,
            log_start,
            high_watermark: hwm,
        }
    }

    /// The partition's client, retrying until the leader answers.
    async fn partition_client(&self) -> PartitionClient {
        let mut backoff = Backoff::new();
        loop {
            match self
                .client
                .partition_client(&self.topic, self.partition, UnknownTopicHandling::Retry)
                .await
            {
                Ok(pc) => return pc,
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, retry_in = ?wait, "cannot reach the partition's leader");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The log start offset, retrying while the broker does not answer.
    async fn log_start(&self, pc: &PartitionClient) -> i64 {
        let mut backoff = Backoff::new();
        loop {
            match pc.get_offset(OffsetAt::Earliest).await {
                Ok(o) => return o,
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, retry_in = ?wait, "cannot read the partition's log start");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn fetch_loop(&self, start: Option<i64>) -> Result<(), ConsumeError> {
        let pc = self.partition_client().await;
        let log_start = self.log_start(&pc).await;
        let mut next = match start {
            Some(s) if s < log_start => return Err(self.out_of_range(s, Some(log_start), -1)),
            Some(s) => s,
            None => log_start,
        };
        let wait_ms = i32::try_from(self.options.fetch_wait.as_millis()).unwrap_or(i32::MAX);
        let mut backoff = Backoff::new();
        loop {
            let fetched = tokio::time::timeout(
                FETCH_TIMEOUT + self.options.fetch_wait,
                pc.fetch_records(next, 1..self.options.fetch_max_bytes, wait_ms),
            )
            .await;
            let (records, hwm) = match fetched {
                Ok(Ok(r)) => r,
                Ok(Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    response,
                    ..
                })) => {
                    let hwm = match response {
                        Some(
                            rskafka::client::error::ServerErrorResponse::PartitionFetchState {
                                high_watermark,
                                ..
                            },
                        ) => high_watermark,
                        _ => -1,
                    };
                    let start = pc.get_offset(OffsetAt::Earliest).await.ok();
                    return Err(self.out_of_range(next, start, hwm));
                }
                Ok(Err(e)) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(topic = %self.topic, partition = self.partition, offset = next, error = %e, retry_in = ?wait, "fetch failed; retrying from the same offset");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(_) => {
                    tracing::warn!(topic = %self.topic, partition = self.partition, offset = next, "no answer from the broker; retrying the fetch");
                    continue;
                }
            };
            backoff.reset();
            if next > hwm {
                // The broker answers an offset past its end with nothing: the topic was
                // recreated or truncated since the offset was stored.
                return Err(self.out_of_range(next, Some(log_start), hwm));
            }
            let records: Vec<FetchedRecord> = records
                .into_iter()
                .filter(|r| r.offset >= next)
                .map(|r| FetchedRecord {
                    offset: r.offset,
                    timestamp_ms: r.record.timestamp.timestamp_millis(),
                    value: r.record.value,
                })
                .collect();
            let from = next;
            if let Some(last) = records.last() {
                next = last.offset + 1;
            }
            let event = SourceEvent::Fetched {
                partition: self.partition,
                from,
                records,
                high_watermark: hwm,
            };
            if self.tx.send(event).await.is_err() {
                return Ok(()); // the consumer is stopping
            }
        }
    }
}
