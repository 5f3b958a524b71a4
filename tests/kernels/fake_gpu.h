// A stand-in of the CUDA runtime and of cuDNN's legacy convolution API, for running
// kernels/cuda/cudnn_conv.cpp (the plans, the autotuning search, the graph engines beside
// the algorithms, the algorithm file) on the CPU, without a GPU or libcudnn. With the
// backend stand-in (fake_cudnn_backend.h) it is the whole of what that file calls.
//
// "Device" memory is host memory; every convolution, an algorithm's or a graph plan's,
// computes with the CPU reference (kernels/conv.h) in the layout and element type its
// descriptors give, blended with alpha and beta, so a test can compare results. Time is
// a clock the runs advance by what the test says each candidate takes: events read it,
// so a search's timings are the test's. A test can make any call fail, and the device
// fault (what synchronisations then return).
#pragma once
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fake_gpu {

// One algorithm of one direction, as the search (cudnnFind*AlgorithmEx) and the heuristics
// (cudnnGet*Algorithm_v7) list it, in the order given. One algorithm may be listed once per
// math type; a run takes the entry of the descriptor's math type, else the algorithm's
// first (cuDNN runs an algorithm under any math type it supports).
struct Algorithm {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
  float find_ms = 1.0f;  // what cuDNN's own search says it took
  double run_ms = 1.0;   // what each run takes on the clock
  cudnnDeterminism_t determinism = CUDNN_DETERMINISTIC;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;  // the search's status for it
};

// Directions by index, as cyg::ConvDirection numbers them.
enum Direction { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

// One convolution that ran: an algorithm (engine -1) or a graph plan (algo -1).
struct Run {
  int direction = 0;
  int algo = -1;
  int64_t engine = -1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // the descriptor's, for an algorithm
  float beta = 0.0f;
  cudnnHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  bool on_search_buffers = false;  // its pointers were all from cudaMalloc
};

struct State {
  std::vector<Algorithm> algorithms[3];
  std::map<int64_t, double> engine_ms[3];  // a graph engine's run, by global index (else 1 ms)
  std::vector<Run> runs;
  int finds = 0;          // cudnnFind*AlgorithmEx calls
  int heuristics = 0;     // cudnnGet*Algorithm_v7 calls
  int delays = 0;         // gpu_delay_cuda launches
  size_t free_bytes = size_t(8) << 30, total_bytes = size_t(16) << 30;
  size_t malloc_limit = SIZE_MAX;  // cudaMalloc refuses more than this at once (out of memory)
  // A blocking stream is being captured: asked of the legacy default stream,
  // cudaStreamIsCapturing fails with cudaErrorStreamCaptureImplicit, as CUDA's does.
  bool stream_capturing = false;
  cudaError_t fault = cudaSuccess; // a device fault: every runtime call returns it from now on
  std::string failing_call;        // this call returns an error (its name, as in the API)
  cudaError_t execute_fault = cudaSuccess;  // the fault a failing graph plan leaves (one run wild)
  int64_t syncs = 0;                // synchronisations so far (an event reads only after one)
  int64_t live_allocations = 0;
  int64_t live_legacy_descriptors = 0;
  double clock_ms = 0.0;
  std::string device_name = "Stand-in GPU";
};
State& state();
// Clears the state (live counts kept) and installs the graph plans' computation into the
// backend stand-in; call after fake_cudnn::reset().
void reset();

}  // namespace fake_gpu
