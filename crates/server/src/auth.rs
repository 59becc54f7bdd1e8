//! Bearer tokens with a role: viewers read, operators also act on rollouts. No token can
//! approve a release: approvals need the approver's SSH key, through the CLI.

use crate::problem::Problem;
use axum::http::{HeaderMap, StatusCode};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads releases, rollouts, events and signals.
    Viewer,
    /// Also pauses, resumes, promotes and aborts rollouts.
    Operator,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// The bearer tokens this server accepts, each with its role.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Vec<(String, Role)>,
}

/// Short tokens are guessable; the proxy's admin token has the same floor.
const MIN_LEN: usize = 16;

/// What is wrong with one entry of a tokens file or variable. Never the entry's text: it may be
/// the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// A file line that is not two words.
    #[error("expected `<role> <token>`")]
    NotRoleToken,
    /// A variable's entry without a colon.
    #[error("expected role:token pairs separated by commas")]
    NotPairs,
    /// The first word is not a role.
    #[error("the role must be viewer or operator, and come before the token")]
    UnknownRole,
    /// A guessable token.
    #[error("a token must have at least {MIN_LEN} characters")]
    TooShort,
}

/// API tokens that could not be loaded; the message names the file and line or the variable.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// A line of the tokens file.
    #[error("{label}:{line}: {problem}")]
    File {
        /// The file as `ship.toml` names it.
        label: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: TokenProblem,
    },
    /// An entry of the tokens variable.
    #[error("${var}: {problem}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong.
        problem: TokenProblem,
    },
    /// The tokens file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file as `ship.toml` names it.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Tokens {
    /// `<role> <token>` lines (`#` comments, blank lines ignored); errors name the line.
    pub fn parse_file(label: &str, text: &str) -> Result<Tokens, TokensError> {
        let mut t = Tokens::default();
        let at = |i: usize, problem| TokensError::File {
            label: label.to_string(),
            line: i + 1,
            problem,
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(role), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(at(i, TokenProblem::NotRoleToken));
            };
            t.add(role, token).map_err(|p| at(i, p))?;
        }
        Ok(t)
    }

    /// `role:token,role:token` from an environment variable.
    pub fn parse_env(var: &str, value: &str) -> Result<Tokens, TokensError> {
        let mut t = Tokens::default();
        let env = |problem| TokensError::Env {
            var: var.to_string(),
            problem,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((role, token)) = item.split_once(':') else {
                // Never echo the entry: without a colon it is most likely a bare token.
                return Err(env(TokenProblem::NotPairs));
            };
            t.add(role.trim(), token.trim()).map_err(env)?;
        }
        Ok(t)
    }

    fn add(&mut self, role: &str, token: &str) -> Result<(), TokenProblem> {
        // Never echo the text: written the wrong way round (`token role`), it is the secret.
        let role = Role::parse(role).ok_or(TokenProblem::UnknownRole)?;
        if token.len() < MIN_LEN {
            return Err(TokenProblem::TooShort);
        }
        self.tokens.push((token.to_string(), role));
        Ok(())
    }

    /// These tokens and `other`'s together.
    pub fn merge(mut self, other: Tokens) -> Tokens {
        self.tokens.extend(other.tokens);
        self
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The role of the request's bearer token, or of the dashboard's cookie (set by /login):
    /// 401 without a known token, 403 below `need`.
    pub fn check(&self, headers: &HeaderMap, need: Role) -> Result<Role, Problem> {
        self.check_from(headers, need, true).map(|(r, _)| r)
    }

    /// `check`, and which token it was (its place in the list): what per-token caps count by.
    pub fn check_which(&self, headers: &HeaderMap, need: Role) -> Result<(Role, usize), Problem> {
        self.check_from(headers, need, true)
    }

    /// `check` for the bearer header alone: the API's commands, which a browser's cookie must
    /// not reach (a cross-site page could make the browser send it).
    pub fn check_bearer(&self, headers: &HeaderMap, need: Role) -> Result<Role, Problem> {
        self.check_from(headers, need, false).map(|(r, _)| r)
    }

    /// Whether the request carries a bearer header (a client program, not a browser's cookie).
    pub fn has_bearer(headers: &HeaderMap) -> bool {
        bearer(headers).is_some()
    }

    fn check_from(
        &self,
        headers: &HeaderMap,
        need: Role,
        cookie: bool,
    ) -> Result<(Role, usize), Problem> {
        let cookie = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("ship_token="))
            .map(str::trim)
            .filter(|t| cookie && !t.is_empty());
        let given = bearer(headers).or(cookie);
        let Some(given) = given else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <token>` (server.tokens_file or server.tokens_env)",
            ));
        };
        // The same token may be listed twice with two roles: the higher one counts.
        let role = self
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| constant_time_eq(t.as_bytes(), given.as_bytes()))
            .map(|(i, (_, r))| (*r, std::cmp::Reverse(i)))
            .max()
            .map(|(r, i)| (r, i.0));
        match role {
            None => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown token",
            )),
            Some((r, _)) if r < need => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an operator token; yours is a viewer's",
            )),
            Some(found) => Ok(found),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Compares without stopping at the first difference (only the length leaks).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn roles_from_file_and_env_and_their_errors() {
        let t = Tokens::parse_file(
            "tokens",
            "# team\nviewer view-token-0123456789\n\noperator op-token-0123456789ab\n",
        )
        .unwrap()
        .merge(Tokens::parse_env("T", "operator:env-operator-0123456789").unwrap());
        assert_eq!(
            t.check(&headers("view-token-0123456789"), Role::Viewer)
                .unwrap(),
            Role::Viewer
        );
        assert_eq!(
            t.check(&headers("view-token-0123456789"), Role::Operator)
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            t.check(&headers("op-token-0123456789ab"), Role::Operator)
                .unwrap(),
            Role::Operator
        );
        assert_eq!(
            t.check(&headers("env-operator-0123456789"), Role::Operator)
                .unwrap(),
            Role::Operator
        );
        assert_eq!(
            t.check(&headers("nope-nope-nope-nope"), Role::Viewer)
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            t.check(&HeaderMap::new(), Role::Viewer).unwrap_err().status,
            401
        );
        assert!(Tokens::parse_file("f", "admin x")
            .unwrap_err()
            .to_string()
            .starts_with("f:1:"));
        assert!(Tokens::parse_file("f", "\nviewer short")
            .unwrap_err()
            .to_string()
            .contains("f:2: a token must"));
        let mut jar = HeaderMap::new();
        jar.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("a=b; ship_token=op-token-0123456789ab"),
        );
        assert_eq!(t.check(&jar, Role::Operator).unwrap(), Role::Operator);
        assert_eq!(
            t.check_bearer(&jar, Role::Operator).unwrap_err().status,
            401
        );
        assert!(!Tokens::has_bearer(&jar));
        for e in [
            Tokens::parse_env("T", "s3cr3t-0123456789abcdef:operator").unwrap_err(),
            Tokens::parse_file("f", "s3cr3t-0123456789abcdef operator").unwrap_err(),
        ] {
            let e = e.to_string();
            assert!(!e.contains("s3cr3t"), "{e}");
            assert!(e.contains("viewer or operator"), "{e}");
        }
        assert!(Tokens::parse_env("T", "viewer")
            .unwrap_err()
            .to_string()
            .contains("role:token"));
    }
}
