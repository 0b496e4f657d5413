//! WSL API versions and the minimum-version check of the entry point.

use crate::error::Error;
use crate::sys::WSLVersion;
use wslp_abi::hresult::WSL_E_PLUGIN_REQUIRES_UPDATE;

/// A WSL API version (`Api->Version`): what the host implements, not the
/// host's product version. wslp reports 2.9.5.
///
/// Versions order as WSL compares them in `WSL_PLUGIN_REQUIRE_VERSION`:
/// major, then minor, then revision.
///
/// ```
/// use wslp_sdk::Version;
/// assert!(Version::new(2, 1, 2) < Version::new(2, 9, 5));
/// assert!(Version::new(2, 10, 0) > Version::new(2, 9, 5));
/// assert_eq!(Version::new(2, 0, 5).to_string(), "2.0.5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Revision.
    pub revision: u32,
}

impl Version {
    /// WSL 2.0.5 added `WSLDistributionInformation::InitPid`.
    pub const INIT_PID: Version = Version::new(2, 0, 5);
    /// WSL 2.1.2 added `ExecuteBinaryInDistribution` and the registration hooks.
    pub const DISTRIBUTION_API: Version = Version::new(2, 1, 2);
    /// WSL 2.4.4 added `Flavor` and `Version` to the distribution information.
    pub const FLAVOR: Version = Version::new(2, 4, 4);
    /// WSL 2.9.0 added WSLC: its session, container and image hooks and its calls.
    pub const WSLC_API: Version = Version::new(2, 9, 0);
    /// WSL 2.9.5 added the WslcVmStarted and WslcVmStopping hooks.
    pub const WSLC_VM_HOOKS: Version = Version::new(2, 9, 5);

    /// A version from its three parts.
    pub const fn new(major: u32, minor: u32, revision: u32) -> Self {
        Version {
            major,
            minor,
            revision,
        }
    }
}

impl From<WSLVersion> for Version {
    fn from(v: WSLVersion) -> Self {
        Version::new(v.Major, v.Minor, v.Revision)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
    }
}

/// The entry point's version check: `Ok` when `host` is at least `required`,
/// otherwise `WSL_E_PLUGIN_REQUIRES_UPDATE`, which the host reports as "the
/// plugin requires a newer version".
///
/// ```
/// use wslp_sdk::{version::require, Version};
/// assert!(require(Version::new(2, 9, 5), Version::new(2, 1, 2)).is_ok());
/// let err = require(Version::new(2, 0, 5), Version::new(2, 1, 2)).unwrap_err();
/// assert_eq!(err.name(), "WSL_E_PLUGIN_REQUIRES_UPDATE");
/// ```
pub fn require(host: Version, required: Version) -> Result<(), Error> {
    if host >= required {
        Ok(())
    } else {
        Err(Error::with_message(
            WSL_E_PLUGIN_REQUIRES_UPDATE,
            format!("the plugin needs WSL API {required} or newer; the host implements {host}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `WSL_PLUGIN_REQUIRE_VERSION` of the C header, transcribed.
    fn c_macro_fails(host: Version, req: Version) -> bool {
        host.major < req.major
            || (host.major == req.major && host.minor < req.minor)
            || (host.major == req.major && host.minor == req.minor && host.revision < req.revision)
    }

    #[test]
    fn boundaries() {
        let host = Version::new(2, 9, 5);
        assert!(require(host, Version::new(2, 9, 5)).is_ok());
        assert!(require(host, Version::new(0, 0, 0)).is_ok());
        assert!(require(host, Version::new(2, 9, 6)).is_err());
        assert!(require(host, Version::new(2, 10, 0)).is_err());
        assert!(require(host, Version::new(3, 0, 0)).is_err());
        // A higher minor wins over a lower revision.
        assert!(require(Version::new(2, 10, 0), Version::new(2, 9, 9)).is_ok());
        let e = require(Version::new(1, 0, 0), host).unwrap_err();
        assert_eq!(e.code() as u32, 0x8004032A);
    }

    proptest! {
        #[test]
        fn matches_the_c_macro(a in (0u32..4, 0u32..12, 0u32..8), b in (0u32..4, 0u32..12, 0u32..8)) {
            let host = Version::new(a.0, a.1, a.2);
            let req = Version::new(b.0, b.1, b.2);
            prop_assert_eq!(require(host, req).is_err(), c_macro_fails(host, req));
        }
    }
}
