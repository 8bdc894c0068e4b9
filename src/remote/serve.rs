//! `darts-pt serve`: this machine's device for remote clients, through burn's remote server.
//!
//! Safe by default: it listens on 127.0.0.1 unless told another address, and every session
//! must present the token (a random one unless `--token-file` names one). The transport is
//! plaintext WebSocket, so across machines it belongs inside an SSH tunnel. A client can only
//! send tensor operations: nothing on the server touches files, and a malformed operation
//! ends that client's session, not the server.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::server::telemetry::{TelemetryEvent, TelemetryProbe};
use burn::server::{
    AuthorizationRequest, PeerAuthorizer, RemoteServer, TokenAuthorizer, WebSocketTransport,
};
use burn::tensor::Device;
use rand::RngExt;

/// What to serve and where.
#[derive(Clone, Debug)]
pub struct ServeRequest {
    /// The local device the server computes on, and what to call it.
    pub device: Device,
    pub description: String,
    /// The address to listen on (127.0.0.1 unless the user says otherwise).
    pub listen: IpAddr,
    /// The port; 0 lets the system choose one (printed).
    pub port: u16,
    /// The token clients must present; `None` generates one.
    pub token: Option<String>,
}

/// A fresh token: 32 random bytes from the system's generator, as hex.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves until Ctrl-C or SIGTERM, printing the address, how clients pass the token, and
/// each session that opens, is refused or closes.
pub fn serve(req: ServeRequest) -> Result<()> {
    let listener = TcpListener::bind((req.listen, req.port))
        .with_context(|| format!("cannot listen on {}:{}", req.listen, req.port))?;
    let addr = listener.local_addr()?;
    let generated = req.token.is_none();
    let token = req.token.unwrap_or_else(generate_token);
    let authorizer =
        TokenAuthorizer::new(token.as_str()).map_err(|_| anyhow::anyhow!("the token is empty"))?;
    announce(&req.description, addr, &token, generated);

    let (probe, mut sessions) = TelemetryProbe::channel(1 << 16);
    std::thread::Builder::new()
        .name("serve-sessions".into())
        .spawn(move || {
            while let Some(event) = pollster::block_on(sessions.recv()) {
                report_session(&event);
            }
        })?;
    let server = RemoteServer::new([req.device.clone()])
        .with_authorizer(logged(authorizer))
        .with_telemetry(probe);
    let server = crate::kernels::remote::with_kernels(server, &req.device);
    server
        .serve(WebSocketTransport::from_listener(listener))
        .map_err(|e| anyhow::anyhow!("the server stopped: {e}"))?;
    eprintln!("server stopped");
    Ok(())
}

/// The lines a user needs to connect; flushed at once, since tests and scripts read them.
fn announce(device: &str, addr: SocketAddr, token: &str, generated: bool) {
    let url = format!("ws://{addr}");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "serving {device} at {url}");
    if generated {
        let _ = writeln!(out, "token: {token}");
        let _ = writeln!(
            out,
            "clients: DARTS_PT_TOKEN={token} darts-pt search --device remote:{url} ... \
             (or save the token in a file and pass --token-file FILE)"
        );
    } else {
        let _ = writeln!(
            out,
            "clients: darts-pt search --device remote:{url} --token-file FILE ... (the same token)"
        );
    }
    if addr.ip().is_loopback() {
        let _ = writeln!(
            out,
            "only this machine can connect; from another one, tunnel: ssh -N -L {p}:localhost:{p} THIS_HOST",
            p = addr.port()
        );
    } else {
        let _ = writeln!(
            out,
            "warning: listening beyond this machine over plaintext WebSocket; the token stops \
             stray clients, not someone reading the traffic (prefer 127.0.0.1 and an SSH tunnel)"
        );
    }
    let _ = out.flush();
}

/// The token check, with a line per decision.
fn logged(auth: TokenAuthorizer) -> impl PeerAuthorizer {
    let auth = Arc::new(auth);
    move |request: AuthorizationRequest<'_>| {
        let client = request.client;
        let verdict = auth.authorize(request);
        match &verdict {
            Ok(()) => eprintln!("{client}: token accepted"),
            Err(_) => eprintln!("{client}: refused (wrong or missing token)"),
        }
        verdict
    }
}

fn report_session(event: &TelemetryEvent) {
    match event {
        TelemetryEvent::SessionOpened { session, device } => {
            eprintln!("session {session} opened (device {device})")
        }
        TelemetryEvent::SessionClosed { session } => eprintln!("session {session} closed"),
        _ => {}
    }
}
