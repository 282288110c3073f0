//! Scenario tests under varied answers: with `RFBATCH_SANDBOX_VARY=SEED` in the environment,
//! the sandboxes of the scenario tests answer as `rfbatch sandbox --vary SEED` does
//! (`SandboxConfig::vary`); `.ci/run` runs them under two seeds. The seed and how to
//! replay it are printed with a failing test's output.
#![allow(dead_code)]

use roboflow_batch::sandbox::SandboxConfig;

/// The seed in `RFBATCH_SANDBOX_VARY`, if any.
pub fn seed() -> Option<u64> {
    let v = std::env::var("RFBATCH_SANDBOX_VARY").ok()?;
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(v.parse().unwrap_or_else(|_| {
        panic!("RFBATCH_SANDBOX_VARY must be a number (the seed of `rfbatch sandbox --vary`), got {v:?}")
    }))
}

/// `config`, varied by the seed in `RFBATCH_SANDBOX_VARY` when there is one.
pub fn config(config: SandboxConfig) -> SandboxConfig {
    let Some(seed) = seed() else {
        return config;
    };
    // Shown with the output of a failing test.
    let test = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s.clone(), |(name, _)| name.to_string())
        })
        .unwrap_or_else(|| "NAME".into());
    eprintln!(
        "the sandbox answers varied with seed {seed}; replay: \
         RFBATCH_SANDBOX_VARY={seed} cargo test --all-features --test {test}"
    );
    config.vary(seed)
}
