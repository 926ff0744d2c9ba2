//! Entry points for the fuzz targets under `fuzz/`; not a stable API.

use crate::config::{Config, ConfigError};

/// Loads `data` as a gateway configuration and returns whether it loaded.
///
/// Input that is not UTF-8 is skipped, because a configuration file is read
/// as text. Loading must end in a parse error, an invalid-value error or a
/// configuration that passes [`Config::validate`]. A loaded configuration
/// must serialize to TOML and load again equal to itself, so that a file
/// written back by a tool means what the original meant.
pub fn config_toml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let config = match Config::from_toml_str(text) {
        Ok(config) => config,
        Err(error) => {
            assert!(
                matches!(error, ConfigError::Parse(_) | ConfigError::Invalid { .. }),
                "loading text returned {error:?}"
            );
            let _ = error.to_string();
            return false;
        }
    };
    if let Err(error) = config.validate() {
        panic!("loaded configuration fails validation: {error}");
    }

    let written = match toml::to_string(&config) {
        Ok(written) => written,
        Err(error) => panic!("loaded configuration does not serialize: {error}\n{config:?}"),
    };
    match Config::from_toml_str(&written) {
        Ok(reloaded) => assert_eq!(
            reloaded, config,
            "configuration changed through TOML:\n{written}"
        ),
        Err(error) => panic!("serialized configuration does not load: {error}\n{written}"),
    }
    true
}
