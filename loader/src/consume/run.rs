//! The consumer loop. Records from the fetch tasks go into a write (`batch::Builder`); a write
//! is queued to the sink when it is full or when no more records are waiting; when the sink
//! acknowledges a write as durable, the partitions' next offsets it reached are stored with an
//! offsets write of their own. On a stop (signal, caught up, too many rejects, a partition
//! that cannot be read), the write being built is queued, every queued write is waited for,
//! and the offsets are stored, before the loop returns.
//!
//! Owns the order of durability: an offset is queued only after the acknowledgement of every
//! write holding records below it. It must never drop a fetched record without either writing
//! it or leaving its offset unstored, and never wait on the sink while holding a record.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use super::ConsumeOptions;
use super::batch::{Builder, Outcome, Unit};
use super::decode::Plan;
use super::error::ConsumeError;
use super::offsets::{self, OFFSET_FAMILY, OFFSETS_TABLE};
use super::progress::{PartitionStats, Progress, Stats, Stop, Summary};
use super::rejects::REJECT_FAMILY;
use super::sink::{Sink, Write};
use super::source::{self, FetchedRecord, Source, SourceEvent};

/// Fetch responses queued between the fetch tasks and the loop.
const SOURCE_QUEUE: usize = 16;
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Check the data table and create the system tables if missing.
async fn prepare_tables<S: Sink>(
    sink: &mut S,
    o: &ConsumeOptions,
    plan: &Plan,
) -> Result<(), ConsumeError> {
    let want = plan.families();
    match sink.families(&o.table).await? {
        None if o.create_table => sink.create_table(&o.table, &want).await?,
        None => {
            return Err(ConsumeError::Config(format!(
                "table {} does not exist: create it with the families the mapping writes \
                 ({}), or give --create-table",
                o.table,
                want.join(", ")
            )));
        }
        Some(have) => {
            if let Some(missing) = want.iter().find(|f| !have.contains(f)) {
                return Err(ConsumeError::Config(format!(
                    "table {} has no family {missing}, which the mapping writes (its families: \
                     {})",
                    o.table,
                    have.join(", ")
                )));
            }
        }
    }
    for (table, family) in [
        (OFFSETS_TABLE, OFFSET_FAMILY),
        (o.rejects_table.as_str(), REJECT_FAMILY),
    ] {
        match sink.families(table).await? {
            None => sink.create_table(table, &[family.to_string()]).await?,
            Some(have) if !have.iter().any(|f| f == family) => {
                return Err(ConsumeError::Config(format!(
                    "system table {table} exists without its family {family}"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The stored next offset of partition `p`, if any.
async fn stored_offset<S: Sink>(
    sink: &mut S,
    o: &ConsumeOptions,
    p: i32,
) -> Result<Option<i64>, ConsumeError> {
    let row = offsets::row_key(&o.name, &o.topic, p);
    match sink
        .get_cell(
            OFFSETS_TABLE,
            row.as_bytes(),
            OFFSET_FAMILY,
            offsets::NEXT_QUALIFIER,
        )
        .await?
    {
        None => Ok(None),
        Some(v) => offsets::decode(&v)
            .map(Some)
            .map_err(|what| ConsumeError::CorruptOffset { row, what }),
    }
}

/// A write queued to the sink and not yet durable.
enum InFlight {
    Data(Unit),
    Offsets(Vec<(i32, i64)>),
}

/// A fetch response being fed into writes.
struct Current {
    partition: i32,
    records: std::vec::IntoIter<FetchedRecord>,
}

/// The loop's state.
struct Loop<'a, 'p> {
    o: &'a ConsumeOptions,
    builder: Builder<'p>,
    stats: Stats,
    /// Queued writes in order (the sink acknowledges them in order).
    inflight: VecDeque<InFlight>,
    /// Writes queued so far / acknowledged so far.
    queued: u64,
    durable: u64,
    /// A finished write waiting for room in the sink's queue.
    ready: Option<Unit>,
    /// Next offsets whose records are durable, and those stored (or being stored).
    durable_next: BTreeMap<i32, i64>,
    stored_next: BTreeMap<i32, i64>,
    offsets_inflight: bool,
    current: Option<Current>,
    /// Rejects taken into writes this run.
    rejects_taken: u64,
    stop: Option<Stop>,
    fatal: Option<ConsumeError>,
}

impl Loop<'_, '_> {
    fn partition(&mut self, p: i32) -> &mut PartitionStats {
        self.stats.partitions.entry(p).or_default()
    }

    /// Feed the current response into the builder until the write is full.
    fn feed(&mut self) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let p = cur.partition;
        while self.builder.len() < self.o.batch_rows && self.builder.bytes() < self.o.batch_bytes {
            let Some(r) = cur.records.next() else {
                self.current = None;
                return;
            };
            let outcome = self
                .builder
                .add(p, r.offset, r.timestamp_ms, r.value.as_deref());
            let st = self.stats.partitions.entry(p).or_default();
            st.consumed = r.offset + 1;
            if let Outcome::Rejected(reason) = outcome {
                tracing::debug!(
                    partition = p,
                    offset = r.offset,
                    reason,
                    "rejected a record"
                );
                self.rejects_taken += 1;
                if self.o.max_rejects.is_some_and(|m| self.rejects_taken > m) {
                    // Stop right after this reject: the rest of the response is not taken, so
                    // its offsets are not stored.
                    self.current = None;
                    self.stop.get_or_insert(Stop::MaxRejects);
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, ev: SourceEvent) {
        match ev {
            SourceEvent::Fetched {
                partition,
                from,
                records,
                high_watermark,
            } => {
                let st = self.partition(partition);
                if st.high_watermark.is_none() {
                    st.start = from;
                    st.consumed = from;
                    st.stored = st.stored.max(from);
                }
                st.high_watermark = Some(high_watermark);
                if !records.is_empty() {
                    self.current = Some(Current {
                        partition,
                        records: records.into_iter(),
                    });
                    self.feed();
                }
            }
            SourceEvent::Failed(e) => {
                self.fatal.get_or_insert(e);
            }
        }
    }

    /// Whether the write being built should be finished now.
    fn should_finish(&self, source_idle: bool) -> bool {
        !self.builder.is_empty()
            && (self.builder.len() >= self.o.batch_rows
                || self.builder.bytes() >= self.o.batch_bytes
                || (source_idle && self.current.is_none())
                || self.stop.is_some()
                || self.fatal.is_some())
    }

    /// Offsets that are durable but not stored (nor being stored).
    fn offsets_due(&self) -> Option<Vec<(i32, i64)>> {
        if self.offsets_inflight {
            return None;
        }
        let due: Vec<(i32, i64)> = self
            .durable_next
            .iter()
            .filter(|(p, n)| self.stored_next.get(p) != Some(n))
            .map(|(p, n)| (*p, *n))
            .collect();
        (!due.is_empty()).then_some(due)
    }

    /// The next write to queue: due offsets first, then the ready data.
    fn next_write(&mut self) -> Option<(Write, InFlight)> {
        if let Some(due) = self.offsets_due() {
            self.offsets_inflight = true;
            let w = Write {
                batches: vec![offsets::batch(&self.o.name, &self.o.topic, &due)],
            };
            return Some((w, InFlight::Offsets(due)));
        }
        let mut unit = self.ready.take()?;
        let w = std::mem::take(&mut unit.write);
        Some((w, InFlight::Data(unit)))
    }

    fn has_write(&self) -> bool {
        self.ready.is_some() || self.offsets_due().is_some()
    }

    fn on_ack(&mut self, durable: u64) {
        while self.durable < durable {
            self.durable += 1;
            match self.inflight.pop_front() {
                Some(InFlight::Data(u)) => {
                    for (p, n) in &u.next {
                        self.durable_next.insert(*p, *n);
                    }
                    self.stats.writes += 1;
                    self.stats.rows += u.rows;
                    self.stats.cells += u.cells;
                    self.stats.rejects += u.rejects;
                    self.stats.records += u.rows + u.rejects;
                }
                Some(InFlight::Offsets(stored)) => {
                    self.offsets_inflight = false;
                    for (p, n) in stored {
                        self.stored_next.insert(p, n);
                        self.partition(p).stored = n;
                    }
                }
                None => {}
            }
        }
    }

    /// Every partition's consumed offset is at its last known high watermark.
    fn caught_up(&self, source_idle: bool) -> bool {
        source_idle
            && self.current.is_none()
            && self.builder.is_empty()
            && !self.stats.partitions.is_empty()
            && self
                .stats
                .partitions
                .values()
                .all(|s| s.high_watermark.is_some_and(|h| s.consumed >= h))
    }

    /// Everything taken is durable and its offsets stored.
    fn settled(&self) -> bool {
        self.current.is_none()
            && self.builder.is_empty()
            && self.ready.is_none()
            && self.inflight.is_empty()
            && self.offsets_due().is_none()
    }
}

/// Run the consumer (options already checked).
pub async fn run<S: Sink>(
    o: &ConsumeOptions,
    mut sink: S,
    stop: impl Future<Output = ()>,
) -> Result<Summary, ConsumeError> {
    let plan = Plan::new(&o.decode).map_err(ConsumeError::Config)?;
    prepare_tables(&mut sink, o, &plan).await?;
    let client = source::connect(&o.kafka).await?;
    let parts = source::partitions(&client, &o.topic)
        .await
        .map_err(|e| ConsumeError::Kafka(format!("cannot list the topics: {e}")))?
        .ok_or_else(|| {
            ConsumeError::Config(format!(
                "topic {} does not exist on the brokers {}",
                o.topic,
                o.kafka.brokers.join(",")
            ))
        })?;
    let mut starts = BTreeMap::new();
    for p in &parts {
        starts.insert(*p, stored_offset(&mut sink, o, *p).await?);
    }
    let mut writer = sink.into_writer();
    let (tx, mut events) = mpsc::channel(SOURCE_QUEUE);
    let mut source = Source::new(client, &o.topic, o.kafka.clone(), tx);
    let mut lp = Loop {
        o,
        builder: Builder::new(
            plan.decoder().map_err(ConsumeError::Config)?,
            plan.layouts(),
            &o.topic,
            &o.table,
            &o.rejects_table,
            o.limits.clone(),
        ),
        stats: Stats::new(&o.topic, &o.table),
        inflight: VecDeque::new(),
        queued: 0,
        durable: 0,
        ready: None,
        durable_next: BTreeMap::new(),
        stored_next: BTreeMap::new(),
        offsets_inflight: false,
        current: None,
        rejects_taken: 0,
        stop: None,
        fatal: None,
    };
    for (p, start) in &starts {
        lp.stats.partitions.insert(*p, PartitionStats::default());
        if let Some(s) = start {
            lp.stored_next.insert(*p, *s);
            lp.durable_next.insert(*p, *s);
        }
        source.start(*p, *start);
    }
    // New partitions: listed again in a task of its own, so a slow broker never holds the
    // loop.
    let (parts_tx, mut new_parts) = mpsc::channel::<Vec<i32>>(1);
    let lister = {
        let (client, topic, every) = (source.client(), o.topic.clone(), o.metadata_interval);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(Some(p)) = source::partitions(&client, &topic).await
                    && parts_tx.send(p).await.is_err()
                {
                    return;
                }
            }
        })
    };
    let mut progress = Progress::new(o.quiet);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut stopped_by_signal = false;
    let result = loop {
        let source_idle = events.is_empty();
        if lp.ready.is_none() && lp.should_finish(source_idle) {
            lp.ready = lp.builder.take();
        }
        if o.until_caught_up && lp.stop.is_none() && lp.fatal.is_none() && lp.caught_up(source_idle)
        {
            lp.stop = Some(Stop::CaughtUp);
        }
        if (lp.stop.is_some() || lp.fatal.is_some()) && lp.settled() {
            break Ok(());
        }
        let taking = lp.stop.is_none()
            && lp.fatal.is_none()
            && lp.builder.len() < o.batch_rows
            && lp.builder.bytes() < o.batch_bytes;
        let has_write = lp.has_write();
        let Some(queue) = writer.queue().cloned() else {
            break Err(ConsumeError::Kafka("the writer's queue is closed".into()));
        };
        tokio::select! {
            biased;
            () = &mut stop, if !stopped_by_signal => {
                stopped_by_signal = true;
                lp.stop.get_or_insert(Stop::Signal);
                lp.current = None;
            }
            ack = writer.next_ack() => match ack {
                Some(Ok(n)) => lp.on_ack(n),
                Some(Err(e)) => break Err(e.into()),
                None => break Err(ConsumeError::Sink(super::sink::SinkError::Engine {
                    what: "writing".into(),
                    why: "the writer stopped before every write was durable".into(),
                })),
            },
            permit = queue.reserve(), if has_write => {
                if let (Ok(permit), Some((w, f))) = (permit, lp.next_write()) {
                    permit.send(w);
                    lp.queued += 1;
                    lp.inflight.push_back(f);
                }
            }
            () = async {}, if taking && lp.current.is_some() => lp.feed(),
            ev = events.recv(), if taking && lp.current.is_none() => {
                if let Some(ev) = ev {
                    lp.on_event(ev);
                }
            }
            Some(parts) = new_parts.recv() => {
                for p in parts {
                    if !source.has(p) {
                        lp.stats.partitions.insert(p, PartitionStats::default());
                        tracing::info!(topic = %o.topic, partition = p, "a new partition; reading it from its log start");
                        source.start(p, None);
                    }
                }
            }
            _ = tick.tick() => progress.update(&lp.stats),
        }
    };
    source.stop();
    lister.abort();
    progress.finish();
    writer.close();
    let finished = writer.finish().await;
    result?;
    finished?;
    if let Some(e) = lp.fatal {
        return Err(e);
    }
    let stop = lp.stop.unwrap_or(Stop::Signal);
    Ok(Summary {
        elapsed: lp.stats.started.elapsed(),
        stats: lp.stats,
        stop,
    })
}
