//! A same-origin browser for the web UI's forms: one session cookie, no
//! redirects followed, and the headers a browser form sends.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::header::HeaderMap;

use super::Server;

pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    /// Other cookies the server set (the one-time flash message), as `name=value`.
    pub others: Vec<String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrftoken\" value=\"";
        let start = self.text.find(marker).expect("a CSRF token") + marker.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }

    pub fn set_cookie(&self) -> Option<&str> {
        self.header("set-cookie")
    }
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        Browser::with(server, reqwest::Client::builder())
    }

    /// A browser whose requests come from another loopback address.
    pub fn from_address(server: &Server, address: [u8; 4]) -> Browser {
        let builder = reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::from(address)));
        Browser::with(server, builder)
    }

    fn with(server: &Server, builder: reqwest::ClientBuilder) -> Browser {
        Browser {
            base: server.base.trim_end_matches('/').to_owned(),
            http: builder
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            others: Vec::new(),
        }
    }

    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// Sends with the session cookie, and keeps whatever cookie comes back
    /// (an emptied one ends the session).
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let jar: Vec<&str> = self
            .cookie
            .iter()
            .chain(&self.others)
            .map(String::as_str)
            .collect();
        let request = if jar.is_empty() {
            request
        } else {
            request.header("Cookie", jar.join("; "))
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie").iter() {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let name = pair.split('=').next().unwrap();
            if name == "ls_session" {
                self.cookie = (!pair.ends_with('=')).then(|| pair.to_owned());
            } else {
                self.others.retain(|c| c.split('=').next() != Some(name));
                if !pair.ends_with('=') {
                    self.others.push(pair.to_owned());
                }
            }
        }
        Page {
            status,
            headers,
            text: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Accept", "text/html");
        self.send(request).await
    }

    /// A same-origin form POST.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Origin", format!("http://{}", self.host()))
            .header("Sec-Fetch-Site", "same-origin")
            .form(form);
        self.send(request).await
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Page {
        self.post("/-/login", &[("username", user), ("password", password)])
            .await
    }
}
