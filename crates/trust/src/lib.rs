//! Signing and verification of plugin files: CMS signatures appended to the ELF, certificates and the trust store.
