//! The state of one service: the VM, the running distributions, the plugins
//! and the session they see, and the idle policy that stops them.
//!
//! Locking: `lifecycle` serializes every start and stop of the VM and of
//! distributions, so hooks run in a well-defined order. The maps that plugin API
//! calls read (`vm`, `running`) are separate short-lived locks, because a plugin
//! calls ExecuteBinary from inside a hook while `lifecycle` is held.

use crate::failure::Failure;
use crate::ids::{self, HostIds, VmIds};
use crate::sync;
use crate::wake::Wake;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tracing::{info, warn};
use uuid::Uuid;
use wslp_abi::hresult::{self, HResult};
use wslp_abi::GUID;
use wslp_config::{Paths, Settings};
use wslp_distro::{DistroRecord, DistroStore};
use wslp_host::{
    DistroInfo, HostConfig, OfflineDistroInfo, PluginManager, PluginServices, Session,
};
use wslp_ipc::protocol::{DistroListing, DistroState};
use wslp_vm::{Activity, DistroSpec, RunningDistro, Vm, VmBackend, VmConfig};

/// A distribution that runs, with what its hooks were told.
pub struct Running {
    pub record: DistroRecord,
    pub distro: Arc<dyn RunningDistro>,
    pub info: DistroInfo,
    /// Commands of clients still running in it: it is not idle while any is.
    pub commands: AtomicUsize,
    /// What its `/etc/wsl.conf` said at this start (SPEC §12).
    pub conf: wslp_distro::WslConf,
    idle_since: Mutex<Option<Instant>>,
    /// The idle policy's: a command's end may make the distribution idle.
    wake: Arc<Wake>,
}

/// What plugins' API calls act on: the VM and distributions of this instance.
#[derive(Default)]
struct Live {
    vm: RwLock<Option<Arc<dyn Vm>>>,
    running: RwLock<HashMap<Uuid, Arc<Running>>>,
}

struct Services(Arc<Live>);

impl PluginServices for Services {
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, HResult> {
        let vm = sync::read(&self.0.vm).clone();
        match vm {
            Some(vm) => vm.execute_binary(path, argv).map_err(|e| e.hresult()),
            None => Err(hresult::WSL_E_VM_MODE_INVALID_STATE),
        }
    }

