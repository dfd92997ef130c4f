//! Shell completions and man pages for both binaries, generated from their clap definitions.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Why the assets could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error("failed to write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// The clap definitions of the two binaries.
pub fn commands() -> [clap::Command; 2] {
    [
        crate::cli::Cli::command(),
        crate::launcher::plan::RawArgs::command(),
    ]
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), AssetsError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|cause| AssetsError::Write {
            path: parent.to_owned(),
            cause,
        })?;
    }
    std::fs::write(&path, bytes).map_err(|cause| AssetsError::Write { path, cause })
}

/// Man page of one command (section 1), listing its subcommands.
pub fn man_page(cmd: clap::Command) -> Vec<u8> {
    let mut page = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut page);
    page
}

/// Writes `completions/{sandprobe,sandbox-run}.{bash,zsh,fish}` and `man/man1/*.1` under `out`.
pub fn write_all(out: &Path) -> Result<(), AssetsError> {
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut script);
            let file = match shell {
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.{shell}"),
            };
            write(out.join("completions").join(file), &script)?;
        }
        write(
            out.join("man/man1").join(format!("{name}.1")),
            &man_page(cmd.clone()),
        )?;
        // One page per visible subcommand, as `man sandprobe-check`.
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let sub_name = format!("{name}-{}", sub.get_name());
            let page = man_page(sub.clone().name(sub_name.clone()));
            write(out.join("man/man1").join(format!("{sub_name}.1")), &page)?;
        }
    }
    Ok(())
}
