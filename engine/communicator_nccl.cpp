// NCCL's communicator (engine/communicator.h), bootstrapped over the ranks' host
// communicator. Every NCCL and CUDA call is checked.
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

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

// NCCL reports a failure of its asynchronous work (a peer gone, a network error) only
// when asked; the sum that failed would otherwise leave its stream waiting for ever. A
// thread asks every 100 ms and ends the rank with the error: the launcher then stops
// the other ranks.
struct AsyncWatch {
  ncclComm_t comm = nullptr;
  int rank = 0;
  std::atomic<bool> stop{false};
};

void watch_async_errors(std::shared_ptr<AsyncWatch> w) {
  while (!w->stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ncclResult_t error = ncclSuccess;
    if (w->stop || ncclCommGetAsyncError(w->comm, &error) != ncclSuccess || error == ncclSuccess ||
        error == ncclInProgress)
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
  Nccl(Communicator& bootstrap, int device) {
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) CYG_NCCL_CHECK(ncclGetUniqueId(&id));
    bootstrap.broadcast(&id, static_cast<int64_t>(sizeof id), 0);
    CYG_NCCL_CUDA_CHECK(cudaSetDevice(device));
    CYG_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
    watch_->comm = comm_;
    watch_->rank = bootstrap.rank();
    watcher_ = std::thread(watch_async_errors, watch_);
  }
  ~Nccl() override {
    watch_->stop = true;
    if (watcher_.joinable()) watcher_.join();
    if (comm_ != nullptr) ncclCommDestroy(comm_);  // a destructor reports nothing
  }
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;

  void all_reduce_sum(float* device_data, int64_t count, void* stream) override {
    CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values");
    CYG_NCCL_CHECK(ncclAllReduce(device_data, device_data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_,
                                 static_cast<cudaStream_t>(stream)));
  }
  std::string name() const override { return "NCCL"; }

 private:
  ncclComm_t comm_ = nullptr;
  std::shared_ptr<AsyncWatch> watch_ = std::make_shared<AsyncWatch>();
  std::thread watcher_;
};

}  // namespace

bool has_nccl() { return true; }
std::unique_ptr<DeviceCommunicator> nccl_communicator(Communicator& bootstrap, int device) {
  return std::make_unique<Nccl>(bootstrap, device);
}

}  // namespace cyg
