//! The Docker Engine API of a session's dockerd, behind blocking calls.
//!
//! bollard is asynchronous; the service is made of plain threads. Each
//! [`Engine`] owns a single-threaded tokio runtime and blocks on it, so a
//! caller never sees a future and several threads may call at once (they
//! take turns driving the one connection pool).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ImportImageOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::WslcError;

/// Seconds a single Engine API request may take (a large `load` streams
/// for longer than a ping, hence generous).
const REQUEST_TIMEOUT_S: u64 = 600;

/// A client of one engine.
pub struct Engine {
    docker: Docker,
    rt: tokio::runtime::Runtime,
}

/// A container to run.
#[derive(Debug, Clone, Default)]
pub struct ContainerRun {
    pub image: String,
    /// Empty: the image's command.
    pub cmd: Vec<String>,
    pub name: Option<String>,
    pub labels: HashMap<String, String>,
    pub env: Vec<String>,
    /// `none`, `host` (the session VM's network, the default) …
    pub network_mode: Option<String>,
    /// Keep the container's stdin open for an attached client (`run -i`).
    pub interactive: bool,
}

/// What a container that ran to its end printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    pub id: String,
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Engine {
    /// Connects to the engine at `socket` and agrees on an API version with
    /// it (Debian 12's dockerd speaks 1.41, older than bollard's default).
    pub fn connect(socket: &Path) -> Result<Engine, WslcError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| WslcError::io("starting the engine client's runtime", e))?;
        let path = socket
            .to_str()
            .ok_or_else(|| WslcError::Engine(format!("{} is not UTF-8", socket.display())))?;
        let docker = rt.block_on(async {
            let d =
                Docker::connect_with_unix(path, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?;
            d.negotiate_version().await
        })?;
        let engine = Engine { docker, rt };
        engine.ping()?;
        Ok(engine)
    }

    pub fn ping(&self) -> Result<(), WslcError> {
        self.rt.block_on(self.docker.ping())?;
        Ok(())
    }

    /// The engine's version string (`20.10.24+dfsg1`).
    pub fn version(&self) -> Result<String, WslcError> {
        let v = self.rt.block_on(self.docker.version())?;
        Ok(v.version.unwrap_or_default())
    }

    /// `docker import FILE REPO[:TAG]`: a rootfs tarball (plain or
    /// compressed) becomes an image; returns its id.
    pub fn import_image(&self, tarball: &Path, reference: &str) -> Result<String, WslcError> {
        let file = std::fs::File::open(tarball)
            .map_err(|e| WslcError::io(format!("opening {}", tarball.display()), e))?;
        self.import_image_from(file, reference)
    }

    /// [`Engine::import_image`] from an open file (a client's descriptor).
    pub fn import_image_from(&self, file: File, reference: &str) -> Result<String, WslcError> {
        let (repo, tag) = split_reference(reference);
        let body = bollard::body_try_stream(file_stream(file));
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        self.rt.block_on(async {
            let mut s = self.docker.create_image(Some(options), Some(body), None);
            while s.try_next().await?.is_some() {}
            Ok::<_, bollard::errors::Error>(())
        })?;
        let image = self.rt.block_on(self.docker.inspect_image(reference))?;
        Ok(image.id.unwrap_or_default())
    }

    /// `docker load -i FILE`: returns the ids of the images it loaded.
    pub fn load_images(&self, tarball: &Path) -> Result<Vec<String>, WslcError> {
        let file = std::fs::File::open(tarball)
            .map_err(|e| WslcError::io(format!("opening {}", tarball.display()), e))?;
        self.load_images_from(file)
    }

    /// [`Engine::load_images`] from an open file (a client's descriptor).
    pub fn load_images_from(&self, file: File) -> Result<Vec<String>, WslcError> {
        let body = bollard::body_try_stream(file_stream(file));
        let lines = self.rt.block_on(async {
            let mut s = self
                .docker
                .import_image(ImportImageOptions::default(), body, None);
            let mut lines = Vec::new();
            while let Some(info) = s.try_next().await? {
                if let Some(l) = info.stream {
                    lines.push(l);
                }
            }
            Ok::<_, bollard::errors::Error>(lines)
        })?;
        // "Loaded image: bb:1" or "Loaded image ID: sha256:…", one per image.
        let mut ids = Vec::new();
        for l in lines {
            let l = l.trim();
            let named = l
                .strip_prefix("Loaded image ID: ")
                .or_else(|| l.strip_prefix("Loaded image: "));
            if let Some(name) = named {
                let image = self.rt.block_on(self.docker.inspect_image(name))?;
                ids.extend(image.id);
            }
        }
        Ok(ids)
    }

    /// The engine's inspect output of an image, as JSON.
    pub fn inspect_image(&self, name: &str) -> Result<serde_json::Value, WslcError> {
        let image = self.rt.block_on(self.docker.inspect_image(name))?;
        serde_json::to_value(image).map_err(|e| WslcError::Engine(e.to_string()))
    }

    /// The engine's inspect output of a container, as JSON.
    pub fn inspect_container(&self, name: &str) -> Result<serde_json::Value, WslcError> {
        let c = self
            .rt
            .block_on(self.docker.inspect_container(name, None))?;
        serde_json::to_value(c).map_err(|e| WslcError::Engine(e.to_string()))
    }

    /// Removes an image; returns the image ids the engine deleted (not the
    /// layers it deleted with them).
    pub fn remove_image(&self, name: &str) -> Result<Vec<String>, WslcError> {
        let options = bollard::query_parameters::ListImagesOptions {
            all: true,
            ..Default::default()
        };
        let images: std::collections::HashSet<String> = self
            .rt
            .block_on(self.docker.list_images(Some(options)))?
            .into_iter()
            .map(|i| i.id)
            .collect();
        let gone = self.rt.block_on(self.docker.remove_image(
            name,
            None::<RemoveImageOptions>,
            None,
        ))?;
        Ok(gone
            .into_iter()
            .filter_map(|g| g.deleted)
            .filter(|id| images.contains(id))
            .collect())
    }

    /// Creates a container; returns its id.
    pub fn create_container(&self, run: &ContainerRun) -> Result<String, WslcError> {
        let body = ContainerCreateBody {
            image: Some(run.image.clone()),
            cmd: (!run.cmd.is_empty()).then(|| run.cmd.clone()),
            labels: (!run.labels.is_empty()).then(|| run.labels.clone()),
            env: (!run.env.is_empty()).then(|| run.env.clone()),
            open_stdin: Some(run.interactive),
            attach_stdin: Some(run.interactive),
            stdin_once: Some(run.interactive),
            host_config: Some(HostConfig {
                network_mode: Some(run.network_mode.clone().unwrap_or_else(|| "host".into())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: run.name.clone(),
            ..Default::default()
        };
        let r = self
            .rt
            .block_on(self.docker.create_container(Some(options), body))?;
        Ok(r.id)
    }

    pub fn start_container(&self, id: &str) -> Result<(), WslcError> {
        self.rt.block_on(self.docker.start_container(id, None))?;
        Ok(())
    }

    /// Waits for a container to stop; returns its exit code.
    pub fn wait_container(&self, id: &str) -> Result<i64, WslcError> {
        self.rt.block_on(async {
            let mut s = self.docker.wait_container(id, None);
            match s.next().await {
                Some(Ok(r)) => Ok(r.status_code),
                // bollard turns a non-zero exit into an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Ok(code)
                }
                Some(Err(e)) => Err(e.into()),
                None => Err(WslcError::Engine(format!(
                    "the engine ended the wait for container {id} without an exit code"
                ))),
            }
        })
    }

    /// Everything the container wrote so far, stdout and stderr apart.
    pub fn logs(&self, id: &str) -> Result<(Vec<u8>, Vec<u8>), WslcError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        self.rt.block_on(async {
            let mut s = self.docker.logs(id, Some(options));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some(chunk) = s.try_next().await? {
                match chunk {
                    bollard::container::LogOutput::StdErr { message } => {
                        err.extend_from_slice(&message)
                    }
                    other => out.extend_from_slice(&other.into_bytes()),
                }
            }
            Ok((out, err))
        })
    }

    /// Stops a container: SIGTERM, then SIGKILL after `grace_s` seconds.
    pub fn stop_container(&self, id: &str, grace_s: i32) -> Result<(), WslcError> {
        let options = bollard::query_parameters::StopContainerOptions {
            t: Some(grace_s),
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.stop_container(id, Some(options)))?;
        Ok(())
    }

    pub fn remove_container(&self, id: &str, force: bool) -> Result<(), WslcError> {
        let options = RemoveContainerOptions {
            force,
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.remove_container(id, Some(options)))?;
        Ok(())
    }

    /// Create, start, wait, collect the output, remove: `docker run --rm`.
    pub fn run_to_end(&self, run: &ContainerRun) -> Result<RunOutput, WslcError> {
        let id = self.create_container(run)?;
        let result = (|| {
            self.start_container(&id)?;
            let exit_code = self.wait_container(&id)?;
            let (stdout, stderr) = self.logs(&id)?;
            Ok(RunOutput {
                id: id.clone(),
                exit_code,
                stdout,
                stderr,
            })
        })();
        let _ = self.remove_container(&id, true);
        result
    }
}

