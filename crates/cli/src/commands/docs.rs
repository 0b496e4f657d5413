//! `wslp completions SHELL` and the man pages, both from the clap definition
//! itself so they never drift from `--help`.

use crate::args::Cli;
use clap::CommandFactory;
use std::path::Path;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut Cli::command(), "wslp", &mut std::io::stdout());
    0
}

/// `wslp.1`, and `wslp-plugin.1`, `wslp-plugin-add.1`… for every subcommand.
pub fn man(dir: &Path) -> i32 {
    match write_pages(&Cli::command(), dir, "wslp") {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "wslp: cannot write the man pages into {}: {e}",
                dir.display()
            );
            1
        }
    }
}

fn write_pages(cmd: &clap::Command, dir: &Path, name: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // clap takes names as &'static str; this process writes a few pages and exits.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let cmd = cmd
        .clone()
        .name(leak(name.to_owned()))
        .bin_name(leak(name.replace('-', " ")));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, &format!("{name}-{}", sub.get_name()))?;
    }
    Ok(())
}