    fn execute_binary_in_distribution(
        &self,
        distro: GUID,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, HResult> {
        let id = Uuid::from_bytes(distro.to_rfc4122_bytes());
        let running = sync::read(&self.0.running).get(&id).cloned();
        match running {
            Some(r) if r.distro.is_running() => {
                r.distro.execute_binary(path, argv).map_err(|e| e.hresult())
            }
            _ => Err(hresult::WSL_E_VM_MODE_INVALID_STATE),
        }
    }

    fn mount_folder(
        &self,
        host_path: &Path,
        vm_path: &str,
        read_only: bool,
        _name: &str,
    ) -> Result<(), HResult> {
        let vm = sync::read(&self.0.vm).clone();
        match vm {
            Some(vm) => vm
                .mount_folder(host_path, vm_path, read_only)
                .map_err(|e| e.hresult()),
            None => Err(hresult::WSL_E_VM_MODE_INVALID_STATE),
        }
    }
}

pub fn guid_of(id: &Uuid) -> GUID {
    GUID::from_rfc4122_bytes(*id.as_bytes())
}

pub struct Instance {
    pub paths: Paths,
    pub settings: Settings,
    pub plugins: PluginManager,
    pub session: Session,
    pub store: DistroStore,
    backend: Box<dyn VmBackend>,
    live: Arc<Live>,
    lifecycle: Mutex<()>,
    /// The ids of the VM that runs (or ran last).
    vm_ids: RwLock<Option<VmIds>>,
    /// How the VM reaches the network (from the settings).
    net_config: wslp_net::NetConfig,
    /// The network of the VM that runs; taken down with it.
    network: Mutex<Option<wslp_net::Network>>,
    /// Requests in progress that need the VM: it is not idle while any is.
    pub active: AtomicUsize,
    /// Connected clients (a running command counts): the service is not idle while any is.
    pub clients: AtomicUsize,
    pub shutting_down: AtomicBool,
    /// Wakes the idle policy (see [`crate::wake`]).
    pub wake: Arc<Wake>,
    /// WSLC sessions (SPEC §11).
    pub wslc: crate::wslc::Sessions,
}

/// A running distribution with one command counted in it until dropped.
pub struct CommandLease(Arc<Running>);

impl std::ops::Deref for CommandLease {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl Drop for CommandLease {
    fn drop(&mut self) {
        self.0.commands.fetch_sub(1, Ordering::SeqCst);
        self.0.wake.wake();
    }
}

/// Decrements a counter when dropped, so every exit path of a request
/// releases it, and wakes the idle policy, which may now find nothing to do.
pub struct CountGuard<'a>(&'a AtomicUsize, &'a Wake);

impl<'a> CountGuard<'a> {
    pub fn new(c: &'a AtomicUsize, wake: &'a Wake) -> Self {
        c.fetch_add(1, Ordering::SeqCst);
        CountGuard(c, wake)
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        self.1.wake();
    }
}

fn ms(v: i64) -> Option<Duration> {
    (v >= 0).then(|| Duration::from_millis(v as u64))
}

impl Instance {
    pub fn new(
        paths: Paths,
        settings: Settings,
        backend: Box<dyn VmBackend>,
    ) -> Result<Instance, Failure> {
        let store = DistroStore::open(&paths.root).map_err(|e| {
            Failure::service(
                format!("cannot open the distribution registry: {e}"),
                "E_FAIL",
            )
        })?;
        let plugins = PluginManager::load(HostConfig {
            wslp_root: paths.root.clone(),
            settings: settings.clone(),
        });
        let live = Arc::new(Live::default());
        // One session for the service's life (SPEC §4: SessionId is stable), owned by
        // the user the service runs as.
        let uid = nix::unistd::geteuid().as_raw();
        let session = plugins.open_session(uid, Arc::new(Services(live.clone())));
        let net_config = wslp_net::NetConfig::new(&settings, &paths.root, paths.vm_state());
        let wake = Wake::new().map(Arc::new).map_err(|e| {
            Failure::service(
                format!("cannot create the idle policy's eventfd: {e}"),
                "E_FAIL",
            )
        })?;
        Ok(Instance {
            paths,
            settings,
            plugins,
            session,
            store,
            backend,
            live,
            lifecycle: Mutex::new(()),
            vm_ids: RwLock::new(None),
            net_config,
            network: Mutex::new(None),
            active: AtomicUsize::new(0),
            clients: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            wake,
            wslc: Default::default(),
        })
    }

    /// What starts VMs, for the WSLC session VMs too.
    pub fn backend(&self) -> &dyn VmBackend {
        &*self.backend
    }

    /// The ids of the VM that runs (or ran last), if one started.
    pub fn vm_ids(&self) -> Option<VmIds> {
        sync::read(&self.vm_ids).clone()
    }

    pub fn vm(&self) -> Option<Arc<dyn Vm>> {
        sync::read(&self.live.vm).clone().filter(|v| v.is_running())
    }

    /// Starts the VM if it is not running, with OnVMStarted for every plugin.
    /// What the command that started it must tell the user (SPEC §9's
    /// networking fallback) is added to `notices`.
    pub fn ensure_vm(&self, notices: &mut Vec<String>) -> Result<Arc<dyn Vm>, Failure> {
        let _g = sync::lock(&self.lifecycle);
        self.ensure_vm_locked(notices)
    }

    /// `networking_mode` and what it is now, for `wslp --status`.
    pub fn network_status(&self) -> String {
        match (self.vm(), sync::lock(&self.network).as_ref()) {
            (Some(_), Some(n)) => n.describe(),
            _ => format!("{} (the VM is stopped)", self.net_config.mode),
        }
    }