impl Engine {
    /// Containers as `(id, image, command, status, name)`, running ones only
    /// unless `all`.
    pub fn list_containers(&self, all: bool) -> Result<Vec<ContainerSummary>, WslcError> {
        let options = bollard::query_parameters::ListContainersOptions {
            all,
            ..Default::default()
        };
        let list = self
            .rt
            .block_on(self.docker.list_containers(Some(options)))?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                command: c.command.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
            })
            .collect())
    }

    /// Images as `(id, repo tags, size in bytes)`.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>, WslcError> {
        let list = self.rt.block_on(
            self.docker
                .list_images(None::<bollard::query_parameters::ListImagesOptions>),
        )?;
        Ok(list
            .into_iter()
            .map(|i| ImageSummary {
                id: i.id,
                repo_tags: i.repo_tags,
                size: i.size,
            })
            .collect())
    }

    /// Sends SIGKILL to a running container.
    pub fn kill_container(&self, id: &str) -> Result<(), WslcError> {
        self.rt.block_on(
            self.docker
                .kill_container(id, None::<bollard::query_parameters::KillContainerOptions>),
        )?;
        Ok(())
    }

    /// Attaches to a created container's output (and its stdin when
    /// `stdin`), before it starts, so none of its output is missed.
    pub fn attach(&self, id: &str, stdin: bool) -> Result<Attached, WslcError> {
        let options = bollard::query_parameters::AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            stdin,
            ..Default::default()
        };
        let a = self
            .rt
            .block_on(self.docker.attach_container(id, Some(options)))?;
        Ok(Attached {
            output: a.output,
            input: a.input,
        })
    }

    /// Passes a started container's output to `stdout`/`stderr` as it comes,
    /// and `stdin` to it, until its output ends (it exited).
    pub fn pump(
        &self,
        attached: Attached,
        stdin: Option<File>,
        mut stdout: File,
        mut stderr: File,
    ) -> Result<(), WslcError> {
        let Attached {
            mut output,
            mut input,
        } = attached;
        // The client's stdin, read on a thread of its own (a blocking
        // descriptor) that also ends when the run does, whoever holds the
        // other end of the client's stdin.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let (stop_r, stop_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| WslcError::io("creating a pipe", e.into()))?;
        if let Some(stdin) = stdin {
            std::thread::Builder::new()
                .name("wslc-stdin".into())
                .spawn(move || pump_stdin(stdin, stop_r, tx))
                .map_err(|e| WslcError::io("starting the stdin thread", e))?;
        } else {
            drop(tx);
        }
        self.rt.block_on(async {
            use tokio::io::AsyncWriteExt;
            let mut stdin_open = true;
            loop {
                tokio::select! {
                    chunk = output.next() => match chunk {
                        Some(Ok(bollard::container::LogOutput::StdErr { message })) => {
                            let _ = stderr.write_all(&message);
                        }
                        Some(Ok(other)) => {
                            let _ = stdout.write_all(&other.into_bytes());
                        }
                        Some(Err(_)) | None => break,
                    },
                    data = rx.recv(), if stdin_open => match data {
                        Some(d) => {
                            if input.write_all(&d).await.is_err() {
                                stdin_open = false;
                            }
                        }
                        None => {
                            stdin_open = false;
                            let _ = input.shutdown().await;
                        }
                    },
                }
            }
        });
        drop(stop_w);
        Ok(())
    }

    /// `docker exec`: runs `cmd` in a running container with its output (and
    /// `stdin` when given) passed through; its exit code.
    pub fn exec(
        &self,
        id: &str,
        cmd: &[String],
        stdin: Option<File>,
        stdout: File,
        stderr: File,
    ) -> Result<i64, WslcError> {
        let config = bollard::models::ExecConfig {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let created = self.rt.block_on(self.docker.create_exec(id, config))?;
        let started = self
            .rt
            .block_on(self.docker.start_exec(&created.id, None))?;
        let bollard::exec::StartExecResults::Attached { output, input } = started else {
            return Err(WslcError::Engine("the engine detached the exec".into()));
        };
        self.pump(Attached { output, input }, stdin, stdout, stderr)?;
        let inspect = self.rt.block_on(self.docker.inspect_exec(&created.id))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    /// Blocks until the engine goes away, calling `on_death` with the id of
    /// each container that stops (the events stream's `die`).
    pub fn watch_deaths(&self, mut on_death: impl FnMut(&str)) {
        let filters: HashMap<String, Vec<String>> = [
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["die".to_string()]),
        ]
        .into();
        let options = bollard::query_parameters::EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        self.rt.block_on(async {
            let mut events = self.docker.events(Some(options));
            while let Some(Ok(e)) = events.next().await {
                if let Some(id) = e.actor.and_then(|a| a.id) {
                    on_death(&id);
                }
            }
        });
    }
}

