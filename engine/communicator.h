// The processes of one training run, and the collectives data-parallel training needs
// between them: a sum over every rank of a flat buffer (in place), a broadcast from one
// rank, a barrier, and each process's rank among size. One interface, two
// implementations: a single process (size 1: the collectives are no-ops), and MPI
// (Debian's OpenMPI; the build finds it with CYGNET_MPI=AUTO|ON|OFF), for processes
// started by mpirun or srun. NCCL, for CUDA buffers, is to be bootstrapped over MPI.
// Every MPI call is checked: a failure is a cyg::Error naming the call and MPI's message.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace cyg {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[i] = the sum over ranks of data[i], on every rank (host memory).
  virtual void all_reduce_sum(float* data, int64_t count) = 0;
  virtual void all_reduce_sum(double* data, int64_t count) = 0;
  // root's `bytes` bytes at data, on every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  virtual std::string name() const = 0;  // "single process", "MPI"
  // This process's rank among the ranks of its node, and how many they are (each rank
  // takes the GPU of its local rank).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  // A collective that waits longer than `seconds` for the other ranks (one died, or
  // hangs) ends this process: a message on stderr naming the collective, then exit code
  // kCollectiveTimeoutExit, which makes the launcher stop the rest. 0: wait forever.
  virtual void set_timeout(double seconds) = 0;
  // Ends every rank at once (after an error on this one), exit code `code`.
  [[noreturn]] virtual void abort(int code) = 0;
};

constexpr int kCollectiveTimeoutExit = 3;

// Whether this process was started by an MPI launcher (mpirun, or srun with MPI) as one
// of several ranks: the launchers' environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_RANK with a size, SLURM_NTASKS > 1) says so.
bool launched_as_ranks();
// This process's rank as its launcher's environment gives it (OMPI_COMM_WORLD_RANK,
// PMIX_RANK, PMI_RANK, SLURM_PROCID), before MPI starts; 0 when none does.
int launcher_rank();
// The command that starts `ranks` ranks as this process was started, for a message that
// says how to continue a run: "srun -n N" for a process srun started (SLURM_STEP_ID set,
// and no mpirun's OMPI_COMM_WORLD_SIZE), else "mpirun -np N".
std::string launcher_command(int ranks);

// Sums over the ranks of buffers in a GPU's memory, in place, queued on a stream (NCCL).
class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;
  virtual void all_reduce_sum(float* device_data, int64_t count, void* stream) = 0;
  virtual std::string name() const = 0;
  // A sum still unfinished `seconds` after it was queued (a peer died or hangs) ends this
  // process, as Communicator::set_timeout. 0: wait forever.
  virtual void set_timeout(double seconds) = 0;
};
// NCCL over the ranks of `bootstrap`, on CUDA device `device`: rank 0 makes the unique
// id, bootstrap's broadcast shares it (MPI over several ranks; nothing for one). Every
// NCCL call is checked; a thread watches for NCCL's asynchronous errors and, with a
// timeout, for sums that never finish (engine/collective_watch.h). `timeout_seconds`
// (distributed_timeout; 0: none) also bounds the set-up, which waits for every rank. A
// build without NCCL throws a cyg::Error saying so.
std::unique_ptr<DeviceCommunicator> nccl_communicator(Communicator& bootstrap, int device, double timeout_seconds);
bool has_nccl();

// root's text on every rank.
std::string broadcast_string(Communicator& communicator, const std::string& text, int root = 0);

std::unique_ptr<Communicator> single_process_communicator();
// MPI's world communicator; MPI is initialised on first use and finalised at exit. A
// build without MPI throws a cyg::Error saying how to build with it.
std::unique_ptr<Communicator> mpi_communicator();
// The build has MPI (CYGNET_HAVE_MPI).
bool has_mpi();

}  // namespace cyg
