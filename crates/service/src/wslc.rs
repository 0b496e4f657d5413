//! WSLC sessions (SPEC §11): each has a VM of its own in which the engine
//! (containerd and dockerd, see `wslp-wslc`) runs, started on the first
//! operation that needs it and stopped when idle; the hooks of §11 at their
//! moments; the `wslp container|image|session` requests.
//!
//! Locking: a session's `vm` mutex is its lifecycle lock (start, stop,
//! terminate); operations clone the running VM out of it and count
//! themselves in `in_flight`, so the idle policy never stops a VM under an
//! operation. Hooks run without the registry lock held.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};
use wslp_host::WslcSession;
use wslp_ipc::conn::{Conn, Peer};
use wslp_ipc::protocol::{ContainerAction, ServerMessage, WslcRequest};
use wslp_wslc::{schema, ContainerRun, SessionVm, SessionVmConfig, WslcError};

use crate::failure::Failure;
use crate::instance::Instance;
use crate::server::{io_failure, three_fds};
use crate::sync;

/// How long dockerd gets to stop its containers when a session VM stops.
const ENGINE_STOP_GRACE: Duration = Duration::from_secs(5);

/// The file in a session's storage naming the uid that owns it.
const OWNER_FILE: &str = "owner";

/// Every session of this service run.
#[derive(Default)]
pub struct Sessions {
    /// The last id handed out (ids count from 1 in each service run).
    last_id: AtomicU32,
    by_name: Mutex<HashMap<String, Arc<SessionState>>>,
}

pub struct SessionState {
    pub info: WslcSession,
    pub owner: u32,
    storage: PathBuf,
    /// The running VM; its mutex is the session's lifecycle lock.
    vm: Mutex<Option<Arc<SessionVm>>>,
    /// The VM the WSLC calls act on: set before WslcVmStarted, cleared after
    /// WslcVmStopping, so both hooks may call (without the lifecycle lock).
    calls_vm: std::sync::RwLock<Option<Arc<SessionVm>>>,
    /// False while OnSessionCreated runs (the calls see the session, without
    /// a VM); a refused session is removed.
    ready: AtomicBool,
    /// Operations in progress: the VM is not idle while any is.
    in_flight: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
    /// Set once OnSessionStopping ran: later operations find no session.
    terminated: AtomicBool,
    /// Containers whose ContainerStarted has not returned yet, and whether
    /// each died meanwhile: its ContainerStopping waits for it.
    starting: Mutex<HashMap<String, bool>>,
    /// The network of the VM that runs: the instance's networking_mode,
    /// with a subnet of its own.
    network: Mutex<Option<wslp_net::Network>>,
    /// Mount points WSLCMountFolder made in the VM that runs (a VM run's
    /// mounts go with it).
    mounts: Mutex<std::collections::HashSet<String>>,
}

/// Counts an operation in a session until dropped.
struct InFlight<'a>(&'a SessionState, &'a Instance);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.1.wake.wake();
    }
}

impl Sessions {
    /// Whether any session VM runs (the service is not idle then).
    pub fn any_vm_running(&self) -> bool {
        self.all().iter().any(|s| sync::lock(&s.vm).is_some())
    }

    fn all(&self) -> Vec<Arc<SessionState>> {
        sync::lock(&self.by_name).values().cloned().collect()
    }

    fn find(&self, name: &str) -> Option<Arc<SessionState>> {
        sync::lock(&self.by_name).get(name).cloned()
    }

    /// The session with this id, for the WSLC API calls (also while
    /// OnSessionCreated runs).
    pub fn by_id(&self, id: u32) -> Option<Arc<SessionState>> {
        self.all()
            .into_iter()
            .find(|s| s.info.id == id && !s.terminated.load(Ordering::SeqCst))
    }
}

impl SessionState {
    /// The running VM, if any; never starts one (for the WSLC API calls).
    pub fn running_vm(&self) -> Option<Arc<SessionVm>> {
        sync::read(&self.calls_vm)
            .clone()
            .filter(|v| v.is_running())
    }
}

/// `wslc-cli-<user>`: the session of commands without `--session`.
pub fn default_session_name(uid: u32) -> String {
    let user = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    format!("wslc-cli-{user}")
}

fn validate_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Failure::service(
            format!("'{name}' is not a valid session name: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'."),
            "E_INVALIDARG",
        ))
    }
}

fn engine_failure(e: WslcError) -> Failure {
    let code = match &e {
        WslcError::NoSuchContainer(_) | WslcError::NoSuchImage(_) => "ERROR_NOT_FOUND",
        WslcError::EngineMissing { .. } => "ERROR_FILE_NOT_FOUND",
        _ => "E_FAIL",
    };
    Failure::service(e, &format!("WSLC/{code}"))
}

