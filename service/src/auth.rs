//! Bearer tokens: JWTs signed with HS256 or EdDSA, carrying scopes and a tenant.
//!
//! Claims: `sub` (who, recorded in the audit log), `scope` (space-separated, as in OAuth 2:
//! `read`, `submit`, `operate`, `admin`), `tenant` (the only tenant whose workflows and
//! executions the token sees; an `admin` token without one sees every tenant) and `exp`.

use std::sync::Arc;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What a call needs; each scope also grants those before it (admin ⊃ operate ⊃ submit ⊃ read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read workflows, executions, events and dead letters.
    Read,
    /// Submit and execute workflows.
    Submit,
    /// Pause, resume, cancel and signal executions; replay and drop dead letters.
    Operate,
    /// Everything, across tenants when the token has none.
    Admin,
}

impl Scope {
    /// The scope's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Submit => "submit",
            Self::Operate => "operate",
            Self::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Read, Self::Submit, Self::Operate, Self::Admin]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A token's claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token stands for.
    pub sub: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The tenant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// The caller of one request, once its token verified.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `sub` of the token.
    pub who: String,
    /// The highest scope it holds.
    pub scope: Scope,
    /// Its tenant (`None`: an admin of every tenant, or a token without one).
    pub tenant: Option<String>,
}

impl Caller {
    /// Whether this caller may see a record of `tenant`.
    pub fn sees(&self, tenant: Option<&str>) -> bool {
        match &self.tenant {
            Some(mine) => tenant == Some(mine.as_str()),
            None => self.scope == Scope::Admin || tenant.is_none(),
        }
    }

    /// Refuses unless the caller holds `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this call needs scope {:?}; the token has {:?}",
                needed.as_str(),
                self.scope.as_str()
            )))
        }
    }
}

/// The keys tokens are verified with. At least one key: the service never serves anonymously.
#[derive(Clone)]
pub struct Auth {
    keys: Arc<Vec<(Algorithm, DecodingKey)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.keys.iter().map(|(a, _)| *a).collect();
        f.debug_struct("Auth").field("algorithms", &algs).finish()
    }
}

impl Auth {
    /// Verifies HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            keys: Arc::new(vec![(Algorithm::HS256, DecodingKey::from_secret(secret))]),
        }
    }

    /// Also verifies EdDSA (Ed25519) tokens whose public key is `public` (32 raw bytes).
    pub fn with_ed25519(mut self, public: &[u8]) -> Self {
        Arc::make_mut(&mut self.keys).push((Algorithm::EdDSA, DecodingKey::from_ed_der(public)));
        self
    }

    /// Verifies EdDSA tokens only.
    pub fn ed25519(public: &[u8]) -> Self {
        Self {
            keys: Arc::new(vec![(Algorithm::EdDSA, DecodingKey::from_ed_der(public))]),
        }
    }

    /// The caller of a request: its `Authorization: Bearer` header (or, for browsers' EventSource
    /// and WebSocket, which cannot set headers, an `access_token` query parameter).
    pub fn caller(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Caller, ApiError> {
        let from_header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.strip_prefix("Bearer ").ok_or_else(|| {
                    ApiError::Unauthorized("Authorization is not `Bearer TOKEN`".into())
                })
            })
            .transpose()?;
        let from_query =
            query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("access_token=")));
        let token = from_header.or(from_query).ok_or_else(|| {
            ApiError::Unauthorized("no bearer token (header `Authorization: Bearer TOKEN`)".into())
        })?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ApiError::Unauthorized(format!("the token is not a JWT: {e}")))?;
        let key = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or_else(|| {
                ApiError::Unauthorized(format!(
                    "tokens signed with {:?} are not accepted",
                    header.alg
                ))
            })?;
        let mut validation = Validation::new(key.0);
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        let data = jsonwebtoken::decode::<Claims>(token, &key.1, &validation)
            .map_err(|e| ApiError::Unauthorized(format!("the token does not verify: {e}")))?;
        let claims = data.claims;
        let scope = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .max()
            .ok_or_else(|| {
                ApiError::Forbidden(format!(
                    "the token has no known scope in {:?} (known: read, submit, operate, admin)",
                    claims.scope
                ))
            })?;
        Ok(Caller {
            who: claims.sub,
            scope,
            tenant: claims.tenant,
        })
    }
}

/// Signs `claims` with HS256 and `secret` (the admin token `troupe serve` prints, and tests).
pub fn sign_hs256(claims: &Claims, secret: &[u8]) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

/// A fresh random 32-byte secret.
pub fn random_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the token secret: {e}"))?;
    Ok(secret)
}

/// Seconds since the Unix epoch, `ttl` from now.
pub fn expiry_in(ttl: std::time::Duration) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + ttl.as_secs()
}
