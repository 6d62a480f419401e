//! Signed session cookies and the CSRF tokens derived from them: an
//! HMAC-SHA256 over the configured secret, verified in constant time. A
//! cookie that does not verify, or has expired, is no session at all; one
//! that does still names a server-side session (`catalog::sessions`) that
//! logout and password changes revoke. The login limiter is in [`limits`].

pub mod limits;

pub use limits::LoginLimiter;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "ls_session";
/// How long a login lasts.
pub const LIFETIME_SECS: i64 = 7 * 24 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// Who a session cookie says is logged in, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user's catalog id.
    #[serde(rename = "u")]
    pub user_id: i64,
    /// The user's name.
    #[serde(rename = "n")]
    pub name: String,
    /// Unix seconds after which the cookie is refused.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The server-side session's random id (so two logins never share a
    /// cookie or a CSRF token); the catalog keeps only its SHA-256.
    #[serde(rename = "r")]
    pub id: String,
}

fn mac(secret: &str, purpose: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac
}

impl Session {
    /// A new session for `user_id` lasting [`LIFETIME_SECS`] from `now`.
    pub fn new(user_id: i64, name: &str, now: i64) -> Session {
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Session {
            user_id,
            name: name.to_owned(),
            expires_at: now + LIFETIME_SECS,
            id: hex::encode(id),
        }
    }

    /// The cookie value: `base64url(json).base64url(hmac)`.
    pub fn sign(&self, secret: &str) -> String {
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a session serialises"));
        let mut mac = mac(secret, "session");
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The session in `value` if its signature verifies and it has not expired.
    pub fn verify(value: &str, secret: &str, now: i64) -> Option<Session> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = mac(secret, "session");
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let session: Session =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (session.expires_at > now).then_some(session)
    }

    /// The CSRF token forms of this session carry.
    pub fn csrf_token(&self, secret: &str) -> String {
        let mut mac = mac(secret, "csrf");
        mac.update(self.id.as_bytes());
        mac.update(&self.user_id.to_be_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, secret: &str, token: &str) -> bool {
        let Ok(bytes) = hex::decode(token) else {
            return false;
        };
        let mut mac = mac(secret, "csrf");
        mac.update(self.id.as_bytes());
        mac.update(&self.user_id.to_be_bytes());
        mac.verify_slice(&bytes).is_ok()
    }
}

/// The value of cookie `name` in a `Cookie:` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// `Set-Cookie` for a new session (`secure` behind https).
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={LIFETIME_SECS}{secure}")
}

/// `Set-Cookie` that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let s = Session::new(7, "alice", 1000);
        let value = s.sign("k1");
        assert_eq!(Session::verify(&value, "k1", 1001), Some(s.clone()));
        assert_eq!(Session::verify(&value, "k2", 1001), None, "other secret");
        assert_eq!(
            Session::verify(&value, "k1", 1000 + LIFETIME_SECS),
            None,
            "expired"
        );
        let (payload, tag) = value.split_once('.').unwrap();
        let forged = Session {
            user_id: 1,
            ..s.clone()
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            Session::verify(&format!("{forged_payload}.{tag}"), "k1", 1001),
            None
        );
        assert_eq!(Session::verify(payload, "k1", 1001), None);
        assert_eq!(Session::verify("", "k1", 1001), None);
        assert_eq!(Session::verify("a.b.c", "k1", 1001), None);
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = Session::new(7, "alice", 1000);
        let b = Session::new(7, "alice", 1000);
        let token = a.csrf_token("k");
        assert!(a.csrf_matches("k", &token));
        assert!(!b.csrf_matches("k", &token));
        assert!(!a.csrf_matches("other", &token));
        assert!(!a.csrf_matches("k", "zz"));
    }

    #[test]
    fn cookies() {
        assert_eq!(
            cookie_value("a=1; ls_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", COOKIE), None);
        assert!(set_cookie("v", true).contains("HttpOnly; SameSite=Lax"));
        assert!(set_cookie("v", true).ends_with("; Secure"));
        assert!(!set_cookie("v", false).contains("Secure"));
    }
}
