//! Advisory locks: `pg_advisory_lock(key)` and friends, as migration tools
//! (sqlx, Flyway, Rails) use them to keep two deployments from migrating
//! at once.
//!
//! One [`LockTable`] per process holds every lock; each session owns a
//! [`SessionLocks`] handle that remembers what it holds. Session-level locks
//! are re-entrant (taken twice, released twice) and are all released when
//! the handle is dropped — when the session's DataFusion context, which
//! holds it through the registered functions, goes away at disconnect.
//! Exclusive locks exclude everyone else; shared locks exclude only
//! exclusive holders. `pg_advisory_lock` waits (blocking its worker thread
//! through `block_in_place`) until the lock is free.
//!
//! Transaction-level locks (`pg_advisory_xact_lock`) are released by
//! [`SessionLocks::release_transaction_locks`], which the session calls
//! when it is outside a transaction block before each statement.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;

use crate::udf::{as_i64, register as register_udf};

/// A lock key: one bigint, or two integers (a separate key space, as in
/// PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockKey {
    One(i64),
    Two(i32, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exclusive,
    Shared,
}

/// Holds of one session on one key.
#[derive(Debug, Default, Clone, Copy)]
struct Holds {
    exclusive: u32,
    shared: u32,
}

#[derive(Default)]
pub struct LockTable {
    /// key → session id → holds.
    held: Mutex<HashMap<LockKey, HashMap<u64, Holds>>>,
    freed: Condvar,
}

static LOCKS: LazyLock<LockTable> = LazyLock::new(LockTable::default);
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

impl LockTable {
    fn can_take(holders: &HashMap<u64, Holds>, session: u64, mode: Mode) -> bool {
        holders
            .iter()
            .filter(|(s, _)| **s != session)
            .all(|(_, h)| match mode {
                Mode::Exclusive => h.exclusive == 0 && h.shared == 0,
                Mode::Shared => h.exclusive == 0,
            })
    }

    fn try_take(&self, session: u64, key: LockKey, mode: Mode) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let holders = held.entry(key).or_default();
        if !Self::can_take(holders, session, mode) {
            return false;
        }
        let holds = holders.entry(session).or_default();
        match mode {
            Mode::Exclusive => holds.exclusive += 1,
            Mode::Shared => holds.shared += 1,
        }
        true
    }

    fn take(&self, session: u64, key: LockKey, mode: Mode) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let holders = held.entry(key).or_default();
            if Self::can_take(holders, session, mode) {
                let holds = holders.entry(session).or_default();
                match mode {
                    Mode::Exclusive => holds.exclusive += 1,
                    Mode::Shared => holds.shared += 1,
                }
                return;
            }
            held = self.freed.wait(held).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn release(&self, session: u64, key: LockKey, mode: Mode) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let Some(holders) = held.get_mut(&key) else {
            return false;
        };
        let Some(holds) = holders.get_mut(&session) else {
            return false;
        };
        let count = match mode {
            Mode::Exclusive => &mut holds.exclusive,
            Mode::Shared => &mut holds.shared,
        };
        if *count == 0 {
            return false;
        }
        *count -= 1;
        if holds.exclusive == 0 && holds.shared == 0 {
            holders.remove(&session);
        }
        if holders.is_empty() {
            held.remove(&key);
        }
        self.freed.notify_all();
        true
    }

    fn release_all(&self, session: u64, keys: impl IntoIterator<Item = LockKey>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(holders) = held.get_mut(&key) {
                holders.remove(&session);
                if holders.is_empty() {
                    held.remove(&key);
                }
            }
        }
        self.freed.notify_all();
    }
}

/// The advisory locks of one session.
pub struct SessionLocks {
    id: u64,
    table: &'static LockTable,
    /// Keys locked at transaction level, released at the end of the
    /// transaction (or statement, outside one).
    xact: Mutex<Vec<(LockKey, Mode)>>,
    /// Every key this session has touched, to release at disconnect.
    touched: Mutex<Vec<LockKey>>,
}

impl SessionLocks {
    pub fn new() -> Arc<SessionLocks> {
        Arc::new(SessionLocks {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            table: &LOCKS,
            xact: Mutex::new(Vec::new()),
            touched: Mutex::new(Vec::new()),
        })
    }

    fn touch(&self, key: LockKey) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        if !touched.contains(&key) {
            touched.push(key);
        }
    }

    /// Waits until the lock is free, then takes it.
    pub fn lock(&self, key: LockKey, mode: Mode) {
        self.touch(key);
        if self.table.try_take(self.id, key, mode) {
            return;
        }
        let wait = || self.table.take(self.id, key, mode);
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    pub fn try_lock(&self, key: LockKey, mode: Mode) -> bool {
        self.touch(key);
        self.table.try_take(self.id, key, mode)
    }

    pub fn lock_xact(&self, key: LockKey, mode: Mode, wait: bool) -> bool {
        let taken = if wait {
            self.lock(key, mode);
            true
        } else {
            self.try_lock(key, mode)
        };
        if taken {
            self.xact
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((key, mode));
        }
        taken
    }

    /// `pg_advisory_unlock`: false (and PostgreSQL's warning) if not held.
    pub fn unlock(&self, key: LockKey, mode: Mode) -> bool {
        self.table.release(self.id, key, mode)
    }

    pub fn unlock_all(&self) {
        let keys = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()));
        self.xact.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.table.release_all(self.id, keys);
    }

    pub fn release_transaction_locks(&self) {
        let xact = std::mem::take(&mut *self.xact.lock().unwrap_or_else(|e| e.into_inner()));
        for (key, mode) in xact {
            self.table.release(self.id, key, mode);
        }
    }
}

