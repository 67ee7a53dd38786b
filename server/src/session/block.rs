//! Transaction blocks: `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints, with
//! PostgreSQL's states (a failed block answers `ROLLBACK` to `COMMIT`) and
//! warnings (25001 for `BEGIN` inside a block, 25P01 outside one).

use datafusion::sql::sqlparser::ast::Ident;

use super::Session;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::{Outcome, TxState};

impl Session {
    pub(super) fn begin(&mut self) -> Outcome {
        if self.tx != TxState::Idle {
            self.notice(
                "WARNING",
                "25001",
                "there is already a transaction in progress",
            );
        }
        self.tx = TxState::InBlock;
        Outcome::Begin
    }

    /// `COMMIT`: applies the block (see `Workspace::commit`); a failed
    /// block is discarded and answers `ROLLBACK`.
    pub(super) async fn commit(&mut self) -> UserResult<Outcome> {
        let tag = match self.tx {
            TxState::Failed => "ROLLBACK",
            TxState::Idle => {
                self.notice("WARNING", "25P01", "there is no transaction in progress");
                "COMMIT"
            }
            TxState::InBlock => "COMMIT",
        };
        let failed = self.tx == TxState::Failed;
        self.tx = TxState::Idle;
        self.savepoints.clear();
        self.release_transaction_locks();
        if failed {
            self.ws.discard();
        } else {
            let warnings = self.ws.commit().await?;
            self.relay_commit_warnings(warnings);
        }
        Ok(Outcome::End(tag))
    }

    pub(super) fn rollback(&mut self) -> Outcome {
        if self.tx == TxState::Idle {
            self.notice("WARNING", "25P01", "there is no transaction in progress");
        }
        self.tx = TxState::Idle;
        self.savepoints.clear();
        self.release_transaction_locks();
        self.ws.discard();
        Outcome::End("ROLLBACK")
    }

    pub(super) fn savepoint(&mut self, name: &Ident) -> UserResult<Outcome> {
        self.in_block("SAVEPOINT")?;
        self.savepoints
            .push((names::ident(name), self.ws.snapshot()));
        Ok(Outcome::Command("SAVEPOINT".into(), None))
    }

    pub(super) fn release_savepoint(&mut self, name: &Ident) -> UserResult<Outcome> {
        self.in_block("RELEASE SAVEPOINT")?;
        let i = self.savepoint_position(name)?;
        self.savepoints.truncate(i);
        Ok(Outcome::Command("RELEASE".into(), None))
    }

    /// `ROLLBACK TO SAVEPOINT`: undoes what followed the savepoint, which
    /// stays, and leaves the failed state.
    pub(super) fn rollback_to(&mut self, name: &Ident) -> UserResult<Outcome> {
        self.in_block("ROLLBACK TO SAVEPOINT")?;
        let i = self.savepoint_position(name)?;
        self.savepoints.truncate(i + 1);
        self.ws.restore(self.savepoints[i].1.clone());
        self.tx = TxState::InBlock;
        Ok(Outcome::Command("ROLLBACK".into(), None))
    }

    fn in_block(&self, what: &str) -> UserResult<()> {
        if self.tx == TxState::Idle {
            return Err(UserError::new(
                "25P01",
                format!("{what} can only be used in transaction blocks"),
            ));
        }
        Ok(())
    }

    /// The position of the newest savepoint of that name.
    fn savepoint_position(&self, name: &Ident) -> UserResult<usize> {
        let name = names::ident(name);
        self.savepoints
            .iter()
            .rposition(|(n, _)| *n == name)
            .ok_or_else(|| UserError::new("3B001", format!("savepoint \"{name}\" does not exist")))
    }
}