    fn ensure_vm_locked(&self, notices: &mut Vec<String>) -> Result<Arc<dyn Vm>, Failure> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(Failure::service(
                "The wslp service is shutting down. Run the command again.",
                "ERROR_SERVICE_NOT_ACTIVE",
            ));
        }
        if let Some(vm) = self.vm() {
            return Ok(vm);
        }
        let ids = ids::for_this_service()?;
        if let Some(w) = &ids.warning {
            warn!("{w}");
            // A per-user instance's user can act on it (SPEC §10); the
            // system instance's range is root's business, in the log.
            if !wslp_vm::rootless::in_initial_user_namespace() {
                notices.push(w.clone());
            }
        }
        let cfg = VmConfig {
            state_dir: self.paths.vm_state(),
            log_path: self.paths.vm_log(),
            log_cap_bytes: 1 << 20,
            hostname: hostname_for_vm(),
            user_namespace: ids.user_namespace.clone(),
            tmpfs_size: Some(self.settings.tmpfs_size.clone()),
            host_network: self.net_config.shares_host_network(),
        };
        *sync::write(&self.vm_ids) = Some(ids);
        // A VM that died on its own left its network up.
        if let Some(mut old) = sync::lock(&self.network).take() {
            old.stop();
        }
        let started = Instant::now();
        // nat's host side (interface, address, table) is made while the VM
        // starts: neither needs the other.
        let (vm, starting) = std::thread::scope(|s| {
            let prepared = (self.net_config.mode == wslp_net::NetworkingMode::Nat).then(|| {
                std::thread::Builder::new()
                    .name("wslp-net-prepare".into())
                    .spawn_scoped(s, || wslp_net::prepare(&self.net_config))
            });
            let vm = self.backend.start(&cfg);
            let starting = match prepared {
                Some(Ok(t)) => t
                    .join()
                    .unwrap_or_else(|_| wslp_net::prepare(&self.net_config)),
                _ => wslp_net::prepare(&self.net_config),
            };
            (vm, starting)
        });
        let vm = vm.map_err(|e| {
            Failure::service(
                format!("The utility VM could not be started: {e}"),
                "CreateInstance/CreateVm/E_FAIL",
            )
        })?;
        let network = starting.attach(vm.init_pid());
        if let Some(w) = network.warning() {
            notices.push(w.to_owned());
        }
        // The VM's own resolv.conf and hosts, through its root.
        let vm_root = Path::new("/proc")
            .join(vm.init_pid().to_string())
            .join("root");
        for e in network.write_files(&vm_root, &cfg.hostname, wslp_net::Generate::default()) {
            warn!(error = %e, "cannot write the VM's network files");
        }
        *sync::lock(&self.network) = Some(network);
        *sync::write(&self.live.vm) = Some(vm.clone());
        info!(
            init_pid = vm.init_pid(),
            elapsed_us = started.elapsed().as_micros() as u64,
            network = %self.network_status(),
            "vm started"
        );
        if let Err(f) = self.plugins.on_vm_started(&self.session, 0) {
            // The plugin manager already gave every plugin OnVMStopping (SPEC §4).
            warn!(plugin = %f.plugin, code = f.code, "OnVMStarted failed; stopping the vm");
            vm.stop();
            if let Some(mut n) = sync::lock(&self.network).take() {
                n.stop();
            }
            *sync::write(&self.live.vm) = None;
            return Err(Failure::text(f.text.clone()));
        }
        Ok(vm)
    }

    /// Starts a distribution if it is not running, with OnDistributionStarted.
    pub fn ensure_distro(
        &self,
        record: &DistroRecord,
        notices: &mut Vec<String>,
    ) -> Result<Arc<Running>, Failure> {
        let _g = sync::lock(&self.lifecycle);
        self.ensure_distro_locked(record, notices)
    }

    /// Like [`Instance::ensure_distro`], and counts a command in the
    /// distribution before the lifecycle lock is released, so the idle policy
    /// cannot stop it between its start and the command's.
    pub fn lease_distro(
        &self,
        record: &DistroRecord,
        notices: &mut Vec<String>,
    ) -> Result<CommandLease, Failure> {
        let _g = sync::lock(&self.lifecycle);
        let running = self.ensure_distro_locked(record, notices)?;
        running.commands.fetch_add(1, Ordering::SeqCst);
        Ok(CommandLease(running))
    }

