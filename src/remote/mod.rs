//! Devices on another machine: burn's remote backend over WebSocket, a laptop driving a GPU
//! server. The client side ([`connect`]) makes `--device remote:ws://HOST:PORT` one more
//! device: every tensor operation goes to the server as burn IR, the autodiff tape, the run
//! directory and the checkpoints stay here. [`serve`] is the other end.
//!
//! Both ends need the same token: `serve` generates one (or reads `--token-file`), and a
//! client passes it with `--token-file FILE`, `DARTS_PT_TOKEN_FILE` or `DARTS_PT_TOKEN`.

pub mod serve;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::remote::{ConnectError, RemoteHost};
use burn::tensor::Device;

/// The environment variable naming a token file, read when no `--token-file` is given.
pub const TOKEN_FILE_ENV: &str = "DARTS_PT_TOKEN_FILE";
/// The environment variable holding the token itself.
pub const TOKEN_ENV: &str = "DARTS_PT_TOKEN";

/// A token file's content: one line, surrounding whitespace ignored.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_string())
}

/// The token a client presents: `--token-file`, else the environment's, else none.
fn client_token(token_file: Option<&Path>) -> Result<Option<String>> {
    if let Some(path) = token_file {
        return read_token(path).map(Some);
    }
    if let Some(path) = std::env::var_os(TOKEN_FILE_ENV) {
        return read_token(&PathBuf::from(path)).map(Some);
    }
    Ok(std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// Opens a session on the `darts-pt serve` process at `url` (`ws://HOST:PORT`). Connecting
/// is eager, so a server that is not there, or refuses the token, is reported here, before a
/// run directory is touched.
pub fn connect(url: &str, token_file: Option<&Path>) -> Result<Device> {
    let token = client_token(token_file)?;
    let mut host = RemoteHost::websocket(url);
    if let Some(t) = &token {
        host = host.with_credential(t.as_str());
    }
    Device::remote_options(&host)
        .init()
        .map_err(|e| anyhow::anyhow!(explain(url, &e, token.is_some())))
}

/// What a failed connection means for the person at the keyboard.
fn explain(url: &str, e: &ConnectError, has_token: bool) -> String {
    match e {
        ConnectError::Unauthorized if !has_token => format!(
            "the server at {url} wants a token and none was given: pass the one `darts-pt serve` \
             printed with --token-file FILE (or {TOKEN_FILE_ENV} / {TOKEN_ENV})"
        ),
        ConnectError::Unauthorized => format!(
            "the server at {url} refused this token: use the one `darts-pt serve` printed (or \
             the file it was started with --token-file)"
        ),
        ConnectError::Unreachable { reason } => format!(
            "nothing answers at {url} ({reason}): is `darts-pt serve` running there, and the \
             SSH tunnel open if you use one?"
        ),
        ConnectError::IncompatibleProtocol { .. } => format!(
            "the server at {url} runs another burn release ({e}): use the same darts-pt version \
             on both machines"
        ),
        e => format!("cannot open a session at {url}: {e}"),
    }
}
