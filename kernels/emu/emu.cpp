// The scheduler behind kernels/emu/emu.h: a persistent pool of worker threads takes
// blocks of a launch; each worker runs its block's CUDA threads as fibers until every
// one has finished, releasing barriers and warp collectives as they fill.
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#define CYGNET_EMU 1
#include "kernels/emu/emu.h"
#include "kernels/counters.h"
#include "kernels/emu/device.h"
#include "kernels/error.h"

// Sanitizers follow the fibers only when told of every switch: AddressSanitizer must
// know which stack is live (or it reports the scheduler's frames as overflows and
// loses its fake stacks), ThreadSanitizer which fiber runs (or it sees one thread's
// accesses from unrelated stacks as races). GCC defines __SANITIZE_*__; clang answers
// __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define CYG_EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CYG_EMU_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CYG_EMU_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CYG_EMU_TSAN 1
#endif
#endif
#ifdef CYG_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CYG_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace cyg::emu {

namespace {

#if defined(CYG_EMU_ASAN) || defined(CYG_EMU_TSAN)
constexpr size_t kStackBytes = 256 * 1024;  // instrumented frames are several times larger
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif
constexpr size_t kGuardBytes = 4096;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxDynamicShared = 227 * 1024;  // the H100/H200 opt-in maximum

std::atomic<int> g_reverse{-1};  // -1: not set, read CYGNET_EMU_REVERSE
std::atomic<int> g_workers{0};
thread_local cudaError_t t_last_error = cudaSuccess;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::atoi(v) : fallback;
}

// A stack as the sanitizers know it: its bounds (AddressSanitizer) and its fiber
// (ThreadSanitizer). Empty in a normal build.
struct SanitizerStack {
  const void* bottom = nullptr;
  size_t size = 0;
  void* tsan_fiber = nullptr;
};

// Switching fibers. On x86-64 a few instructions that save the callee-saved registers
// and swap stack pointers (ucontext's swapcontext also makes a signal-mask system call
// per switch, which dominates a block of fibers); elsewhere, ucontext.
#if defined(__x86_64__)
extern "C" void cyg_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl cyg_emu_switch
  .type cyg_emu_switch, @function
cyg_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cyg_emu_switch, .-cyg_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

struct Context {
  void* sp = nullptr;
  SanitizerStack sanitizer;
};

// The new stack holds what cyg_emu_switch pops: six registers, then `entry` as the
// return address, then a null return address for `entry` itself, which never returns.
void prepare_context(Context& c, char* stack, size_t size, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t(15);
  auto* slots = reinterpret_cast<void**>(top) - 8;
  for (int i = 0; i < 6; ++i) slots[i] = nullptr;
  slots[6] = reinterpret_cast<void*>(entry);
  slots[7] = nullptr;
  c.sp = slots;
}

void raw_switch(Context& from, Context& to) { cyg_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
  SanitizerStack sanitizer;
};

void prepare_context(Context& c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}

void raw_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// What the sanitizers are told around a switch. `leaving_for_good`: the fiber is
// retired, so AddressSanitizer may free its fake stack. After the switch returns,
// the stack we came from is the scheduler's whenever we are a fiber: its bounds are
// recorded in `scheduler` for the next switch back.
void switch_context(Context& from, Context& to, Context* scheduler = nullptr, bool leaving_for_good = false) {
#ifdef CYG_EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &fake_stack, to.sanitizer.bottom, to.sanitizer.size);
#endif
#ifdef CYG_EMU_TSAN
  __tsan_switch_to_fiber(to.sanitizer.tsan_fiber, 0);
#endif
  raw_switch(from, to);
#ifdef CYG_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, scheduler ? &scheduler->sanitizer.bottom : nullptr,
                                  scheduler ? &scheduler->sanitizer.size : nullptr);
#endif
  (void)scheduler;
  (void)leaving_for_good;
}

