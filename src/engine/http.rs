//! The engine's local HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /status` (JSON).
//!
//! A deliberately tiny HTTP/1.1 server (one request per connection, GET only): it serves two
//! snapshots the engine refreshes every second, on loopback by default, and pulls in no web
//! framework for that.

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
