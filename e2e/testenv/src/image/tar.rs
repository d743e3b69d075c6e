//! A minimal writer of POSIX ustar archives: folders and regular files, owned by root, with a
//! fixed modification time so the same inputs give the same bytes (and the same digests).

/// One archive entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A folder, path without a trailing slash.
    Dir { path: String, mode: u32 },
    /// A regular file.
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
}

const BLOCK: usize = 512;

/// The archive holding `entries`, in order, ended by two zero blocks.
pub fn archive(entries: &[Entry]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            Entry::Dir { path, mode } => {
                out.extend(header(&format!("{path}/"), *mode, 0, b'5')?);
            }
            Entry::File { path, mode, data } => {
                out.extend(header(path, *mode, data.len() as u64, b'0')?);
                out.extend(data);
                out.resize(out.len().next_multiple_of(BLOCK), 0);
            }
        }
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

fn header(path: &str, mode: u32, size: u64, kind: u8) -> anyhow::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_path(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0); // mtime
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    Ok(h)
}

/// ustar keeps names up to 100 bytes, with a prefix of up to 155 split at a `/`.
fn split_path(path: &str) -> anyhow::Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    let cut = path[..path.len().min(156)]
        .rfind('/')
        .filter(|i| path.len() - i - 1 <= 100)
        .ok_or_else(|| anyhow::anyhow!("path too long for a tar header: {path}"))?;
    Ok((&path[..cut], &path[cut + 1..]))
}

/// Writes `value` as zero-padded octal filling all but the last byte, which stays NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_padded_to_blocks_with_a_valid_checksum() -> anyhow::Result<()> {
        let bytes = archive(&[
            Entry::Dir {
                path: "usr".into(),
                mode: 0o755,
            },
            Entry::File {
                path: "usr/x".into(),
                mode: 0o755,
                data: b"hello".to_vec(),
            },
        ])?;
        assert_eq!(bytes.len(), 512 * 5);
        assert_eq!(&bytes[..4], b"usr/");
        let file = &bytes[512..1024];
        assert_eq!(&file[..5], b"usr/x");
        assert_eq!(&file[124..135], b"00000000005");
        assert_eq!(&file[257..262], b"ustar");
        let stored = u32::from_str_radix(std::str::from_utf8(&file[148..154])?, 8)?;
        let mut blank = file.to_vec();
        blank[148..156].fill(b' ');
        assert_eq!(stored, blank.iter().map(|b| u32::from(*b)).sum::<u32>());
        assert_eq!(&bytes[1024..1029], b"hello");
        Ok(())
    }

    #[test]
    fn long_paths_use_the_prefix_field() -> anyhow::Result<()> {
        let dir = "d".repeat(80);
        let path = format!("{dir}/{}", "f".repeat(60));
        let (prefix, name) = split_path(&path)?;
        assert_eq!((prefix, name.len()), (dir.as_str(), 60));
        assert!(split_path(&"x".repeat(300)).is_err());
        Ok(())
    }
}
