//! Around the steps: before anything is flashed, each board is provisioned, powered and
//! its console attached, so no boot output is lost (a failure here is the bench's); after
//! the verdicts, boards are switched off and the cloud released.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Run;
use crate::scenario::bench;
use crate::scenario::BoundBoard;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    /// Each board: its identity, power, and its console lines onto the timeline, stamped
    /// as they arrive. Returns the tasks that carry the lines (aborted at teardown).
    pub(super) async fn connect_boards(&mut self) -> Vec<JoinHandle<()>> {
        let mut pumps = Vec::new();
        for b in self.bound.clone() {
            match self.connect(&b).await {
                Ok(pump) => pumps.push(pump),
                Err(message) => {
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::BenchError {
                            message: message.clone(),
                        },
                    );
                    self.errors.entry(b.role.clone()).or_insert(message);
                }
            }
        }
        pumps
    }

    async fn connect(&self, b: &BoundBoard) -> Result<JoinHandle<()>, String> {
        self.provision(b).await?;
        let bench = self.bench(b);
        bench
            .power_on(&self.part_events(b))
            .await
            .map_err(|e| format!("switching on board {}: {e}", b.board))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        bench.console.set_events(self.part_events(b));
        bench
            .console
            .attach(tx)
            .await
            .map_err(|e| format!("console of board {}: {e}", b.board))?;
        let timeline = self.timeline.clone();
        let name = b.board.clone();
        Ok(tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                timeline.emit(Source::board(&name), EventKind::Console { line });
            }
        }))
    }

    /// A fresh start for the board, then who it is and where this run's cloud is.
    async fn provision(&self, b: &BoundBoard) -> Result<(), String> {
        let cloud = &self.cloud;
        let identity = bench::identity(cloud.pki(), &b.thing, &cloud.host, cloud.port, cloud.tls);
        let bench = self.bench(b);
        let provisioned = match bench.start_fresh().await {
            Ok(()) => bench.provision(&identity).await,
            Err(e) => Err(e),
        };
        provisioned.map_err(|e| format!("provisioning board {}: {e}", b.board))
    }

    /// Boards are left off, consoles closed and the scenario's cloud stopped (or its
    /// share of the run's cloud cleaned), whatever the verdicts.
    pub(super) async fn teardown(self, pumps: Vec<tokio::task::JoinHandle<()>>) {
        for b in &self.bound {
            let _ = self.bench(b).power_off(&self.part_events(b)).await;
        }
        for b in &self.bound {
            self.bench(b).console.detach().await;
        }
        let things: Vec<String> = self.bound.iter().map(|b| b.thing.clone()).collect();
        self.cloud.stop(&things).await;
        for pump in pumps {
            pump.abort();
        }
    }
}
