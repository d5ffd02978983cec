//! The engine's local HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /status` (JSON).
//!
//! A deliberately tiny HTTP/1.1 server (one request per connection, GET only): it serves two
//! snapshots the engine refreshes every second, on loopback by default, and pulls in no web
//! framework for that. Also the client side: where a running engine serves, and its `/status`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the endpoint serves, replaced as a whole every second.
#[derive(Default)]
pub struct Snapshot {
    pub status_json: String,
    pub metrics_text: String,
}

pub async fn serve(listener: TcpListener, snapshot: Arc<Mutex<Snapshot>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let snapshot = Arc::clone(&snapshot);
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(512);
            let mut buffer = [0u8; 512];
            // Read the request head (bounded in size and time); the body, if any, is ignored.
            let head = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
            })
            .await;
            if head.is_err() {
                return;
            }
            let line = String::from_utf8_lossy(&request);
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
                ("GET", "/metrics") => (
                    "200 OK",
                    "text/plain; version=0.0.4",
                    snapshot.lock().map(|s| s.metrics_text.clone()).unwrap_or_default(),
                ),
                ("GET", "/status") => {
                    ("200 OK", "application/json", snapshot.lock().map(|s| s.status_json.clone()).unwrap_or_default())
                }
                ("GET", _) => ("404 Not Found", "text/plain", "try /metrics or /status\n".to_string()),
                _ => ("405 Method Not Allowed", "text/plain", "GET only\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The engine's address: what the running engine recorded (it may have picked a free port),
/// else the plan's `engine.listen`.
pub fn endpoint(plan: &crate::plan::Plan, files: &crate::state::StateDir) -> SocketAddr {
    crate::state::read_json::<super::EngineStatus>(&files.engine_status())
        .ok()
        .flatten()
        .and_then(|status| status.listen?.to_socket_addrs().ok()?.next())
        .unwrap_or(plan.engine.listen)
}

/// The running engine's `/status`, as the typed document it serves.
pub fn fetch_status(address: SocketAddr) -> Result<super::EngineStatus, String> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET /status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("no status line").to_string());
    }
    serde_json::from_str(body).map_err(|e| format!("not the engine's status: {e}"))
}
