//! Progress reporting for long loads: the event type and a ready-made reporter for stderr
//! (an indicatif bar on a terminal, plain lines otherwise).
//! It must never influence the load: reporting is optional and failures to draw are ignored.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// What the bulk build is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading and parsing the CSV.
    Reading,
    /// Sorting a run and writing it to the temp directory.
    Spilling,
    /// Writing table files.
    Writing,
    /// Done.
    Done,
}

/// A progress event.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Input bytes read so far.
    pub bytes_read: u64,
    /// Input size.
    pub total_bytes: u64,
    /// Accepted rows so far.
    pub rows: u64,
    /// Rejected rows so far.
    pub rejects: u64,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A reporter on stderr: a byte progress bar when stderr is a terminal, otherwise a plain
/// line at each phase change and every 10% of the input.
pub fn stderr_progress() -> ProgressFn {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Arc::new(move |p: &Progress| {
            bar.set_length(p.total_bytes);
            bar.set_position(p.bytes_read);
            bar.set_message(format!("{:?}", p.phase).to_lowercase());
            if p.phase == Phase::Done {
                bar.finish();
            }
        })
    } else {
        let last = Mutex::new((Phase::Done, u64::MAX));
        Arc::new(move |p: &Progress| {
            let tenth = (p.bytes_read * 10).checked_div(p.total_bytes).unwrap_or(10);
            let Ok(mut l) = last.lock() else { return };
            if l.0 != p.phase || l.1 != tenth {
                *l = (p.phase, tenth);
                eprintln!(
                    "load: {:?} {}/{} bytes, {} rows, {} rejects",
                    p.phase, p.bytes_read, p.total_bytes, p.rows, p.rejects
                );
            }
        })
    }
}
