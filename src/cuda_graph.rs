// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model's forward pass recorded once as a CUDA graph and replayed per batch: one launch instead of
//! hundreds of small kernels, which is what bounds a 256×256 model at batch 1 on a large GPU
//! (docs/benchmarks.md). tch has no binding for CUDA graphs, so `src/cuda_graph.cpp` wraps libtorch's; it
//! is built when the libtorch nfbmr links has CUDA.

use tch::{Device, Tensor};

use crate::error::{Error, Result};

/// A forward pass recorded at one batch size. Its input and output are tensors of the graph's own that
/// every replay reuses: a batch is copied into the input, and the output is read before the next replay.
pub struct CapturedForward {
    graph: ffi::Graph,
    input: Tensor,
    output: Tensor,
}

// SAFETY: the graph is only touched through `&mut self` or the owner's lock, and CUDA graphs may be replayed
// from any thread.
unsafe impl Send for CapturedForward {}

impl CapturedForward {
    /// Records `forward` applied to a batch shaped as `example` (on a CUDA device), after running it twice
    /// on the same side stream so that libtorch's lazily made handles and cuDNN's choices exist before the
    /// recording starts.
    pub fn capture(example: &Tensor, forward: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        let Device::Cuda(index) = example.device() else {
            return Err(Error::Device(
                "CUDA graphs need a CUDA device; the model runs on the CPU".into(),
            ));
        };
        let input = example.copy();
        let side = ffi::SideStream::enter(index)?;
        for _ in 0..2 {
            drop(forward(&input)?);
        }
        let graph = ffi::Graph::new()?;
        graph.begin()?;
        let recorded = forward(&input);
        let ended = graph.end();
        side.leave()?;
        let output = recorded?;
        ended?;
        Ok(CapturedForward {
            graph,
            input,
            output,
        })
    }

    /// The batch size it was recorded at.
    pub fn batch(&self) -> i64 {
        self.input.size()[0]
    }

    /// The forward pass of `batch` (at most [`CapturedForward::batch`] items, shaped as the example
    /// otherwise): copied into the recorded input, replayed, and the output's first rows copied out.
    pub fn run(&mut self, batch: &Tensor) -> Result<Tensor> {
        let items = batch.size()[0];
        if items > self.batch() {
            return Err(Error::Device(format!(
                "a batch of {items} given to a CUDA graph recorded for {}",
                self.batch()
            )));
        }
        self.input.narrow(0, 0, items).copy_(batch);
        self.graph.replay()?;
        Ok(self.output.narrow(0, 0, items).copy())
    }
}

/// Whether this build can record CUDA graphs (its libtorch has CUDA).
pub const AVAILABLE: bool = cfg!(nfbmr_cuda_graphs);

#[cfg(nfbmr_cuda_graphs)]
mod ffi {
    use std::ffi::{CStr, c_char, c_int, c_void};

    use crate::error::{Error, Result};

    unsafe extern "C" {
        fn nfbmr_cuda_error_free(error: *mut c_char);
        fn nfbmr_cuda_side_stream_enter(device: c_int, side: *mut *mut c_void) -> *mut c_char;
        fn nfbmr_cuda_side_stream_leave(side: *mut c_void) -> *mut c_char;
        fn nfbmr_cuda_graph_new(graph: *mut *mut c_void) -> *mut c_char;
        fn nfbmr_cuda_graph_free(graph: *mut c_void);
        fn nfbmr_cuda_graph_begin(graph: *mut c_void) -> *mut c_char;
        fn nfbmr_cuda_graph_end(graph: *mut c_void) -> *mut c_char;
        fn nfbmr_cuda_graph_replay(graph: *mut c_void) -> *mut c_char;
    }

    /// The shim's error message, if any, as an error (and the message freed).
    fn checked(error: *mut c_char, what: &str) -> Result<()> {
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null return is a NUL-terminated string the shim allocated for us to free.
        let message = unsafe { CStr::from_ptr(error) }
            .to_string_lossy()
            .into_owned();
        unsafe { nfbmr_cuda_error_free(error) };
        Err(Error::Device(format!("CUDA graph: {what}: {message}")))
    }

    /// A side stream made current on this thread; [`SideStream::leave`] makes the previous one current.
    pub struct SideStream(*mut c_void);

    impl SideStream {
        pub fn enter(device: usize) -> Result<Self> {
            let mut side = std::ptr::null_mut();
            // SAFETY: `side` is written only on success.
            checked(
                unsafe { nfbmr_cuda_side_stream_enter(device as c_int, &mut side) },
                "entering a side stream",
            )?;
            Ok(SideStream(side))
        }

        pub fn leave(self) -> Result<()> {
            // SAFETY: `self.0` came from `enter` and is consumed here.
            checked(
                unsafe { nfbmr_cuda_side_stream_leave(self.0) },
                "leaving the side stream",
            )
        }
    }

    pub struct Graph(*mut c_void);

    impl Graph {
        pub fn new() -> Result<Self> {
            let mut graph = std::ptr::null_mut();
            // SAFETY: `graph` is written only on success.
            checked(unsafe { nfbmr_cuda_graph_new(&mut graph) }, "creating")?;
            Ok(Graph(graph))
        }

        pub fn begin(&self) -> Result<()> {
            // SAFETY: a live graph from `new`.
            checked(
                unsafe { nfbmr_cuda_graph_begin(self.0) },
                "starting capture",
            )
        }

        pub fn end(&self) -> Result<()> {
            // SAFETY: a live graph from `new`.
            checked(unsafe { nfbmr_cuda_graph_end(self.0) }, "ending capture")
        }

        pub fn replay(&self) -> Result<()> {
            // SAFETY: a live graph from `new`.
            checked(unsafe { nfbmr_cuda_graph_replay(self.0) }, "replaying")
        }
    }

    impl Drop for Graph {
        fn drop(&mut self) {
            // SAFETY: a live graph from `new`, freed once.
            unsafe { nfbmr_cuda_graph_free(self.0) }
        }
    }
}

/// Without a CUDA libtorch nothing can be recorded: no stream or graph can exist, so only their
/// constructors have anything to say.
#[cfg(not(nfbmr_cuda_graphs))]
mod ffi {
    use std::convert::Infallible;

    use crate::error::{Error, Result};

    fn unavailable<T>() -> Result<T> {
        Err(Error::Device(
            "CUDA graphs are not available: nfbmr was built against a libtorch without CUDA".into(),
        ))
    }

    pub struct SideStream(Infallible);

    impl SideStream {
        pub fn enter(_device: usize) -> Result<Self> {
            unavailable()
        }

        pub fn leave(self) -> Result<()> {
            match self.0 {}
        }
    }

    pub struct Graph(Infallible);

    impl Graph {
        pub fn new() -> Result<Self> {
            unavailable()
        }

        pub fn begin(&self) -> Result<()> {
            match self.0 {}
        }

        pub fn end(&self) -> Result<()> {
            match self.0 {}
        }

        pub fn replay(&self) -> Result<()> {
            match self.0 {}
        }
    }
}
