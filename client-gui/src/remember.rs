//! What the client window remembers between runs (`common::settings`): the
//! last server it connected to, the user's name, whether to notify, and
//! the key only while "Remember this key on this computer" is on.

use common::ClientConfig;
use common::settings::{ClientSettings, RememberedServer, SettingsError, Store};
use common::{Key, config};

use crate::screen::connect::Connect;

/// The connect form as the settings in `store` fill it, the remembered
/// key, and whether to notify. A `name` from the command line comes before
/// the remembered one; a file that cannot be read is said in one line and
/// otherwise ignored.
pub fn load(store: Option<&Store>, name: Option<String>) -> (Connect, Option<Key>, bool) {
    let mut form = Connect::default();
    let (settings, key) = match store {
        Some(store) => (store.load::<ClientSettings>(), store.load_key()),
        None => (Ok(ClientSettings::default()), Ok(None)),
    };
    let problem = settings.as_ref().err().or(key.as_ref().err());
    form.settings_problem = problem.map(|e| crate::capitalize(&e.to_string()));
    let settings = settings.unwrap_or_default();
    let key = key.ok().flatten();
    form.name = name.or(settings.name).unwrap_or_else(config::default_name);
    if let Some(server) = settings.server {
        form.address = server.address.clone();
        form.remembered = Some(server);
    }
    form.remember_key = key.is_some();
    (form, key, !settings.notifications_off)
}

/// Saves what a connection that worked used: the server (named `peer`, as
/// it introduced itself, at `address`), the name, whether to `notify`, and
/// the key if the form says so.
pub fn save(
    store: &Store,
    form: &mut Connect,
    peer: &str,
    address: String,
    config: &ClientConfig,
    notify: bool,
) -> Result<(), SettingsError> {
    let server = RememberedServer {
        name: peer.to_owned(),
        address,
    };
    let settings = ClientSettings {
        name: Some(form.name.clone()).filter(|n| !n.trim().is_empty()),
        server: Some(server.clone()),
        notifications_off: !notify,
    };
    form.remembered = Some(server);
    store.save(&settings)?;
    if form.remember_key {
        store.save_key(&config.chat.key)?;
    }
    Ok(())
}

/// Saves whether to notify, keeping the rest of what was saved.
pub fn save_notifications(store: &Store, notify: bool) -> Result<(), SettingsError> {
    let mut settings = store.load::<ClientSettings>().unwrap_or_default();
    settings.notifications_off = !notify;
    store.save(&settings)
}
