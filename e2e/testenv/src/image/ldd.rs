//! The shared libraries a dynamically linked binary loads, as `ldd` reports them.

use std::{path::Path, process::Command};

use anyhow::Context;

/// Absolute paths of the libraries (the dynamic loader included) `binary` needs; empty for a
/// static binary.
pub fn libraries(binary: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // ldd says "not a dynamic executable" (exit 1) for static binaries.
        let err = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        anyhow::bail!("ldd {}: {err}", binary.display());
    }
    parse(&text)
}

/// Parses `ldd` output: `name => /path (addr)` and `/path (addr)` lines; the vDSO has no file.
pub fn parse(text: &str) -> anyhow::Result<Vec<String>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not found") {
            anyhow::bail!("a library is missing: {line}");
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libs.push(path.to_owned());
        }
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_glibc_binaries() -> anyhow::Result<()> {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        assert_eq!(
            parse(text)?,
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2",
            ]
        );
        Ok(())
    }

    #[test]
    fn a_missing_library_is_an_error() {
        assert!(parse("\tlibfoo.so.1 => not found\n").is_err());
    }
}
