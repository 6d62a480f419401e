//! A tiny HTTP/1.1 client over one kept-alive TCP connection, so the fuzzer
//! can send request targets and headers no URL parser would let through.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A response read whole: status, raw header block, body (de-chunked).
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

pub struct Wire {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Wire {
    pub fn new(addr: &str) -> Wire {
        Wire {
            addr: addr.to_owned(),
            stream: None,
        }
    }

    /// Sends `request` (whole bytes), retrying once on a fresh connection if
    /// a kept-alive one turns out closed; `Err` on a timeout or broken answer.
    pub async fn send(
        &mut self,
        request: &[u8],
        head_only: bool,
        limit: Duration,
    ) -> Result<Answer, String> {
        let fresh = self.stream.is_none();
        match tokio::time::timeout(limit, self.exchange(request, head_only)).await {
            Err(_) => {
                self.stream = None;
                Err(format!("no answer within {limit:?}"))
            }
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) if !fresh => {
                // The server may close a connection after an answer that said so late.
                let _ = e;
                self.stream = None;
                tokio::time::timeout(limit, self.exchange(request, head_only))
                    .await
                    .map_err(|_| format!("no answer within {limit:?}"))?
                    .inspect_err(|_| self.stream = None)
            }
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8], head_only: bool) -> Result<Answer, String> {
        if self.stream.is_none() {
            let tcp = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| e.to_string())?;
            self.stream = Some(BufReader::new(tcp));
        }
        let stream = self.stream.as_mut().unwrap();
        stream
            .get_mut()
            .write_all(request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(format!("connection closed after {:?}", head));
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let lower = head.to_ascii_lowercase();
        let header = |name: &str| {
            lower
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        let close = header("connection").is_some_and(|v| v.contains("close"));
        let mut body = Vec::new();
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                stream
                    .read_line(&mut size)
                    .await
                    .map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| format!("bad chunk size {size:?}"))?;
                let mut chunk = vec![0; n + 2];
                stream
                    .read_exact(&mut chunk)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = header("content-length") {
            let n: usize = n.parse().map_err(|_| "bad content-length".to_owned())?;
            body.resize(n, 0);
            stream
                .read_exact(&mut body)
                .await
                .map_err(|e| e.to_string())?;
        } else {
            stream
                .read_to_end(&mut body)
                .await
                .map_err(|e| e.to_string())?;
            self.stream = None;
        }
        if close {
            self.stream = None;
        }
        Ok(Answer { status, head, body })
    }
}
