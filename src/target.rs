//! Where load goes. Loopback needs nothing; any other host must be named with
//! `--target`, gets no chaos, and a capped rate unless `--i-know-this-is-load`.

/// The rate a non-loopback target gets without `--i-know-this-is-load`: enough to
/// smoke-test, far too little to hurt.
pub const REMOTE_RATE_CAP: f64 = 10.0;

/// Check a target URL: `http(s)://host[:port]`, no path; returned without a
/// trailing slash.
pub fn check_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{url}`: expected http(s)://host[:port]"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Credentials in a URL end up in logs and reports: they come from the environment.
        return Err("the URL carries credentials; put the key in DUAL_API_KEY instead".into());
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(format!("`{url}`: give the base URL only, without a path"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Is the URL's host on this machine's loopback?
pub fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_loopback_recognised() {
        assert_eq!(
            check_url("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://x/api").is_err());
        assert!(check_url("nonsense").is_err());
        let with_creds = check_url("https://user:sekret@api.example.com").expect_err("credentials");
        assert!(
            !with_creds.contains("sekret"),
            "the error does not repeat the secret: {with_creds}"
        );
        for (u, want) in [
            ("http://127.0.0.1:1", true),
            ("http://localhost:9", true),
            ("http://[::1]:9", true),
            ("https://api.example.com", false),
            ("http://10.0.0.1", false),
        ] {
            assert_eq!(is_loopback(u), want, "{u}");
        }
    }
}