    fn ensure_distro_locked(
        &self,
        record: &DistroRecord,
        notices: &mut Vec<String>,
    ) -> Result<Arc<Running>, Failure> {
        let vm = self.ensure_vm_locked(notices)?;
        if let Some(r) = sync::read(&self.live.running).get(&record.id).cloned() {
            if r.distro.is_running() {
                return Ok(r);
            }
        }
        sync::write(&self.live.running).remove(&record.id);
        // Nobody but root may be able to swap its files or its /etc between
        // two starts (an import folder a user owns, say).
        wslp_distro::secure_dir(&record.base_path, nix::unistd::geteuid().as_raw()).map_err(
            |e| {
                Failure::service(
                    format!(
                        "The distribution '{}' could not be started: {e}",
                        record.name
                    ),
                    "CreateInstance/E_ACCESSDENIED",
                )
            },
        )?;
        if let (Some((u, g)), Some(ids)) = (record.shifted, self.vm_ids()) {
            let now = (
                ids.user_namespace.uid_map[0].outside,
                ids.user_namespace.gid_map[0].outside,
            );
            if now != (u, g) {
                return Err(Failure::service(
                    format!(
                        "The distribution '{}' stores its files with the host ids of a VM whose uids start at {u} and gids at {g} \
                         (its filesystem cannot be idmapped), but the VM's now start at {} and {}. Give the account '{}' \
                         those ranges again in /etc/subuid and /etc/subgid, or import the distribution again.",
                        record.name,
                        now.0,
                        now.1,
                        ids::ACCOUNT
                    ),
                    "CreateInstance/E_FAIL",
                ));
            }
        }
        // Read at every start, as WSL does; a bad line is said in the VM log.
        let (conf, problems) = wslp_distro::read_wsl_conf(&record.rootfs);
        for p in &problems {
            vm_log_line(&*vm, &format!("wslp: distribution '{}': {p}", record.name));
        }
        let hostname = conf.hostname.clone().unwrap_or_else(|| record.name.clone());
        let generate = wslp_net::Generate {
            hosts: conf.generate_hosts,
            resolv_conf: conf.generate_resolv_conf,
        };
        self.write_network_files(record, &hostname, generate);
        let spec = DistroSpec {
            name: record.name.clone(),
            rootfs: record.rootfs.clone(),
            hostname,
            stored_shifted: record.shifted.is_some(),
        };
        let distro = vm.start_distribution(&spec).map_err(|e| {
            Failure::service(
                format!(
                    "The distribution '{}' could not be started: {e}",
                    record.name
                ),
                "CreateInstance/E_FAIL",
            )
        })?;
        let os = wslp_distro::read_os_release(&record.rootfs);
        let info = DistroInfo {
            id: guid_of(&record.id),
            name: record.name.clone(),
            pid_namespace: distro.pid_namespace(),
            init_pid: distro.init_pid(),
            flavor: os.id,
            version: os.version_id,
        };
        let running = Arc::new(Running {
            record: record.clone(),
            distro: distro.clone(),
            info,
            commands: AtomicUsize::new(0),
            conf,
            idle_since: Mutex::new(None),
            wake: self.wake.clone(),
        });
        // Visible to ExecuteBinaryInDistribution during its own OnDistributionStarted.
        sync::write(&self.live.running).insert(record.id, running.clone());
        if let Err(f) = self
            .plugins
            .on_distribution_started(&self.session, &running.info)
        {
            // A distribution whose start failed gets no OnDistributionStopping (SPEC §4).
            sync::write(&self.live.running).remove(&record.id);
            distro.stop();
            return Err(Failure::text(f.text.clone()));
        }
        if let Some(command) = &running.conf.boot_command {
            run_boot_command(&*vm, &running, command);
        }
        info!(distro = %record.name, init_pid = running.info.init_pid, "distribution started");
        Ok(running)
    }

