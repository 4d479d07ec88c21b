//! One module per subcommand group.

pub(crate) mod demo;
pub(crate) mod gateway;
mod inner_header;
pub(crate) mod logging;
pub(crate) mod milter;
pub(crate) mod pgp;
pub(crate) mod policy;
pub(crate) mod relay;
pub(crate) mod resolver;
pub(crate) mod smime;
pub(crate) mod tls;

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::failure::Failure;

/// Reads an input file, `-` meaning standard input.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|error| Failure::input("standard input", &error))?;
    } else {
        bytes = std::fs::read(path).map_err(|error| Failure::input(display(path), &error))?;
    }
    Ok(bytes)
}

/// How an input path is named in messages.
pub(crate) fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The passphrase held in the environment variable a `--pass-env` option
/// names, if one is named.
pub(crate) fn passphrase_from_env(
    variable: Option<&str>,
) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
    let Some(variable) = variable else {
        return Ok(None);
    };
    let value = std::env::var_os(variable).ok_or_else(|| {
        Failure::Usage(format!(
            "--pass-env: environment variable {variable} is not set"
        ))
    })?;
    Ok(Some(Zeroizing::new(value.into_encoded_bytes())))
}

/// Standard input as a file when it is a regular file (`< in.eml`), which
/// can be read twice; `None` for a pipe, a terminal or a socket.
pub(crate) fn stdin_file() -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let file = std::fs::File::from(fd);
    file.metadata().ok()?.is_file().then_some(file)
}
