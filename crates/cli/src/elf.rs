//! What `wslp plugin check` reads from an ELF file, with the `object` crate:
//! class, machine and type, the dynamic section (DT_NEEDED, DT_RPATH,
//! DT_RUNPATH, DT_SONAME, DF_1_PIE), the dynamic symbols it defines and those
//! it needs, its symbol versions (needed and defined), and its interpreter.
//! Nothing here trusts the file: anything malformed is an [`ElfError`].

use std::collections::HashSet;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, Sym};
use object::{Endianness, FileKind};

/// The entry point every plugin exports (SPEC §3).
pub const ENTRY_POINT: &str = "WSLPluginAPIV1_EntryPoint";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("a malformed ELF file: {0}")]
    Malformed(String),
}

fn bad(e: impl std::fmt::Display) -> ElfError {
    ElfError::Malformed(e.to_string())
}

/// How the file offers [`ENTRY_POINT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPoint {
    /// Defined, global or weak, default or protected visibility: `dlsym` finds it.
    Exported,
    /// Defined but not visible to `dlsym` (hidden or internal visibility, or a
    /// local symbol): built with `-fvisibility=hidden` and not marked
    /// `__declspec(dllexport)`, or `static`.
    NotExported,
    /// Only a C++-mangled name containing it (`extern "C"` forgotten).
    Mangled(String),
    /// Undefined, or not there at all.
    Missing,
}

/// What the check needs of one ELF file.
#[derive(Debug, Clone)]
pub struct ElfInfo {
    pub is_64: bool,
    pub big_endian: bool,
    pub machine: u16,
    pub e_type: u16,
    /// DT_FLAGS_1 has DF_1_PIE: a position-independent executable, which
    /// `dlopen` refuses although its type is ET_DYN.
    pub pie: bool,
    /// DT_FLAGS_1 has DF_1_NODEFLIB: the loader skips its default directories.
    pub nodeflib: bool,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    /// DT_RPATH, split at `:`, `$ORIGIN` and the like not yet expanded.
    pub rpath: Vec<String>,
    /// DT_RUNPATH, likewise; its presence turns DT_RPATH off.
    pub runpath: Option<Vec<String>>,
    /// PT_INTERP.
    pub interp: Option<String>,
    /// Dynamic symbols it defines that other objects can bind to.
    pub exports: HashSet<String>,
    /// Dynamic symbols it needs from others: (name, weak).
    pub imports: Vec<(String, bool)>,
    /// Versions it needs: (file, version, weak).
    pub version_needs: Vec<(String, String, bool)>,
    /// Versions it defines (not its base version).
    pub version_defs: HashSet<String>,
    pub entry_point: EntryPoint,
}

/// `"x86-64"`, `"AArch64"`, … for an `e_machine`.
pub fn machine_name(machine: u16) -> String {
    match machine {
        elf::EM_386 => "i386".into(),
        elf::EM_X86_64 => "x86-64".into(),
        elf::EM_ARM => "32-bit ARM".into(),
        elf::EM_AARCH64 => "AArch64".into(),
        elf::EM_RISCV => "RISC-V".into(),
        elf::EM_PPC => "PowerPC".into(),
        elf::EM_PPC64 => "64-bit PowerPC".into(),
        elf::EM_S390 => "s390".into(),
        elf::EM_MIPS => "MIPS".into(),
        elf::EM_LOONGARCH => "LoongArch".into(),
        other => format!("machine {other}"),
    }
}

/// The `e_machine` and class of plugins this build of wslp loads.
pub fn host_machine() -> (u16, bool) {
    match std::env::consts::ARCH {
        "x86_64" => (elf::EM_X86_64, true),
        "aarch64" => (elf::EM_AARCH64, true),
        "x86" => (elf::EM_386, false),
        "arm" => (elf::EM_ARM, false),
        "riscv64" => (elf::EM_RISCV, true),
        "powerpc64" => (elf::EM_PPC64, true),
        "s390x" => (elf::EM_S390, true),
        "loongarch64" => (elf::EM_LOONGARCH, true),
        _ => (0, cfg!(target_pointer_width = "64")),
    }
}

