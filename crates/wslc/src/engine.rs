//! The Docker Engine API of a session's dockerd, behind blocking calls.
//!
//! bollard is asynchronous; the service is made of plain threads. Each
//! [`Engine`] owns a single-threaded tokio runtime and blocks on it, so a
//! caller never sees a future and several threads may call at once (they
//! take turns driving the one connection pool).

use std::collections::HashMap;
use std::io::Read;
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
}

/// What a container that ran to its end printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    pub id: String,
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A change the engine reports on its events stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// `container` or `image`.
    pub kind: String,
    /// `start`, `die`, `load`, `delete`, `import`, …
    pub action: String,
    pub id: String,
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
        let (repo, tag) = split_reference(reference);
        let body = bollard::body_try_stream(file_stream(tarball)?);
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
        let body = bollard::body_try_stream(file_stream(tarball)?);
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

    /// Removes an image; returns the ids the engine deleted.
    pub fn remove_image(&self, name: &str) -> Result<Vec<String>, WslcError> {
        let gone = self.rt.block_on(self.docker.remove_image(
            name,
            None::<RemoveImageOptions>,
            None,
        ))?;
        Ok(gone.into_iter().filter_map(|g| g.deleted).collect())
    }

    /// Creates a container; returns its id.
    pub fn create_container(&self, run: &ContainerRun) -> Result<String, WslcError> {
        let body = ContainerCreateBody {
            image: Some(run.image.clone()),
            cmd: (!run.cmd.is_empty()).then(|| run.cmd.clone()),
            labels: (!run.labels.is_empty()).then(|| run.labels.clone()),
            env: (!run.env.is_empty()).then(|| run.env.clone()),
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
    path: &Path,
) -> Result<
    impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    WslcError,
> {
    let file = std::fs::File::open(path)
        .map_err(|e| WslcError::io(format!("opening {}", path.display()), e))?;
    Ok(futures_util::stream::unfold(
        Some(file),
        |state| async move {
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
        },
    ))
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
