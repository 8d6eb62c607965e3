//! Sending one HTTP request for a metric the careful way: redirects followed by hand, credentials only
//! to the URL's own origin, the host policy on every hop, and the reply read up to a cap.
//!
//! reqwest's own redirect handling keeps custom headers (`x-api-key`) across hosts and sends a Referer
//! with the first URL's query string, so its clients are built with redirects and Referer off and
//! [`send`] follows them here: at most [`MAX_REDIRECTS`], a loop named as one, headers and the bearer
//! token dropped on any hop whose scheme, host or port differs from the spec's URL. The body is
//! streamed and reading stops at [`super::Limits::max_reply_bytes`], so a huge or endless reply costs
//! at most the cap in memory. A redirect's location is the server's to choose, so messages count
//! hops and never quote where they went. Parsing the reply is the sources' business, not this
//! module's.

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};

use super::Limits;
use super::error::{MetricError, Target, bytes};
use super::transport::{self, SecretString};

/// The most redirects followed for one reading.
pub const MAX_REDIRECTS: usize = 10;

/// What to send.
pub struct Request<'a> {
    /// GET or POST.
    pub method: Method,
    /// The spec's URL, query string included.
    pub url: Url,
    /// The POST body.
    pub body: Option<String>,
    /// The spec's headers: sent to the URL's origin only.
    pub headers: &'a HeaderMap,
    /// The bearer token: sent to the URL's origin only.
    pub bearer_token: Option<&'a SecretString>,
}

/// A reply read within the cap.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The content type, empty when absent.
    pub content_type: String,
    /// The body, at most the cap.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// What an operator needs to recognise a reply without reading it: status, content type, size.
    pub fn describe(&self) -> String {
        format!("http {} ({})", self.status, self.shape())
    }

    /// The content type and size, such as `text/html, 1.2 KiB`.
    pub fn shape(&self) -> String {
        let kind = match self.content_type.split(';').next().map(str::trim) {
            Some(kind) if !kind.is_empty() => kind.chars().filter(|c| !c.is_control()).take(80).collect(),
            _ => "no content type".to_owned(),
        };
        format!("{kind}, {}", bytes(self.body.len() as u64))
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Send `request` with `client` (built with redirects and Referer off), following redirects.
pub async fn send(
    client: &reqwest::Client,
    limits: &Limits,
    target: &Target,
    request: Request<'_>,
) -> Result<Reply, MetricError> {
    let origin = request.url.clone();
    let mut url = request.url;
    let mut method = request.method;
    let mut body = request.body;
    let mut visited = vec![url.clone()];
    loop {
        let hop = visited.len() - 1;
        // A host a redirect chose is the server's word: named only when the spec named it.
        let denied = |denied: &super::hosts::Denied| {
            let detail = match hop {
                0 => denied.to_string(),
                _ => format!(
                    "redirect {hop} leads to a host the host policy denies ({})\nhint: point the URL at where \
                     the backend answers, or allow that host with {} (the operator decides, not the scaler)",
                    denied.why,
                    super::hosts::ALLOW_FLAG
                ),
            };
            MetricError::Denied { target: target.clone(), detail }
        };
        limits.hosts.check_url(&url).map_err(|refused| denied(&refused))?;
        if limits.proxy_from_environment {
            through_proxy(limits, &url).await.map_err(|refused| denied(&refused))?;
        }
        let mut builder = client.request(method.clone(), url.clone());
        if let Some(body) = &body {
            builder = builder.body(body.clone());
        }
        if same_origin(&url, &origin) {
            builder = builder.headers(request.headers.clone());
            if let Some(token) = request.bearer_token {
                builder = builder.bearer_auth(token.expose());
            }
        }
        let response = builder.send().await.map_err(|err| match super::hosts::denied_in(&err) {
            Some(refused) => denied(refused),
            None => transport::request_error(target, err),
        })?;
        let status = response.status();
        let location = response.headers().get(LOCATION).and_then(|value| value.to_str().ok());
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| redirect) else {
            return read(response, limits, target).await;
        };
        let redirect_error = |detail: String| MetricError::Redirect { target: target.clone(), detail };
        let status = status.as_u16();
        let next = url
            .join(location)
            .map_err(|_| redirect_error(format!("http {status} to an unreadable location")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(redirect_error(format!("http {status} to a URL that is not http or https")));
        }
        if let Some(again) = visited.iter().position(|seen| *seen == next) {
            let to =
                if again == 0 { "the spec's URL".to_owned() } else { format!("the URL of redirect {again}") };
            return Err(redirect_error(format!("redirect loop: redirect {} goes back to {to}", hop + 1)));
        }
        if visited.len() > MAX_REDIRECTS {
            return Err(redirect_error(format!("more than {MAX_REDIRECTS} redirects")));
        }
        // As browsers do: 303 (and 301/302 after a POST) fetch the new location with GET, no body.
        if status == 303 || (method == Method::POST && matches!(status, 301 | 302)) {
            method = Method::GET;
            body = None;
        }
        visited.push(next.clone());
        url = next;
    }
}

/// Through a proxy the connection goes to the proxy's address, so the resolver never sees the
/// target's: the policy is applied to the addresses the target's name has here. A name that does
/// not resolve here is the proxy's to resolve (its name rules still applied by `check_url`).
async fn through_proxy(limits: &Limits, url: &Url) -> Result<(), super::hosts::Denied> {
    let Some(host) = url.host_str() else { return Ok(()) };
    let port = url.port_or_known_default().unwrap_or(80);
    match super::hosts::resolve_checked(&limits.hosts, host, port).await {
        Err(super::hosts::Refused::Denied(denied)) => Err(denied),
        Ok(_) | Err(super::hosts::Refused::Lookup(_)) => Ok(()),
    }
}

/// Read the reply's body, stopping at the cap.
async fn read(
    mut response: reqwest::Response,
    limits: &Limits,
    target: &Target,
) -> Result<Reply, MetricError> {
    let status = response.status();
    let content_type =
        response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    let limit = limits.max_reply_bytes;
    let too_large = || MetricError::TooLarge { target: target.clone(), limit };
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| transport::request_error(target, err))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply { status, content_type, body })
}

