//! The worker's signing key: an encrypted JSON keystore, or an anvil dev account on devnets only.

use std::path::Path;

use alloy::signers::local::coins_bip39::English;
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};

use crate::config::WorkerConfig;

/// Chain id of a local anvil/hardhat devnet: the only chain that accepts dev accounts.
pub const DEVNET_CHAIN_ID: u64 = 31337;
/// The public test mnemonic anvil derives its dev accounts from. Never holds real funds.
const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Why no signer could be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither a keystore nor a dev account is configured.
    #[error("no key configured: set worker.keystore (+ worker.password_file), or worker.dev_account on a devnet")]
    NotConfigured,
    /// A dev account was asked for on a chain other than the local devnet.
    #[error("worker.dev_account is only accepted on the local devnet (chain id {DEVNET_CHAIN_ID}); this chain is {0}")]
    DevKeyOnPublicChain(u64),
    /// The keystore needs a password file.
    #[error("worker.keystore needs worker.password_file")]
    MissingPassword,
    /// The password file could not be read.
    #[error("cannot read the password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A key file can be read by other users of the machine.
    #[error("{path} is readable by group or others (mode {mode:03o}): run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file's metadata could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Wrong password, or not a keystore.
    #[error("cannot decrypt keystore {path}: {reason}")]
    Keystore {
        /// The keystore file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Builds the signer the configuration names, refusing dev keys outside the devnet.
pub fn load_signer(cfg: &WorkerConfig, chain_id: u64) -> Result<PrivateKeySigner, KeyError> {
    match (&cfg.keystore, cfg.dev_account) {
        (Some(keystore), _) => {
            let pw_path = cfg
                .password_file
                .as_deref()
                .ok_or(KeyError::MissingPassword)?;
            check_private(keystore)?;
            check_private(pw_path)?;
            let password =
                std::fs::read_to_string(pw_path).map_err(|source| KeyError::PasswordFile {
                    path: pw_path.display().to_string(),
                    source,
                })?;
            decrypt(keystore, password.trim_end_matches(['\n', '\r']))
        }
        (None, Some(index)) => dev_signer(index, chain_id),
        (None, None) => Err(KeyError::NotConfigured),
    }
}

/// Refuses a key file that group or others can read, write or execute (`mode & 0o077 != 0`):
/// the keystore and its password file must be private to the worker's user.
pub fn check_private(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    Ok(())
}

/// The anvil dev account `index`, only for [`DEVNET_CHAIN_ID`].
pub fn dev_signer(index: u32, chain_id: u64) -> Result<PrivateKeySigner, KeyError> {
    if chain_id != DEVNET_CHAIN_ID {
        return Err(KeyError::DevKeyOnPublicChain(chain_id));
    }
    MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .map_err(|e| KeyError::Keystore {
            path: format!("dev mnemonic index {index}"),
            reason: e.to_string(),
        })
}

fn decrypt(path: &Path, password: &str) -> Result<PrivateKeySigner, KeyError> {
    PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| KeyError::Keystore {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn dev_accounts_match_anvil_and_are_refused_elsewhere() {
        let s = dev_signer(0, DEVNET_CHAIN_ID).expect("dev key");
        assert_eq!(
            s.address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        let s = dev_signer(1, DEVNET_CHAIN_ID).expect("dev key");
        assert_eq!(
            s.address(),
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert!(matches!(
            dev_signer(0, 1),
            Err(KeyError::DevKeyOnPublicChain(1))
        ));
    }

    fn private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    #[test]
    fn key_files_readable_by_others_are_refused_with_the_chmod_to_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = rand::thread_rng();
        let (_, name) = PrivateKeySigner::new_keystore(dir.path(), &mut rng, "pw", None)
            .expect("create keystore");
        let keystore = dir.path().join(&name);
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "pw").expect("write pw");
        private(&keystore);
        let cfg = WorkerConfig {
            keystore: Some(keystore.clone()),
            password_file: Some(pw.clone()),
            ..WorkerConfig::default()
        };
        for (file, mode) in [(&pw, 0o644), (&keystore, 0o640), (&pw, 0o604)] {
            private(&keystore);
            private(&pw);
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = load_signer(&cfg, 1).expect_err("refused");
            assert!(
                matches!(&err, KeyError::Permissions { mode: m, .. } if *m == mode),
                "{err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("chmod 600 {}", file.display())),
                "{msg}"
            );
        }
        private(&keystore);
        private(&pw);
        load_signer(&cfg, 1).expect("0600 files are accepted");
    }

    #[test]
    fn keystore_round_trip_and_wrong_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = rand::thread_rng();
        let (signer, name) =
            PrivateKeySigner::new_keystore(dir.path(), &mut rng, "correct horse", None)
                .expect("create keystore");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "correct horse\n").expect("write pw");
        private(&dir.path().join(&name));
        private(&pw);
        let cfg = WorkerConfig {
            keystore: Some(dir.path().join(&name)),
            password_file: Some(pw.clone()),
            ..WorkerConfig::default()
        };
        let loaded = load_signer(&cfg, 1).expect("decrypts on any chain");
        assert_eq!(loaded.address(), signer.address());

        std::fs::write(&pw, "wrong").expect("write pw");
        assert!(matches!(
            load_signer(&cfg, 1),
            Err(KeyError::Keystore { .. })
        ));
        let no_pw = WorkerConfig {
            password_file: None,
            ..cfg
        };
        assert!(matches!(
            load_signer(&no_pw, 1),
            Err(KeyError::MissingPassword)
        ));
        assert!(matches!(
            load_signer(&WorkerConfig::default(), 1),
            Err(KeyError::NotConfigured)
        ));
    }
}
