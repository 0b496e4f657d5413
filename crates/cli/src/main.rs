//! `wslp`: the command line of wslp, in the manner of `wsl.exe`.

#![deny(unsafe_code)]

mod args;
mod commands;
mod elf;
mod ldso;
mod session;

use args::{Cli, Sub};
use clap::Parser;
use commands::run::RunArgs;
use wslp_ipc::protocol::RunCommand;

fn main() {
    default_sigpipe();
    let cli = Cli::parse();
    let code = dispatch(cli);
    std::process::exit(code);
}

/// `wslp -l | head -1` ends quietly, as any Unix tool does, rather than with a
/// panic on the broken pipe (the Rust runtime ignores SIGPIPE). Frames to the
/// service never raise it (MSG_NOSIGNAL), so losing the service is still an
/// error message, not a silent death.
#[allow(unsafe_code)]
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler; nothing else runs yet.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn report(r: anyhow::Result<i32>) -> i32 {
    match r {
        Ok(c) => c,
        Err(e) => session::fail_code(&format!("{e:#}"), "E_FAIL", 1),
    }
}

fn dispatch(cli: Cli) -> i32 {
    if let Some(sub) = cli.sub {
        return report(match sub {
            Sub::Plugin(a) => commands::plugin::run(a),
            Sub::Cert(a) => commands::cert::run(a),
            Sub::Sign(a) => commands::sign::run(a),
            Sub::Verify(a) => commands::verify::run(a),
            Sub::Trust(a) => commands::trust::run(a),
            Sub::Container(a) => return commands::wslc::container(a),
            Sub::Image(a) => return commands::wslc::image(a),
            Sub::Session(a) => return commands::wslc::session(a),
            Sub::Completions { shell } => return commands::docs::completions(shell),
            Sub::Man { dir } => return commands::docs::man(&dir),
        });
    }
    if let (true, Some(file)) = (cli.install, &cli.from_file) {
        return commands::install::run(file, cli.name.as_deref(), cli.location.as_deref());
    }
    if let Some(v) = &cli.export {
        return commands::import::export(&v[0], &v[1], cli.format.as_deref());
    }
    if let Some(v) = &cli.import {
        let version = cli.version.flatten();
        return commands::import::run(&v[0], &v[1], &v[2], version);
    }
    if let Some(v) = cli.version {
        if v.is_some() {
            return session::fail_code("--version N only goes with --import.", "E_INVALIDARG", 2);
        }
        return commands::admin::version();
    }
    if cli.list {
        return commands::list::run(cli.verbose, cli.running, cli.quiet);
    }
    if let Some(n) = cli.unregister {
        return commands::admin::unregister(n);
    }
    if let (Some(name), Some(user)) = (cli.manage, cli.set_default_user) {
        return commands::admin::set_default_user(name, user);
    }
    if let Some(n) = cli.set_default {
        return commands::admin::set_default(n);
    }
    if let Some(n) = cli.terminate {
        return commands::admin::terminate(n);
    }
    if cli.shutdown {
        return commands::admin::shutdown();
    }
    if cli.status {
        return commands::admin::status();
    }
    if cli.vm_log {
        return commands::admin::vm_log();
    }
    if cli.debug_shell {
        return commands::run::debug_shell();
    }
    if cli.exec.is_some() && !cli.command.is_empty() {
        return session::fail_code(
            "Use either -e CMD ARGS… or -- CMD ARGS…, not both.",
            "E_INVALIDARG",
            2,
        );
    }
    let command = match cli.exec.or(Some(cli.command).filter(|c| !c.is_empty())) {
        Some(argv) => RunCommand::Exec(argv),
        None => RunCommand::LoginShell,
    };
    if let Some(code) = commands::install::first_run_pending(cli.distribution.as_deref()) {
        if code != 0 {
            return code;
        }
    }
    commands::run::run(RunArgs {
        distribution: cli.distribution,
        user: cli.user,
        cwd: cli.cd,
        command,
    })
}
