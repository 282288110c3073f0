//! Settings: explicit values over environment variables, and the small files credentials
//! live in (the AWS shared credentials file, connection strings).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Reads an environment variable (injected, so tests never touch the process environment).
pub(crate) type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Explicit settings first, then the environment; empty or blank values count as unset.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) explicit: BTreeMap<String, String>,
    pub(crate) env: Option<EnvFn>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            explicit: BTreeMap::new(),
            env: Some(Arc::new(|name: &str| std::env::var(name).ok())),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the values may be keys.
        f.debug_struct("Settings")
            .field("explicit", &self.explicit.keys().collect::<Vec<_>>())
            .field("reads_environment", &self.env.is_some())
            .finish()
    }
}

impl Settings {
    /// The value of `name`, explicit first, then from the environment.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.explicit
            .get(name)
            .cloned()
            .or_else(|| self.env.as_ref().and_then(|e| e(name)))
            .filter(|v| !v.trim().is_empty())
    }

    /// The first of `names` that is set.
    pub(crate) fn first(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.get(n))
    }
}

/// The sections of an INI file (the AWS credentials and config files): section name to
/// lowercase keys and trimmed values. `#` and `;` start comments.
pub(crate) fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            section = Some(name);
        } else if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            out.entry(s.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

/// The `Key=Value;…` pairs of an Azure connection string (keys as written; values may
/// hold `=`, as base64 keys do).
pub(crate) fn parse_connection_string(s: &str) -> BTreeMap<String, String> {
    s.split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}
