//! The accept loop and the handling of one request.
//!
//! Who may do what (checked on every request with the kernel's SO_PEERCRED,
//! never the client's word):
//! - any local user: run commands in distributions (as their own uid unless
//!   they are root), list distributions, `--status`. A user's command gets
//!   their uid, gid and supplementary groups from the kernel (SO_PEERCRED,
//!   SO_PEERGROUPS), never from the distribution's files; their resource
//!   limits (prlimit on the connecting process); and no new privileges
//!   (`su`, `sudo` and other set-id programs inside do not raise them). Root
//!   of the VM is not host root (see `ids`), so root's own commands keep
//!   their privileges: `sudo wslp -u alice -- su` gives distribution root;
//! - root only: import, unregister, set the default, terminate, shutdown,
//!   `--debug-shell` (a root shell in the VM), and `wslp plugin trace` (root or
//!   the service's own user: see `tracer`). Plugins, settings and trust are
//!   files under `$WSLP_ROOT` that only root can write.

use crate::admission::{Admission, HANDSHAKE_TIMEOUT, MAX_REQUEST_FDS};
use crate::failure::Failure;
use crate::instance::{store_failure, CountGuard, IdleNext, IdleState, Instance};
use crate::sys::{peer_groups, peer_pidfd};
use std::os::fd::AsFd;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};
use wslp_distro::{DistroRecord, UserInfo};
use wslp_ipc::conn::{peer, Conn, Peer};
use wslp_ipc::protocol::{
    ClientMessage, ProtocolError, Request, RunCommand, RunRequest, ServerMessage, PROTOCOL_VERSION,
};
use wslp_vm::{ProcessSpec, ResourceLimit, UserNamespace};

