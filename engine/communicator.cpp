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

std::unique_ptr<Communicator> single_process_communicator() { return std::make_unique<SingleProcess>(); }

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