// The first thing a new fiber does: finish the switch that started it.
void enter_fiber(Context& scheduler) {
#ifdef CYG_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &scheduler.sanitizer.bottom, &scheduler.sanitizer.size);
#endif
  (void)scheduler;
}

enum class State { Ready, AtBarrier, AtWarp, Done };

struct Fiber {
  Context context;
  // At the top of its loop, ready for the next block (or not yet entered). A fiber left
  // inside a block that failed is not, and gets a fresh context.
  bool parked = false;
  State state = State::Ready;
  uint3 index{0, 0, 0};
  detail::WarpOp op = detail::WarpOp::Shuffle;
  unsigned mask = 0;
  uint64_t value = 0;
  int source_lane = 0;
  uint64_t result = 0;
};

// Runs blocks on the calling worker thread. Fiber stacks live as long as the worker, and
// so do the fibers: each loops, running the body for one CUDA thread of every block,
// so a block starts no fiber. Under the sanitizers that is what makes the emulation
// usable: AddressSanitizer's fake stack (a mapping of its own) and ThreadSanitizer's
// fiber state are made once per stack slot, not once per CUDA thread of every block,
// whose mapping and unmapping cost 10-100 times the kernels' own work.
class BlockRunner {
 public:
  ~BlockRunner() {
    retire_fibers();  // so AddressSanitizer frees their fake stacks when a worker ends
    if (stacks_) munmap(stacks_, stack_slots_ * (kStackBytes + kGuardBytes));
#ifdef CYG_EMU_TSAN
    for (void* f : tsan_fibers_)
      if (f != nullptr) __tsan_destroy_fiber(f);
#endif
  }

  void run(const char* name, uint3 block_index, dim3 block_dim, size_t dynamic_shared,
           const std::function<void()>& body) {
    const unsigned n = block_dim.x * block_dim.y * block_dim.z;
    reserve_stacks(n);
    n_ = n;
    body_ = &body;
    error_ = nullptr;
    // Poisoned, so a read of shared memory nobody wrote gives NaN/garbage, not zero.
    dynamic_shared_.assign(dynamic_shared, 0xff);
    blockIdx = block_index;
    blockDim = block_dim;

    for (unsigned i = 0; i < n; ++i) {
      Fiber& f = fibers_[i];
      if (!f.parked) start_fiber(i);
      f.state = State::Ready;
      f.index = {i % block_dim.x, (i / block_dim.x) % block_dim.y, i / (block_dim.x * block_dim.y)};
    }

    note_scheduler_fiber();
    const bool reverse = reverse_order();
    while (true) {
      for (unsigned k = 0; k < n; ++k) {
        const unsigned i = reverse ? n - 1 - k : k;
        if (fibers_[i].state != State::Ready) continue;
        current_ = &fibers_[i];
        threadIdx = fibers_[i].index;
        switch_context(scheduler_, fibers_[i].context);
        if (error_) std::rethrow_exception(error_);
      }
      if (std::all_of(fibers_.begin(), fibers_.begin() + n, [](const Fiber& f) { return f.state == State::Done; }))
        return;
      if (release_warp_collectives(name, block_index)) continue;
      if (release_barrier(name, block_index)) continue;
      report_deadlock(name, block_index);
    }
  }

  void yield(State why) {
    Fiber* f = current_;
    f->state = why;
    switch_context(f->context, scheduler_, &scheduler_);
  }

  Fiber& current() { return *current_; }
  unsigned thread_count() const { return n_; }
  void* dynamic_shared() { return dynamic_shared_.empty() ? nullptr : dynamic_shared_.data(); }

 private:
  static void fiber_entry();

  // A fresh context for slot i, entering fiber_entry on its first switch.
  void start_fiber(unsigned i) {
    Fiber& f = fibers_[i];
#ifdef CYG_EMU_ASAN
    // A fiber left inside a failed block left its frames' redzones poisoned here.
    ASAN_UNPOISON_MEMORY_REGION(stack(i), kStackBytes);
#endif
    prepare_context(f.context, stack(i), kStackBytes, &BlockRunner::fiber_entry);
    f.context.sanitizer = {stack(i), kStackBytes, sanitizer_fiber(i)};
    f.parked = true;
  }