/// Serves clients until shutdown or idle exit.
pub fn serve(instance: Arc<Instance>, listener: UnixListener) {
    {
        let inst = instance.clone();
        std::thread::Builder::new()
            .name("idle".into())
            .spawn(move || {
                let mut st = IdleState::default();
                loop {
                    if inst.shutting_down.load(Ordering::SeqCst) {
                        // finish() is on its way to exit the process.
                        inst.wake.sleep(None, &[]);
                        continue;
                    }
                    match inst.idle_tick(&mut st) {
                        IdleNext::Exit => finish(&inst, 0),
                        IdleNext::Wait { until, watch } => inst.wake.sleep(until, &watch),
                    }
                }
            })
            .expect("spawn idle thread");
    }
    let admission = Arc::new(Admission::default());
    let per_user = !wslp_vm::rootless::in_initial_user_namespace();
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let peer = match peer(&stream) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "no peer credentials; dropping the connection");
                continue;
            }
        };
        // A per-user instance serves its owner only, who is root of its user
        // namespace (SPEC §10); anyone else would act with the owner's ids
        // (and shows as the overflow uid here).
        if per_user && peer.uid != 0 {
            let text = format!(
                "This wslp instance ({}) belongs to another user; only its owner may use it. \
                 Unset WSLP_ROOT to use an instance of your own.\nError code: Wsl/Service/E_ACCESSDENIED",
                instance.paths.root.display()
            );
            warn!(
                uid = peer.uid,
                pid = peer.pid,
                "refused: not the instance's owner"
            );
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = Conn::new(stream).send(&ServerMessage::Failed { text, exit_code: 1 });
            continue;
        }
        let ticket = match admission.admit(peer.uid) {
            Ok(t) => t,
            Err(text) => {
                warn!(uid = peer.uid, pid = peer.pid, "{text}");
                // The socket's buffer is empty: this send cannot block.
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let _ = Conn::new(stream).send(&ServerMessage::Failed { text, exit_code: 1 });
                continue;
            }
        };
        let inst = instance.clone();
        let guard_count = &inst.clients;
        guard_count.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || {
                handle_client(&inst, stream, peer);
                drop(ticket);
                inst.clients.fetch_sub(1, Ordering::SeqCst);
                inst.wake.wake();
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot spawn a client thread");
            instance.clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Stops everything and exits the process: the next command starts a fresh service.
pub fn finish(inst: &Instance, code: i32) -> ! {
    inst.shutting_down.store(true, Ordering::SeqCst);
    crate::wslc::terminate_all(inst);
    inst.stop_vm();
    let _ = std::fs::remove_file(inst.paths.socket());
    info!("service exiting");
    std::process::exit(code);
}

fn handle_client(inst: &Arc<Instance>, stream: UnixStream, peer: Peer) {
    // A client that connects and then says nothing (the receive timeout), or
    // stops half-way through a frame (the deadline), gives up its thread.
    if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    let conn = Conn::new(stream);
    let deadline = Some(Instant::now() + HANDSHAKE_TIMEOUT);
    match conn.recv_until::<ClientMessage>(deadline) {
        // Descriptors come with the request only.
        Ok((ClientMessage::Hello { .. }, fds)) if !fds.is_empty() => return,
        Ok((ClientMessage::Hello { version }, _)) if version == PROTOCOL_VERSION => {}
        Ok((ClientMessage::Hello { version }, _)) => {
            let e = ProtocolError::Version {
                client: version,
                service: PROTOCOL_VERSION,
            };
            let _ = conn.send(&ServerMessage::Failed {
                text: e.to_string(),
                exit_code: 1,
            });
            return;
        }
        Ok(_) | Err(_) => return,
    }
    if conn
        .send(&ServerMessage::Hello {
            version: PROTOCOL_VERSION,
            service_pid: std::process::id(),
        })
        .is_err()
    {
        return;
    }
    let (req, fds) = match conn.recv_until::<ClientMessage>(deadline) {
        Ok((ClientMessage::Request(_), fds)) if fds.len() > MAX_REQUEST_FDS => {
            let _ = conn.send(&ServerMessage::Failed {
                text: format!(
                    "bad request: {} descriptors, at most {MAX_REQUEST_FDS}",
                    fds.len()
                ),
                exit_code: 1,
            });
            return;
        }
        Ok((ClientMessage::Request(r), fds)) => (r, fds),
        Ok(_) => return,
        Err(ProtocolError::Closed) => return,
        Err(e) => {
            let _ = conn.send(&ServerMessage::Failed {
                text: format!("bad request: {e}"),
                exit_code: 1,
            });
            return;
        }
    };
    // From here the connection lives as long as its command.
    if conn.stream().set_read_timeout(None).is_err() {
        return;
    }
    debug!(uid = peer.uid, pid = peer.pid, ?req, "request");
    let shutdown = matches!(req, Request::Shutdown);
    let result = dispatch(inst, &conn, peer, req, fds);
    let reply = match result {
        Ok(()) => ServerMessage::Done,
        Err(f) => ServerMessage::Failed {
            text: f.text,
            exit_code: f.exit_code,
        },
    };
    let _ = conn.send(&reply);
    if shutdown && matches!(reply, ServerMessage::Done) {
        drop(conn);
        finish(inst, 0);
    }
}

fn require_root(peer: Peer, what: &str) -> Result<(), Failure> {
    if peer.uid == 0 {
        Ok(())
    } else {
        Err(Failure::access_denied(what))
    }
}

fn lookup(inst: &Instance, name: &str) -> Result<DistroRecord, Failure> {
    inst.store.get(name).map_err(store_failure)
}

fn dispatch(
    inst: &Arc<Instance>,
    conn: &Conn,
    peer: Peer,
    req: Request,
    fds: Vec<OwnedFd>,
) -> Result<(), Failure> {
    match req {
        Request::Run(run) => run_command(inst, conn, peer, run, fds),
        Request::DebugShell { tty, term } => {
            require_root(peer, "open a debug shell in the utility VM")?;
            let _active = CountGuard::new(&inst.active, &inst.wake);
            let [stdin, stdout, stderr] = three_fds(fds)?;
            let mut notices = Vec::new();
            let vm = inst.ensure_vm(&mut notices);
            tell(&stderr, &notices);
            let vm = vm?;
            let spec = ProcessSpec {
                program: None,
                argv: vec!["/bin/sh".into()],
                env: base_env("root", "/root", "/bin/sh", term, None),
                cwd: Some(PathBuf::from("/")),
                uid: 0,
                gid: 0,
                groups: vec![],
                stdin,
                stdout,
                stderr,
                controlling_tty: tty,
                rlimits: Vec::new(),
                no_new_privs: false,
            };
            let process = vm.spawn(spec).map_err(|e| {
                Failure::service(format!("cannot start the debug shell: {e}"), "E_FAIL")
            })?;
            wait_process(conn, process)
        }
        Request::Registered { name } => {
            require_root(peer, "import distributions")?;
            let mut record = lookup(inst, &name)?;
            if let Some(note) = inst.prepare_storage(&record)? {
                let _ = conn.send(&ServerMessage::Stderr(note));
                record = lookup(inst, &name)?;
            }
            inst.plugins
                .on_distribution_registered(&inst.session, &inst.offline_info(&record));
            Ok(())
        }
        Request::Unregister { name } => {
            require_root(peer, "unregister distributions")?;
            let record = lookup(inst, &name)?;
            inst.unregister(&record)?;
            info!(distro = %record.name, "unregistered");
            Ok(())
        }
        Request::SetDefault { name } => {
            require_root(peer, "change the default distribution")?;
            inst.store.set_default(&name).map_err(store_failure)
        }
        Request::SetDefaultUser { name, user } => {
            require_root(peer, "change the default user of a distribution")?;
            let record = lookup(inst, &name)?;
            let found = wslp_distro::lookup_user(&record.rootfs, &user).map_err(|e| {
                Failure::service(
                    format!(
                        "User '{user}' was not found in distribution '{}': {e}",
                        record.name
                    ),
                    "ERROR_NOT_FOUND",
                )
            })?;
            inst.store
                .set_default_uid(&record.name, found.uid)
                .map_err(store_failure)?;
            info!(distro = %record.name, uid = found.uid, "default user set");
            Ok(())
        }
        Request::List { running_only } => {
            let list = inst.listing(running_only)?;
            conn.send(&ServerMessage::List(list)).map_err(io_failure)
        }
        Request::Terminate { name } => {
            require_root(peer, "terminate distributions")?;
            let record = lookup(inst, &name)?;
            inst.stop_distro(&record.id);
            Ok(())
        }
        Request::Shutdown => {
            require_root(peer, "shut the service down")?;
            inst.shutting_down.store(true, Ordering::SeqCst);
            crate::wslc::terminate_all(inst);
            inst.stop_vm();
            Ok(())
        }
        Request::Status => {
            let text = status_text(inst)?;
            conn.send(&ServerMessage::Stdout(text)).map_err(io_failure)
        }
        Request::Trace { plugins } => crate::tracer::serve(inst, conn, peer, plugins),
        Request::Wslc(r) => crate::wslc::serve(inst, conn, peer, r, fds),
        Request::VmLog => {
            let text = format!("{}\n", inst.paths.vm_log().display());
            conn.send(&ServerMessage::Stdout(text)).map_err(io_failure)
        }
    }
}

pub(crate) fn io_failure(e: ProtocolError) -> Failure {
    Failure::service(format!("lost the connection to the client: {e}"), "E_FAIL")
}

pub(crate) fn three_fds(fds: Vec<OwnedFd>) -> Result<[OwnedFd; 3], Failure> {
    <[OwnedFd; 3]>::try_from(fds).map_err(|v| {
        Failure::service(
            format!(
                "the request carried {} file descriptors instead of 3 (stdin, stdout, stderr)",
                v.len()
            ),
            "E_INVALIDARG",
        )
    })
}

/// The fresh environment of a command run as `user` (docs/choices.md).
pub fn base_env(
    user: &str,
    home: &str,
    shell: &str,
    term: Option<String>,
    lang: Option<String>,
) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), wslp_vm::DEFAULT_PATH.into()),
        ("HOME".into(), home.into()),
        ("USER".into(), user.into()),
        ("LOGNAME".into(), user.into()),
        ("SHELL".into(), shell.into()),
        ("TERM".into(), term.unwrap_or_else(|| "dumb".into())),
        ("LANG".into(), lang.unwrap_or_else(|| "C.UTF-8".into())),
    ]
}

