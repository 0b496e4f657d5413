//! The plugin manager: reads the registry, loads and verifies plugins, dispatches hooks and serves the plugin API.
