// run_app: from the command line to the app's job.
#include "apps/common/trainer.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <thread>

#include "apps/common/command_line.h"
#include "apps/common/evaluation.h"
#include "apps/common/experiment.h"
#include "apps/common/fit.h"
#include "apps/common/interrupt.h"
#include "apps/common/range_test.h"

namespace cyg::app {

namespace {
struct OutOfHostMemory : std::exception {
  const char* what() const noexcept override {
    return "out of host memory: this run needs more than the machine or its limits (ulimit -v) give; try a "
           "smaller train.batch_size, model.width or data.limit_train";
  }
};
}  // namespace

int run_app(AppKind kind, int argc, char** argv) {
  const std::string name = std::string("cygnet_") + app_name(kind);
  // A stop signal during the set-up (data, model, devices, ranks) stops a training run or
  // range test at its first step, with its checkpoint: a job's scheduler may send it at
  // any time. evaluate has nothing to resume: a signal ends it.
  std::optional<StopOnInterrupt> stop_signals;
  if (kind != AppKind::Evaluate) stop_signals.emplace();
  // A file-size limit (ulimit -f) reached by a write then fails that write (EFBIG), which
  // is reported like a full disk, instead of killing the process mid-checkpoint. (After
  // the stop signals: a test takes SIGXFSZ ignored to mean both are in place.)
  std::signal(SIGXFSZ, SIG_IGN);
  std::shared_ptr<Communicator> comm;  // the ranks, once known
  try {
    const CommandLine cl = parse_command_line(kind, argc, argv);
    if (cl.show_help) {
      std::cout << usage(kind);
      return 0;
    }
    if (cl.print_config) {
      std::cout << to_yaml(cl.config);
      return 0;
    }
    // The evaluate app is one process's job: under a launcher, rank 0 does it alone.
    if (kind == AppKind::Evaluate && launcher_rank() > 0) return 0;
    comm = make_communicator(kind, cl.config);
    // Data parallelism: rank 0 speaks for the run; the others print only their errors.
    if (comm->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
      std::fprintf(stderr, "%s: note: rank %d could not silence its output\n", name.c_str(), comm->rank());
    RunConfig config = cl.config;
    // Asking about image files takes the dataset's classes, image shape and normalisation
    // alone: of an image folder whose run recorded its classes and normalisation, one
    // image of each split is read, not all of them.
    if (kind == AppKind::Evaluate && !cl.evaluate.images.empty() && config.data.dataset == "folder" &&
        !config.data.mean.empty() && !config.data.classes.empty())
    {
      config.data.limit_train = config.data.limit_val = 1;
      config.train.drop_last = false;  // a training set of one image still makes its batch
    }
    Experiment experiment(kind, config, comm);
    switch (kind) {
      case AppKind::LrFind: return range_test(experiment);
      case AppKind::Evaluate: return evaluate_checkpoint(experiment, cl.evaluate);
      default: return fit(experiment);
    }
  } catch (const std::exception& caught) {
    std::fflush(stdout);
    // The C++ library's "std::bad_alloc" names neither the cause nor a way out (said
    // without allocating: memory is what ran out).
    static const OutOfHostMemory memory;
    const std::exception& e = dynamic_cast<const std::bad_alloc*>(&caught) != nullptr ? memory : caught;
    if (comm && comm->size() > 1) {
      // The other ranks may be waiting for this one in a collective: stop them all. An
      // error every rank meets at once (a diverged loss) is rank 0's to report in the run
      // directory: the others give it a few seconds before the abort ends it.
      if (comm->rank() != 0) {
        std::fprintf(stderr, "%s: error (rank %d of %d): %s\n", name.c_str(), comm->rank(), comm->size(), e.what());
        std::this_thread::sleep_for(std::chrono::seconds(3));
      } else {
        std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
      }
      comm->abort(1);
    }
    // Before the ranks are known (the command line, the config) every rank fails alike:
    // the first speaks for them.
    if (!comm && launcher_rank() > 0) return 1;
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}

}  // namespace cyg::app
