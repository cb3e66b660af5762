// SPDX-License-Identifier: MIT OR Apache-2.0
// CUDA graphs for tch, which has no binding for CUDA streams or graphs: a capture runs on a side stream
// (capture is not allowed on the default one) and records every kernel the model launches, with its memory
// in a pool of the graph's own; a replay launches them all at once. Built by build.rs only against a
// libtorch with CUDA. No C++ exception crosses into Rust: each call returns NULL or an error message that
// the caller frees with nfbmr_cuda_error_free.

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/Event.h>

#include <cstdlib>
#include <cstring>
#include <exception>

namespace {

// The stream that was current before a side stream was made current, restored when it is left.
struct SideStream {
    c10::cuda::CUDAStream caller;
    c10::DeviceIndex device;
};

char *message(const char *what) {
    char *copy = static_cast<char *>(std::malloc(std::strlen(what) + 1));
    if (copy != nullptr) {
        std::strcpy(copy, what);
    }
    return copy;
}

template <typename F>
char *guarded(F &&body) {
    try {
        body();
        return nullptr;
    } catch (const std::exception &e) {
        return message(e.what());
    } catch (...) {
        return message("unknown C++ exception");
    }
}

// Makes `to` wait for the work queued so far on `from`.
void follow(c10::cuda::CUDAStream from, c10::cuda::CUDAStream to) {
    c10::Event event(c10::DeviceType::CUDA);
    event.record(from.unwrap());
    event.block(to.unwrap());
}

} // namespace

extern "C" {

void nfbmr_cuda_error_free(char *error) { std::free(error); }

// Makes a stream of the pool current on CUDA device `device`, after the work already queued on the current one.
char *nfbmr_cuda_side_stream_enter(int device, void **side) {
    return guarded([&] {
        auto index = static_cast<c10::DeviceIndex>(device);
        c10::DeviceGuard guard(c10::Device(c10::DeviceType::CUDA, index));
        auto caller = c10::cuda::getCurrentCUDAStream(index);
        auto stream = c10::cuda::getStreamFromPool(false, index);
        follow(caller, stream);
        *side = new SideStream{caller, index};
        c10::cuda::setCurrentCUDAStream(stream);
    });
}

// Makes the stream current before nfbmr_cuda_side_stream_enter current again, after the side stream's work.
char *nfbmr_cuda_side_stream_leave(void *side) {
    auto entered = static_cast<SideStream *>(side);
    char *error = guarded([&] {
        c10::DeviceGuard guard(c10::Device(c10::DeviceType::CUDA, entered->device));
        follow(c10::cuda::getCurrentCUDAStream(entered->device), entered->caller);
    });
    c10::cuda::setCurrentCUDAStream(entered->caller);
    delete entered;
    return error;
}

char *nfbmr_cuda_graph_new(void **graph) {
    return guarded([&] { *graph = new at::cuda::CUDAGraph(); });
}

void nfbmr_cuda_graph_free(void *graph) { delete static_cast<at::cuda::CUDAGraph *>(graph); }

// Starts recording the kernels launched on the current stream, which must not be the default one. Only
// this thread is barred from what a capture forbids (allocating, synchronising): other threads of the
// process may go on using CUDA, as other engines do.
char *nfbmr_cuda_graph_begin(void *graph) {
    return guarded([&] {
        static_cast<at::cuda::CUDAGraph *>(graph)->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    });
}

char *nfbmr_cuda_graph_end(void *graph) {
    return guarded([&] { static_cast<at::cuda::CUDAGraph *>(graph)->capture_end(); });
}

// Launches the recorded kernels on the current stream.
char *nfbmr_cuda_graph_replay(void *graph) {
    return guarded([&] { static_cast<at::cuda::CUDAGraph *>(graph)->replay(); });
}

} // extern "C"
