// MPI's communicator (engine/communicator.h): MPI_COMM_WORLD, errors returned rather
// than aborting, so each failing call becomes a cyg::Error naming it.
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/collective_watch.h"
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

// The collective in progress, as the watchdog sees it: when it began (0: none) and what
// it is. A blocking MPI call cannot be interrupted, so a collective past the timeout
// ends the process from the watchdog's thread; the launcher then stops the other ranks.
struct Watch {
  std::atomic<int64_t> since_ms{0};
  std::atomic<const char*> what{""};
  std::atomic<int64_t> count{0};
  std::atomic<int64_t> timeout_ms{0};
  int rank = 0, size = 1;
};

void watch(std::shared_ptr<Watch> w) {
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int64_t since = w->since_ms.load(), limit = w->timeout_ms.load();
    if (since == 0 || limit <= 0 || steady_now_ms() - since <= limit) continue;
    std::fprintf(stderr,
                 "cygnet: error: rank %d of %d: %s of %lld values waited more than %.0f s for the other ranks "
                 "(distributed_timeout): one of them has died or hangs; stopping this rank\n",
                 w->rank, w->size, w->what.load(), static_cast<long long>(w->count.load()),
                 static_cast<double>(limit) / 1000.0);
    std::fflush(stderr);
    std::_Exit(kCollectiveTimeoutExit);
  }
}

// Marks a collective for the watchdog while it runs.
class Watched {
 public:
  Watched(Watch& w, const char* what, int64_t count) : w_(w) {
    w_.what = what;
    w_.count = count;
    w_.since_ms = steady_now_ms();
  }
  ~Watched() { w_.since_ms = 0; }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;

 private:
  Watch& w_;
};

class Mpi final : public Communicator {
 public:
  Mpi() {
    ensure_initialised();
    CYG_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    CYG_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    // The ranks sharing this node's memory: this rank's place among them.
    MPI_Comm node = MPI_COMM_NULL;
    CYG_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    CYG_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
    CYG_MPI_CHECK(MPI_Comm_size(node, &local_size_));
    CYG_MPI_CHECK(MPI_Comm_free(&node));
    watch_->rank = rank_;
    watch_->size = size_;
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  void set_timeout(double seconds) override {
    CYG_CHECK(seconds >= 0, "a collective timeout of ", seconds, " s");
    watch_->timeout_ms = static_cast<int64_t>(seconds * 1000.0);
    if (seconds > 0 && !watching_) {
      std::thread(watch, watch_).detach();
      watching_ = true;
    }
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, this rank still ends
  }
  void all_reduce_sum(float* data, int64_t count) override { reduce(data, count, MPI_FLOAT); }
  void all_reduce_sum(double* data, int64_t count) override { reduce(data, count, MPI_DOUBLE); }
  void broadcast(void* data, int64_t bytes, int root) override {
    CYG_CHECK(bytes >= 0 && root >= 0 && root < size_, "broadcast of ", bytes, " bytes from rank ", root, " of ",
              size_);
    const Watched watched(*watch_, "a broadcast", bytes);
    auto* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes; done += kMaxPiece) {
      const int piece = static_cast<int>(bytes - done < kMaxPiece ? bytes - done : kMaxPiece);
      CYG_MPI_CHECK(MPI_Bcast(p + done, piece, MPI_BYTE, root, MPI_COMM_WORLD));
    }
  }
  void barrier() override {
    const Watched watched(*watch_, "a barrier", 0);
    CYG_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
  }
  std::string name() const override { return "MPI"; }

 private:
  template <typename T>
  void reduce(T* data, int64_t count, MPI_Datatype type) {
    CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values");
    const Watched watched(*watch_, "an all-reduce", count);
    for (int64_t done = 0; done < count; done += kMaxPiece) {
      const int piece = static_cast<int>(count - done < kMaxPiece ? count - done : kMaxPiece);
      CYG_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + done, piece, type, MPI_SUM, MPI_COMM_WORLD));
    }
  }
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::shared_ptr<Watch> watch_ = std::make_shared<Watch>();
  bool watching_ = false;
};

}  // namespace

bool has_mpi() { return true; }
std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace cyg