    /// The distribution's `/etc/resolv.conf` and `/etc/hosts` (SPEC §9), as
    /// WSL writes them at each start. A failure is logged: the distribution
    /// still starts, with the files it had.
    fn write_network_files(
        &self,
        record: &DistroRecord,
        hostname: &str,
        generate: wslp_net::Generate,
    ) {
        if let Some(net) = sync::lock(&self.network).as_ref() {
            for e in net.write_files(&record.rootfs, hostname, generate) {
                warn!(distro = %record.name, error = %e, "cannot write a generated network file");
            }
        }
    }

    pub fn running(&self, id: &Uuid) -> Option<Arc<Running>> {
        sync::read(&self.live.running)
            .get(id)
            .cloned()
            .filter(|r| r.distro.is_running())
    }

    /// OnDistributionStopping while it is still up, then stop it.
    pub fn stop_distro(&self, id: &Uuid) -> bool {
        let _g = sync::lock(&self.lifecycle);
        self.stop_distro_locked(id)
    }

    fn stop_distro_locked(&self, id: &Uuid) -> bool {
        let Some(r) = sync::read(&self.live.running).get(id).cloned() else {
            return false;
        };
        if r.distro.is_running() {
            self.plugins
                .on_distribution_stopping(&self.session, &r.info);
        }
        r.distro.stop();
        sync::write(&self.live.running).remove(id);
        info!(distro = %r.record.name, "distribution stopped");
        true
    }

    /// Every distribution, then OnVMStopping while the VM is still up, then the VM.
    pub fn stop_vm(&self) {
        let _g = sync::lock(&self.lifecycle);
        self.stop_vm_locked();
    }

    /// Stops a distribution if it runs, OnDistributionUnregistered, then removes
    /// it from the registry and deletes its files, all under the lifecycle lock:
    /// no command can start it again between its stop and the removal.
    pub fn unregister(&self, record: &DistroRecord) -> Result<(), Failure> {
        let _g = sync::lock(&self.lifecycle);
        self.stop_distro_locked(&record.id);
        // Before removal, and with the VM possibly stopped (SPEC §4).
        self.plugins
            .on_distribution_unregistered(&self.session, &self.offline_info(record));
        self.store
            .unregister(&record.name)
            .map(|_| ())
            .map_err(store_failure)
    }

    fn stop_vm_locked(&self) {
        let ids: Vec<Uuid> = sync::read(&self.live.running).keys().copied().collect();
        for id in ids {
            self.stop_distro_locked(&id);
        }
        if let Some(vm) = sync::read(&self.live.vm).clone() {
            if vm.is_running() {
                self.plugins.on_vm_stopping(&self.session);
            }
            vm.stop();
            info!("vm stopped");
        }
        if let Some(mut n) = sync::lock(&self.network).take() {
            n.stop();
        }
        *sync::write(&self.live.vm) = None;
    }

    pub fn listing(&self, running_only: bool) -> Result<Vec<DistroListing>, Failure> {
        let records = self.store.list().map_err(store_failure)?;
        Ok(records
            .into_iter()
            .map(|r| DistroListing {
                default_user: Some(r.default_user())
                    .filter(|u| !u.is_root())
                    .map(|u| u.short()),
                state: if self.running(&r.id).is_some() {
                    DistroState::Running
                } else {
                    DistroState::Stopped
                },
                name: r.name,
                version: r.version,
                is_default: r.is_default,
            })
            .filter(|l| !running_only || l.state == DistroState::Running)
            .collect())
    }

    /// After an import: where the filesystem of the distribution's directory
    /// cannot be idmapped, its files are stored with the host ids of the
    /// VM's range instead (shifted), and the returned line says so.
    pub fn prepare_storage(&self, record: &DistroRecord) -> Result<Option<String>, Failure> {
        if record.shifted.is_some() {
            return Ok(None);
        }
        let fail = |e: &dyn std::fmt::Display| {
            Failure::service(
                format!(
                    "Cannot prepare the files of '{}' for the VM: {e}",
                    record.name
                ),
                "RegisterDistro/E_FAIL",
            )
        };
        // A per-user instance never idmaps: its files' owners were given
        // at import, in a user namespace with the VM's maps.
        if !wslp_vm::rootless::in_initial_user_namespace()
            || wslp_vm::can_idmap(&record.base_path).map_err(|e| fail(&e))?
        {
            return Ok(None);
        }
        let ids = ids::resolve(&HostIds::read()?)?;
        let (u, g) = (
            ids.user_namespace.uid_map[0].outside,
            ids.user_namespace.gid_map[0].outside,
        );
        self.store
            .store_shifted(&record.name, u, g)
            .map_err(|e| fail(&e))?;
        Ok(Some(format!(
            "The filesystem of {} cannot show files through an idmapped mount, so the files of '{}' are now stored \
             with the VM's host ids (uids from {u}, gids from {g}); the distribution keeps working as long as the VM keeps that range.\n",
            record.base_path.display(),
            record.name
        )))
    }

