//! The wslpd service: owns the VM, the distributions and the plugins of one WSLP_ROOT, and serves the CLI over a Unix socket.
