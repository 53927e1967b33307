//! Route patterns for fault rules: `[METHOD ]PATH` with `*` segments.

use http::Method;

/// The methods a rule may name: the standard ones. An extension method such as
/// `FOO` would parse, but no client sends it, so it is a typo to report.
pub const METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<Method>,
    /// Path segments; `*` matches one segment, a trailing `*` the rest.
    segments: Vec<String>,
}

impl RoutePattern {
    /// Parse `POST /ebus/actions/batch`, `/ebus/*` or `*`: an optional standard
    /// method (any case), then a path that starts with `/` (or is `*`) and holds
    /// no whitespace, query or fragment (a rule matches the path alone).
    pub fn parse(text: &str) -> Result<Self, String> {
        let usage = "expected `[METHOD ]/path`, e.g. `POST /ebus/actions/batch`, or `*`";
        let words: Vec<&str> = text.split_whitespace().collect();
        let (method, path) = match words.as_slice() {
            [path] => (None, *path),
            [m, path] => {
                let method = METHODS
                    .iter()
                    .find(|known| known.as_str().eq_ignore_ascii_case(m))
                    .ok_or_else(|| {
                        let names: Vec<&str> = METHODS.iter().map(Method::as_str).collect();
                        format!(
                            "`{m}` is not an HTTP method; expected one of {}",
                            names.join(", ")
                        )
                    })?;
                (Some(method.clone()), *path)
            }
            [] => return Err(format!("is empty; {usage}")),
            _ => {
                return Err(format!("`{text}`: whitespace inside the path; {usage}"));
            }
        };
        if path == "*" {
            return Ok(Self {
                method,
                segments: vec!["*".into()],
            });
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!("`{text}`: {usage}"));
        };
        if let Some(c) = rest
            .chars()
            .find(|c| matches!(c, '?' | '#') || c.is_control())
        {
            return Err(format!(
                "`{text}`: {c:?} in the path; a rule matches the path alone"
            ));
        }
        Ok(Self {
            method,
            segments: rest.split('/').map(str::to_string).collect(),
        })
    }

    /// Does the request match?
    pub fn matches(&self, method: &Method, path: &str) -> bool {
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
        for bad in [
            "ebus/actions",
            "P@ST /x",
            "FOO /x",
            "GET /x y z",
            "/x y",
            "GET x",
            "",
            "   ",
            "GET /objects?limit=1",
            "/x#frag",
            "GET /x\u{0}",
        ] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn methods_are_any_case_and_spacing_is_free() {
        let p = RoutePattern::parse("  post   /ebus/actions ").expect("valid");
        assert!(p.matches(&Method::POST, "/ebus/actions"));
        assert!(!p.matches(&Method::GET, "/ebus/actions"));
        assert!(RoutePattern::parse("DELETE *").is_ok());
    }
}