  void note_scheduler_fiber() {
#ifdef CYG_EMU_TSAN
    scheduler_.sanitizer.tsan_fiber = __tsan_get_current_fiber();
#endif
  }

  // Lets every parked fiber leave its loop for good, so AddressSanitizer frees its fake
  // stack, before the stacks are mapped anew.
  void retire_fibers() {
    note_scheduler_fiber();
    retiring_ = true;
    for (Fiber& f : fibers_) {
      if (!f.parked) continue;
      current_ = &f;
      switch_context(scheduler_, f.context);
      f.parked = false;
    }
    retiring_ = false;
  }

  void reserve_stacks(unsigned n) {
    if (n <= stack_slots_) return;
    retire_fibers();
    fibers_.assign(n, Fiber{});
    if (stacks_) munmap(stacks_, stack_slots_ * (kStackBytes + kGuardBytes));
    stacks_ = nullptr;
    stack_slots_ = 0;
    const size_t bytes = n * (kStackBytes + kGuardBytes);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw Error("emulation: cannot map fiber stacks");
    stacks_ = static_cast<char*>(p);
    stack_slots_ = n;
    // A guard page under each stack turns a fiber stack overflow into a fault, not corruption.
    for (unsigned i = 0; i < n; ++i) mprotect(stacks_ + i * (kStackBytes + kGuardBytes), kGuardBytes, PROT_NONE);
  }
  char* stack(unsigned i) { return stacks_ + i * (kStackBytes + kGuardBytes) + kGuardBytes; }

  // ThreadSanitizer's fiber for stack slot i: a new one whenever the slot gets a fresh
  // context, since the old one's shadow call stack still holds the frames it left.
  void* sanitizer_fiber(unsigned i) {
#ifdef CYG_EMU_TSAN
    while (tsan_fibers_.size() <= i) tsan_fibers_.push_back(nullptr);
    if (tsan_fibers_[i] != nullptr) __tsan_destroy_fiber(tsan_fibers_[i]);
    tsan_fibers_[i] = __tsan_create_fiber(0);
    return tsan_fibers_[i];
#else
    (void)i;
    return nullptr;
#endif
  }

  bool release_warp_collectives(const char* name, uint3 block_index) {
    bool released = false;
    const unsigned n = thread_count();
    for (unsigned base = 0; base < n; base += 32) {
      const unsigned lanes = std::min(32u, n - base);
      for (unsigned l = 0; l < lanes; ++l) {
        Fiber& leader = fibers_[base + l];
        if (leader.state != State::AtWarp) continue;
        const unsigned mask = leader.mask;
        // A mask naming lanes past the block's last thread: on a GPU those lanes do not
        // exist, and the collective's result is undefined (the hardware may hang).
        if (lanes < 32 && (mask >> lanes) != 0u) {
          std::ostringstream os;
          os << "emulation: kernel " << name << " block (" << block_index.x << "," << block_index.y << ","
             << block_index.z << "): a warp " << (leader.op == detail::WarpOp::Ballot ? "vote" : "shuffle")
             << " with mask 0x" << std::hex << mask << std::dec << " in the partial warp of threads " << base << "-"
             << base + lanes - 1 << " (a block of " << n
             << " threads): the mask names lanes that do not exist, undefined on a GPU; use a block that is a "
                "multiple of 32, or a mask of the lanes that are there";
          throw Error(os.str());
        }
        bool complete = true;
        for (unsigned m = 0; m < lanes; ++m) {
          if (!(mask >> m & 1u)) continue;
          const Fiber& g = fibers_[base + m];
          if (g.state != State::AtWarp || g.mask != mask || g.op != leader.op) complete = false;
        }
        if (!complete) continue;
        uint64_t ballot = 0;
        for (unsigned m = 0; m < lanes; ++m)
          if ((mask >> m & 1u) && fibers_[base + m].value != 0) ballot |= 1ull << m;
        for (unsigned m = 0; m < lanes; ++m) {
          if (!(mask >> m & 1u)) continue;
          Fiber& g = fibers_[base + m];
          if (g.op == detail::WarpOp::Ballot) {
            g.result = ballot;
          } else {
            const unsigned src = static_cast<unsigned>(g.source_lane) % 32u;
            const bool valid = src < lanes && (mask >> src & 1u);
            g.result = valid ? fibers_[base + src].value : g.value;
          }
          g.state = State::Ready;
        }
        released = true;
      }
    }
    return released;
  }

