// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element's model: an engine acquired when the element starts (shared with the other elements of the
//! process that load the same file on the same device), replaced between two frames when `model` changes,
//! and (in test builds) made to fail on purpose.

use gst::subclass::prelude::*;

use super::super::engine::{Engine, Failure};
use super::super::settings::Settings;
use super::{CAT, Nfbmr, State};

impl Nfbmr {
    /// Changes to the engine of the model `model` was last set to, between two frames. When that fails,
    /// the model in use stays and a warning says why. The other elements of a shared engine are not
    /// disturbed: the old engine is theirs as long as they hold it.
    pub(super) fn swap_model(&self, state: &mut State, settings: &Settings) {
        state.model_changes = settings.model_changes;
        let Some(spec) = settings.engine_spec() else {
            return;
        };
        match Engine::acquire(&spec) {
            Ok(engine) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "Swapped in model {} ({}), engine shared by {}",
                    engine.model().path.display(),
                    engine.model().id,
                    engine.users()
                );
                state.engine = engine;
                state.forget_verdict();
            }
            Err(err) => gst::element_imp_warning!(
                self,
                gst::ResourceError::OpenRead,
                [
                    "Keeping model {}: {err}",
                    state.engine.model().path.display()
                ]
            ),
        }
    }

    /// The engine of the configured model: a running one, or a new one with the model loaded.
    pub(super) fn start_engine(&self, settings: &Settings) -> Result<Engine, gst::ErrorMessage> {
        let spec = settings.engine_spec().ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ["No model: set the 'model' property to a .nfbmr file"]
            )
        })?;
        let engine = Engine::acquire(&spec).map_err(|failure| {
            let kind = match failure {
                Failure::Model(nfbmr::Error::Device(_)) => gst::ResourceError::NotFound,
                Failure::Thread(_) => gst::ResourceError::Failed,
                _ => gst::ResourceError::OpenRead,
            };
            gst::error_msg!(kind, ["{failure}"])
        })?;
        let model = engine.model();
        gst::info!(
            CAT,
            imp = self,
            "Model {} ({}) on {} in {}, engine shared by {}",
            model.path.display(),
            model.id,
            model.device,
            model.precision,
            engine.users()
        );
        if engine.batching() != spec.batching {
            gst::warning!(
                CAT,
                imp = self,
                "Sharing an engine that batches as {:?}: max-batch and batch-timeout are the first \
                 element's",
                engine.batching()
            );
        }
        if spec.device == nfbmr::DeviceSpec::Auto && !model.on_cuda {
            gst::element_imp_info!(
                self,
                gst::ResourceError::Settings,
                ["No CUDA device available: running on the CPU"]
            );
        }
        Ok(engine)
    }

    /// Test builds only: meets the fault armed for this element, if any.
    #[cfg(test)]
    pub(super) fn inject_fault(&self, state: &mut State) {
        use super::super::faults::{Fault, take};
        use gst::prelude::*;
        match take(&self.obj().name()) {
            Some(Fault::StreamingThreadPanic) => panic!("injected fault in the streaming thread"),
            Some(Fault::InferenceThreadPanic) => state.engine.panic_at_next_frame(),
            None => {}
        }
    }
}