/// Which user a command runs as: root may pick anyone; others run as
/// themselves, with the groups the kernel says they have (`groups`).
fn resolve_user(
    record: &DistroRecord,
    peer: Peer,
    groups: &[u32],
    requested: Option<&str>,
) -> Result<UserInfo, Failure> {
    let not_found = |who: &str, e: wslp_distro::DistroError| {
        Failure::service(
            format!(
                "User '{who}' was not found in distribution '{}': {e}",
                record.name
            ),
            "ERROR_NOT_FOUND",
        )
    };
    if peer.uid == 0 {
        return match requested {
            Some(u) => wslp_distro::lookup_user(&record.rootfs, u).map_err(|e| not_found(u, e)),
            None => Ok(wslp_distro::lookup_uid(&record.rootfs, record.default_uid)
                .unwrap_or_else(|_| fallback_user(record.default_uid, 0))),
        };
    }
    // The name, home and shell inside come from the distribution; the ids
    // and groups are the caller's own, whatever its files say.
    let mut own = wslp_distro::lookup_uid(&record.rootfs, peer.uid)
        .unwrap_or_else(|_| fallback_user(peer.uid, peer.gid));
    own.gid = peer.gid;
    own.groups = std::iter::once(peer.gid)
        .chain(groups.iter().copied())
        .fold(Vec::new(), |mut v, g| {
            if !v.contains(&g) {
                v.push(g);
            }
            v
        });
    if let Some(u) = requested {
        let wanted = wslp_distro::lookup_user(&record.rootfs, u).map_err(|e| not_found(u, e))?;
        if wanted.uid != peer.uid {
            return Err(Failure::access_denied("run commands as another user"));
        }
    }
    Ok(own)
}

