//! The worker's signing key: an encrypted JSON keystore, or an anvil dev account on devnets only.

use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::config::WorkerConfig;

/// Chain id of a local anvil/hardhat devnet: the only chain that accepts dev accounts.
pub const DEVNET_CHAIN_ID: u64 = 31337;
/// The private keys of anvil's 10 dev accounts: BIP-44 `m/44'/60'/0'/0/i` of the public test
/// mnemonic `test test test test test test test test test test test junk` (the accounts anvil
/// prints at start and the deploy script funds). Listed rather than derived, which spares the build
/// a BIP-32/39 stack for ten public constants; the test below checks each against its well-known
/// address. Never holds real funds.
const DEV_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

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
    let key = DEV_KEYS
        .get(index as usize)
        .ok_or_else(|| KeyError::Keystore {
            path: format!("dev account {index}"),
            reason: format!(
                "anvil has {} dev accounts (0..={})",
                DEV_KEYS.len(),
                DEV_KEYS.len() - 1
            ),
        })?;
    key.parse().map_err(
        |e: alloy::signers::local::LocalSignerError| KeyError::Keystore {
            path: format!("dev account {index}"),
            reason: e.to_string(),
        },
    )
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
        // anvil's accounts, as it prints them at start.
        let anvil = [
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
            address!("15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
            address!("9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
            address!("976EA74026E726554dB657fA54763abd0C3a0aa9"),
            address!("14dC79964da2C08b23698B3D3cc7Ca32193d9955"),
            address!("23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"),
            address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720"),
        ];
        for (i, want) in anvil.iter().enumerate() {
            let s = dev_signer(i as u32 + 1, DEVNET_CHAIN_ID).expect("dev key");
            assert_eq!(s.address(), *want, "dev account {}", i + 1);
        }
        assert!(dev_signer(10, DEVNET_CHAIN_ID).is_err());
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
