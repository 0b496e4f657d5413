//! Distributions on disk: the registry of imported distributions and the safe import of rootfs tarballs.
