//! hacasim's engine and models: simulated time, the event queue, seeded
//! random streams, the network, CometBFT consensus, the scenario schema and
//! the records a run emits. No file I/O: callers hand in text and a sink.

pub mod consensus;
pub mod economy;
pub mod event;
pub mod inference;
pub mod market;
pub mod mempool;
pub mod network;
pub mod phold;
pub mod queue;
pub mod records;
pub mod regions;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod summary;
pub mod time;
pub mod verification;
pub mod workload;

pub use records::{
    BlockRecord, LedgerRecord, MarketRecord, NodeRecord, NullSink, RecordSink, RoundRecord, VecSink,
};
pub use scenario::{Scenario, ScenarioError};
pub use sim::{SimError, SimErrorKind, Simulation};
pub use summary::Summary;
pub use time::{SimDuration, SimTime};
