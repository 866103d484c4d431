//! What the windows remember between runs: the client its last server and
//! the user's name (and the key, only when asked), the server its name and
//! port. Each program has a small JSON file in the platform's configuration
//! directory; the key, when remembered, has a file of its own so that
//! forgetting it is deleting that file.
//!
//! Every file is written whole to a temporary file in the same directory,
//! created readable and writable by the user only (0600 on Unix), then
//! renamed over the old one: a crash or a full disk leaves the old file or
//! the new one, never half of one, and the key is never readable by others,
//! not even for a moment. What is read back is bounded
//! ([`MAX_SETTINGS_BYTES`]) and checked like anything else from outside:
//! a file that is too large, not JSON or not a key is reported and ignored.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::Key;

/// A settings file larger than this is not read: the files we write are a
/// few hundred bytes, and anything can be put in their place.
pub const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

/// Where to keep settings instead of the platform's directory (tests, or a
/// portable install).
pub const CONFIG_DIR_VAR: &str = "FERNET_CHAT_CONFIG_DIR";

/// The client window's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    /// The name the user chats under.
    pub name: Option<String>,
    /// The last server connected to.
    pub server: Option<RememberedServer>,
    /// Desktop notifications of new messages were turned off (they are on
    /// unless the user unticked "Notify me").
    pub notifications_off: bool,
}

/// A server the client connected to: its name as it gave it, and the
/// address that worked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RememberedServer {
    pub name: String,
    pub address: String,
}

/// The server window's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub name: Option<String>,
    pub port: Option<u16>,
    /// As [`ClientSettings::notifications_off`].
    pub notifications_off: bool,
}

/// A kind of settings and the file it lives in.
pub trait Settings: Serialize + DeserializeOwned + Default {
    const FILE: &'static str;
}

impl Settings for ClientSettings {
    const FILE: &'static str = "client.json";
}

impl Settings for ServerSettings {
    const FILE: &'static str = "server.json";
}

/// The file holding the client's remembered key.
pub const KEY_FILE: &str = "client.key";

/// Why settings could not be read or saved; each says which file, in one
/// line. `Clone` for iced messages: I/O errors are shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read the saved settings in {path} ({source}); they are ignored")]
    Read {
        path: PathBuf,
        source: Arc<io::Error>,
    },
    #[error(
        "the saved settings in {path} are larger than {MAX_SETTINGS_BYTES} bytes; they are ignored"
    )]
    TooLarge { path: PathBuf },
    #[error("the saved settings in {path} are damaged ({why}); they are ignored")]
    Corrupt { path: PathBuf, why: String },
    #[error("could not save the settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: Arc<io::Error>,
    },
}

