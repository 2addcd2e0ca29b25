//! Servers shared by test processes: nextest runs every test in a process of
//! its own, and the last test of one process must not stop a private server
//! another process is using. A process holds a shared lock on a file beside
//! the server while it uses it; whoever finds no other holder may stop it.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

/// This process's hold on a shared server.
pub struct ProcessHold {
    path: PathBuf,
    file: File,
}

impl ProcessHold {
    /// Takes a hold; waits while another process is stopping the server.
    pub fn take(path: &Path) -> Self {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file =
            File::create(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        file.lock_shared()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
        Self {
            path: path.to_owned(),
            file,
        }
    }

    /// One process at a time starts a server: two `initdb`s or two postmasters
    /// racing on one directory fail. Held until the returned file is dropped;
    /// whoever waited then finds the server answering.
    pub fn starting(path: &Path) -> File {
        let path = path.with_extension("starting");
        let file =
            File::create(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
        file
    }

    /// Lets go. When no other process holds the server, returns an exclusive
    /// lock to keep while stopping it (a process arriving meanwhile waits).
    pub fn release(self) -> Option<File> {
        drop(self.file);
        let file = File::create(&self.path).ok()?;
        file.try_lock().ok()?;
        Some(file)
    }
}
