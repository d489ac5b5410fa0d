//! Telling a supervisor how the server is doing, as Redis's `supervised` directive does.
//! Under systemd (`supervised systemd`, or `auto` when systemd's `NOTIFY_SOCKET` is set) a
//! unit of `Type=notify` learns from datagrams on that socket when the server is ready to
//! accept connections (`READY=1`, with a `STATUS=` line) and when it begins to stop
//! (`STOPPING=1`). `upstart` and `no` send nothing.

use crate::config::Config;

/// Where to tell systemd, if the configuration asks for it and systemd is listening.
pub struct Supervisor {
    socket: Option<String>,
}

impl Supervisor {
    /// From `supervised` and the environment.
    pub fn from_config(config: &Config) -> Supervisor {
        let mode = config.get("supervised").unwrap_or_default();
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty() && (mode == "systemd" || mode == "auto"));
        if mode == "systemd" && socket.is_none() {
            tracing::warn!(
                "systemd supervision requested or auto-detected, but NOTIFY_SOCKET not found!"
            );
        }
        Supervisor { socket }
    }

    /// The dataset is loaded and clients are served.
    pub fn ready(&self) {
        self.send("STATUS=Ready to accept connections\n");
        self.send("READY=1\n");
    }

    /// Shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1\n");
    }

    fn send(&self, state: &str) {
        let Some(path) = &self.socket else {
            return;
        };
        if let Err(e) = send_datagram(path, state.as_bytes()) {
            tracing::warn!("Can't send notification to systemd: {e}");
        }
    }
}

/// One datagram to `path` (a leading `@` names a Linux abstract socket).
fn send_datagram(path: &str, msg: &[u8]) -> std::io::Result<usize> {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let sock = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(msg, &addr)
        }
        _ => sock.send_to(msg, path),
    }
}
