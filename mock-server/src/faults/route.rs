//! Route patterns for fault rules: `[METHOD ]PATH` with `*` segments.

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<http::Method>,
    /// Path segments; `*` matches one segment, a trailing `*` the rest.
    segments: Vec<String>,
}

impl RoutePattern {
    /// Parse `POST /ebus/actions/batch`, `/ebus/*` or `*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (method, path) = match text.split_once(' ') {
            Some((m, p)) => {
                let method = http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("`{m}` is not an HTTP method"))?;
                (Some(method), p.trim())
            }
            None => (None, text),
        };
        if path == "*" {
            return Ok(Self {
                method,
                segments: vec!["*".into()],
            });
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!(
                "`{text}`: expected `[METHOD ]/path`, e.g. `POST /ebus/actions/batch`, or `*`"
            ));
        };
        Ok(Self {
            method,
            segments: rest.split('/').map(str::to_string).collect(),
        })
    }

    /// Does the request match?
    pub fn matches(&self, method: &http::Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let mut actual = path.trim_start_matches('/').split('/');
        let last = self.segments.len() - 1;
        for (i, want) in self.segments.iter().enumerate() {
            if i == last && want == "*" {
                return actual.next().is_some();
            }
            match actual.next() {
                Some(seg) if want == "*" || want == seg => {}
                _ => return false,
            }
        }
        actual.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn patterns_match_as_documented() {
        let cases = [
            (
                "POST /ebus/actions/batch",
                Method::POST,
                "/ebus/actions/batch",
                true,
            ),
            (
                "POST /ebus/actions/batch",
                Method::GET,
                "/ebus/actions/batch",
                false,
            ),
            ("/ebus/*", Method::POST, "/ebus/actions", true),
            ("/ebus/*", Method::GET, "/ebus/actions/act_1", true),
            ("/ebus/*", Method::GET, "/objects", false),
            ("GET /objects/*", Method::GET, "/objects/obj_1", true),
            ("GET /objects/*", Method::GET, "/objects", false),
            ("*", Method::DELETE, "/webhooks/wh_1", true),
            ("/ebus/actions", Method::POST, "/ebus/actions/batch", false),
        ];
        for (pattern, method, path, want) in cases {
            let p = RoutePattern::parse(pattern).expect(pattern);
            assert_eq!(
                p.matches(&method, path),
                want,
                "{pattern} vs {method} {path}"
            );
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(RoutePattern::parse("ebus/actions").is_err());
        assert!(RoutePattern::parse("P@ST /x").is_err());
    }
}