/// Checks that `user`'s ids exist in the VM (`ns`), and drops supplementary
/// groups that do not: a gid the VM cannot name would grant nothing, and a
/// uid or primary gid it cannot name cannot run anything.
fn map_into(ns: &UserNamespace, user: &mut UserInfo, distro: &str) -> Result<(), Failure> {
    let range = |m: &[wslp_vm::IdRange]| {
        m.iter()
            .map(|l| format!("{}-{}", l.inside, l.inside as u64 + l.count as u64 - 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ns.host_uid(user.uid).is_none() {
        return Err(Failure::service(
            format!(
                "User '{}' of distribution '{distro}' has uid {}, which the utility VM does not have (its uids are {}). \
                 Run the command as a user whose uid is in that range.",
                user.name,
                user.uid,
                range(&ns.uid_map)
            ),
            "E_INVALIDARG",
        ));
    }
    if ns.host_gid(user.gid).is_none() {
        return Err(Failure::service(
            format!(
                "User '{}' of distribution '{distro}' has primary gid {}, which the utility VM does not have (its gids are {}). \
                 Run the command with a primary group in that range (for example with sg or newgrp).",
                user.name,
                user.gid,
                range(&ns.gid_map)
            ),
            "E_INVALIDARG",
        ));
    }
    user.groups.retain(|g| ns.host_gid(*g).is_some());
    Ok(())
}

fn fallback_user(uid: u32, gid: u32) -> UserInfo {
    UserInfo {
        name: uid.to_string(),
        uid,
        gid,
        groups: vec![],
        home: "/".into(),
        shell: "/bin/sh".into(),
    }
}

fn run_command(
    inst: &Arc<Instance>,
    conn: &Conn,
    peer: Peer,
    run: RunRequest,
    fds: Vec<OwnedFd>,
) -> Result<(), Failure> {
    let _active = CountGuard::new(&inst.active, &inst.wake);
    let [stdin, stdout, stderr] = three_fds(fds)?;
    let record = match &run.distribution {
        Some(name) => lookup(inst, name)?,
        None => inst.store.default().map_err(store_failure)?.ok_or_else(|| {
            Failure::service(
                "There is no default distribution. Import one with `wslp --import NAME DIR TARBALL`.",
                "WSL_E_DEFAULT_DISTRO_NOT_FOUND",
            )
        })?,
    };
    let groups = if peer.uid == 0 {
        Vec::new()
    } else {
        peer_groups(conn.stream()).map_err(|e| {
            Failure::service(
                format!("Cannot read the groups of the caller: {e}"),
                "E_FAIL",
            )
        })?
    };
    let mut user = resolve_user(&record, peer, &groups, run.user.as_deref())?;
    let mut notices = Vec::new();
    let running = inst.lease_distro(&record, &mut notices);
    tell(&stderr, &notices);
    let running = running?;
    // wsl.conf's `[user] default`, read at this start, wins over the stored
    // default user (SPEC §12); it only picks root's user, as `-u` does, and a
    // user the distribution lacks is the same error as with `-u`.
    if let (0, None, Some(name)) = (peer.uid, &run.user, &running.conf.default_user) {
        user = wslp_distro::lookup_user(&record.rootfs, name).map_err(|e| {
            Failure::service(
                format!(
                    "User '{name}' (the [user] default of {}) was not found in distribution '{}': {e}",
                    wslp_distro::WSL_CONF,
                    record.name
                ),
                "ERROR_NOT_FOUND",
            )
        })?;
    }
    if let Some(ids) = inst.vm_ids() {
        map_into(&ids.user_namespace, &mut user, &record.name)?;
    }
    // The caller's own limits, read from the process that connected (its
    // pidfd proves the pid still named it afterwards).
    // A per-user instance's owner connects from outside its pid namespace
    // (pid 0 here); their command keeps the limits the service got from
    // their session.
    let rlimits = if peer.pid > 0 {
        let pidfd = peer_pidfd(conn.stream()).ok().flatten();
        ResourceLimit::of_process(peer.pid, pidfd.as_ref().map(|f| f.as_fd())).map_err(|e| {
            Failure::service(format!("Cannot apply the caller's limits: {e}"), "E_FAIL")
        })?
    } else {
        Vec::new()
    };
    let argv = match run.command {
        RunCommand::LoginShell => vec![user.shell.clone(), "-l".into()],
        RunCommand::Exec(argv) if argv.is_empty() => vec![user.shell.clone(), "-l".into()],
        RunCommand::Exec(argv) => argv,
    };
    // Like a login: the home directory, or / when the distribution lacks it
    // (`nobody`'s /nonexistent). Only this choice looks at the host path.
    let home_exists = record
        .rootfs
        .join(user.home.trim_start_matches('/'))
        .is_dir();
    let cwd = match run.cwd.as_deref() {
        None if !home_exists => PathBuf::from("/"),
        None | Some("~") => PathBuf::from(&user.home),
        Some(d) if d.starts_with("~/") => PathBuf::from(&user.home).join(&d[2..]),
        Some(d) => PathBuf::from(d),
    };
    let mut env = base_env(&user.name, &user.home, &user.shell, run.term, run.lang);
    env.push(("WSL_DISTRO_NAME".into(), record.name.clone()));
    let spec = ProcessSpec {
        program: None,
        argv,
        env,
        cwd: Some(cwd),
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        stdin,
        stdout,
        stderr,
        controlling_tty: run.tty,
        rlimits,
        no_new_privs: peer.uid != 0,
    };
    let process = running
        .distro
        .spawn(spec)
        .map_err(|e| Failure::service(format!("{e}"), &wslp_abi::hresult_name(e.hresult())))?;
    wait_process(conn, process)
}

/// Writes what the start of the VM had to say (SPEC §9's networking
/// fallback) on the stderr the client passed: the terminal of an
/// interactive command (through its line discipline), or its redirection.
fn tell(stderr: &OwnedFd, notices: &[String]) {
    for n in notices {
        let _ = nix::unistd::write(stderr, format!("{n}\n").as_bytes());
    }
}

/// The signals a client may have forwarded to its command: those of a
/// terminal (interrupt, quit, hangup, suspend, continue, resize) and TERM.
pub const FORWARDED_SIGNALS: [i32; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGCONT,
    libc::SIGWINCH,
];

/// Tells the client the command started, forwards its signals, and reports the exit code.
fn wait_process(conn: &Conn, process: wslp_vm::Process) -> Result<(), Failure> {
    let process = Arc::new(process);
    conn.send(&ServerMessage::Started { pid: process.pid() })
        .map_err(io_failure)?;
    // The client's messages while the command runs are signals to forward; its
    // disconnect is a hangup. Only the signals a terminal or a user's `kill`
    // of wslp would send, and only to the command's own process group (it
    // leads one), through its pidfd: once it is reaped they reach nobody,
    // never a process that reused its pid.
    if let Ok(reader) = conn.try_clone() {
        let target = process.clone();
        std::thread::spawn(move || loop {
            match reader.recv::<ClientMessage>() {
                Ok((ClientMessage::Signal(sig), _)) if FORWARDED_SIGNALS.contains(&sig) => {
                    let _ = target.signal_group(sig);
                }
                Ok((ClientMessage::Signal(sig), _)) => {
                    debug!(sig, "signal not forwarded: not one a client may send");
                }
                Ok(_) => {}
                Err(_) => {
                    if target.try_wait().is_none() {
                        let _ = target.signal_group(libc::SIGHUP);
                    }
                    break;
                }
            }
        });
    }
    let code = process.wait().map_err(|e| Failure::service(e, "E_FAIL"))?;
    conn.send(&ServerMessage::Exited { code })
        .map_err(io_failure)?;
    // Stop the reader thread's interest: the client closes after Exited.
    let _ =
        nix::sys::socket::shutdown(conn.stream().as_raw_fd(), nix::sys::socket::Shutdown::Write);
    Ok(())
}

fn status_text(inst: &Instance) -> Result<String, Failure> {
    let mut out = String::new();
    let default = inst.store.default().map_err(store_failure)?;
    out.push_str(&format!(
        "Default distribution: {}\n",
        default.as_ref().map_or("(none)", |d| d.name.as_str())
    ));
    if let Some(d) = &default {
        let user = d.default_user().describe();
        out.push_str(&format!("Default user: {user}\n"));
    }
    out.push_str("Default version: 2\n");
    out.push_str(&format!(
        "Utility VM: {}\n",
        if inst.vm().is_some() {
            "Running"
        } else {
            "Stopped"
        }
    ));
    out.push_str(&format!(
        "Instance: {}\n",
        match crate::ids::entered() {
            None => "system (root's)".to_string(),
            Some(e) => {
                let uid = e.user_namespace.uid_map[0].outside;
                format!(
                    "per-user (uid {uid}; every process runs as uid {uid} or its subordinate ids)"
                )
            }
        }
    ));
    out.push_str(&format!("Root: {}\n", inst.paths.root.display()));
    out.push_str(&format!("Socket: {}\n", inst.paths.socket().display()));
    out.push_str(&format!("Networking: {}\n", inst.network_status()));
    let ids = match inst.vm_ids() {
        Some(ids) => Ok(ids),
        None => crate::ids::for_this_service(),
    };
    match ids {
        Ok(ids) => {
            // A per-user instance's VM ids are its own namespace's; the host
            // ids behind them are what its user wants to see.
            let shown = crate::ids::entered().unwrap_or(&ids);
            let lines = shown
                .user_namespace
                .uid_map
                .iter()
                .map(|l| {
                    format!(
                        "{}-{} are host ids {}-{}",
                        l.inside,
                        l.inside as u64 + l.count as u64 - 1,
                        l.outside,
                        l.outside as u64 + l.count as u64 - 1
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "User namespace: VM ids {lines} ({})\n",
                ids.source
            ));
        }
        Err(f) => out.push_str(&format!(
            "User namespace: none usable: {}\n",
            f.text.lines().next().unwrap_or_default()
        )),
    }
    out.push_str(&format!(
        "Signatures required: {}\n",
        if inst.settings.require_signatures {
            "yes"
        } else {
            "no (test signing)"
        }
    ));
    let plugins = inst.plugins.plugins();
    if plugins.is_empty() {
        out.push_str("Plugins: none\n");
    } else {
        out.push_str("Plugins:\n");
        for (name, path, state) in plugins {
            let s = match state {
                Ok(()) => "loaded".to_string(),
                Err(hr) => format!("failed ({})", wslp_abi::hresult_name(hr)),
            };
            out.push_str(&format!("  {name}  {}  {s}\n", path.display()));
        }
    }
    Ok(out)
}