  bool release_barrier(const char* name, uint3 block_index) {
    bool any_done = false;
    for (unsigned i = 0; i < n_; ++i) {
      const Fiber& f = fibers_[i];
      if (f.state == State::AtWarp) return false;
      any_done |= f.state == State::Done;
    }
    if (any_done) {
      std::ostringstream os;
      os << "emulation: divergent __syncthreads in kernel " << name << " block (" << block_index.x << ","
         << block_index.y << "," << block_index.z << "): " << describe_states()
         << " (every thread of a block must reach the same barrier)";
      throw Error(os.str());
    }
    for (unsigned i = 0; i < n_; ++i) fibers_[i].state = State::Ready;
    return true;
  }

  [[noreturn]] void report_deadlock(const char* name, uint3 block_index) {
    std::ostringstream os;
    os << "emulation: deadlock in kernel " << name << " block (" << block_index.x << "," << block_index.y << ","
       << block_index.z << "): " << describe_states();
    throw Error(os.str());
  }

  // "threads 0-31 wait at __syncthreads; threads 32-63 have exited; ..."
  std::string describe_states() const {
    auto label = [](const Fiber& f) -> std::string {
      switch (f.state) {
        case State::AtBarrier: return "wait at __syncthreads";
        case State::AtWarp: {
          std::ostringstream os;
          os << "wait at a warp " << (f.op == detail::WarpOp::Ballot ? "vote" : "shuffle") << " (mask 0x" << std::hex
             << f.mask << ")";
          return os.str();
        }
        case State::Done: return "have exited";
        default: return "are runnable";
      }
    };
    std::ostringstream os;
    const unsigned n = thread_count();
    for (unsigned i = 0; i < n;) {
      unsigned j = i;
      const std::string what = label(fibers_[i]);
      while (j + 1 < n && label(fibers_[j + 1]) == what) ++j;
      os << (i ? "; " : "") << "threads " << i << "-" << j << " " << what;
      i = j + 1;
    }
    return os.str();
  }

  std::vector<Fiber> fibers_;  // one per stack slot; the block uses the first n_
  unsigned n_ = 0;
  bool retiring_ = false;
  Context scheduler_;
  Fiber* current_ = nullptr;
  const std::function<void()>* body_ = nullptr;
  std::exception_ptr error_;
  std::vector<unsigned char> dynamic_shared_;
  char* stacks_ = nullptr;
  unsigned stack_slots_ = 0;
#ifdef CYG_EMU_TSAN
  std::vector<void*> tsan_fibers_;
#endif
};

thread_local BlockRunner t_runner;

// The first frame of every fiber. It runs one CUDA thread of a block, parks, and runs
// one of the next block when switched to again. It never returns: a retired fiber
// switches back to the scheduler for good.
void BlockRunner::fiber_entry() {
  BlockRunner& r = t_runner;
  enter_fiber(r.scheduler_);
  while (!r.retiring_) {
    r.current_->parked = false;
    try {
      (*r.body_)();
    } catch (...) {
      r.error_ = std::current_exception();
    }
    Fiber& self = *r.current_;
    self.state = State::Done;
    self.parked = true;
    switch_context(self.context, r.scheduler_, &r.scheduler_);
  }
  switch_context(r.current_->context, r.scheduler_, nullptr, /*leaving_for_good=*/true);
}

