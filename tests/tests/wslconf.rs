//! A distribution's /etc/wsl.conf and default user (SPEC §12), as a user of
//! WSL shapes them: read at each start of the distribution.

use wslp_e2e::*;

fn write_conf(dir: &std::path::Path, text: &str) {
    std::fs::write(dir.join("rootfs/etc/wsl.conf"), text).unwrap();
}

#[test]
fn wsl_conf_sets_the_default_user_hostname_network_files_and_boot_command() {
    let env = Env::new();
    let dir = env.import("D");
    write_conf(
        &dir,
        "# as WSL reads it\n[user]\ndefault = user\n\n[boot]\ncommand = echo booted-by-wsl-conf > /tmp/boot; id -u >> /tmp/boot\n\
         [network]\nhostname = conf-host\ngenerateHosts = false\n",
    );
    // A hosts file of the distribution's own, which must be left alone.
    std::fs::write(dir.join("rootfs/etc/hosts"), "127.0.0.1 mine\n").unwrap();
    let o = env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "id -un; hostname; cat /tmp/boot; cat /etc/hosts",
    ]);
    assert_eq!(
        o,
        "user\nconf-host\nbooted-by-wsl-conf\n0\n127.0.0.1 mine\n"
    );
    // resolv.conf, not switched off, is generated as usual.
    let resolv = std::fs::read_to_string(dir.join("rootfs/etc/resolv.conf")).unwrap();
    assert!(resolv.contains("generateResolvConf = false"), "{resolv}");
    // -u still picks anyone (root's), and the boot command ran before the
    // first command, once per start.
    assert_eq!(
        env.ok(&["-d", "D", "-u", "root", "--", "id", "-un"]),
        "root\n"
    );
    let log = env.ok(&["--vm-log"]);
    assert!(
        log.contains("the boot command of /etc/wsl.conf finished"),
        "{log}"
    );
}

#[test]
fn a_bad_line_of_wsl_conf_is_reported_in_the_vm_log_and_skipped() {
    let env = Env::new();
    let dir = env.import("D");
    write_conf(
        &dir,
        "[network\nhostname = broken\n[user]\ndefault = user\n",
    );
    assert_eq!(env.ok(&["-d", "D", "--", "id", "-un"]), "user\n");
    let log = env.ok(&["--vm-log"]);
    assert!(
        log.contains("distribution 'D': /etc/wsl.conf:1: section must be ended with ']'; the line is ignored"),
        "{log}"
    );
}

#[test]
fn a_failing_boot_command_is_logged_and_the_start_goes_on() {
    let env = Env::new();
    let dir = env.import("D");
    write_conf(&dir, "[boot]\ncommand = echo about-to-fail; exit 3\n");
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "served"]), "served\n");
    let log = env.ok(&["--vm-log"]);
    assert!(log.contains("about-to-fail"), "{log}");
    assert!(
        log.contains("the boot command of /etc/wsl.conf exited with 3"),
        "{log}"
    );
}

#[test]
fn manage_sets_a_default_user_that_wsl_conf_overrides() {
    let env = Env::new();
    let dir = env.import("D");
    assert_eq!(env.ok(&["-d", "D", "--", "id", "-u"]), "0\n");
    env.ok(&["--manage", "D", "--set-default-user", "user"]);
    assert_eq!(env.ok(&["-d", "D", "--", "id", "-un"]), "user\n");
    assert!(env
        .ok(&["--status"])
        .contains("Default user: user (uid 1000)\n"));
    assert_eq!(
        env.ok(&["-l", "-v"]),
        "  NAME    STATE           VERSION    DEFAULT USER\n* D       Running         2          user\n"
    );
    // A user the distribution does not have: refused, nothing changes.
    let o = env.wslp(&["--manage", "D", "--set-default-user", "nobody-here"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("User 'nobody-here' was not found in distribution 'D'"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.ok(&["-d", "D", "--", "id", "-un"]), "user\n");
    // wsl.conf wins, from the next start of the distribution.
    write_conf(&dir, "[user]\ndefault=root\n");
    env.ok(&["-t", "D"]);
    assert_eq!(env.ok(&["-d", "D", "--", "id", "-un"]), "root\n");
    assert!(env
        .ok(&["--status"])
        .contains("Default user: root (from /etc/wsl.conf)\n"));
    // Every distribution starts as root again: wsl.exe's three columns.
    assert_eq!(
        env.ok(&["-l", "-v"]),
        "  NAME    STATE           VERSION\n* D       Running         2\n"
    );
    // Only root changes it.
    let user = test_user();
    env.open_to_users();
    let o = env
        .cmd_as(&user)
        .args(["--manage", "D", "--set-default-user", "root"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("E_ACCESSDENIED"), "{}", stderr(&o));
}

#[test]
fn a_default_user_the_distribution_lacks_is_an_error_naming_it_as_with_u() {
    let env = Env::new();
    let dir = env.import("D");
    write_conf(&dir, "[user]\ndefault = ghost\n");
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "User 'ghost' (the [user] default of /etc/wsl.conf) was not found in distribution 'D'"
        ),
        "{}",
        stderr(&o)
    );
    let o = env.wslp(&["-d", "D", "-u", "ghost", "--", "true"]);
    assert!(
        stderr(&o).contains("User 'ghost' was not found in distribution 'D'"),
        "{}",
        stderr(&o)
    );
    // -u still works, so root can mend the file.
    assert_eq!(env.ok(&["-d", "D", "-u", "root", "--", "id", "-u"]), "0\n");
}
