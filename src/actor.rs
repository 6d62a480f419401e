//! Who is asking: the actor a request carries, and its JSON form as
//! Datasette's `/-/actor.json` shows it.

use serde_json::{Value, json};

use crate::catalog::tokens::Restrictions;

/// The actor of one request: anonymous, or a user, possibly through a token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Actor {
    /// The user's catalog id; `None` for anonymous.
    pub user_id: Option<i64>,
    /// The user's name, Datasette's actor `id`.
    pub name: Option<String>,
    /// Set when the request authenticated with an API token.
    pub token: Option<TokenGrant>,
}

/// What an API token adds to its user: narrower rights and an end.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenGrant {
    pub id: i64,
    pub restrictions: Option<Restrictions>,
    pub expires_at: Option<i64>,
}

impl Actor {
    pub fn anonymous() -> Actor {
        Actor::default()
    }

    /// The restrictions that narrow this actor's rights, if any.
    pub fn restrictions(&self) -> Option<&Restrictions> {
        self.token.as_ref().and_then(|t| t.restrictions.as_ref())
    }

    /// The same user with the token's narrowing removed: what the user may see at all.
    pub fn unrestricted(&self) -> Actor {
        Actor {
            token: None,
            ..self.clone()
        }
    }

    /// The actor as Datasette's `/-/actor.json` shows it (`null` when anonymous).
    pub fn to_json(&self) -> Value {
        let Some(name) = &self.name else {
            return Value::Null;
        };
        let mut actor = json!({ "id": name });
        if let Some(token) = &self.token {
            // Datasette marks actors authenticated by an API token this way.
            actor["token"] = json!("dstok");
            if let Some(r) = &token.restrictions {
                actor["_r"] = serde_json::to_value(r).unwrap_or(Value::Null);
            }
            if let Some(expires) = token.expires_at {
                actor["token_expires"] = json!(expires);
            }
        }
        actor
    }
}
