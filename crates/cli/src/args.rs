//! The command line, in the manner of `wsl.exe`: its flags where it has them,
//! subcommands for what it does not (plugins, signing, trust).

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "wslp",
    about = "Run WSL plugins and distributions on Linux, in the manner of wsl.exe.",
    long_about = "Run WSL plugins and distributions on Linux, in the manner of wsl.exe.\n\n\
Without options, runs the login shell of the default distribution. The service (wslpd) \
is started on demand; everything lives under $WSLP_ROOT (default /var/lib/wslp for root, \
~/.local/share/wslp, a private per-user instance, for anyone else).",
    after_help = "Examples:\n  \
sudo wslp --import Debian /srv/debian rootfs.tar.gz   register a distribution from a rootfs tarball\n  \
wslp --import Mine ~/distros/mine rootfs.tar.gz       the same in your own instance, no root\n  \
wslp -l -v                                            list distributions with state, version (and default user)\n  \
wslp -d Debian -- uname -a                            run a command (no shell in between)\n  \
wslp -d Debian -u root --cd /etc -e ls -la            as another user, in another directory\n  \
sudo wslp --manage Debian --set-default-user dev      commands without -u run as dev\n  \
sudo wslp --export Debian debian.tar.zst              back a distribution up (import it again with --import)\n  \
sudo wslp --install --from-file tiny.wsl --name Tiny  install a .wsl file, running its first-run command\n  \
wslp plugin check /opt/demo/libdemo.so                would this plugin load and run here?\n  \
sudo wslp plugin add Demo /opt/demo/libdemo.so        register a plugin (after `wslp --shutdown`)\n  \
sudo wslp plugin trace Demo                           every hook and API call of Demo, live\n  \
wslp image import rootfs.tar.gz bb:1                  a WSLC image from a rootfs tarball (your session)\n  \
wslp container run --rm bb:1 echo hi                  a container in the session's VM, its output and exit code\n  \
wslp --status                                         default distribution, VM, plugins",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Run in the distribution NAME instead of the default one.
    #[arg(short = 'd', long = "distribution", value_name = "NAME")]
    pub distribution: Option<String>,

    /// Run as USER (a name or uid from the distribution's /etc/passwd; root only for other users).
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Working directory inside the distribution (`~` is the user's home).
    #[arg(long = "cd", value_name = "DIR")]
    pub cd: Option<String>,

    /// Execute CMD with ARGS directly, without the login shell.
    #[arg(short = 'e', long = "exec", value_name = "CMD", num_args = 1.., allow_hyphen_values = true)]
    pub exec: Option<Vec<String>>,

    /// List distributions.
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// With --list: show NAME, STATE and VERSION columns (and DEFAULT USER when one is not root).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// With --list: only running distributions.
    #[arg(long = "running")]
    pub running: bool,

    /// With --list: names only.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Register a distribution from a rootfs tarball (plain, gzip, xz or zstd; `-` reads stdin).
    #[arg(long = "import", num_args = 3, value_names = ["NAME", "DIR", "TARBALL"])]
    pub import: Option<Vec<String>>,

    /// Install a distribution from a .wsl file (with --from-file): its
    /// /etc/wsl-distribution.conf gives the name, default user and first-run command.
    #[arg(long = "install", requires = "from_file")]
    pub install: bool,

    /// With --install: the .wsl file (a rootfs tarball).
    #[arg(long = "from-file", value_name = "FILE", requires = "install")]
    pub from_file: Option<String>,

    /// With --install: the name, instead of the file's [oobe] defaultName.
    #[arg(long = "name", value_name = "NAME", requires = "install")]
    pub name: Option<String>,

    /// With --install: where its files go (default $WSLP_ROOT/distros/NAME).
    #[arg(long = "location", value_name = "DIR", requires = "install")]
    pub location: Option<String>,

    /// Write the files of distribution NAME to FILE as a tarball (`-` is stdout); the
    /// distribution is stopped first.
    #[arg(long = "export", num_args = 2, value_names = ["NAME", "FILE"])]
    pub export: Option<Vec<String>>,

    /// With --export: tar, tar.gz, tar.xz or tar.zst (default: from FILE's ending, else tar).
    #[arg(long = "format", value_name = "FORMAT", requires = "export")]
    pub format: Option<String>,

    /// Without a value: print versions. With --import: the WSL version (only 2).
    #[arg(long = "version", num_args = 0..=1, value_name = "2")]
    pub version: Option<Option<u32>>,

    /// Unregister a distribution and delete its files.
    #[arg(long = "unregister", value_name = "NAME")]
    pub unregister: Option<String>,

    /// Make NAME the default distribution.
    #[arg(short = 's', long = "set-default", value_name = "NAME")]
    pub set_default: Option<String>,

    /// Change a setting of the distribution NAME (with --set-default-user).
    #[arg(long = "manage", value_name = "NAME", requires = "set_default_user")]
    pub manage: Option<String>,

    /// With --manage: the user of commands without -u (a name of the distribution's
    /// /etc/passwd; /etc/wsl.conf's [user] default wins over it).
    #[arg(long = "set-default-user", value_name = "USER", requires = "manage")]
    pub set_default_user: Option<String>,

    /// Stop the distribution NAME.
    #[arg(short = 't', long = "terminate", value_name = "NAME")]
    pub terminate: Option<String>,

    /// Stop every distribution, the utility VM and the service.
    #[arg(long = "shutdown")]
    pub shutdown: bool,

    /// Show the default distribution, the VM's state and the plugins.
    #[arg(long = "status")]
    pub status: bool,

    /// Print the VM log (dmesg of the utility VM: stderr of plugins' ExecuteBinary processes).
    #[arg(long = "vm-log")]
    pub vm_log: bool,

    /// An interactive root shell in the utility VM's root namespace (root only).
    #[arg(long = "debug-shell")]
    pub debug_shell: bool,

    /// The command to run and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD ARGS")]
    pub command: Vec<String>,

    #[command(subcommand)]
    pub sub: Option<Sub>,
}

#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Register, remove and list plugins (plugins.toml; changes apply at the next service start), trace and check them.
    Plugin(crate::commands::plugin::Args),
    /// Create code-signing certificates.
    Cert(crate::commands::cert::Args),
    /// Sign a plugin (append or replace its signature).
    Sign(crate::commands::sign::Args),
    /// Check a plugin's signature against the trust store (exit 0 when signed and trusted).
    Verify(crate::commands::verify::Args),
    /// Manage the trusted signing certificates.
    Trust(crate::commands::trust::Args),
    /// WSLC containers in a session's VM: run, start, stop, kill, rm, inspect, logs, ls.
    Container(crate::commands::wslc::ContainerArgs),
    /// WSLC images of a session: load, import, rm, ls, inspect.
    Image(crate::commands::wslc::ImageArgs),
    /// WSLC sessions: list, terminate.
    Session(crate::commands::wslc::SessionArgs),
    /// Print a shell completion script: `wslp completions bash > /etc/bash_completion.d/wslp`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (wslp.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}
