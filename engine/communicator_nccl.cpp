// NCCL's communicator (engine/communicator.h), bootstrapped over the ranks' host
// communicator. Every NCCL and CUDA call is checked.
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

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

class Nccl final : public DeviceCommunicator {
 public:
  Nccl(Communicator& bootstrap, int device) {
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) CYG_NCCL_CHECK(ncclGetUniqueId(&id));
    bootstrap.broadcast(&id, static_cast<int64_t>(sizeof id), 0);
    CYG_NCCL_CUDA_CHECK(cudaSetDevice(device));
    CYG_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
  }
  ~Nccl() override {
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
};

}  // namespace

bool has_nccl() { return true; }
std::unique_ptr<DeviceCommunicator> nccl_communicator(Communicator& bootstrap, int device) {
  return std::make_unique<Nccl>(bootstrap, device);
}

}  // namespace cyg
