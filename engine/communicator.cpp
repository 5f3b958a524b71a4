// The single-process communicator and the launcher detection (engine/communicator.h);
// MPI's is in communicator_mpi.cpp, built where MPI is found.
#include "engine/communicator.h"

#include <cstdlib>
#include <string>

#include "kernels/error.h"

namespace cyg {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(float*, int64_t count) override { check(count); }
  void all_reduce_sum(double*, int64_t count) override { check(count); }
  void broadcast(void*, int64_t bytes, int root) override {
    CYG_CHECK(bytes >= 0 && root == 0, "broadcast of ", bytes, " bytes from rank ", root, " of 1");
  }
  void barrier() override {}
  std::string name() const override { return "single process"; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void set_timeout(double) override {}
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 private:
  static void check(int64_t count) { CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values"); }
};

// The integer an environment variable holds, or -1.
long env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != nullptr && *end == '\0' ? n : -1;
}

}  // namespace

bool launched_as_ranks() {
  for (const char* size : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"})
    if (env_int(size) > 1) return true;
  return false;
}

int launcher_rank() {
  if (!launched_as_ranks()) return 0;
  for (const char* rank : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (env_int(rank) >= 0) return static_cast<int>(env_int(rank));
  return 0;
}

std::string launcher_command(int ranks) {
  const char* step = std::getenv("SLURM_STEP_ID");
  const bool by_srun = step != nullptr && *step != '\0' && std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr;
  return (by_srun ? "srun -n " : "mpirun -np ") + std::to_string(ranks);
}

std::string broadcast_string(Communicator& communicator, const std::string& text, int root) {
  if (communicator.size() == 1) return text;
  int64_t length = static_cast<int64_t>(text.size());
  communicator.broadcast(&length, sizeof length, root);
  std::string out = communicator.rank() == root ? text : std::string(static_cast<size_t>(length), '\0');
  communicator.broadcast(out.data(), length, root);
  return out;
}

std::unique_ptr<Communicator> single_process_communicator() { return std::make_unique<SingleProcess>(); }

#if !CYGNET_HAVE_NCCL
bool has_nccl() { return false; }
std::unique_ptr<DeviceCommunicator> nccl_communicator(Communicator&, int, double) {
  CYG_CHECK(false, "this build has no NCCL: build with CUDA where NCCL is found (the toolkit's, NCCL_ROOT, or "
            "PyTorch's nvidia/nccl wheel in CYGNET_CUDA_LIBRARY_ROOTS)");
  return nullptr;
}
#endif

#if !CYGNET_HAVE_MPI
bool has_mpi() { return false; }
std::unique_ptr<Communicator> mpi_communicator() {
  CYG_CHECK(false,
            "this build has no MPI: install libopenmpi-dev (scripts/install_deps.sh) and build with "
            "-DCYGNET_MPI=AUTO or ON");
  return nullptr;
}
#endif

}  // namespace cyg
