//! The v3 agent's data plane: stream subscription, block requests, block
//! ingestion with the close and signature check, and `otaClose`.

use super::*;

impl V3Agent {
    pub(super) fn init_file_handler(
        &mut self,
        _pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        let topic =
            logs::topic_stream_data(self.thing(), self.ctx.stream.as_deref().unwrap_or_default());
        acts.push(Action::Subscribe {
            topic: topic.clone(),
            qos: 0,
        });
        self.data_topic = Some(topic);
        self.momentum = 0;
        self.signal(Event::RequestFileBlock);
        Ok(())
    }

    pub(super) fn request_data_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        let Some(dl) = self.dl.as_ref().filter(|d| d.blocks_remaining > 0) else {
            return Ok(());
        };
        let msg = cbor::encode_get_stream(&GetStream {
            file_id: self.ctx.fileid,
            block_size: dl.block_size,
            bitmap: &dl.bitmap,
            num_blocks: Some(self.cfg.blocks_per_request),
        });
        self.start_request_timer(acts);
        if self.momentum < MOMENTUM_LIMIT {
            let topic = logs::topic_stream_get(
                self.thing(),
                self.ctx.stream.as_deref().unwrap_or_default(),
            );
            acts.push(Action::Publish {
                topic: topic.clone(),
                payload: msg,
                qos: 0,
            });
            let text = format!("Published to MQTT topic to request the next block: topic={topic}");
            logs::v3(pal, "INFO", "ota_mqtt.c", 1166, &text);
            self.blocks_to_receive = self.cfg.blocks_per_request;
            self.momentum += 1;
            return Ok(());
        }
        self.stop_request_timer(acts);
        let _ = self.set_image_state(pal, acts, ImageState::Aborted, 0);
        self.signal(Event::Shutdown);
        self.momentum = 0;
        Err(ERR_MOMENTUM_ABORT)
    }

    pub(super) fn process_data_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        data: &[u8],
    ) -> Result<(), u32> {
        let (result, close) = self.ingest(pal, acts, data);
        if result == INGEST_COMPLETE {
            let payload = if self.ctx.file_type == 0 {
                logs::status_self_test("ready", &format!("{:08x}", self.running))
            } else {
                logs::status_succeeded_v3(self.ctx.file_type, self.ctx.updated_by)
            };
            self.publish(pal, acts, payload, 1);
            self.stop_request_timer(acts);
            self.signal(Event::CloseFile);
            self.active_job.clear();
            if self.ctx.file_type == 0 {
                // OtaJobEventActivate: the application activates, the PAL resets.
                self.reset(acts);
            }
        } else if result < INGEST_COMPLETE {
            let text = format!("Failed to ingest data block, rejecting image: ingestDataBlock returned error: OtaErr_t={result}");
            logs::v3(pal, "ERROR", "ota.c", 1238, &text);
            let _ = pal.set_image_state(ImageState::Rejected);
            self.publish(
                pal,
                acts,
                logs::status_failed_with_values(close >> 24, close & 0x00ff_ffff),
                1,
            );
            self.stop_request_timer(acts);
            self.signal(Event::CloseFile);
            self.active_job.clear();
        } else if result == INGEST_CONTINUE {
            self.momentum = 0;
            if let Some(dl) = &self.dl {
                let got = dl.received();
                if got == 1 || got % self.status_frequency == 0 {
                    self.publish(pal, acts, logs::status_receiving(got, dl.num_blocks), 0);
                }
            }
            if self.blocks_to_receive > 1 {
                self.blocks_to_receive -= 1;
            } else {
                self.start_request_timer(acts);
                self.signal(Event::RequestFileBlock);
            }
        }
        Ok(())
    }

    /// `ingestDataBlock`: returns the `IngestResult_t` and the close status.
    pub(super) fn ingest(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        data: &[u8],
    ) -> (i32, u32) {
        let mut close = codes::V3_PAL_UNINITIALIZED << 24;
        if self.dl.as_ref().is_none_or(|d| d.blocks_remaining == 0) {
            return (INGEST_UNEXPECTED_BLOCK, close);
        }
        self.start_request_timer(acts);
        let block_size = 1usize << self.cfg.log2_block_size;
        let Some(block) = cbor::decode_data_block(data).filter(|b| b.payload.len() <= block_size)
        else {
            return (INGEST_BAD_DATA, close);
        };
        if !self.file_open {
            logs::v3(
                pal,
                "ERROR",
                "ota.c",
                2555,
                "Parameter check failed: pFileContext->pFile is NULL.",
            );
            return (INGEST_BAD_FILE_HANDLE, close);
        }
        let Some(dl) = self.dl.as_mut() else {
            return (INGEST_UNEXPECTED_BLOCK, close);
        };
        let (i, l) = (block.block_id, block.block_size);
        match dl.check(i, l) {
            BlockCheck::OutOfRange => {
                let text = format!("Block range check failed: Received a block outside of the expected range: Block index={}, Block size={}", i as u32, l as u32);
                logs::v3(pal, "ERROR", "ota.c", 2569, &text);
                return (INGEST_OUT_OF_RANGE, close);
            }
            BlockCheck::Duplicate => {
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    2535,
                    &format!("Received valid file block: Block index={i}, Size={l}"),
                );
                logs::v3(
                    pal,
                    "WARN",
                    "ota.c",
                    2586,
                    &format!("Received a duplicate block: Block index={i}, Block size={l}"),
                );
                return (INGEST_DUPLICATE, 0);
            }
            BlockCheck::New => {
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    2535,
                    &format!("Received valid file block: Block index={i}, Size={l}"),
                );
            }
        }
        let data = &block.payload[..block.payload.len().min(l as usize)];
        if pal.write_block(i as u32 * dl.block_size, data).is_err() {
            let text = format!("Failed to ingest received block: iBytesWritten: -1, IngestResult_t={INGEST_WRITE_FAILED}");
            logs::v3(pal, "ERROR", "ota.c", 2611, &text);
            return (INGEST_WRITE_FAILED, close);
        }
        dl.mark(i as u32);
        close = 0;
        if dl.blocks_remaining > 0 {
            logs::v3(
                pal,
                "INFO",
                "ota.c",
                2771,
                &format!("Number of blocks remaining: {}", dl.blocks_remaining),
            );
            return (INGEST_CONTINUE, close);
        }
        logs::v3(
            pal,
            "INFO",
            "ota.c",
            2718,
            "Received final block of the update.",
        );
        self.stop_request_timer(acts);
        self.file_open = false;
        match pal.close_file(&self.file) {
            Ok(()) => {
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    2742,
                    "Received entire update and validated the signature.",
                );
                (INGEST_COMPLETE, 0)
            }
            Err(e) => {
                let (main, status) = (codes::v3_main(e), codes::v3_status(e));
                let text = format!(
                    "Failed to close the OTA file: Error=({}:0x{status:06x})",
                    codes::v3_pal_name(main)
                );
                logs::v3(pal, "ERROR", "ota.c", 2747, &text);
                let result = if main == 0xe3 {
                    INGEST_SIG_CHECK_FAIL
                } else {
                    INGEST_FILE_CLOSE_FAIL
                };
                (result, status)
            }
        }
    }

    pub(super) fn close_file_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        logs::v3(pal, "INFO", "ota.c", 1315, "Closing file: file index=0");
        self.ota_close(pal, acts);
        Ok(())
    }

    pub(super) fn data_cleanup(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        if let Some(topic) = self.data_topic.take() {
            logs::v3(
                pal,
                "INFO",
                "ota_mqtt.c",
                459,
                &format!("Unsubscribed to MQTT topic: {topic}"),
            );
            acts.push(Action::Unsubscribe { topic });
        }
    }

    /// `otaClose`: data plane cleanup, PAL abort, file buffers cleared.
    pub(super) fn ota_close(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        self.data_cleanup(pal, acts);
        let _ = pal.abort(&self.file);
        self.dl = None;
        self.file_open = false;
    }
}
