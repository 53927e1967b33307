//! Secrets come from the environment or are generated; they are shown only redacted,
//! except a freshly generated one that the user has no other way to learn.

use gauntlet_mock::engine::secret::random_secret;

/// Where a secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Environment,
    Generated,
}

/// A secret and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    pub origin: Origin,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret({}, {:?})",
            gauntlet_mock::redact(&self.value),
            self.origin
        )
    }
}

impl Secret {
    /// Read `var`, or generate one with `prefix`.
    pub fn from_env_or_generate(
        var: &str,
        prefix: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Secret {
        match env(var).filter(|v| !v.trim().is_empty()) {
            Some(value) => Secret {
                value,
                origin: Origin::Environment,
            },
            None => Secret {
                value: random_secret(prefix),
                origin: Origin::Generated,
            },
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// For the terminal: a generated secret in full (the user needs it), one from
    /// the environment redacted (the user has it already).
    pub fn for_display(&self) -> String {
        match self.origin {
            Origin::Generated => self.value.clone(),
            Origin::Environment => format!(
                "{} (from the environment)",
                gauntlet_mock::redact(&self.value)
            ),
        }
    }
}