/// Finds `name` (or the caller's default session), creating it on first use
/// with OnSessionCreated.
fn open_session(
    inst: &Instance,
    peer: Peer,
    name: Option<String>,
) -> Result<Arc<SessionState>, Failure> {
    let name = name.unwrap_or_else(|| default_session_name(peer.uid));
    validate_name(&name)?;
    let sessions = &inst.wslc;
    if let Some(s) = sessions.find(&name) {
        return usable(s, peer);
    }
    if inst.shutting_down.load(Ordering::SeqCst) {
        return Err(Failure::service(
            "The wslp service is shutting down. Run the command again.",
            "ERROR_SERVICE_NOT_ACTIVE",
        ));
    }
    let storage = inst.paths.root.join("wslc").join(&name);
    let s = {
        let mut map = sync::lock(&sessions.by_name);
        // Another client may have created it meanwhile.
        if let Some(s) = map.get(&name) {
            let s = s.clone();
            drop(map);
            return usable(s, peer);
        }
        // Under the registry lock: two users racing for a new name do not
        // both find its storage unclaimed.
        claim_storage(&storage, peer.uid)?;
        let s = Arc::new(SessionState {
            info: WslcSession {
                id: sessions.last_id.fetch_add(1, Ordering::SeqCst) + 1,
                name: name.clone(),
                application_pid: peer.pid.max(0) as u32,
            },
            owner: peer.uid,
            storage,
            vm: Mutex::new(None),
            calls_vm: std::sync::RwLock::new(None),
            ready: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(None),
            terminated: AtomicBool::new(false),
            starting: Mutex::new(HashMap::new()),
            network: Mutex::new(None),
            mounts: Mutex::new(Default::default()),
        });
        map.insert(name.clone(), s.clone());
        s
    };
    // A plugin may refuse the session: then it never existed (no later hook).
    if let Err(f) = inst.plugins.on_session_created(&s.info) {
        s.terminated.store(true, Ordering::SeqCst);
        sync::lock(&sessions.by_name).remove(&name);
        return Err(Failure::text(f.text));
    }
    s.ready.store(true, Ordering::SeqCst);
    info!(session = s.info.id, name = %name, uid = peer.uid, "wslc session created");
    Ok(s)
}

/// An existing session, for its owner or root, once it is ready.
fn usable(s: Arc<SessionState>, peer: Peer) -> Result<Arc<SessionState>, Failure> {
    check_owner(&s, peer)?;
    wait_ready(s)
}

/// Sessions belong to their creator; root may use any.
fn check_owner(s: &SessionState, peer: Peer) -> Result<(), Failure> {
    if s.owner != peer.uid && peer.uid != 0 {
        return Err(Failure::service(
            format!("The session '{}' belongs to another user.", s.info.name),
            "E_ACCESSDENIED",
        ));
    }
    Ok(())
}

