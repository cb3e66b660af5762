// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element's model: loaded on the inference thread when the element starts, swapped between two frames
//! when `model` changes, and (in test builds) made to fail on purpose.

use gst::subclass::prelude::*;

use super::super::engine::{Engine, Failure, LoadedModel};
use super::super::settings::Settings;
use super::{CAT, Nfbmr, State};

impl Nfbmr {
    /// Loads the model `model` was last set to, between two frames, on the inference thread. When it
    /// fails, the model in use stays and a warning says why.
    pub(super) fn swap_model(&self, state: &mut State, settings: &Settings) {
        state.model_changes = settings.model_changes;
        let Some(path) = &settings.model else { return };
        match state
            .engine
            .swap(path, settings.device_spec(), settings.code_policy())
        {
            Ok(loaded) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "Swapped in model {} ({})",
                    loaded.path.display(),
                    loaded.id
                );
                state.model = loaded;
                state.last = None;
            }
            Err(err) => gst::element_imp_warning!(
                self,
                gst::ResourceError::OpenRead,
                ["Keeping model {}: {err}", state.model.path.display()]
            ),
        }
    }

    /// Starts the inference thread and loads the model on it.
    pub(super) fn start_engine(
        &self,
        settings: &Settings,
    ) -> Result<(Engine, LoadedModel), gst::ErrorMessage> {
        let path = settings.model.as_deref().ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ["No model: set the 'model' property to a .nfbmr file"]
            )
        })?;
        let device = settings.device_spec();
        let (engine, loaded) =
            Engine::start(path, device, settings.code_policy()).map_err(|err| {
                gst::error_msg!(
                    gst::CoreError::Failed,
                    ["Cannot start the inference thread: {err}"]
                )
            })?;
        let model = loaded.map_err(|failure| {
            let kind = match failure {
                Failure::Model(nfbmr::Error::Device(_)) => gst::ResourceError::NotFound,
                _ => gst::ResourceError::OpenRead,
            };
            gst::error_msg!(kind, ["{failure}"])
        })?;
        gst::info!(
            CAT,
            imp = self,
            "Loaded model {} ({}) on {}",
            model.path.display(),
            model.id,
            model.device
        );
        if device == nfbmr::DeviceSpec::Auto && !model.on_cuda {
            gst::element_imp_info!(
                self,
                gst::ResourceError::Settings,
                ["No CUDA device available: running on the CPU"]
            );
        }
        Ok((engine, model))
    }

    /// Test builds only: meets the fault armed for this element, if any.
    #[cfg(test)]
    pub(super) fn inject_fault(&self, state: &State) {
        use super::super::faults::{Fault, take};
        use gst::prelude::*;
        match take(&self.obj().name()) {
            Some(Fault::StreamingThreadPanic) => panic!("injected fault in the streaming thread"),
            Some(Fault::InferenceThreadPanic) => state.engine.panic_on_inference_thread(),
            None => {}
        }
    }
}