/// Copies `stdin` into `tx` until it ends, the receiver goes, or `stop`
/// (the read end of a pipe) is closed on its other end.
fn pump_stdin(mut stdin: File, stop: std::os::fd::OwnedFd, tx: tokio::sync::mpsc::Sender<Vec<u8>>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        if fds[1].any().unwrap_or(true) {
            return;
        }
        match stdin.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.blocking_send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        }
    }
}

/// An attachment to a container's (or an exec's) stdio ([`Engine::attach`]).
pub struct Attached {
    output: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                > + Send,
        >,
    >,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// One line of `container ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    pub image: String,
    pub command: String,
    pub status: String,
    pub name: String,
    pub running: bool,
}

/// One image of `image ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub size: i64,
}

/// `repo[:tag]`, the tag `latest` when none is given. A `:` before the last
/// `/` belongs to a registry's port, not a tag.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

/// A file as a stream of 1 MiB chunks, read as the request goes.
fn file_stream(
    file: File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_repo_and_tag() {
        assert_eq!(split_reference("bb"), ("bb", "latest"));
        assert_eq!(split_reference("bb:1"), ("bb", "1"));
        assert_eq!(
            split_reference("localhost:5000/bb"),
            ("localhost:5000/bb", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/bb:2"),
            ("localhost:5000/bb", "2")
        );
    }
}
