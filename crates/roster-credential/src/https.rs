//! One HTTPS request to the hub on a new connection, synchronously: rustls over a std TCP
//! stream, HTTP/1.1 with `Connection: close`.
//!
//! The plugin makes one request per process, so kube's client (a runtime, a connection pool,
//! a tower stack) costs more to set up than the request itself: this path does the same work
//! (a new TLS connection verified against the kubeconfig's or the pod's CA, one request) with
//! less start-up. It covers what consumers use on the hub — a pod's service account, a
//! kubeconfig token or token file, a client certificate — and [`Connection::for_config`] says
//! when a setting is outside it (an exec or auth-provider user, a proxy, impersonation, no CA,
//! skipped verification), in which case the caller uses kube's client instead.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::Arc,
    time::Duration,
};

use base64::Engine;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
    client::Resumption,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use secrecy::{ExposeSecret, SecretString};

/// The largest answer read, bytes: a Secret is at most 1 MiB of data, base64 adds a third.
const MAX_BODY: usize = 4 << 20;

/// Where and how to send the request.
#[derive(Debug)]
pub struct Connection {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    authorization: Option<SecretString>,
    connect_timeout: Duration,
    io_timeout: Duration,
}

/// The status and body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// Why no answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The settings cannot be used (a bad certificate or key, a bad token file).
    Settings(String),
    /// Connecting, the TLS handshake, or the exchange failed.
    Transport(String),
}

