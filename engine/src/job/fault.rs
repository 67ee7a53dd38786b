//! Crash points for the crash tests.

/// Where the crash tests can make the process die inside an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaultPoint {
    /// The epoch is processed; the sink has not been called.
    BeforeSink,
    /// The sink has committed the epoch; the checkpoint has not.
    AfterSink,
    /// The checkpoint commit is written.
    AfterCommit,
}

/// `EDDY_FAULT=<before_sink|after_sink|after_commit>@<epoch>`: the first
/// query to reach that point of that epoch aborts the whole process, as a
/// crash would. Only the crash tests set it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fault {
    pub(super) point: FaultPoint,
    pub(super) epoch: u64,
}

impl Fault {
    pub(super) fn from_env() -> Option<Fault> {
        let spec = std::env::var("EDDY_FAULT").ok()?;
        let (point, epoch) = spec.split_once('@')?;
        let point = match point {
            "before_sink" => FaultPoint::BeforeSink,
            "after_sink" => FaultPoint::AfterSink,
            "after_commit" => FaultPoint::AfterCommit,
            _ => return None,
        };
        Some(Fault {
            point,
            epoch: epoch.parse().ok()?,
        })
    }
}
