//! Utility VM backends (Linux namespaces first) and the runtime of distributions inside the VM.