    pub fn offline_info(&self, record: &DistroRecord) -> OfflineDistroInfo {
        let os = wslp_distro::read_os_release(&record.rootfs);
        OfflineDistroInfo {
            id: guid_of(&record.id),
            name: record.name.clone(),
            flavor: os.id,
            version: os.version_id,
        }
    }

    /// One pass of the idle policy (SPEC §2): stops what has been idle for its
    /// timeout, and says what to wait for before the next pass.
    pub fn idle_tick(&self, state: &mut IdleState) -> IdleNext {
        let now = Instant::now();
        let mut watch = Vec::new();
        let mut until: Option<Instant> = None;
        let mut at = |t: Instant| until = Some(until.map_or(t, |u| u.min(t)));
        // Distributions: idle when no client command runs and nothing but init is left.
        let running: Vec<Arc<Running>> = sync::read(&self.live.running).values().cloned().collect();
        for r in running {
            if !r.distro.is_running() {
                // Died on its own (its init was killed): nothing to tell plugins, it is gone.
                let _g = sync::lock(&self.lifecycle);
                sync::write(&self.live.running).remove(&r.record.id);
                continue;
            }
            watch.extend(r.distro.exit_watch());
            let Some(limit) = ms(self.settings.distro_idle_timeout_ms) else {
                continue;
            };
            // A running command wakes us when it ends (CommandLease); a
            // distribution with nothing to watch is looked at again soon.
            let commands = r.commands.load(Ordering::SeqCst);
            let activity = match commands {
                0 => r.distro.activity(),
                _ => Activity::Busy(None),
            };
            let mut since = sync::lock(&r.idle_since);
            match activity {
                Activity::Idle => {}
                Activity::Busy(fd) => {
                    *since = None;
                    match fd {
                        Some(fd) => watch.push(fd),
                        None if commands == 0 => at(now + BLIND_RECHECK),
                        None => {}
                    }
                    continue;
                }
            }
            let t = *since.get_or_insert(now);
            drop(since);
            if now.duration_since(t) < limit {
                at(t + limit);
                continue;
            }
            // Checked again under the lock: a command may have just
            // leased it (see lease_distro).
            let _g = sync::lock(&self.lifecycle);
            if r.commands.load(Ordering::SeqCst) == 0 && r.distro.is_idle() {
                info!(distro = %r.record.name, "distribution idle; stopping it");
                self.stop_distro_locked(&r.record.id);
            } else {
                *sync::lock(&r.idle_since) = None;
                // Look again at once: what made it busy may be one we watch.
                at(now);
            }
        }
        // The VM: idle when no distribution runs and no request needs it.
        let vm_up = self.vm().is_some();
        if vm_up
            && sync::read(&self.live.running).is_empty()
            && self.active.load(Ordering::SeqCst) == 0
        {
            let t = *state.vm_idle_since.get_or_insert(now);
            if let Some(limit) = ms(self.settings.vm_idle_timeout_ms) {
                if now.duration_since(t) >= limit {
                    before_idle_stop();
                    // Checked again under the lock: a request may have taken
                    // the VM or leased a distribution since.
                    let _g = sync::lock(&self.lifecycle);
                    if sync::read(&self.live.running).is_empty()
                        && self.active.load(Ordering::SeqCst) == 0
                    {
                        info!("vm idle; stopping it");
                        self.stop_vm_locked();
                    }
                    state.vm_idle_since = None;
                } else {
                    at(t + limit);
                }
            }
        } else {
            state.vm_idle_since = None;
        }
        // WSLC session VMs, each with its own idle timeout.
        if let Some(t) = crate::wslc::idle_tick(self, now) {
            at(t);
        }
        // The service: idle when no VM runs and no client is connected.
        if self.vm().is_none()
            && !self.wslc.any_vm_running()
            && self.clients.load(Ordering::SeqCst) == 0
        {
            let t = *state.service_idle_since.get_or_insert(now);
            if let Some(limit) = ms(self.settings.service_idle_timeout_ms) {
                if now.duration_since(t) >= limit {
                    info!("service idle; exiting");
                    return IdleNext::Exit;
                }
                at(t + limit);
            }
        } else {
            state.service_idle_since = None;
        }
        IdleNext::Wait { until, watch }
    }
}

