//! The one idea: a run is a timeline. Every observation becomes an [`Event`];
//! expectations, verdicts and reports are all views of the recorded events.

mod event;
mod line_writer;
pub mod query;
mod recorder;

pub use event::{Direction, Event, EventKind, PowerState, Source};
pub use recorder::{EventSink, Mark, NullSink, Observer, Timeline};
