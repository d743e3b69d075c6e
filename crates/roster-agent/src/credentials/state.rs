//! The state folder: where the agent keeps its current hub token, written atomically.

use std::{
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use super::error::CredentialError;

/// Name of the token file in the state folder.
pub const TOKEN_FILE: &str = "hub-token";

/// Creates the state folder (owner-only) and returns the token file's absolute path.
pub(super) fn state_file(dir: &Path) -> Result<PathBuf, CredentialError> {
    let state = |source| CredentialError::State {
        path: dir.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(state)?;
    Ok(std::fs::canonicalize(dir).map_err(state)?.join(TOKEN_FILE))
}

/// Writes `content` to `path` so that readers see the old or the new file, never a part.
pub(super) fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_replaced_whole_and_private() {
        let dir = std::env::temp_dir().join(format!("roster-agent-test-{}", std::process::id()));
        let path = state_file(&dir).unwrap();
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