impl Drop for SessionLocks {
    fn drop(&mut self) {
        self.unlock_all();
    }
}

/// Registers `pg_advisory_lock` and friends on a session's context; the
/// functions hold `locks`, so they live as long as the context.
pub fn register_functions(ctx: &SessionContext, locks: &Arc<SessionLocks>) {
    let void = || Ok(ScalarValue::Utf8(Some(String::new())));
    for (name, mode) in [
        ("pg_advisory_lock", Mode::Exclusive),
        ("pg_advisory_lock_shared", Mode::Shared),
    ] {
        let locks = locks.clone();
        register_udf(ctx, name, &[1, 2], DataType::Utf8, move |args| {
            locks.lock(key(args)?, mode);
            void()
        });
    }
    for (name, mode) in [
        ("pg_advisory_xact_lock", Mode::Exclusive),
        ("pg_advisory_xact_lock_shared", Mode::Shared),
    ] {
        let locks = locks.clone();
        register_udf(ctx, name, &[1, 2], DataType::Utf8, move |args| {
            locks.lock_xact(key(args)?, mode, true);
            void()
        });
    }
    type Op = fn(&SessionLocks, LockKey, Mode) -> bool;
    let ops: [(&str, Mode, Op); 6] = [
        (
            "pg_try_advisory_lock",
            Mode::Exclusive,
            SessionLocks::try_lock,
        ),
        (
            "pg_try_advisory_lock_shared",
            Mode::Shared,
            SessionLocks::try_lock,
        ),
        ("pg_advisory_unlock", Mode::Exclusive, SessionLocks::unlock),
        (
            "pg_advisory_unlock_shared",
            Mode::Shared,
            SessionLocks::unlock,
        ),
        ("pg_try_advisory_xact_lock", Mode::Exclusive, |l, k, m| {
            l.lock_xact(k, m, false)
        }),
        (
            "pg_try_advisory_xact_lock_shared",
            Mode::Shared,
            |l, k, m| l.lock_xact(k, m, false),
        ),
    ];
    for (name, mode, op) in ops {
        let locks = locks.clone();
        register_udf(ctx, name, &[1, 2], DataType::Boolean, move |args| {
            Ok(ScalarValue::Boolean(Some(op(&locks, key(args)?, mode))))
        });
    }
    let locks = locks.clone();
    register_udf(
        ctx,
        "pg_advisory_unlock_all",
        &[0],
        DataType::Utf8,
        move |_| {
            locks.unlock_all();
            void()
        },
    );
}

fn key(args: &[ScalarValue]) -> DfResult<LockKey> {
    let int = |v: &ScalarValue| {
        as_i64(v).ok_or_else(|| {
            DataFusionError::Execution("advisory lock keys must be non-null integers".into())
        })
    };
    match args {
        [k] => Ok(LockKey::One(int(k)?)),
        [a, b] => Ok(LockKey::Two(int(a)? as i32, int(b)? as i32)),
        _ => Err(DataFusionError::Execution(
            "advisory locks take one bigint or two integer keys".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_others_and_is_reentrant() {
        let a = SessionLocks::new();
        let b = SessionLocks::new();
        let key = LockKey::One(4242);
        assert!(a.try_lock(key, Mode::Exclusive));
        assert!(a.try_lock(key, Mode::Exclusive));
        assert!(!b.try_lock(key, Mode::Shared));
        assert!(a.unlock(key, Mode::Exclusive));
        assert!(!b.try_lock(key, Mode::Exclusive));
        assert!(a.unlock(key, Mode::Exclusive));
        assert!(!a.unlock(key, Mode::Exclusive));
        assert!(b.try_lock(key, Mode::Shared));
        assert!(a.try_lock(key, Mode::Shared));
        assert!(!a.try_lock(key, Mode::Exclusive));
    }

    #[test]
    fn dropping_a_session_releases_its_locks() {
        let key = LockKey::Two(1, 2);
        let a = SessionLocks::new();
        assert!(a.try_lock(key, Mode::Exclusive));
        let b = SessionLocks::new();
        let waiter = std::thread::spawn(move || {
            b.lock(key, Mode::Exclusive);
            b
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(a);
        let b = waiter.join().unwrap();
        assert!(b.unlock(key, Mode::Exclusive));
    }
}
