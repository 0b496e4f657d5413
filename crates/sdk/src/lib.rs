//! Safe Rust SDK for WSL plugins: the Plugin trait, the export macro and a safe wrapper around the API table.
