//! The `probe` power part: a board whose power the rig cannot switch (it is fed by its
//! USB/debug connection) but which it can reset through its flasher (debug probe or
//! vendor tool). It cannot power-cycle, so scenarios that need a power cycle are skipped
//! on it and the recovery check stops at the reset.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BoardError, Flasher, PartEvents, Power};
use crate::timeline::EventKind;

/// Reset through a flasher; `on` is a no-op, `off` is refused.
pub struct ProbePower {
    board: String,
    flasher: Arc<dyn Flasher>,
}

impl ProbePower {
    pub fn new(board: impl Into<String>, flasher: Arc<dyn Flasher>) -> Self {
        ProbePower {
            board: board.into(),
            flasher,
        }
    }
}

#[async_trait]
impl Power for ProbePower {
    /// The board is always powered; saying so keeps the timeline honest.
    async fn on(&self, events: &PartEvents) -> Result<(), BoardError> {
        events.emit(EventKind::Note {
            text: "power on: nothing to switch (power: probe); the board is powered by its USB/debug connection".into(),
        });
        Ok(())
    }

    async fn off(&self, _events: &PartEvents) -> Result<(), BoardError> {
        Err(BoardError::Unsupported(format!(
            "power off of board {} (its power part is `probe`, which can only reset; add a relay or USB hub port with `power: {{ command: ... }}`)",
            self.board
        )))
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.flasher.reset(events).await
    }

    fn can_power_cycle(&self) -> bool {
        false
    }

    async fn cycle(
        &self,
        _off_for: std::time::Duration,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        self.off(events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::FlashImage;
    use crate::timeline::Timeline;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingFlasher {
        resets: AtomicUsize,
    }

    #[async_trait]
    impl Flasher for CountingFlasher {
        async fn flash(&self, _: &FlashImage, _: &PartEvents) -> Result<(), BoardError> {
            unreachable!("power never flashes")
        }
        async fn reset(&self, _: &PartEvents) -> Result<(), BoardError> {
            self.resets.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn resets_go_through_the_flasher_and_power_cycles_are_refused() {
        let flasher = Arc::new(CountingFlasher::default());
        let power = ProbePower::new("stm32-b", flasher.clone());
        let timeline = Arc::new(Timeline::in_memory());
        let events = PartEvents {
            board: "stm32-b".into(),
            sink: timeline.clone(),
        };
        assert!(!power.can_power_cycle());
        power.reset(&events).await.unwrap();
        assert_eq!(flasher.resets.load(Ordering::SeqCst), 1);
        power.on(&events).await.unwrap();
        let err = power
            .cycle(std::time::Duration::from_millis(1), &events)
            .await
            .unwrap_err();
        assert!(matches!(err, BoardError::Unsupported(_)));
        assert!(err.to_string().contains("board stm32-b"), "{err}");
        assert_eq!(timeline.events().len(), 1, "only the `on` note");
    }
}