/// The spec's base URL with `path` appended to its path and `params` to its query string.
pub fn with_query(base: &str, path: &str, params: &[(&str, String)]) -> Result<Url, String> {
    let mut url = Url::parse(base).map_err(|err| err.to_string())?;
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    if !params.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in params {
            pairs.append_pair(key, value);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(same_origin(&url("http://a:80/x?t=1"), &url("http://a/y")));
        assert!(!same_origin(&url("http://a/x"), &url("https://a/x")));
        assert!(!same_origin(&url("http://a:8080/x"), &url("http://a:8081/x")));
        assert!(!same_origin(&url("http://a/x"), &url("http://b/x")));
    }

    #[test]
    fn replies_are_described_without_their_body() {
        let reply = Reply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            content_type: "text/html; charset=utf-8".into(),
            body: b"<html>secret stuff</html>".to_vec(),
        };
        assert_eq!(reply.describe(), "http 500 Internal Server Error (text/html, 25 bytes)");
        let bare = Reply { status: StatusCode::OK, content_type: String::new(), body: vec![] };
        assert_eq!(bare.shape(), "no content type, 0 bytes");
    }

    #[test]
    fn query_parameters_are_appended() {
        let url =
            with_query("http://prom:9090/base/?x=1", "/api/v1/query", &[("query", "up{a=\"b\"}".into())])
                .unwrap();
        assert_eq!(url.as_str(), "http://prom:9090/base/api/v1/query?x=1&query=up%7Ba%3D%22b%22%7D");
        assert!(with_query("not a url", "/api", &[]).is_err());
    }
}