// Workers that outlive launches, so fiber stacks are mapped once per worker.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool pool;
    return pool;
  }

  // Runs job(worker) on `workers` threads (the caller is worker 0) and waits for all.
  void run(int workers, const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> lock(launch_mutex_);
    ensure_threads(workers - 1);
    {
      std::lock_guard<std::mutex> g(mutex_);
      job_ = &job;
      active_ = workers - 1;
      pending_ = workers - 1;
      ++generation_;
    }
    wake_.notify_all();
    job(0);
    std::unique_lock<std::mutex> g(mutex_);
    done_.wait(g, [&] { return pending_ == 0; });
    job_ = nullptr;
  }

  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> g(mutex_);
      stopping_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void ensure_threads(int n) {
    while (static_cast<int>(threads_.size()) < n) {
      const int id = static_cast<int>(threads_.size()) + 1;
      threads_.emplace_back([this, id] { loop(id); });
    }
  }

  void loop(int id) {
    uint64_t seen = 0;
    while (true) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> g(mutex_);
        wake_.wait(g, [&] { return generation_ != seen; });
        seen = generation_;
        if (stopping_) return;
        if (id > active_) continue;
        job = job_;
      }
      (*job)(id);
      std::lock_guard<std::mutex> g(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
  }

  std::mutex launch_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* job_ = nullptr;
  int active_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int worker_count() {
  int n = g_workers.load();
  if (n <= 0) n = env_int("CYGNET_EMU_WORKERS", static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, n);
}

}  // namespace

void set_reverse_order(bool reverse) { g_reverse.store(reverse ? 1 : 0); }
bool reverse_order() {
  const int r = g_reverse.load();
  return r < 0 ? env_int("CYGNET_EMU_REVERSE", 0) != 0 : r != 0;
}
void set_worker_count(int workers) { g_workers.store(workers); }

void* dynamic_shared_memory() { return t_runner.dynamic_shared(); }

void __syncthreads() { t_runner.yield(State::AtBarrier); }

void zero_async(void* p, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  if (stream == nullptr)
    std::memset(p, 0, bytes);
  else
    memset_async(p, 0, bytes, stream);
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

namespace detail {

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int src_lane) {
  Fiber& f = t_runner.current();
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.source_lane = src_lane;
  t_runner.yield(State::AtWarp);
  return f.result;
}

namespace {
bool valid_configuration(dim3 grid, dim3 block, size_t dynamic_shared_bytes) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  return threads > 0 && threads <= kMaxThreadsPerBlock && block.z <= 64 && blocks > 0 && grid.y <= 65535 &&
         grid.z <= 65535 && dynamic_shared_bytes <= kMaxDynamicShared;
}

void run_kernel(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                const std::function<void()>& body) {
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  const int workers = static_cast<int>(std::min<uint64_t>(blocks, static_cast<uint64_t>(worker_count())));
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto job = [&](int) {
    gridDim = grid;
    while (!failed.load()) {
      const uint64_t b = next.fetch_add(1);
      if (b >= blocks) break;
      const uint3 index{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                        static_cast<unsigned>(b / (uint64_t(grid.x) * grid.y))};
      try {
        t_runner.run(name, index, block, dynamic_shared_bytes, body);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed.store(true);
      }
    }
  };
  if (workers == 1) {
    job(0);
  } else {
    WorkerPool::instance().run(workers, job);
  }
  if (first_error) std::rethrow_exception(first_error);
}
}  // namespace

void launch(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, EmuStream* stream,
            std::function<void()> body) {
  count_launch(name);  // as a CUDA launch is, whether or not its configuration is valid
  if (!valid_configuration(grid, block, dynamic_shared_bytes)) {
    t_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (stream == nullptr) {
    run_kernel(name, grid, block, dynamic_shared_bytes, body);
    return;
  }
  enqueue(stream, name, [name, grid, block, dynamic_shared_bytes, body = std::move(body)] {
    run_kernel(name, grid, block, dynamic_shared_bytes, body);
  });
}

}  // namespace detail
}  // namespace cyg::emu
