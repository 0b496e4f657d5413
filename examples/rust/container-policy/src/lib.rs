//! A container-policy plugin for WSLC (SPEC §11): it refuses every container
//! labelled `wslp.example/deny=true` in ContainerStarted (the container is
//! stopped and `wslp container run` fails with the plugin's message), logs
//! each image that comes and goes, and checks, each time a session's VM
//! starts, that the engine's VM answers a process it starts itself.

#[cfg(unix)]
mod policy {
    use wslp_sdk::wslc::{Container, Image, WslcSession};
    use wslp_sdk::{hresult, Api, Error, Plugin, Result};

    /// The label that refuses a container.
    pub const DENY_LABEL: &str = "wslp.example/deny";

    pub struct ContainerPolicy {
        api: Api,
    }

    impl Plugin for ContainerPolicy {
        fn new(api: Api) -> Result<Self> {
            Ok(ContainerPolicy { api })
        }

        fn on_container_started(&self, _s: &WslcSession<'_>, c: &Container) -> Result<()> {
            if c.label(DENY_LABEL) == Some("true") {
                return Err(Error::with_message(
                    hresult::E_ACCESSDENIED,
                    format!(
                        "container '{}' ({}) is labelled {DENY_LABEL}=true",
                        c.name(),
                        c.image()
                    ),
                ));
            }
            log::info!("container '{}' of {} allowed", c.name(), c.image());
            Ok(())
        }

        fn on_image_created(&self, s: &WslcSession<'_>, image: &Image) -> Result<()> {
            log::info!(
                "session {}: image {} {:?} created",
                s.name(),
                image.id(),
                image.repo_tags()
            );
            Ok(())
        }

        fn on_image_deleted(&self, s: &WslcSession<'_>, id: &str) -> Result<()> {
            log::info!("session {}: image {id} deleted", s.name());
            Ok(())
        }

        fn on_wslc_vm_started(&self, s: &WslcSession<'_>) -> Result<()> {
            // A sensor would start here; this one checks the VM answers.
            let p = self
                .api
                .wslc_create_process(s.id(), "/bin/uname", &["uname", "-r"], &[])?;
            let mut out = String::new();
            std::io::Read::read_to_string(&mut p.stdout()?, &mut out)
                .map_err(|e| Error::with_message(hresult::E_FAIL, e.to_string()))?;
            let code = p.wait(None)?;
            log::info!(
                "session {}: VM up, kernel {} (exit {code:?})",
                s.name(),
                out.trim()
            );
            Ok(())
        }
    }

    wslp_sdk::export_plugin!(ContainerPolicy, min_version = (2, 9, 5));
}
