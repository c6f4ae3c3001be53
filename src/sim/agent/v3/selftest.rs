//! The v3 agent's self-test decisions: the version check of a job in
//! `self_test` (`handleSelfTestJobDoc`) and the self-test itself (`inSelfTestHandler`).

use super::*;

impl V3Agent {
    /// `handleSelfTestJobDoc` with `validateUpdateVersion`.
    pub(super) fn self_test_job_doc(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        logs::v3(pal, "INFO", "ota.c", 2139, "In self test mode.");
        let updater = self.ctx.updated_by;
        let mut check = 0;
        if self.ctx.fileid == 0 && self.ctx.file_type == 0 {
            if updater == self.running {
                let text = "Application version of the new image is identical to the current image: New images are expected to have a higher version number: ";
                logs::v3(pal, "WARN", "ota.c", 1952, text);
                check = ERR_SAME_VERSION;
            } else if updater > self.running {
                let text = "Application version of the new image is lower than the current image: New images are expected to have a higher version number.";
                logs::v3(pal, "WARN", "ota.c", 1959, text);
                check = ERR_DOWNGRADE;
            } else {
                let ((a, b, c), (x, y, z)) = (split_version(self.running), split_version(updater));
                let text = format!("New image has a higher version number than the current image: New image version={a}.{b}.{c}, Previous image version={x}.{y}.{z}");
                logs::v3(pal, "INFO", "ota.c", 1970, &text);
            }
        }
        if check == 0 {
            let text = format!(
                "Image version is valid: Begin testing file: File ID={}",
                self.ctx.fileid
            );
            logs::v3(pal, "INFO", "ota.c", 2163, &text);
            let _ = self.set_image_state(pal, acts, ImageState::Testing, 0);
        } else {
            let name = if check == ERR_SAME_VERSION {
                "OtaErrSameFirmwareVersion"
            } else {
                "OtaErrDowngradeNotAllowed"
            };
            let text = format!("New image is being rejected: Application version of the new image is invalid: OtaErr_t={name}");
            logs::v3(pal, "WARN", "ota.c", 2180, &text);
            let _ = self.set_image_state(pal, acts, ImageState::Rejected, check);
            self.reset(acts);
        }
    }

    pub(super) fn in_self_test_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        logs::v3(pal, "INFO", "ota.c", 807, "Beginning self-test.");
        if !Self::platform_in_self_test(pal) {
            let text = "Rejecting new image and rebooting:The job is in the self-test state while the platform is not.";
            logs::v3(pal, "WARN", "ota.c", 826, text);
            let _ = self.set_image_state(pal, acts, ImageState::Rejected, ERR_STATE_MISMATCH);
            self.reset(acts);
            return Ok(());
        }
        // The application's OtaJobEventStartTest callback.
        match self.cfg.self_test {
            SelfTest::Pass => {
                let _ = self.set_image_state(pal, acts, ImageState::Accepted, 0);
            }
            SelfTest::Fail => {
                let _ = self.set_image_state(pal, acts, ImageState::Rejected, 0);
                self.reset(acts);
                return Ok(());
            }
            SelfTest::Hang => {
                self.stuck = true;
                return Ok(());
            }
        }
        self.ctx.self_test = false;
        acts.push(Action::StopTimer(TimerId::SelfTest));
        Ok(())
    }
}