/// A session another client is creating: once OnSessionCreated accepted it.
fn wait_ready(s: Arc<SessionState>) -> Result<Arc<SessionState>, Failure> {
    while !s.ready.load(Ordering::SeqCst) {
        if s.terminated.load(Ordering::SeqCst) {
            return Err(session_not_found(&s.info.name));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(s)
}

/// Creates the session's storage, or checks that the caller owns the one
/// an earlier service run left (root may use any).
fn claim_storage(storage: &std::path::Path, uid: u32) -> Result<(), Failure> {
    let io = |what: &str, e: std::io::Error| {
        Failure::service(
            format!("cannot {what} {}: {e}", storage.display()),
            "E_FAIL",
        )
    };
    std::fs::create_dir_all(storage).map_err(|e| io("create", e))?;
    let owner_file = storage.join(OWNER_FILE);
    match std::fs::read_to_string(&owner_file) {
        Ok(text) => {
            let owner: u32 = text.trim().parse().unwrap_or(0);
            if owner != uid && uid != 0 {
                return Err(Failure::service(
                    format!(
                        "The storage of this session ({}) belongs to uid {owner}. Choose another --session name.",
                        storage.display()
                    ),
                    "E_ACCESSDENIED",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            wslp_config::write_atomic(&owner_file, format!("{uid}\n").as_bytes())
                .map_err(|e| io("write the owner of", e))
        }
        Err(e) => Err(io("read the owner of", e)),
    }
}

/// The session's VM, started (with WslcVmStarted) when it is not running.
fn ensure_vm(inst: &Arc<Instance>, s: &Arc<SessionState>) -> Result<Arc<SessionVm>, Failure> {
    let mut slot = sync::lock(&s.vm);
    if let Some(vm) = slot.as_ref().filter(|v| v.is_running()) {
        return Ok(vm.clone());
    }
    if s.terminated.load(Ordering::SeqCst) || inst.shutting_down.load(Ordering::SeqCst) {
        return Err(Failure::service(
            format!("The session '{}' was terminated.", s.info.name),
            "WSLC_E_SESSION_NOT_FOUND",
        ));
    }
    let ids = crate::ids::for_this_service()?;
    let mut cfg = SessionVmConfig::new(&s.storage, &s.info.name);
    cfg.vm.user_namespace = ids.user_namespace.clone();
    cfg.vm.tmpfs_size = Some(inst.settings.tmpfs_size.clone());
    // The instance's networking_mode (SPEC §9), with the session's own
    // subnet and host interface (named from its storage path); no
    // localhost forwarding, which is the utility VM's.
    let mut net = wslp_net::NetConfig::new(&inst.settings, &s.storage, s.storage.join("vm"));
    net.nat_subnet = None;
    net.localhost_forwarding = false;
    cfg.vm.host_network = net.shares_host_network();
    let started = Instant::now();
    let starting = wslp_net::prepare(&net);
    let vm = SessionVm::start(inst.backend(), &cfg).map_err(|e| {
        Failure::service(
            format!(
                "The VM of session '{}' could not be started: {e}",
                s.info.name
            ),
            "WSLC/E_FAIL",
        )
    })?;
    let network = starting.attach(vm.vm().init_pid());
    if let Some(w) = network.warning() {
        warn!(session = s.info.id, "{w}");
    }
    let vm_root = std::path::Path::new("/proc")
        .join(vm.vm().init_pid().to_string())
        .join("root");
    for e in network.write_files(&vm_root, &s.info.name, wslp_net::Generate::default()) {
        warn!(session = s.info.id, error = %e, "cannot write the session VM's network files");
    }
    *sync::lock(&s.network) = Some(network);
    let vm = Arc::new(vm);
    info!(
        session = s.info.id,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "wslc session vm started, engine ready"
    );
    *slot = Some(vm.clone());
    *sync::write(&s.calls_vm) = Some(vm.clone());
    *sync::lock(&s.idle_since) = None;
    watch_deaths(inst, s, &vm);
    // Under the lifecycle lock: an idle stop cannot come between the start
    // and its WslcVmStarted, and WslcVmStopping always follows it.
    inst.plugins.on_wslc_vm_started(&s.info);
    drop(slot);
    Ok(vm)
}

/// ContainerStopping for each container that stops, from the engine's
/// events, until the engine goes away; each one wakes the idle policy.
fn watch_deaths(inst: &Arc<Instance>, s: &Arc<SessionState>, vm: &Arc<SessionVm>) {
    let socket = vm.engine_socket();
    let (inst, s) = (inst.clone(), s.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("wslc-events-{}", s.info.id))
        .spawn(move || {
            let engine = match wslp_wslc::Engine::connect(&socket) {
                Ok(e) => e,
                Err(e) => {
                    warn!(session = s.info.id, error = %e, "cannot follow the engine's events; ContainerStopping will not be raised");
                    return;
                }
            };
            engine.watch_deaths(|id| {
                // One whose ContainerStarted still runs gets its
                // ContainerStopping after it (container_started).
                if let Some(died) = sync::lock(&s.starting).get_mut(id) {
                    *died = true;
                    return;
                }
                inst.plugins.on_container_stopping(&s.info, id);
                inst.wake.wake();
            });
        });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the engine events thread");
    }
}

/// Stops the session's VM: the engine stops its containers (each one's
/// ContainerStopping), then WslcVmStopping while the VM is still there,
/// then the VM. Call with the session's lifecycle lock held.
fn stop_vm_locked(inst: &Instance, s: &SessionState, slot: &mut Option<Arc<SessionVm>>) {
    let Some(vm) = slot.take() else { return };
    if vm.is_running() {
        stop_containers(inst, s, &vm);
        vm.stop_engine(ENGINE_STOP_GRACE);
        inst.plugins.on_wslc_vm_stopping(&s.info);
    }
    *sync::write(&s.calls_vm) = None;
    vm.stop(ENGINE_STOP_GRACE);
    if let Some(mut n) = sync::lock(&s.network).take() {
        n.stop();
    }
    sync::lock(&s.starting).clear();
    sync::lock(&s.mounts).clear();
    info!(session = s.info.id, "wslc session vm stopped");
}

/// The containers still running when their VM stops: stopped through the
/// engine, each with its ContainerStopping before WslcVmStopping (the
/// events watcher, told they are ours, leaves them alone).
fn stop_containers(inst: &Instance, s: &SessionState, vm: &SessionVm) {
    let running: Vec<String> = match vm.engine().list_containers(false) {
        Ok(l) => l.into_iter().map(|c| c.id).collect(),
        Err(e) => {
            warn!(session = s.info.id, error = %e, "cannot list the running containers before the VM stops");
            return;
        }
    };
    {
        let mut starting = sync::lock(&s.starting);
        for id in &running {
            starting.insert(id.clone(), false);
        }
    }
    for id in &running {
        if let Err(e) = vm.engine().stop_container(id, 1) {
            warn!(container = %id, error = %e, "cannot stop the container before the VM stops");
        }
    }
    // They stay marked until the VM is gone: a `die` event that comes late
    // must not raise a second ContainerStopping.
    for id in &running {
        inst.plugins.on_container_stopping(&s.info, id);
    }
}

/// Ends a session: its VM stops, OnSessionStopping, and it is forgotten.
fn terminate(inst: &Instance, s: &SessionState) {
    let mut slot = sync::lock(&s.vm);
    if s.terminated.load(Ordering::SeqCst) {
        return;
    }
    // WslcVmStopping may still call into the session; then it is gone.
    stop_vm_locked(inst, s, &mut slot);
    s.terminated.store(true, Ordering::SeqCst);
    drop(slot);
    inst.plugins.on_session_stopping(&s.info);
    sync::lock(&inst.wslc.by_name).remove(&s.info.name);
    info!(session = s.info.id, name = %s.info.name, "wslc session terminated");
}

/// Every session, at service shutdown.
pub fn terminate_all(inst: &Instance) {
    for s in inst.wslc.all() {
        terminate(inst, &s);
    }
}

/// One pass of the session VMs' idle policy: stops those idle for
/// `wslc_idle_timeout_ms`; returns when to look again.
pub fn idle_tick(inst: &Instance, now: Instant) -> Option<Instant> {
    let limit = inst.settings.wslc_idle_timeout()?;
    let mut next: Option<Instant> = None;
    for s in inst.wslc.all() {
        let Some(vm) = sync::lock(&s.vm).clone() else {
            continue;
        };
        let busy = s.in_flight.load(Ordering::SeqCst) > 0
            || !vm.is_running()
            || vm
                .engine()
                .list_containers(false)
                .map(|l| !l.is_empty())
                .unwrap_or(true);
        if busy {
            // A running container wakes the policy when it dies (watch_deaths).
            *sync::lock(&s.idle_since) = None;
            if !vm.is_running() {
                // Died on its own: forget it under the lock.
                let mut slot = sync::lock(&s.vm);
                stop_vm_locked(inst, &s, &mut slot);
            }
            continue;
        }
        let since = *sync::lock(&s.idle_since).get_or_insert(now);
        if now.duration_since(since) < limit {
            let at = since + limit;
            next = Some(next.map_or(at, |n: Instant| n.min(at)));
            continue;
        }
        let mut slot = sync::lock(&s.vm);
        if s.in_flight.load(Ordering::SeqCst) == 0 {
            info!(session = s.info.id, "wslc session vm idle; stopping it");
            stop_vm_locked(inst, &s, &mut slot);
        }
        *sync::lock(&s.idle_since) = None;
    }
    next
}

/// Serves one `wslp container|image|session` request.
pub fn serve(
    inst: &Arc<Instance>,
    conn: &Conn,
    peer: Peer,
    req: WslcRequest,
    fds: Vec<OwnedFd>,
) -> Result<(), Failure> {
    let out = |text: String| conn.send(&ServerMessage::Stdout(text)).map_err(io_failure);
    match req {
        WslcRequest::SessionList => out(session_list(inst, peer)),
        WslcRequest::SessionTerminate { name } => terminate_session(inst, peer, &name),
        WslcRequest::ImageImport { session, reference } => {
            let id = import_image(inst, peer, session, one_file(fds)?, &reference)?;
            out(format!("{id}\n"))
        }
        WslcRequest::ImageLoad { session } => {
            let file = one_file(fds)?;
            with_engine(inst, peer, session, |s, vm| {
                let ids = vm.engine().load_images_from(file).map_err(engine_failure)?;
                let mut text = String::new();
                for id in &ids {
                    image_created(inst, s, vm, id);
                    text.push_str(&format!("Loaded image ID: {id}\n"));
                }
                out(text)
            })
        }
        WslcRequest::ImageList { session } => with_engine(inst, peer, session, |_, vm| {
            let images = vm.engine().list_images().map_err(engine_failure)?;
            let mut text = format!(
                "{:<24}{:<16}{:<16}{}\n",
                "REPOSITORY", "TAG", "IMAGE ID", "SIZE"
            );
            for i in images {
                let short = short_id(&i.id);
                let tags = if i.repo_tags.is_empty() {
                    vec!["<none>:<none>".to_string()]
                } else {
                    i.repo_tags.clone()
                };
                for t in tags {
                    let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, ""));
                    text.push_str(&format!(
                        "{repo:<24}{tag:<16}{short:<16}{}\n",
                        human_size(i.size)
                    ));
                }
            }
            out(text)
        }),
        WslcRequest::ImageRemove { session, name } => with_engine(inst, peer, session, |s, vm| {
            let deleted = vm.engine().remove_image(&name).map_err(engine_failure)?;
            let mut text = String::new();
            for id in &deleted {
                inst.plugins.on_image_deleted(&s.info, id);
                text.push_str(&format!("Deleted: {id}\n"));
            }
            out(text)
        }),
        WslcRequest::ImageInspect { session, name } => with_engine(inst, peer, session, |_, vm| {
            let v = vm.engine().inspect_image(&name).map_err(engine_failure)?;
            out(pretty(&schema::image(&v)))
        }),
        WslcRequest::ContainerExec {
            session,
            name,
            command,
            interactive,
        } => {
            let [stdin, stdout, stderr] = three_fds(fds)?;
            let mut code = 0;
            with_engine(inst, peer, session, |_, vm| {
                code = vm
                    .engine()
                    .exec(
                        &name,
                        &command,
                        interactive.then(|| File::from(stdin)),
                        File::from(stdout),
                        File::from(stderr),
                    )
                    .map_err(engine_failure)?;
                Ok(())
            })?;
            conn.send(&ServerMessage::Exited { code: code as i32 })
                .map_err(io_failure)
        }
        WslcRequest::ContainerList { session, all } => with_engine(inst, peer, session, |_, vm| {
            let list = vm.engine().list_containers(all).map_err(engine_failure)?;
            let mut text = format!(
                "{:<16}{:<20}{:<24}{:<28}{}\n",
                "CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"
            );
            for c in list {
                let command: String = c.command.chars().take(22).collect();
                text.push_str(&format!(
                    "{:<16}{:<20}{:<24}{:<28}{}\n",
                    short_id(&c.id),
                    c.image,
                    format!("\"{command}\""),
                    c.status,
                    c.name
                ));
            }
            out(text)
        }),
        WslcRequest::Container {
            session,
            action,
            name,
        } => with_engine(inst, peer, session, |s, vm| {
            let e = vm.engine();
            match action {
                ContainerAction::Start => {
                    container_started(inst, s, vm, &name, || {
                        e.start_container(&name).map_err(engine_failure)
                    })?;
                    out(format!("{name}\n"))
                }
                ContainerAction::Stop => {
                    e.stop_container(&name, 10).map_err(engine_failure)?;
                    out(format!("{name}\n"))
                }
                ContainerAction::Kill => {
                    e.kill_container(&name).map_err(engine_failure)?;
                    out(format!("{name}\n"))
                }
                ContainerAction::Remove => {
                    e.remove_container(&name, false).map_err(engine_failure)?;
                    out(format!("{name}\n"))
                }
                ContainerAction::Inspect => {
                    let v = e.inspect_container(&name).map_err(engine_failure)?;
                    out(pretty(&schema::container(&v)))
                }
                ContainerAction::Logs => {
                    let (o, er) = e.logs(&name).map_err(engine_failure)?;
                    out(String::from_utf8_lossy(&o).into_owned())?;
                    if !er.is_empty() {
                        conn.send(&ServerMessage::Stderr(
                            String::from_utf8_lossy(&er).into_owned(),
                        ))
                        .map_err(io_failure)?;
                    }
                    Ok(())
                }
            }
        }),
        WslcRequest::ContainerRun {
            session,
            image,
            command,
            name,
            detach,
            remove,
            interactive,
            labels,
        } => {
            let stdio = three_fds(fds)?;
            let run = ContainerRun {
                image,
                cmd: command,
                name,
                labels: labels.into_iter().collect(),
                interactive: interactive && !detach,
                ..Default::default()
            };
            match run_container(inst, peer, session, run, detach, remove, stdio)? {
                Ran::Detached(id) => out(format!("{id}\n")),
                Ran::Exited(code) => conn
                    .send(&ServerMessage::Exited { code: code as i32 })
                    .map_err(io_failure),
            }
        }
    }
}

/// `image import`: a rootfs tarball becomes an image (ImageCreated); its id.
pub fn import_image(
    inst: &Arc<Instance>,
    peer: Peer,
    session: Option<String>,
    file: File,
    reference: &str,
) -> Result<String, Failure> {
    let mut id = String::new();
    with_engine(inst, peer, session, |s, vm| {
        id = vm
            .engine()
            .import_image_from(file, reference)
            .map_err(engine_failure)?;
        image_created(inst, s, vm, &id);
        Ok(())
    })?;
    Ok(id)
}

/// How a `container run` ended.
pub enum Ran {
    /// `-d`: started, with this id.
    Detached(String),
    /// Ran to its end with this exit code (its output went to the stdio given).
    Exited(i64),
}

/// `container run`: create, ContainerStarted (a refusal stops it), then
/// either leave it running (`detach`) or pass its stdio through `stdio`
/// until it exits (removing it after when `remove`).
pub fn run_container(
    inst: &Arc<Instance>,
    peer: Peer,
    session: Option<String>,
    run: ContainerRun,
    detach: bool,
    remove: bool,
    stdio: [OwnedFd; 3],
) -> Result<Ran, Failure> {
    let [stdin, stdout, stderr] = stdio;
    let mut ran = None;
    with_engine(inst, peer, session, |s, vm| {
        let e = vm.engine();
        let id = e.create_container(&run).map_err(engine_failure)?;
        if detach {
            container_started(inst, s, vm, &id, || {
                e.start_container(&id).map_err(engine_failure)
            })?;
            ran = Some(Ran::Detached(id));
            return Ok(());
        }
        let result = (|| {
            let attached = e.attach(&id, run.interactive).map_err(engine_failure)?;
            container_started(inst, s, vm, &id, || {
                e.start_container(&id).map_err(engine_failure)
            })?;
            e.pump(
                attached,
                run.interactive.then(|| File::from(stdin)),
                File::from(stdout),
                File::from(stderr),
            )
            .map_err(engine_failure)?;
            e.wait_container(&id).map_err(engine_failure)
        })();
        if remove {
            if let Err(e) = e.remove_container(&id, true) {
                warn!(container = %id, error = %e, "cannot remove the container after its run");
            }
        }
        ran = Some(Ran::Exited(result?));
        Ok(())
    })?;
    ran.ok_or_else(|| Failure::service("the container run ended without a result", "E_UNEXPECTED"))
}

/// `session terminate NAME`: the owner's or root's.
pub fn terminate_session(inst: &Instance, peer: Peer, name: &str) -> Result<(), Failure> {
    let s = inst
        .wslc
        .find(name)
        .ok_or_else(|| session_not_found(name))?;
    check_owner(&s, peer)?;
    terminate(inst, &s);
    Ok(())
}

fn session_not_found(name: &str) -> Failure {
    Failure::service(
        format!("There is no WSLC session named '{name}'."),
        "WSLC_E_SESSION_NOT_FOUND",
    )
}

fn one_file(fds: Vec<OwnedFd>) -> Result<File, Failure> {
    let [fd] = <[OwnedFd; 1]>::try_from(fds).map_err(|v| {
        Failure::service(
            format!(
                "the request needs the file's descriptor, got {} descriptors",
                v.len()
            ),
            "E_INVALIDARG",
        )
    })?;
    Ok(File::from(fd))
}

/// Runs `f` with the session's VM up, counted as an operation in flight.
fn with_engine(
    inst: &Arc<Instance>,
    peer: Peer,
    session: Option<String>,
    f: impl FnOnce(&SessionState, &SessionVm) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let s = open_session(inst, peer, session)?;
    s.in_flight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(&s, inst);
    let vm = ensure_vm(inst, &s)?;
    f(&s, &vm)
}

/// ContainerStarted with the container's inspect JSON; a failure stops the
/// container (it is not removed) and is what the command prints.
/// `start` starts it, with the container already marked as starting so a
/// quick exit's ContainerStopping comes after this hook, not before.
fn container_started(
    inst: &Instance,
    s: &SessionState,
    vm: &SessionVm,
    id: &str,
    start: impl FnOnce() -> Result<(), Failure>,
) -> Result<(), Failure> {
    // The full id: the engine's events name containers by it.
    let full = vm.engine().inspect_container(id).map_err(engine_failure)?["Id"]
        .as_str()
        .unwrap_or(id)
        .to_string();
    sync::lock(&s.starting).insert(full.clone(), false);
    let result = start().and_then(|()| {
        let inspect = vm.engine().inspect_container(&full).map_err(engine_failure)?;
        let json = schema::container(&inspect).to_string();
        inst.plugins.on_container_started(&s.info, &json).map_err(|f| {
            info!(container = %full, plugin = %f.plugin, "ContainerStarted refused the container; stopping it");
            if let Err(e) = vm.engine().stop_container(&full, 0) {
                warn!(container = %full, error = %e, "cannot stop the refused container");
            }
            Failure::text(f.text)
        })
    });
    // A death the watcher saw meanwhile, or the one the refusal caused
    // (stop_container returns once the container stopped; its event may
    // still be on its way, and then the watcher raises it itself).
    let died = sync::lock(&s.starting).remove(&full).unwrap_or(false);
    if died {
        inst.plugins.on_container_stopping(&s.info, &full);
        inst.wake.wake();
    }
    result
}

fn image_created(inst: &Instance, s: &SessionState, vm: &SessionVm, id: &str) {
    match vm.engine().inspect_image(id) {
        Ok(v) => inst
            .plugins
            .on_image_created(&s.info, &schema::image(&v).to_string()),
        Err(e) => {
            warn!(image = %id, error = %e, "cannot inspect the new image; ImageCreated not raised")
        }
    }
}

fn session_list(inst: &Instance, peer: Peer) -> String {
    let mut sessions = inst.wslc.all();
    sessions.sort_by_key(|s| s.info.id);
    let mut text = format!("{:<6}{:<32}{:<10}{}\n", "ID", "NAME", "VM", "OWNER");
    for s in sessions
        .iter()
        .filter(|s| peer.uid == 0 || s.owner == peer.uid)
    {
        let vm = if s.running_vm().is_some() {
            "Running"
        } else {
            "Stopped"
        };
        text.push_str(&format!(
            "{:<6}{:<32}{:<10}{}\n",
            s.info.id, s.info.name, vm, s.owner
        ));
    }
    text
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1e9 {
        format!("{:.2}GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2}MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.2}kB", b / 1e3)
    } else {
        format!("{bytes}B")
    }
}

fn pretty(v: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// The WSLC calls of plugins (SPEC §11), served from the sessions: they act
/// on a session's running VM and never start one.
pub struct Api {
    inst: std::sync::Weak<Instance>,
    next_token: std::sync::atomic::AtomicU64,
    /// Processes not released yet: 128 + the signal when one ended them
    /// (137 when the VM went away).
    processes: Mutex<HashMap<u64, Arc<wslp_vm::Process>>>,
}

impl Api {
    pub fn new(inst: &Arc<Instance>) -> Api {
        Api {
            inst: Arc::downgrade(inst),
            next_token: std::sync::atomic::AtomicU64::new(1),
            processes: Mutex::new(HashMap::new()),
        }
    }

    /// The session, then its VM: WSLC_E_SESSION_NOT_FOUND, then WSLC_E_VM_NOT_RUNNING.
    fn session_vm(&self, id: u32) -> Result<(Arc<SessionState>, Arc<SessionVm>), i32> {
        use wslp_abi::hresult::{WSLC_E_SESSION_NOT_FOUND, WSLC_E_VM_NOT_RUNNING};
        let inst = self.inst.upgrade().ok_or(WSLC_E_SESSION_NOT_FOUND)?;
        let s = inst.wslc.by_id(id).ok_or(WSLC_E_SESSION_NOT_FOUND)?;
        let vm = s.running_vm().ok_or(WSLC_E_VM_NOT_RUNNING)?;
        Ok((s, vm))
    }
}

impl wslp_host::WslcServices for Api {
    fn mount_folder(
        &self,
        session: u32,
        host_path: &str,
        mountpoint: &str,
        read_only: bool,
    ) -> i32 {
        use wslp_abi::hresult::{hresult_from_win32, win32, E_INVALIDARG, S_OK};
        let (s, vm) = match self.session_vm(session) {
            Ok(x) => x,
            Err(hr) => return hr,
        };
        if !host_path.starts_with('/') {
            return E_INVALIDARG;
        }
        if !std::path::Path::new(host_path).is_dir() {
            return hresult_from_win32(win32::ERROR_PATH_NOT_FOUND);
        }
        if !mountpoint.starts_with('/') {
            return E_INVALIDARG;
        }
        let mut mounts = sync::lock(&s.mounts);
        if mounts.contains(mountpoint) {
            return hresult_from_win32(win32::ERROR_ALREADY_EXISTS);
        }
        match vm
            .vm()
            .mount_folder(std::path::Path::new(host_path), mountpoint, read_only)
        {
            Ok(()) => {
                mounts.insert(mountpoint.to_string());
                S_OK
            }
            Err(e) => e.hresult(),
        }
    }

    fn unmount_folder(&self, session: u32, mountpoint: &str) -> i32 {
        use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, S_OK};
        let (s, vm) = match self.session_vm(session) {
            Ok(x) => x,
            Err(hr) => return hr,
        };
        let mut mounts = sync::lock(&s.mounts);
        if !mounts.contains(mountpoint) {
            return hresult_from_win32(win32::ERROR_NOT_FOUND);
        }
        // umount(8) in the VM's root namespaces; one already undone there
        // ("not mounted") is fine.
        let script = "umount -l -- \"$1\" 2>/dev/null || ! grep -q \" $1 \" /proc/self/mountinfo";
        let argv = ["/bin/sh", "-c", script, "sh", mountpoint].map(String::from);
        let code = run_in_vm(&vm, &argv);
        if code != Some(0) {
            warn!(mountpoint, ?code, "WSLCUnmountFolder: umount failed");
            return E_FAIL;
        }
        mounts.remove(mountpoint);
        S_OK
    }

    fn create_process(
        &self,
        session: u32,
        executable: &str,
        argv: &[String],
        env: &[String],
    ) -> Result<wslp_host::WslcProcess, (i32, i32)> {
        use wslp_abi::hresult::{E_FAIL, WSLC_E_SESSION_NOT_FOUND};
        // *Errno: 0 when the session was not found, -1 from then on.
        let (_, vm) = self.session_vm(session).map_err(|hr| {
            (
                hr,
                if hr == WSLC_E_SESSION_NOT_FOUND {
                    0
                } else {
                    -1
                },
            )
        })?;
        let pair = || {
            std::os::unix::net::UnixStream::pair()
                .map(|(a, b)| (OwnedFd::from(a), OwnedFd::from(b)))
                .map_err(|_| (E_FAIL, -1))
        };
        let (in_ours, in_theirs) = pair()?;
        let (out_ours, out_theirs) = pair()?;
        let (err_ours, err_theirs) = pair()?;
        let spec = wslp_vm::ProcessSpec {
            program: Some(executable.to_string()),
            argv: argv.to_vec(),
            env: env
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect(),
            cwd: None,
            uid: 0,
            gid: 0,
            groups: vec![],
            stdin: in_theirs,
            stdout: out_theirs,
            stderr: err_theirs,
            controlling_tty: false,
            rlimits: Vec::new(),
            no_new_privs: false,
        };
        let process = vm.vm().spawn(spec).map_err(|e| match &e {
            wslp_vm::VmError::Exec { cause, .. } => (E_FAIL, cause.raw_os_error().unwrap_or(-1)),
            _ => (e.hresult(), -1),
        })?;
        let exit_event = process.exit_event().map_err(|e| (e.hresult(), -1))?;
        let token = self.next_token.fetch_add(1, Ordering::SeqCst);
        // The VM's watcher reaps it; kept until the plugin releases it.
        sync::lock(&self.processes).insert(token, Arc::new(process));
        Ok(wslp_host::WslcProcess {
            token,
            stdio: [in_ours, out_ours, err_ours],
            exit_event,
        })
    }

    fn exit_code(&self, token: u64) -> Option<i32> {
        let p = sync::lock(&self.processes).get(&token).cloned()?;
        if let Some(code) = p.try_wait() {
            return Some(code);
        }
        // Its exit event may already say it exited while the reaper has not
        // run yet: then its status is moments away, and the plugin that saw
        // the event must get it.
        let exited = p.exit_event().ok().is_some_and(|fd| {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            use std::os::fd::AsFd;
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        });
        if exited {
            p.wait().ok()
        } else {
            None
        }
    }

    fn release(&self, token: u64) {
        sync::lock(&self.processes).remove(&token);
    }
}

/// Runs a short command as root in the VM's root namespaces; its exit code.
fn run_in_vm(vm: &SessionVm, argv: &[String]) -> Option<i32> {
    let null = || std::fs::File::open("/dev/null").ok().map(OwnedFd::from);
    let spec = wslp_vm::ProcessSpec {
        program: None,
        argv: argv.to_vec(),
        env: vec![("PATH".into(), wslp_vm::DEFAULT_PATH.into())],
        cwd: None,
        uid: 0,
        gid: 0,
        groups: vec![],
        stdin: null()?,
        stdout: null()?,
        stderr: vm.vm().log_writer().ok()?,
        controlling_tty: false,
        rlimits: Vec::new(),
        no_new_privs: false,
    };
    vm.vm().spawn(spec).ok()?.wait().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_checked() {
        assert!(validate_name("wslc-cli-root").is_ok());
        assert!(validate_name("a.b_c").is_ok());
        for bad in ["", ".hidden", "a/b", "x y", &"n".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_and_ids_read_like_docker() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(human_size(4_400_000), "4.40MB");
        assert_eq!(human_size(512), "512B");
    }
}
