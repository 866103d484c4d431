//! What the server window remembers between runs (`common::settings`): its
//! name and port, and whether to notify. Never the key: a fresh one is made at each start.

use common::settings::{ServerSettings, Store};

/// The settings read at start, where they live, and what went wrong
/// reading them (one line; they are ignored then).
#[derive(Debug, Clone, Default)]
pub struct Remembered {
    pub store: Option<Store>,
    pub settings: ServerSettings,
    pub problem: Option<String>,
}

impl Remembered {
    pub fn load(store: Option<Store>) -> Remembered {
        let loaded = store.as_ref().map(Store::load::<ServerSettings>);
        let (settings, problem) = match loaded {
            Some(Err(e)) => (ServerSettings::default(), Some(capitalize(&e.to_string()))),
            Some(Ok(settings)) => (settings, None),
            None => (ServerSettings::default(), None),
        };
        Remembered {
            store,
            settings,
            problem,
        }
    }
}

impl Remembered {
    /// The name to announce: the one `given` on the command line, else the
    /// one used last time, else the user's login name, else the computer's
    /// name (a server called "anonymous" is hard to pick from a list).
    pub fn name(&self, given: Option<String>) -> String {
        given
            .or_else(|| self.settings.name.clone())
            .unwrap_or_else(default_name)
    }

    /// The port to listen on: `given`, else last time's, else the default.
    pub fn port(&self, given: Option<u16>) -> u16 {
        given.or(self.settings.port).unwrap_or(common::DEFAULT_PORT)
    }
}

/// The user's login name, or this computer's name.
pub fn default_name() -> String {
    let login = common::config::default_name();
    if !login.trim().is_empty() {
        return login;
    }
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Saves the name, port and whether to `notify`; the error in one line,
/// if any.
pub fn save(store: Option<&Store>, name: &str, port: u16, notify: bool) -> Option<String> {
    let settings = ServerSettings {
        name: Some(name.to_owned()),
        // Port 0 (let the system choose) is not worth remembering.
        port: (port != 0).then_some(port),
        notifications_off: !notify,
    };
    let error = store?.save(&settings).err()?;
    Some(capitalize(&error.to_string()))
}

/// `text` with its first letter in upper case (an error that starts a line).
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