impl ElfInfo {
    /// `ELF 64-bit shared object, x86-64`.
    pub fn describe(&self) -> String {
        let kind = match (self.e_type, self.pie) {
            (elf::ET_DYN, true) => "position-independent executable",
            (elf::ET_DYN, false) => "shared object",
            (elf::ET_EXEC, _) => "executable",
            (elf::ET_REL, _) => "relocatable object (.o)",
            (elf::ET_CORE, _) => "core dump",
            _ => "file of unknown type",
        };
        format!(
            "ELF {}-bit {}{}, {}",
            if self.is_64 { 64 } else { 32 },
            if self.big_endian { "big-endian " } else { "" },
            kind,
            machine_name(self.machine)
        )
    }

    /// Whether this machine's loader could map it at all.
    pub fn matches_host(&self) -> bool {
        let (machine, is_64) = host_machine();
        self.machine == machine
            && self.is_64 == is_64
            && self.big_endian == cfg!(target_endian = "big")
    }
}

/// Reads `data` as an ELF file.
pub fn read(data: &[u8]) -> Result<ElfInfo, ElfError> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf32) => read_as::<elf::FileHeader32<Endianness>>(data),
        Ok(FileKind::Elf64) => read_as::<elf::FileHeader64<Endianness>>(data),
        _ if data.starts_with(&elf::ELFMAG) => Err(bad("its header cannot be read")),
        _ => Err(ElfError::NotElf),
    }
}