/// The directory settings are kept in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Settings kept in `dir` (created when first saved).
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// [`CONFIG_DIR_VAR`] if set, otherwise the platform's configuration
    /// directory: `~/.config/fernet-chat` on Linux (or under
    /// `$XDG_CONFIG_HOME`), `~/Library/Application Support/fernet-chat` on
    /// macOS, `%APPDATA%\fernet-chat\config` on Windows. `None` where there
    /// is no home directory: nothing is remembered then.
    pub fn locate() -> Option<Store> {
        if let Some(dir) = std::env::var_os(CONFIG_DIR_VAR).filter(|d| !d.is_empty()) {
            return Some(Store::at(dir));
        }
        directories::ProjectDirs::from("", "", "fernet-chat")
            .map(|dirs| Store::at(dirs.config_dir()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The saved settings; the defaults if none were saved yet.
    pub fn load<S: Settings>(&self) -> Result<S, SettingsError> {
        let path = self.dir.join(S::FILE);
        let Some(bytes) = read_bounded(&path)? else {
            return Ok(S::default());
        };
        serde_json::from_slice(&bytes).map_err(|e| SettingsError::Corrupt {
            path,
            why: e.to_string(),
        })
    }

    pub fn save<S: Settings>(&self, settings: &S) -> Result<(), SettingsError> {
        let path = self.dir.join(S::FILE);
        let mut json = serde_json::to_vec_pretty(settings).map_err(|e| SettingsError::Write {
            path: path.clone(),
            source: Arc::new(io::Error::other(e)),
        })?;
        json.push(b'\n');
        self.write_private(&path, &json)
    }

    /// The remembered key, if the user asked for it to be remembered.
    pub fn load_key(&self) -> Result<Option<Key>, SettingsError> {
        let path = self.dir.join(KEY_FILE);
        let Some(bytes) = read_bounded(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        Key::parse(text.trim())
            .map(Some)
            .map_err(|e| SettingsError::Corrupt {
                path,
                why: e.to_string(),
            })
    }

    /// Remembers `key` in a file only this user can read.
    pub fn save_key(&self, key: &Key) -> Result<(), SettingsError> {
        let path = self.dir.join(KEY_FILE);
        self.write_private(&path, format!("{}\n", key.as_str()).as_bytes())
    }

    /// Forgets the remembered key (nothing to do if none is).
    pub fn forget_key(&self) -> Result<(), SettingsError> {
        let path = self.dir.join(KEY_FILE);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SettingsError::Write {
                path,
                source: Arc::new(e),
            }),
            _ => Ok(()),
        }
    }

    /// Writes `bytes` to `path` atomically, the file readable by this user
    /// only from the moment it exists.
    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<(), SettingsError> {
        let failed = |e: io::Error| SettingsError::Write {
            path: path.to_owned(),
            source: Arc::new(e),
        };
        create_private_dir(&self.dir).map_err(failed)?;
        // tempfile creates the file with mode 0600 on Unix (and for this
        // user only on Windows), with a name no one else can have taken.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        file.as_file().sync_all().map_err(failed)?;
        file.persist(path).map_err(|e| failed(e.error))?;
        Ok(())
    }
}

/// The directory, created for this user only where it does not exist yet
/// (what is already there is left as the user set it).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A file's bytes, at most [`MAX_SETTINGS_BYTES`]; `None` if it does not
/// exist.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, SettingsError> {
    let failed = |e: io::Error| SettingsError::Read {
        path: path.to_owned(),
        source: Arc::new(e),
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SETTINGS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(SettingsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("fernet-chat"));
        (dir, store)
    }

    #[test]
    fn settings_saved_are_loaded_back_and_missing_ones_are_defaults() {
        let (_dir, store) = store();
        assert_eq!(store.load::<ClientSettings>().unwrap(), Default::default());
        assert_eq!(store.load_key().unwrap(), None);
        let client = ClientSettings {
            name: Some("alice".into()),
            server: Some(RememberedServer {
                name: "bob".into(),
                address: "192.168.1.20:7878".into(),
            }),
            notifications_off: true,
        };
        store.save(&client).unwrap();
        store
            .save(&ServerSettings {
                name: Some("bob".into()),
                port: Some(7879),
                ..ServerSettings::default()
            })
            .unwrap();
        assert_eq!(store.load::<ClientSettings>().unwrap(), client);
        assert_eq!(store.load::<ServerSettings>().unwrap().port, Some(7879));
        // Saving again replaces the file whole; no temporary file is left.
        store.save(&ClientSettings::default()).unwrap();
        assert_eq!(store.load::<ClientSettings>().unwrap(), Default::default());
        let names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_remembered_key_is_readable_by_its_user_only_and_can_be_forgotten() {
        let (_dir, store) = store();
        let key = Key::generate().unwrap();
        store.save_key(&key).unwrap();
        assert_eq!(store.load_key().unwrap(), Some(key));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.dir().join(KEY_FILE)), 0o600);
            assert_eq!(mode(store.dir()), 0o700);
        }
        store.forget_key().unwrap();
        assert_eq!(store.load_key().unwrap(), None);
        store.forget_key().unwrap();
    }

    #[test]
    fn damaged_or_oversized_files_are_reported_with_their_path() {
        let (_dir, store) = store();
        fs::create_dir_all(store.dir()).unwrap();
        let path = store.dir().join(ClientSettings::FILE);
        fs::write(&path, b"{\"name\": 12").unwrap();
        let error = store.load::<ClientSettings>().unwrap_err();
        assert!(matches!(error, SettingsError::Corrupt { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.ends_with("they are ignored"),
            "{text}"
        );
        assert!(!text.contains('\n'));

        fs::write(&path, vec![b' '; MAX_SETTINGS_BYTES as usize + 1]).unwrap();
        let error = store.load::<ClientSettings>().unwrap_err();
        assert!(matches!(error, SettingsError::TooLarge { .. }), "{error:?}");
        // At the bound it is read (and is valid JSON once it holds some).
        let mut json = b"{}".to_vec();
        json.resize(MAX_SETTINGS_BYTES as usize, b' ');
        fs::write(&path, json).unwrap();
        assert_eq!(store.load::<ClientSettings>().unwrap(), Default::default());

        fs::write(store.dir().join(KEY_FILE), "not a key\n").unwrap();
        assert!(matches!(
            store.load_key(),
            Err(SettingsError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let (dir, _) = store();
        // A file where the directory should be.
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, b"").unwrap();
        let store = Store::at(blocker.join("fernet-chat"));
        let error = store.save(&ServerSettings::default()).unwrap_err();
        assert!(matches!(error, SettingsError::Write { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("could not save the settings to "),
            "{error}"
        );
    }
}
