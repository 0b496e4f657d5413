//! The recording side of `wslp plugin trace` (SPEC §13): every hook dispatch,
//! API call, entry point call and plugin-host loss becomes a [`TraceEvent`]
//! for whoever subscribed in this process.
//!
//! Where events come from:
//! - hooks: the manager's dispatch, around each plugin's call (the duration is
//!   what the service waited, plugin host round trip included);
//! - API calls: `api`'s entry functions, in the process where the plugin runs.
//!   In a plugin host they go back to the service on the plugin-host sockets
//!   (`out_of_process` publishes them under the plugin's name);
//! - entry points and plugin-host crashes and timeouts: `loader` and
//!   `out_of_process`.
//!
//! (WSLC hooks and calls, when wslp runs WSLC sessions, are recorded the same
//! way: [`start`] before, [`api_call`] or a hook event after.)
//!
//! Cost: while nobody subscribes, a call site does one relaxed atomic load
//! ([`enabled`]) and nothing else: no clock, no allocation, no formatting. In
//! a plugin host that load reads a flag the service keeps in shared memory
//! (one per plugin: the number of tracers that want it), so its API calls are
//! only reported while someone traces that plugin.
//!
//! A slow subscriber never slows a hook: each has a bounded queue, an event
//! that does not fit is dropped for that subscriber alone and counted, and the
//! count is handed to it ([`TraceItem::Dropped`]) before its next event.

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{
    sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wslp_abi::WSLVersion;
pub use wslp_ipc::trace::{TraceEvent, TraceValue, PLUGIN_HOST_CRASHED, PLUGIN_HOST_TIMED_OUT};

use crate::instance::{HookCall, HookOutcome};
use crate::sys::SharedU32;

/// Events a subscriber may have waiting before new ones are dropped for it.
pub const QUEUE: usize = 4096;

/// Subscribers in this process.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static SUBSCRIBERS: RwLock<Vec<Subscriber>> = RwLock::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// In a plugin host: the service's flag for this plugin (see the module doc).
static REMOTE: OnceLock<SharedU32> = OnceLock::new();
/// In a plugin host: where events go instead of local subscribers.
type Sink = Box<dyn Fn(TraceEvent) + Send + Sync>;
static SINK: OnceLock<Sink> = OnceLock::new();

struct Subscriber {
    id: u64,
    /// Empty: every plugin.
    plugins: Vec<String>,
    tx: SyncSender<(u64, TraceEvent)>,
    dropped: Arc<AtomicU64>,
}

impl Subscriber {
    fn wants(&self, plugin: &str) -> bool {
        self.plugins.is_empty() || self.plugins.iter().any(|p| p == plugin)
    }
}

/// Whether anyone traces (in a plugin host: anyone traces this plugin). The
/// only thing a call site does while nobody does.
#[inline]
pub fn enabled() -> bool {
    match REMOTE.get() {
        Some(flag) => flag.get().load(Ordering::Relaxed) != 0,
        None => ACTIVE.load(Ordering::Relaxed) != 0,
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceItem {
    Event(TraceEvent),
    /// This many events did not fit in the subscriber's queue and were left out
    /// here (they happened after the events before this item).
    Dropped(u64),
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    id: u64,
    rx: Receiver<(u64, TraceEvent)>,
    dropped: Arc<AtomicU64>,
    /// An event that arrived behind a count of dropped ones, handed out next.
    stash: Cell<Option<TraceEvent>>,
}

/// Ends a [`Subscription`] from another thread: its pending events can still be
/// read, then [`Subscription::next`] returns `None`.
#[derive(Debug, Clone)]
pub struct Closer(u64);

impl Closer {
    pub fn close(&self) {
        unsubscribe(self.0);
    }
}

/// Subscribes to the events of `plugins` (every plugin when empty), with a
/// queue of [`QUEUE`] events.
pub fn subscribe(plugins: &[String]) -> Subscription {
    subscribe_with_queue(plugins, QUEUE)
}

/// [`subscribe`] with a queue of `queue` events (at least 1).
pub fn subscribe_with_queue(plugins: &[String], queue: usize) -> Subscription {
    let (tx, rx) = sync_channel(queue.max(1));
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut subs = crate::sync::write(&SUBSCRIBERS);
    subs.push(Subscriber {
        id,
        plugins: plugins.to_vec(),
        tx,
        dropped: dropped.clone(),
    });
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    refresh_host_flags(&subs);
    Subscription {
        id,
        rx,
        dropped,
        stash: Cell::new(None),
    }
}

fn unsubscribe(id: u64) {
    let mut subs = crate::sync::write(&SUBSCRIBERS);
    let before = subs.len();
    subs.retain(|s| s.id != id);
    if subs.len() < before {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
        refresh_host_flags(&subs);
    }
}

impl Subscription {
    /// The next item, waiting for it; `None` once closed and drained.
    pub fn next(&self) -> Option<TraceItem> {
        self.next_within(None)
    }

    /// [`Subscription::next`], waiting at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Option<TraceItem> {
        self.next_within(Some(timeout))
    }

    /// Waits for an item, then lets `linger` pass and takes everything that
    /// came meanwhile; `None` once closed and drained. A consumer that writes
    /// events out (the service's tracer thread) wakes up once per batch
    /// instead of once per event: a publisher only pays for waking a consumer
    /// that is waiting, so hooks in quick succession cost less with a tracer
    /// attached, for `linger` of latency in what the tracer sees.
    pub fn next_batch(&self, linger: Duration) -> Option<Vec<TraceItem>> {
        let first = self.next()?;
        std::thread::sleep(linger);
        let mut batch = vec![first];
        batch.extend(self.drain());
        Some(batch)
    }

    /// Every item waiting now, without waiting for more.
    pub fn drain(&self) -> Vec<TraceItem> {
        std::iter::from_fn(|| self.next_within(Some(Duration::ZERO))).collect()
    }

    pub fn closer(&self) -> Closer {
        Closer(self.id)
    }

    fn next_within(&self, timeout: Option<Duration>) -> Option<TraceItem> {
        if let Some(e) = self.stash.take() {
            return Some(TraceItem::Event(e));
        }
        let got = match self.rx.try_recv() {
            Ok(got) => got,
            Err(TryRecvError::Disconnected) => return self.take_dropped(),
            Err(TryRecvError::Empty) => {
                // Drops happen only while the queue is full, so a count left
                // over once it is empty came after every event read so far.
                if let Some(d) = self.take_dropped() {
                    return Some(d);
                }
                match timeout {
                    None => self.rx.recv().ok()?,
                    Some(t) if t.is_zero() => return None,
                    Some(t) => match self.rx.recv_timeout(t) {
                        Ok(got) => got,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                            return None
                        }
                    },
                }
            }
        };
        match got {
            (0, e) => Some(TraceItem::Event(e)),
            (n, e) => {
                self.stash.set(Some(e));
                Some(TraceItem::Dropped(n))
            }
        }
    }

    fn take_dropped(&self) -> Option<TraceItem> {
        match self.dropped.swap(0, Ordering::Relaxed) {
            0 => None,
            n => Some(TraceItem::Dropped(n)),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        unsubscribe(self.id);
    }
}

/// Hands `event` to every subscriber that wants its plugin, never waiting. An
/// event that gets in carries the count of those dropped before it.
pub(crate) fn publish(event: TraceEvent) {
    let subs = crate::sync::read(&SUBSCRIBERS);
    for s in subs.iter().filter(|s| s.wants(&event.plugin)) {
        let before = s.dropped.swap(0, Ordering::Relaxed);
        if let Err(TrySendError::Full(_)) = s.tx.try_send((before, event.clone())) {
            s.dropped.fetch_add(before + 1, Ordering::Relaxed);
        }
    }
}

/// Where an event recorded in this process goes: the service's subscribers, or
/// (in a plugin host) the service.
pub(crate) fn emit(event: TraceEvent) {
    match SINK.get() {
        Some(sink) => sink(event),
        None => publish(event),
    }
}

/// Makes this process a plugin host for tracing: `flag` says whether to record,
/// `sink` takes what is recorded. Once, at plugin-host start.
pub(crate) fn set_remote(flag: Option<SharedU32>, sink: Sink) {
    if let Some(flag) = flag {
        let _ = REMOTE.set(flag);
    }
    let _ = SINK.set(sink);
}

/// A plugin host's flag: how many tracers want its plugin, in a sealed memfd
/// the host maps read-only. Lives as long as the plugin (across host restarts).
pub(crate) struct HostFlag {
    plugin: String,
    shared: SharedU32,
    /// What the host gets: the same memory, opened read-only.
    read_only: OwnedFd,
}

static HOST_FLAGS: Mutex<Vec<Weak<HostFlag>>> = Mutex::new(Vec::new());

impl HostFlag {
    pub(crate) fn new(plugin: &str) -> std::io::Result<Arc<HostFlag>> {
        let (shared, read_only) = SharedU32::create("wslp-trace")?;
        let flag = Arc::new(HostFlag {
            plugin: plugin.to_string(),
            shared,
            read_only,
        });
        // The lock order of `subscribe`: subscribers, then flags.
        let subs = crate::sync::read(&SUBSCRIBERS);
        let mut flags = crate::sync::lock(&HOST_FLAGS);
        flags.retain(|f| f.strong_count() > 0);
        flags.push(Arc::downgrade(&flag));
        flag.set(&subs);
        Ok(flag)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read_only.as_fd()
    }

    fn set(&self, subs: &[Subscriber]) {
        let n = subs.iter().filter(|s| s.wants(&self.plugin)).count();
        self.shared
            .get()
            .store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }
}

fn refresh_host_flags(subs: &[Subscriber]) {
    let flags = crate::sync::lock(&HOST_FLAGS);
    for f in flags.iter().filter_map(Weak::upgrade) {
        f.set(subs);
    }
}

/// When a traced call started.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    wall: SystemTime,
    at: Instant,
}

impl Started {
    pub(crate) fn now() -> Started {
        Started {
            wall: SystemTime::now(),
            at: Instant::now(),
        }
    }
}

/// `Some` (the clock read now) when the call about to be made is to be traced.
#[inline]
pub fn start() -> Option<Started> {
    enabled().then(Started::now)
}

type Args = Vec<(String, TraceValue)>;

pub(crate) fn arg(name: &str, value: impl Into<TraceValue>) -> (String, TraceValue) {
    (name.to_string(), value.into())
}

/// The event of a call that began at `started` and just ended.
pub(crate) fn event(
    started: Started,
    plugin: &str,
    call: &str,
    args: Args,
    result: i32,
    message: Option<String>,
) -> TraceEvent {
    TraceEvent {
        time_us: started
            .wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        plugin: plugin.to_string(),
        call: call.to_string(),
        args,
        result,
        duration_us: u64::try_from(started.at.elapsed().as_micros()).unwrap_or(u64::MAX),
        message,
    }
}

/// A hook call of `plugin` that returned `out`.
pub(crate) fn hook(started: Started, plugin: &str, hook: &HookCall<'_>, out: &HookOutcome) {
    emit(event(
        started,
        plugin,
        hook.name(),
        hook_args(hook),
        out.hr,
        out.message.clone(),
    ));
}

fn hook_args(hook: &HookCall<'_>) -> Args {
    if let Some(w) = hook.wslc_session() {
        let mut a = vec![
            arg("wslc_session", w.id),
            arg("name", w.name.as_str()),
            arg("application_pid", w.application_pid),
        ];
        match *hook {
            HookCall::ContainerStarted { inspect, .. } | HookCall::ImageCreated { inspect, .. } => {
                a.push(arg("inspect", inspect))
            }
            HookCall::ContainerStopping { container_id, .. } => {
                a.push(arg("container_id", container_id))
            }
            HookCall::ImageDeleted { image_id, .. } => a.push(arg("image_id", image_id)),
            _ => {}
        }
        return a;
    }
    let s = hook.session().expect("a V1 hook has a WSL session");
    let mut a = vec![arg("session", s.id), arg("uid", s.uid)];
    match *hook {
        HookCall::VmStarted {
            custom_configuration_flags,
            ..
        } => a.push(arg(
            "custom_configuration_flags",
            custom_configuration_flags,
        )),
        HookCall::VmStopping { .. } => {}
        HookCall::DistributionStarted { distro, .. }
        | HookCall::DistributionStopping { distro, .. } => a.extend([
            arg("distribution", distro.name.as_str()),
            arg("id", distro.id.to_string()),
            arg("pid_namespace", distro.pid_namespace),
            arg("init_pid", distro.init_pid),
            arg("flavor", distro.flavor.clone()),
            arg("version", distro.version.clone()),
        ]),
        HookCall::DistributionRegistered { distro, .. }
        | HookCall::DistributionUnregistered { distro, .. } => a.extend([
            arg("distribution", distro.name.as_str()),
            arg("id", distro.id.to_string()),
            arg("flavor", distro.flavor.clone()),
            arg("version", distro.version.clone()),
        ]),
        _ => unreachable!("WSLC hooks return above"),
    }
    a
}

/// An API call made in this process that returned `result`. Its plugin is the
/// one whose hook runs on this thread, or the only plugin loaded in process;
/// in a plugin host the service names it.
pub(crate) fn api_call(started: Started, call: &str, args: Args, result: i32) {
    let plugin = crate::api::current_plugin().unwrap_or_default();
    emit(event(started, plugin, call, args, result, None));
}

/// `WSLPluginAPIV1_EntryPoint`'s call, made at load or when a plugin host restarts.
pub(crate) fn entry_point(
    started: Started,
    plugin: &str,
    version: WSLVersion,
    result: i32,
    message: Option<String>,
) {
    let v = format!("{}.{}.{}", version.Major, version.Minor, version.Revision);
    emit(event(
        started,
        plugin,
        "WSLPluginAPIV1_EntryPoint",
        vec![arg("api_version", v)],
        result,
        message,
    ));
}

/// A plugin host lost (SPEC §8): `call` is [`PLUGIN_HOST_CRASHED`] or
/// [`PLUGIN_HOST_TIMED_OUT`], `during` the hook or entry point it was in (none
/// when it died between hooks).
#[allow(clippy::too_many_arguments)]
pub(crate) fn host_lost(
    started: Started,
    plugin: &str,
    call: &str,
    pid: i32,
    during: Option<&str>,
    timeout_ms: Option<u64>,
    result: i32,
    message: String,
) {
    let mut args = vec![arg("pid", pid), arg("during", during)];
    if let Some(ms) = timeout_ms {
        args.push(arg("timeout_ms", ms));
    }
    emit(event(started, plugin, call, args, result, Some(message)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(plugin: &str, n: u32) -> TraceEvent {
        TraceEvent {
            time_us: 0,
            plugin: plugin.into(),
            call: "OnVMStopping".into(),
            args: vec![arg("session", n)],
            result: 0,
            duration_us: 1,
            message: None,
        }
    }

    // Subscribers are process-wide: each test uses plugin names of its own.

    #[test]
    fn subscribers_get_what_they_asked_for() {
        let all = subscribe(&[]);
        let a = subscribe(&["trace-test-a".to_string()]);
        assert!(enabled());
        publish(ev("trace-test-a", 1));
        publish(ev("trace-test-b", 2));
        let mine = |s: &Subscription| {
            s.drain()
                .into_iter()
                .filter(|i| matches!(i, TraceItem::Event(e) if e.plugin.starts_with("trace-test-")))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            mine(&all),
            vec![
                TraceItem::Event(ev("trace-test-a", 1)),
                TraceItem::Event(ev("trace-test-b", 2))
            ]
        );
        assert_eq!(mine(&a), vec![TraceItem::Event(ev("trace-test-a", 1))]);
    }

    #[test]
    fn a_full_queue_drops_and_says_how_many() {
        let s = subscribe_with_queue(&["trace-test-slow".to_string()], 2);
        let other = subscribe_with_queue(&["trace-test-slow".to_string()], 100);
        for n in 0..10 {
            publish(ev("trace-test-slow", n));
        }
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-slow", 0))));
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-slow", 1))));
        // Told once the queue is empty: the dropped ones came after those two.
        assert_eq!(s.next(), Some(TraceItem::Dropped(8)));
        publish(ev("trace-test-slow", 10));
        publish(ev("trace-test-slow", 11));
        publish(ev("trace-test-slow", 12)); // dropped: the queue holds 10 and 11
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-slow", 10))));
        publish(ev("trace-test-slow", 13)); // gets in, carrying the count
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-slow", 11))));
        assert_eq!(s.next(), Some(TraceItem::Dropped(1)));
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-slow", 13))));
        assert_eq!(s.next_timeout(Duration::from_millis(1)), None);
        // Another subscriber lost nothing.
        assert_eq!(other.drain().len(), 14);
    }

    #[test]
    fn a_closed_subscription_ends_after_its_events() {
        let s = subscribe(&["trace-test-closed".to_string()]);
        publish(ev("trace-test-closed", 7));
        let closer = s.closer();
        std::thread::spawn(move || closer.close()).join().unwrap();
        assert_eq!(s.next(), Some(TraceItem::Event(ev("trace-test-closed", 7))));
        assert_eq!(s.next(), None);
        publish(ev("trace-test-closed", 8));
        assert_eq!(s.next_timeout(Duration::from_millis(1)), None);
    }

    #[test]
    fn host_flags_count_the_tracers_of_their_plugin() {
        let f = HostFlag::new("trace-test-flag").unwrap();
        let read = |f: &HostFlag| f.shared.get().load(Ordering::Relaxed);
        assert_eq!(read(&f), 0);
        let a = subscribe(&["trace-test-flag".to_string()]);
        let b = subscribe(&["trace-test-other".to_string()]);
        assert_eq!(read(&f), 1);
        drop(a);
        assert_eq!(read(&f), 0);
        drop(b);
        // The host's read-only view is the same memory.
        let ro = SharedU32::map_read_only(f.fd()).unwrap();
        let _s = subscribe(&[]);
        assert_eq!(ro.get().load(Ordering::Relaxed), read(&f));
        assert!(ro.get().load(Ordering::Relaxed) >= 1);
    }
}