fn read_as<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfInfo, ElfError> {
    let header = Elf::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let mut info = ElfInfo {
        is_64: header.is_type_64(),
        big_endian: endian == Endianness::Big,
        machine: header.e_machine(endian),
        e_type: header.e_type(endian),
        pie: false,
        nodeflib: false,
        soname: None,
        needed: vec![],
        rpath: vec![],
        runpath: None,
        interp: None,
        exports: HashSet::new(),
        imports: vec![],
        version_needs: vec![],
        version_defs: HashSet::new(),
        entry_point: EntryPoint::Missing,
    };
    for ph in header.program_headers(endian, data).map_err(bad)? {
        if ph.p_type(endian) == elf::PT_INTERP {
            if let Ok(Some(bytes)) = ph.interpreter(endian, data) {
                info.interp = Some(String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }
    let sections = header.sections(endian, data).map_err(bad)?;
    let dynamic = sections.dynamic_table(endian, data).map_err(bad)?;
    let split = |s: &[u8]| {
        String::from_utf8_lossy(s)
            .split(':')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for d in dynamic.iter() {
        let string = || dynamic.string(d).map_err(bad);
        match d.tag {
            elf::DT_NEEDED => info
                .needed
                .push(String::from_utf8_lossy(string()?).into_owned()),
            elf::DT_SONAME => info.soname = Some(String::from_utf8_lossy(string()?).into_owned()),
            elf::DT_RPATH => info.rpath.extend(split(string()?)),
            elf::DT_RUNPATH => info
                .runpath
                .get_or_insert_with(Vec::new)
                .extend(split(string()?)),
            elf::DT_FLAGS_1 => {
                info.pie = d.val & u64::from(elf::DF_1_PIE) != 0;
                info.nodeflib = d.val & u64::from(elf::DF_1_NODEFLIB) != 0;
            }
            _ => {}
        }
    }
    let dynsyms = sections
        .symbols(endian, data, elf::SHT_DYNSYM)
        .map_err(bad)?;
    let mut entry = EntryPoint::Missing;
    for sym in dynsyms.iter().skip(1) {
        let name =
            String::from_utf8_lossy(dynsyms.symbol_name(endian, sym).map_err(bad)?).into_owned();
        if name.is_empty() {
            continue;
        }
        let bind = sym.st_bind();
        let visible = matches!(sym.st_visibility(), elf::STV_DEFAULT | elf::STV_PROTECTED)
            && matches!(bind, elf::STB_GLOBAL | elf::STB_WEAK | elf::STB_GNU_UNIQUE);
        if sym.is_undefined(endian) {
            if bind != elf::STB_LOCAL {
                info.imports.push((name, bind == elf::STB_WEAK));
            }
            continue;
        }
        if name == ENTRY_POINT {
            entry = if visible {
                EntryPoint::Exported
            } else {
                EntryPoint::NotExported
            };
        } else if entry == EntryPoint::Missing
            && name.starts_with("_Z")
            && name.contains(ENTRY_POINT)
        {
            entry = EntryPoint::Mangled(name.clone());
        }
        if visible {
            info.exports.insert(name);
        }
    }
    if entry == EntryPoint::Missing {
        // Defined only in the full symbol table: a local (static) function.
        let symtab = sections
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(bad)?;
        let local = symtab.iter().any(|s| {
            !s.is_undefined(endian)
                && symtab
                    .symbol_name(endian, s)
                    .is_ok_and(|n| n == ENTRY_POINT.as_bytes())
        });
        if local {
            entry = EntryPoint::NotExported;
        }
    }
    info.entry_point = entry;
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        while let Some((need, mut auxes)) = needs.next().map_err(bad)? {
            let file =
                String::from_utf8_lossy(need.file(endian, strings).map_err(bad)?).into_owned();
            while let Some(aux) = auxes.next().map_err(bad)? {
                let version =
                    String::from_utf8_lossy(aux.name(endian, strings).map_err(bad)?).into_owned();
                let weak = aux.vna_flags.get(endian) & elf::VER_FLG_WEAK != 0;
                info.version_needs.push((file.clone(), version, weak));
            }
        }
    }
    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        while let Some((def, mut auxes)) = defs.next().map_err(bad)? {
            if def.vd_flags.get(endian) & elf::VER_FLG_BASE != 0 {
                continue;
            }
            if let Some(aux) = auxes.next().map_err(bad)? {
                info.version_defs.insert(
                    String::from_utf8_lossy(aux.name(endian, strings).map_err(bad)?).into_owned(),
                );
            }
        }
    }
    Ok(info)
}

/// What the check says of a file that is not ELF: its first bytes, and what it
/// looks like when that is easy to tell.
pub fn sniff(data: &[u8]) -> String {
    let head: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let looks = if data.starts_with(b"MZ") {
        " (a Windows PE file: build the plugin on Linux as a .so)"
    } else if data.starts_with(b"#!") {
        " (a script)"
    } else if data.starts_with(b"!<arch>") {
        " (a static library archive: link it into a shared object)"
    } else if data.is_empty() {
        " (the file is empty)"
    } else {
        ""
    };
    format!(
        "it starts with {}{looks}",
        if head.is_empty() {
            "nothing".into()
        } else {
            head.join(" ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_program_reads_as_elf_of_this_machine() {
        let data = std::fs::read("/proc/self/exe").unwrap();
        let info = read(&data).unwrap();
        assert!(info.matches_host(), "{}", info.describe());
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(info.interp.is_some());
        assert!(info.imports.iter().any(|(n, _)| n == "malloc"));
    }

    #[test]
    fn other_files_are_not_elf() {
        assert_eq!(read(b"MZ\x90\x00").unwrap_err(), ElfError::NotElf);
        assert_eq!(read(b"").unwrap_err(), ElfError::NotElf);
        assert!(matches!(
            read(b"\x7fELF\x02\x01\x01").unwrap_err(),
            ElfError::Malformed(_)
        ));
        assert!(sniff(b"MZ\x90\x00rest").contains("Windows PE"));
    }

    proptest::proptest! {
        /// Any bytes, including a real ELF file with some bytes changed, read
        /// as a value or an error, never a panic.
        #[test]
        fn any_bytes_read_without_panicking(
            flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 0..16)
        ) {
            // The dynamic loader: a real shared object, and a small one.
            static LDSO: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            let mut data = LDSO
                .get_or_init(|| {
                    let exe = read(&std::fs::read("/proc/self/exe").unwrap()).unwrap();
                    std::fs::read(exe.interp.unwrap()).unwrap()
                })
                .clone();
            for (at, b) in flips {
                let n = data.len();
                data[at % n] = b;
            }
            let _ = read(&data);
        }
    }
}