/// How soon the idle policy looks again at a distribution whose processes it
/// cannot watch (a kernel without `/proc/PID/task/TID/children`).
const BLIND_RECHECK: Duration = Duration::from_millis(500);

/// What the idle policy's thread does after a pass.
#[derive(Debug)]
pub enum IdleNext {
    /// The service has been idle for its timeout: exit.
    Exit,
    /// Sleep until `until` (no timer runs when `None`), until one of `watch`
    /// is readable, or until woken.
    Wait {
        until: Option<Instant>,
        watch: Vec<OwnedFd>,
    },
}

impl IdleNext {
    pub fn exits(&self) -> bool {
        matches!(self, IdleNext::Exit)
    }
}

#[cfg(test)]
thread_local! {
    /// Runs once between the idle policy's first look and its stop of the VM:
    /// where a request can slip in (tests only).
    static BEFORE_IDLE_STOP: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

fn before_idle_stop() {
    #[cfg(test)]
    BEFORE_IDLE_STOP.with(|h| {
        if let Some(f) = h.borrow_mut().take() {
            f()
        }
    });
}

#[derive(Default)]
pub struct IdleState {
    vm_idle_since: Option<Instant>,
    service_idle_since: Option<Instant>,
}

/// A registry error in WSL's two-line form, with WSL's code where it has one.
pub fn store_failure(e: wslp_distro::DistroError) -> Failure {
    use wslp_distro::DistroError as E;
    let code = match &e {
        E::NotFound { .. } | E::IdNotFound { .. } => "WSL_E_DISTRO_NOT_FOUND",
        E::AlreadyExists { .. } => "ERROR_ALREADY_EXISTS",
        E::InvalidName { .. } => "E_INVALIDARG",
        _ => "E_FAIL",
    };
    Failure::service(e, code)
}

/// How long a distribution's start waits for its `[boot] command`: a
/// command that starts a service returns at once; one that does not is left
/// running, and the start goes on.
const BOOT_COMMAND_WAIT: Duration = Duration::from_secs(10);

/// wsl.conf's `[boot] command` (SPEC §12): `/bin/sh -c COMMAND` as root in
/// the distribution, its output into the VM log, before the distribution's
/// first command. A failure is logged and the start goes on, as in WSL.
fn run_boot_command(vm: &dyn Vm, r: &Running, command: &str) {
    let name = &r.record.name;
    let log = |text: String| {
        info!(distro = %name, "{text}");
        vm_log_line(vm, &format!("wslp: distribution '{name}': {text}"));
    };
    let spawned = (|| -> Result<wslp_vm::Process, String> {
        let out = vm.log_writer().map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
        r.distro
            .spawn(wslp_vm::ProcessSpec {
                program: None,
                argv: vec!["/bin/sh".into(), "-c".into(), command.into()],
                env: crate::server::base_env("root", "/root", "/bin/sh", None, None),
                cwd: None,
                uid: 0,
                gid: 0,
                groups: vec![0],
                stdin: null.into(),
                stdout: out,
                stderr: err,
                controlling_tty: false,
                rlimits: Vec::new(),
                no_new_privs: false,
            })
            .map_err(|e| e.to_string())
    })();
    let p = match spawned {
        Ok(p) => p,
        Err(e) => {
            return log(format!(
                "the boot command of /etc/wsl.conf could not start: {e}"
            ))
        }
    };
    match p.wait_timeout(BOOT_COMMAND_WAIT) {
        Some(0) => log("the boot command of /etc/wsl.conf finished".into()),
        Some(code) => log(format!("the boot command of /etc/wsl.conf exited with {code}")),
        None => log(format!(
            "the boot command of /etc/wsl.conf still runs after {} s; commands are served meanwhile",
            BOOT_COMMAND_WAIT.as_secs()
        )),
    }
}

/// One line of the service's own in the VM log (where WSL's init writes).
fn vm_log_line(vm: &dyn Vm, line: &str) {
    if let Ok(fd) = vm.log_writer() {
        use std::io::Write;
        let _ = std::fs::File::from(fd).write_all(format!("{line}\n").as_bytes());
    }
}

fn hostname_for_vm() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "wslp".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(root: &Path) -> Instance {
        let settings = Settings {
            require_signatures: false,
            ..Settings::default()
        };
        Instance::new(
            Paths::new(root),
            settings,
            Box::new(wslp_vm::NamespaceBackend),
        )
        .unwrap()
    }

    /// Panics on another thread while holding `f`'s locks, so they are poisoned.
    fn panic_holding(inst: &Instance, f: impl FnOnce(&Instance) + Send) {
        std::thread::scope(|s| {
            let r = s.spawn(|| f(inst)).join();
            assert!(r.is_err(), "the thread was meant to panic");
        });
    }

    #[test]
    fn a_panic_under_a_lock_does_not_make_later_requests_panic() {
        let root = tempfile::tempdir().unwrap();
        let inst = instance(root.path());
        panic_holding(&inst, |i| {
            let _g = sync::lock(&i.lifecycle);
            panic!("a request panicked under the lifecycle lock");
        });
        panic_holding(&inst, |i| {
            let _vm = sync::write(&i.live.vm);
            let _running = sync::write(&i.live.running);
            panic!("a request panicked while changing the VM and distribution maps");
        });
        assert!(inst.lifecycle.is_poisoned() && inst.live.running.is_poisoned());
        // Every later request that takes those locks is served.
        assert!(!inst.stop_distro(&Uuid::nil()));
        inst.stop_vm();
        assert!(inst.vm().is_none());
        assert!(inst.running(&Uuid::nil()).is_none());
        assert_eq!(inst.listing(false).unwrap(), vec![]);
        let mut idle = IdleState::default();
        assert!(!inst.idle_tick(&mut idle).exits());
    }

    /// Issue 14 item 4: a request that takes the VM after the idle policy first
    /// found it idle keeps it: the stop checks again under the lifecycle lock.
    #[test]
    fn the_idle_stop_never_takes_the_vm_from_a_request_that_just_got_it() {
        let root = tempfile::tempdir().unwrap();
        let settings = Settings {
            require_signatures: false,
            vm_idle_timeout_ms: 0,
            service_idle_timeout_ms: -1,
            ..Settings::default()
        };
        let inst = Arc::new(
            Instance::new(
                Paths::new(root.path()),
                settings,
                Box::new(wslp_vm::NamespaceBackend),
            )
            .unwrap(),
        );
        inst.ensure_vm(&mut Vec::new()).unwrap();
        let got: Arc<Mutex<Option<Arc<dyn Vm>>>> = Arc::default();
        let (i, g) = (inst.clone(), got.clone());
        BEFORE_IDLE_STOP.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                // What a request does: count itself, then take the VM.
                i.active.fetch_add(1, Ordering::SeqCst);
                *sync::lock(&g) = Some(i.ensure_vm(&mut Vec::new()).unwrap());
            }))
        });
        let mut idle = IdleState::default();
        assert!(!inst.idle_tick(&mut idle).exits());
        let vm = sync::lock(&got).clone().expect("the request ran");
        assert!(vm.is_running(), "the VM was stopped under the request");
        // Once the request is done, the VM goes idle as usual.
        inst.active.fetch_sub(1, Ordering::SeqCst);
        inst.idle_tick(&mut idle);
        assert!(inst.vm().is_none());
    }
}
