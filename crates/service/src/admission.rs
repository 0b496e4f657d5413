//! Who may hold a connection to the service, and for how long before it has
//! said what it wants. Any local user can connect, so one of them must not be
//! able to use up the service's threads or descriptors: connections are
//! counted per uid and in total, and root's are never refused (so `wslp
//! --status` and `--shutdown` work during a flood).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections one non-root uid may hold at once. A running command holds
/// one, so this is also how many commands a user runs at once.
pub const MAX_PER_UID: usize = 128;
/// Connections all non-root users together may hold at once.
pub const MAX_TOTAL: usize = 1024;
/// How long a client has to send its Hello and its request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors a request may carry: stdin, stdout and stderr.
pub const MAX_REQUEST_FDS: usize = 3;

#[derive(Default)]
pub struct Admission {
    held: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    per_uid: HashMap<u32, usize>,
    total: usize,
}

/// A connection admitted; counted until dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    uid: u32,
}

impl Admission {
    /// Admits a connection from `uid`, or says in one line why not.
    pub fn admit(self: &Arc<Self>, uid: u32) -> Result<Ticket, String> {
        if uid == 0 {
            return Ok(Ticket {
                admission: self.clone(),
                uid,
            });
        }
        let mut c = crate::sync::lock(&self.held);
        let mine = c.per_uid.get(&uid).copied().unwrap_or(0);
        if mine >= MAX_PER_UID {
            return Err(format!(
                "The wslp service refused the connection: uid {uid} already holds {MAX_PER_UID} connections, the most one user may. \
                 Wait for some of your commands to finish."
            ));
        }
        if c.total >= MAX_TOTAL {
            return Err(format!(
                "The wslp service refused the connection: users hold {MAX_TOTAL} connections, the most it serves at once. Try again later."
            ));
        }
        *c.per_uid.entry(uid).or_default() += 1;
        c.total += 1;
        Ok(Ticket {
            admission: self.clone(),
            uid,
        })
    }

    #[cfg(test)]
    fn held(&self, uid: u32) -> usize {
        crate::sync::lock(&self.held)
            .per_uid
            .get(&uid)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.uid == 0 {
            return;
        }
        let mut c = crate::sync::lock(&self.admission.held);
        c.total -= 1;
        if let Some(n) = c.per_uid.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                c.per_uid.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uid_is_capped_root_never_and_tickets_give_back() {
        let a = Arc::new(Admission::default());
        let mine: Vec<_> = (0..MAX_PER_UID).map(|_| a.admit(1000).unwrap()).collect();
        let e = a.admit(1000).err().expect("over the cap");
        assert!(e.contains("uid 1000 already holds 128 connections"), "{e}");
        // Another user and root are still served.
        let other = a.admit(1001).unwrap();
        let roots: Vec<_> = (0..MAX_TOTAL + 1).map(|_| a.admit(0).unwrap()).collect();
        drop(mine);
        assert_eq!(a.held(1000), 0);
        a.admit(1000).unwrap();
        drop((other, roots));
    }

    #[test]
    fn all_users_together_are_capped() {
        let a = Arc::new(Admission::default());
        let held: Vec<_> = (0..MAX_TOTAL)
            .map(|i| a.admit(2000 + (i / MAX_PER_UID) as u32).unwrap())
            .collect();
        let e = a.admit(9999).err().expect("over the total");
        assert!(e.contains("users hold 1024 connections"), "{e}");
        drop(held);
        a.admit(9999).unwrap();
    }
}
