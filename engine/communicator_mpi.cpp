// MPI's communicator (engine/communicator.h): MPI_COMM_WORLD, errors returned rather
// than aborting, so each failing call becomes a cyg::Error naming it.
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>

#include "engine/communicator.h"
#include "kernels/error.h"

namespace cyg {

namespace {

std::string mpi_message(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

#define CYG_MPI_CHECK(call)                                                                  \
  do {                                                                                       \
    const int cyg_mpi_status_ = (call);                                                      \
    CYG_CHECK(cyg_mpi_status_ == MPI_SUCCESS, #call, " failed: ", mpi_message(cyg_mpi_status_)); \
  } while (0)

// MPI once per process: initialised at the first communicator, finalised at exit.
void ensure_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    CYG_MPI_CHECK(MPI_Initialized(&initialised));
    if (!initialised) {
      int provided = 0;
      CYG_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      std::atexit([] {
        int finalised = 0;
        if (MPI_Finalized(&finalised) == MPI_SUCCESS && !finalised) MPI_Finalize();
      });
    }
    CYG_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  });
}

// MPI counts are int: a larger buffer goes in pieces.
constexpr int64_t kMaxPiece = INT_MAX / 2;

class Mpi final : public Communicator {
 public:
  Mpi() {
    ensure_initialised();
    CYG_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    CYG_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* data, int64_t count) override { reduce(data, count, MPI_FLOAT); }
  void all_reduce_sum(double* data, int64_t count) override { reduce(data, count, MPI_DOUBLE); }
  void broadcast(void* data, int64_t bytes, int root) override {
    CYG_CHECK(bytes >= 0 && root >= 0 && root < size_, "broadcast of ", bytes, " bytes from rank ", root, " of ",
              size_);
    auto* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes; done += kMaxPiece) {
      const int piece = static_cast<int>(bytes - done < kMaxPiece ? bytes - done : kMaxPiece);
      CYG_MPI_CHECK(MPI_Bcast(p + done, piece, MPI_BYTE, root, MPI_COMM_WORLD));
    }
  }
  void barrier() override { CYG_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }
  std::string name() const override { return "MPI"; }

 private:
  template <typename T>
  void reduce(T* data, int64_t count, MPI_Datatype type) {
    CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values");
    for (int64_t done = 0; done < count; done += kMaxPiece) {
      const int piece = static_cast<int>(count - done < kMaxPiece ? count - done : kMaxPiece);
      CYG_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + done, piece, type, MPI_SUM, MPI_COMM_WORLD));
    }
  }
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool has_mpi() { return true; }
std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace cyg
