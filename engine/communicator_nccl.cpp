// NCCL's communicator (engine/communicator.h), bootstrapped over the ranks' host
// communicator. Every NCCL and CUDA call is checked.
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "engine/collective_watch.h"
#include "engine/communicator.h"
#include "kernels/error.h"

namespace cyg {

namespace {

#define CYG_NCCL_CHECK(call)                                                                       \
  do {                                                                                             \
    const ncclResult_t cyg_nccl_status_ = (call);                                                  \
    CYG_CHECK(cyg_nccl_status_ == ncclSuccess, #call, " failed: ", ncclGetErrorString(cyg_nccl_status_)); \
  } while (0)

#define CYG_NCCL_CUDA_CHECK(call)                                                                  \
  do {                                                                                             \
    const cudaError_t cyg_cuda_status_ = (call);                                                   \
    CYG_CHECK(cyg_cuda_status_ == cudaSuccess, #call, " failed: ", cudaGetErrorString(cyg_cuda_status_)); \
  } while (0)

bool event_finished(void* event) {
  // Any answer but "not ready" ends the wait: an error is the training thread's to report.
  return cudaEventQuery(static_cast<cudaEvent_t>(event)) != cudaErrorNotReady;
}

// NCCL reports a failure of its asynchronous work (a peer gone, a network error) only
// when asked, and a peer that hangs without failing makes no error at all: the sum would
// leave its stream, and this rank, waiting for ever. A thread asks every 100 ms, and
// checks the sums queued since (a CUDA event after each) against distributed_timeout;
// either ends the rank with a message, and the launcher then stops the other ranks.
struct AsyncWatch {
  ncclComm_t comm = nullptr;
  int rank = 0, device = 0;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> timeout_ms{0};
  QueuedCollectives queued{event_finished};
};

void watch_async_errors(std::shared_ptr<AsyncWatch> w) {
  // Events are asked about on the device they were recorded on.
  if (cudaSetDevice(w->device) != cudaSuccess)
    std::fprintf(stderr, "cygnet: warning: rank %d: the NCCL watchdog cannot select GPU %d\n", w->rank, w->device);
  while (!w->stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (w->stop) break;
    if (const auto late = w->queued.poll(steady_now_ms(), w->timeout_ms)) {
      std::fprintf(stderr,
                   "cygnet: error: rank %d: NCCL's sum of %lld gradient values waited more than %.0f s for the "
                   "other ranks (distributed_timeout): one of them has died or hangs; stopping this rank\n",
                   w->rank, static_cast<long long>(late->count), static_cast<double>(w->timeout_ms) / 1000.0);
      std::fflush(stderr);
      std::_Exit(kCollectiveTimeoutExit);
    }
    ncclResult_t error = ncclSuccess;
    if (ncclCommGetAsyncError(w->comm, &error) != ncclSuccess || error == ncclSuccess || error == ncclInProgress)
      continue;
    std::fprintf(stderr, "cygnet: error: rank %d: NCCL failed while summing gradients: %s; stopping this rank\n",
                 w->rank, ncclGetErrorString(error));
    std::fflush(stderr);
    ncclCommAbort(w->comm);
    std::_Exit(kCollectiveTimeoutExit);
  }
}

class Nccl final : public DeviceCommunicator {
 public:
  Nccl(Communicator& bootstrap, int device, double timeout_seconds) {
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) CYG_NCCL_CHECK(ncclGetUniqueId(&id));
    bootstrap.broadcast(&id, static_cast<int64_t>(sizeof id), 0);
    CYG_NCCL_CUDA_CHECK(cudaSetDevice(device));
    {
      // The set-up waits for every rank, and nothing interrupts it: a rank that died
      // before it would leave this one waiting for ever.
      const int rank = bootstrap.rank();
      const Deadline deadline(static_cast<int64_t>(timeout_seconds * 1000.0), [rank, timeout_seconds] {
        std::fprintf(stderr,
                     "cygnet: error: rank %d: NCCL's set-up waited more than %.0f s for the other ranks "
                     "(distributed_timeout): one of them has died or hangs; stopping this rank\n",
                     rank, timeout_seconds);
        std::fflush(stderr);
        std::_Exit(kCollectiveTimeoutExit);
      });
      CYG_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
    }
    watch_->comm = comm_;
    watch_->rank = bootstrap.rank();
    watch_->device = device;
    watcher_ = std::thread(watch_async_errors, watch_);
  }
  ~Nccl() override {
    watch_->stop = true;
    if (watcher_.joinable()) watcher_.join();
    if (comm_ != nullptr) {
      // A sum still queued means this rank is unwinding from an error (the gradient reducer
      // waits for its sums otherwise): ncclCommDestroy would wait for it, and for peers
      // that may be gone, with no watchdog left. Abort instead. Sums are seen queued only
      // with a timeout (their events); without one, an exception unwinding says it. A
      // destructor reports nothing.
      watch_->queued.poll(steady_now_ms(), 0);
      if (watch_->queued.pending() > 0 || std::uncaught_exceptions() > 0) {
        ncclCommAbort(comm_);
      } else {
        ncclCommDestroy(comm_);
      }
    }
    for (void* event : watch_->queued.handles()) cudaEventDestroy(static_cast<cudaEvent_t>(event));
  }
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;

  void all_reduce_sum(float* device_data, int64_t count, void* stream) override {
    CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values");
    CYG_NCCL_CHECK(ncclAllReduce(device_data, device_data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_,
                                 static_cast<cudaStream_t>(stream)));
    if (watch_->timeout_ms <= 0) return;
    // An event after the sum, for the watchdog; reused once the sum it marked finished.
    auto event = static_cast<cudaEvent_t>(watch_->queued.take());
    if (event == nullptr) CYG_NCCL_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    CYG_NCCL_CUDA_CHECK(cudaEventRecord(event, static_cast<cudaStream_t>(stream)));
    watch_->queued.push(event, count, steady_now_ms());
  }
  void set_timeout(double seconds) override {
    CYG_CHECK(seconds >= 0, "a collective timeout of ", seconds, " s");
    watch_->timeout_ms = static_cast<int64_t>(seconds * 1000.0);
  }
  std::string name() const override { return "NCCL"; }

 private:
  ncclComm_t comm_ = nullptr;
  std::shared_ptr<AsyncWatch> watch_ = std::make_shared<AsyncWatch>();
  std::thread watcher_;
};

}  // namespace

bool has_nccl() { return true; }
std::unique_ptr<DeviceCommunicator> nccl_communicator(Communicator& bootstrap, int device, double timeout_seconds) {
  CYG_CHECK(timeout_seconds >= 0, "a collective timeout of ", timeout_seconds, " s");
  return std::make_unique<Nccl>(bootstrap, device, timeout_seconds);
}

}  // namespace cyg
