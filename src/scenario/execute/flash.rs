//! Flashing as the runner does it: a flash counts only once the board prints something,
//! since a flasher that "succeeds" on a board with a dead console proves nothing.

use super::Run;
use crate::scenario::BoundBoard;

impl Run<'_> {
    /// Flashes `image` onto a board and checks that it prints something afterwards;
    /// flashes again up to the board's `flash_retries`, then it is a bench error.
    pub(super) async fn flash(&self, b: &BoundBoard, image: &str) -> Result<(), String> {
        let bench = self.bench(b);
        let flash_image = self
            .ctx
            .fixtures
            .flash_image(image, &bench.config)
            .map_err(|e| e.to_string())?;
        let events = self.part_events(b);
        let attempts = bench.config.flash_retries + 1;
        for attempt in 1..=attempts {
            let from = self.timeline.len();
            self.ctx.waiting(
                &self.scenario.name,
                &b.board,
                &format!("flashing {image}"),
                Some(bench.config.timeouts.flash),
            );
            match tokio::time::timeout(
                bench.config.timeouts.flash,
                bench.flasher.flash(&flash_image, &events),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) if attempt == attempts => {
                    return Err(format!("flashing {image} onto board {}: {e}", b.board))
                }
                Ok(Err(e)) => {
                    self.note(format!(
                        "flashing {image} onto board {} failed ({e}); attempt {}/{attempts}",
                        b.board,
                        attempt + 1
                    ));
                    continue;
                }
                Err(_) => {
                    return Err(format!(
                        "flashing {image} onto board {} took longer than {:?}",
                        b.board, bench.config.timeouts.flash
                    ))
                }
            }
            let window = bench.config.timeouts.boot;
            if self.watch.wait_spoke(&b.board, from, window).await {
                return Ok(());
            }
            self.note(format!(
                "board {} printed nothing within {} of being flashed; attempt {}/{attempts}",
                b.board,
                humantime::format_duration(bench.config.timeouts.boot),
                attempt + 1
            ));
        }
        Err(format!(
            "board {} stayed silent after {attempts} flashes of {image}: check its console port and power",
            b.board
        ))
    }
}