impl Connection {
    /// The connection `config` describes, `None` when it needs something only kube's client
    /// does.
    pub fn for_config(
        config: &kube::Config,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Option<Result<Self, Failure>> {
        let auth = &config.auth_info;
        let beyond = auth.exec.is_some()
            || auth.auth_provider.is_some()
            || auth.username.is_some()
            || auth.password.is_some()
            || auth.impersonate.is_some()
            || auth.impersonate_groups.is_some()
            || auth.impersonate_uid.is_some()
            || auth.impersonate_user_extra.is_some()
            || config.proxy_url.is_some()
            || config.accept_invalid_certs
            || !config.headers.is_empty()
            || config.cluster_url.scheme_str() != Some("https");
        let roots = config.root_cert.as_deref()?;
        if beyond {
            return None;
        }
        let host = config.cluster_url.host()?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = config.cluster_url.port_u16().unwrap_or(443);
        Some(Self::build(
            config,
            roots,
            host,
            port,
            connect_timeout,
            io_timeout,
        ))
    }

    fn build(
        config: &kube::Config,
        roots: &[Vec<u8>],
        host: String,
        port: u16,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Self, Failure> {
        let settings = |m: String| Failure::Settings(m);
        let mut store = RootCertStore::empty();
        for der in roots {
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| settings(format!("the hub's CA certificate: {e}")))?;
        }
        let builder = ClientConfig::builder().with_root_certificates(store);
        let auth = &config.auth_info;
        let mut tls = match client_identity(auth)? {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| settings(format!("the client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        // Each process makes one connection: nothing to resume.
        tls.resumption = Resumption::disabled();
        let name = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(name)
            .map_err(|e| settings(format!("the hub's server name: {e}")))?;
        let token = match (&auth.token, &auth.token_file) {
            (Some(token), _) => Some(token.expose_secret().trim().to_owned()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| settings(format!("reading the token file {file}: {e}")))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(Self {
            host,
            port,
            server_name,
            tls: Arc::new(tls),
            authorization: token.map(|t| SecretString::from(format!("Bearer {t}"))),
            connect_timeout,
            io_timeout,
        })
    }

    /// Sends `method path` with `body` (JSON) and reads the answer.
    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Response, Failure> {
        let transport = |m: String| Failure::Transport(m);
        let addresses = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| transport(format!("resolving {}: {e}", self.host)))?;
        let mut last = None;
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            transport(match last {
                Some(e) => format!("tcp connect error: {e}"),
                None => format!("{} resolves to no address", self.host),
            })
        })?;
        let io = |e: std::io::Error| transport(e.to_string());
        stream.set_nodelay(true).map_err(io)?;
        stream.set_read_timeout(Some(self.io_timeout)).map_err(io)?;
        stream
            .set_write_timeout(Some(self.io_timeout))
            .map_err(io)?;
        let tls = ClientConnection::new(self.tls.clone(), self.server_name.clone())
            .map_err(|e| transport(format!("TLS: {e}")))?;
        let mut stream = StreamOwned::new(tls, stream);

        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: \
             roster-credential/{}\r\nConnection: close\r\n",
            self.authority(),
            env!("CARGO_PKG_VERSION")
        );
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        let mut bytes = request.into_bytes();
        if let Some(authorization) = &self.authorization {
            bytes.extend_from_slice(b"Authorization: ");
            bytes.extend_from_slice(authorization.expose_secret().as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body.unwrap_or_default());
        stream
            .write_all(&bytes)
            .and_then(|()| stream.flush())
            .map_err(|e| transport(tls_cause(&e)))?;
        read_response(&mut BufReader::new(stream)).map_err(transport)
    }

    /// `host:port` as the `Host` header has it.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A failed exchange's text: rustls's own error when the TLS layer failed.
fn tls_cause(error: &std::io::Error) -> String {
    match error.get_ref() {
        Some(inner) => inner.to_string(),
        None => error.to_string(),
    }
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The kubeconfig user's client certificate and key, when it has them.
fn client_identity(auth: &kube::config::AuthInfo) -> Result<Option<Identity>, Failure> {
    let settings = |m: String| Failure::Settings(m);
    let pem = |data: Option<&str>, file: Option<&String>, what: &str| -> Result<_, Failure> {
        match (data, file) {
            (Some(data), _) => base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map(Some)
                .map_err(|e| settings(format!("the {what} data is not base64: {e}"))),
            (None, Some(file)) => std::fs::read(file)
                .map(Some)
                .map_err(|e| settings(format!("reading the {what} {file}: {e}"))),
            (None, None) => Ok(None),
        }
    };
    let cert = pem(
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_ref(),
        "client certificate",
    )?;
    let key = pem(
        auth.client_key_data.as_ref().map(|k| k.expose_secret()),
        auth.client_key.as_ref(),
        "client key",
    )?;
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let certs = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| settings(format!("the client certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| settings(format!("the client key: {e}")))?;
    Ok(Some((certs, key)))
}

/// Reads an HTTP/1.1 answer: status line, headers, then a body of `Content-Length` bytes,
/// chunked, or up to the end of the stream.
pub fn read_response(reader: &mut impl BufRead) -> Result<Response, String> {
    let mut line = String::new();
    let status_line = read_line(reader, &mut line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .filter(|_| status_line.starts_with("HTTP/1."))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", truncate(status_line)))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        let header = read_line(reader, &mut line)?;
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(format!("a malformed header: {:?}", truncate(header)));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("a malformed Content-Length: {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        read_chunked(reader, &mut line)?
    } else if let Some(length) = length {
        if length > MAX_BODY {
            return Err(format!(
                "an answer of {length} bytes, more than a Secret can be"
            ));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| read_error(&e))?;
        body
    } else {
        let mut body = Vec::new();
        reader
            .take(MAX_BODY as u64)
            .read_to_end(&mut body)
            .map_err(|e| read_error(&e))?;
        body
    };
    Ok(Response { status, body })
}

fn read_chunked(reader: &mut impl BufRead, line: &mut String) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader, line)?;
        let size = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("a malformed chunk size: {:?}", truncate(size_line)))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader, line)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err("an answer larger than a Secret can be".into());
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| read_error(&e))?;
        if !read_line(reader, line)?.is_empty() {
            return Err("a chunk longer than its size".into());
        }
    }
}

/// The next line without its `\r\n`; an error at the end of the stream.
fn read_line<'a>(reader: &mut impl BufRead, line: &'a mut String) -> Result<&'a str, String> {
    line.clear();
    let read = reader
        .take(64 * 1024)
        .read_line(line)
        .map_err(|e| read_error(&e))?;
    if read == 0 || !line.ends_with('\n') {
        return Err("the connection closed before the answer was complete".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']))
}

fn read_error(error: &std::io::Error) -> String {
    format!("reading the answer: {}", tls_cause(error))
}

fn truncate(text: &str) -> &str {
    text.char_indices()
        .nth(80)
        .map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Response, String> {
        read_response(&mut raw.as_bytes())
    }

    #[test]
    fn content_length_bodies() {
        let answer = parse(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        )
        .unwrap();
        assert_eq!(
            answer,
            Response {
                status: 200,
                body: b"{\"a\":1}".to_vec()
            }
        );
    }

    #[test]
    fn chunked_bodies_and_trailers() {
        let answer = parse(
            "HTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n",
        )
        .unwrap();
        assert_eq!(answer.status, 403);
        assert_eq!(answer.body, b"{\"a\":1}");
    }

    #[test]
    fn bodies_up_to_the_end_of_the_stream() {
        let answer = parse("HTTP/1.0 404 Not Found\r\n\r\nnot found").unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, b"not found");
    }

    #[test]
    fn malformed_answers() {
        for raw in [
            "",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0",
        ] {
            assert!(parse(raw).is_err(), "{raw:?}");
        }
    }

    fn config(url: &str) -> kube::Config {
        let mut config = kube::Config::new(url.parse().unwrap());
        config.root_cert = Some(Vec::new());
        config
    }

    #[test]
    fn kube_keeps_what_this_path_does_not_cover() {
        let t = Duration::from_secs(1);
        assert!(Connection::for_config(&config("https://10.0.0.1:6443"), t, t).is_some());
        let mut no_ca = config("https://hub:6443");
        no_ca.root_cert = None;
        let mut exec = config("https://hub:6443");
        exec.auth_info.exec =
            Some(serde_json::from_value(serde_json::json!({"command": "x"})).unwrap());
        let mut proxy = config("https://hub:6443");
        proxy.proxy_url = Some("http://proxy:3128".parse().unwrap());
        let mut insecure = config("https://hub:6443");
        insecure.accept_invalid_certs = true;
        let mut impersonating = config("https://hub:6443");
        impersonating.auth_info.impersonate = Some("someone".into());
        let mut basic = config("https://hub:6443");
        basic.auth_info.username = Some("admin".into());
        for (what, config) in [
            ("no CA", no_ca),
            ("exec", exec),
            ("proxy", proxy),
            ("insecure", insecure),
            ("impersonation", impersonating),
            ("basic", basic),
            ("http", config("http://hub:8080")),
        ] {
            assert!(Connection::for_config(&config, t, t).is_none(), "{what}");
        }
    }

    #[test]
    fn ipv6_hosts_and_token_files() {
        let t = Duration::from_secs(1);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token\n").unwrap();
        let mut config = config("https://[::1]:6443");
        config.auth_info.token_file = Some(file.to_str().unwrap().into());
        let connection = Connection::for_config(&config, t, t).unwrap().unwrap();
        assert_eq!(connection.authority(), "[::1]:6443");
        assert_eq!(
            connection.authorization.as_ref().unwrap().expose_secret(),
            "Bearer file-token"
        );
        config.auth_info.token_file = Some("/nonexistent/token".into());
        assert!(matches!(
            Connection::for_config(&config, t, t),
            Some(Err(Failure::Settings(m))) if m.contains("/nonexistent/token")
        ));
    }
}
