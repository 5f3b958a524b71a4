// Setting an experiment up from its config.
#include "apps/common/experiment.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <iomanip>
#include <sstream>

#include "apps/common/checkpoint.h"
#include "apps/common/image_folder.h"
#include "apps/common/optimizer_factory.h"
#include "apps/common/run_dir.h"
#include "apps/common/schedule_factory.h"
#include "apps/common/train_step.h"
#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/data_parallel.h"
#include "engine/dispatch.h"
#include "engine/functional.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace cyg::app {

namespace {

// A model's parameters grow at most with the square of its width (a convolution's
// weights: input channels times output channels), so those at width 16 bound those at
// `width`. A model that cannot fit in host memory with its gradients and two optimizer
// states, a quarter more and 512 MiB besides (activations, BLAS buffers), is refused
// before it is built: building it could wake the kernel's OOM killer, and under an
// address-space limit (ulimit -v) OpenBLAS spins forever on a buffer it cannot map.
void check_model_fits(const RunConfig& c, models::ModelOptions options) {
  constexpr int64_t kProbeWidth = 16;
  if (c.model.width <= kProbeWidth) return;
  options.width = kProbeWidth;
  double probe = 0;
  for (const Variable& p : models::make_model(c.model.name, options)->parameters())
    probe += static_cast<double>(p.data().numel());
  const double scale = static_cast<double>(c.model.width) / kProbeWidth;
  const double parameters = probe * scale * scale;
  const double bytes = 4.0 * sizeof(float) * parameters;
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  const double needed = 1.25 * bytes + 0.5 * kGiB;
  const double physical =
      static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  CYG_INPUT_CHECK(physical <= 0 || needed <= physical, "'model.width' = ", c.model.width, ": ", c.model.name,
                  " at this width has up to ", parameters / 1e6, " million parameters, ", bytes / kGiB,
                  " GiB with their gradients and optimizer state; this machine has ", physical / kGiB, " GiB");
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    CYG_INPUT_CHECK(needed <= static_cast<double>(limit.rlim_cur), "'model.width' = ", c.model.width, ": ",
                    c.model.name, " at this width has up to ", parameters / 1e6, " million parameters and needs about ",
                    needed / kGiB, " GiB; this process may use ", static_cast<double>(limit.rlim_cur) / kGiB,
                    " GiB (ulimit -v)");
}

// The model the config asks for, on the training set's images and classes.
models::ModelOptions model_options(const RunConfig& c, const Dataset& train) {
  models::ModelOptions options;
  options.in_channels = train.images.size(1);
  options.num_classes = train.num_classes;
  options.width = c.model.width;
  options.seed = static_cast<uint64_t>(c.seed);
  return options;
}

// Under an address-space limit (ulimit -v), a CPU step that does not fit fails inside a
// library (oneDNN's code generator crashed, OpenBLAS spun forever) instead of saying so;
// without one, a step larger than the machine's memory gets the process killed with no
// word. So the step's host memory is measured on a fresh copy of the model at batches of
// 2 and 4 images, extrapolated to this rank's batch, and a batch that would not fit
// beside what the process already maps is refused before the first step: under a limit
// with room to spare, without one only past the machine's whole memory.
void check_step_fits(const RunConfig& c, const Dataset& train, nn::Module& model, const std::string& memory_format,
                     int ranks) {
  rlimit limit{};
  const bool limited = getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY;
  const long machine_pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  const double machine =
      machine_pages > 0 && page_size > 0 ? static_cast<double>(machine_pages) * static_cast<double>(page_size) : 0.0;
  if (!limited && machine == 0) return;
  const models::ModelOptions options = model_options(c, train);
  const int64_t C = train.images.size(1), H = train.images.size(2), W = train.images.size(3);
  // Images over 64x64 are measured at about 64x64 of the same shape, and the memory that
  // grows with the batch scaled by the pixels (the models are fully convolutional): a
  // measure at full size could itself take the memory it guards.
  constexpr int64_t kProbePixels = 64 * 64;
  int64_t probe_h = H, probe_w = W;
  if (H * W > kProbePixels) {
    const double f = std::sqrt(static_cast<double>(kProbePixels) / static_cast<double>(H * W));
    probe_h = std::max<int64_t>(8, std::lround(static_cast<double>(H) * f));
    probe_w = std::max<int64_t>(8, std::lround(static_cast<double>(W) * f));
  }
  const double pixels_scale = static_cast<double>(H * W) / static_cast<double>(probe_h * probe_w);
  auto step_bytes = [&](int64_t batch) {
    const fn::SyncBatchNorm local(nullptr);  // this rank's measure alone: no collective
    const std::shared_ptr<nn::Module> probe = models::make_model(c.model.name, options);
    Tensor images = Tensor::zeros({batch, C, probe_h, probe_w});
    if (memory_format == "channels_last") images = images.contiguous(MemoryFormat::ChannelsLast);
    const Tensor labels = Tensor::zeros({batch}, DType::I32);
    const size_t before = cpu_bytes_in_use();
    cpu_reset_peak();
    backward(fn::cross_entropy((*probe)(Variable(images)), labels).loss);
    return static_cast<double>(cpu_peak_bytes_in_use() - before);
  };
  const double two = step_bytes(2), per_image_probed = std::max(0.0, (step_bytes(4) - two) / 2);
  const double fixed = std::max(0.0, two - 2 * per_image_probed);  // the weights' gradients and the like
  const double per_image = per_image_probed * pixels_scale;
  const int64_t batch =
      std::max<int64_t>(1, std::min<int64_t>(c.train.batch_size, train.size()) / std::max(1, ranks));
  // In micro-batches a step holds one micro-batch's activations at a time, and the
  // gradients of the later ones before they are added.
  const int64_t parts = micro_batch_count(c.train.micro_batches, batch);
  const int64_t step_images = std::max<int64_t>(2, (batch + parts - 1) / parts);
  // The step, the optimizer's state (at most two buffers per weight, as the gradients are
  // counted in the step), the weights' average (train.ema_decay or train.swa_start_epoch)
  // and the loader's batches (a few copies of one in floats).
  double parameters = 0;
  for (const Variable& p : model.parameters()) parameters += 4.0 * static_cast<double>(p.data().numel());
  const int weight_copies = (parts > 1 ? 3 : 2) + (c.train.ema_decay > 0 || c.train.swa_start_epoch > 0 ? 1 : 0);
  const double needed = fixed + per_image * static_cast<double>(step_images) + weight_copies * parameters +
                        4.0 * 4.0 * static_cast<double>(batch * C * H * W);
  long pages = 0, resident_pages = 0;  // mapped (what ulimit -v counts), and in memory
  std::ifstream("/proc/self/statm") >> pages >> resident_pages;
  const double mapped = static_cast<double>(pages) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  const double resident = static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  const std::string measured = pixels_scale > 1 ? "measured on a batch of 2 and 4 at " + std::to_string(probe_w) + "x" +
                                                      std::to_string(probe_h) + " and scaled by the pixels"
                                                : std::string("measured on a batch of 2 and 4");
  if (!limited) {
    CYG_INPUT_CHECK(resident + needed <= machine, "'train.batch_size' = ", c.train.batch_size,
                    ": a training step of ", c.model.name, " on ", H, "x", W, " images needs about ", needed / kGiB,
                    " GiB at this batch (", measured, "), more than this machine's ", machine / kGiB,
                    " GiB of memory (", resident / kGiB, " GiB of it already taken by this process): a smaller "
                    "batch, or the batch in more "
                    "train.micro_batches (", parts, " now), or smaller images (data.image_size)");
    return;
  }
  const double allowed = static_cast<double>(limit.rlim_cur);
  // Twice what the tensors hold, plus an eighth of a GiB: what a step maps beyond them
  // (oneDNN's own buffers, the heap's fragments). Measured on ResNet-18 (width 16, 28x28)
  // under a 2.86 GiB limit with 1.35 GiB mapped: batch 768 trains, 1024 runs out.
  CYG_INPUT_CHECK(mapped + 2 * needed + 0.125 * kGiB <= allowed, "'train.batch_size' = ", c.train.batch_size,
                  ": a training step of ", c.model.name, " on ", H, "x", W, " images needs about ", needed / kGiB,
                  " GiB at this batch (", measured, "); this process may use ", allowed / kGiB,
                  " GiB (ulimit -v), ", mapped / kGiB,
                  " GiB of it already mapped: a smaller batch fits, or the batch in more train.micro_batches (",
                  parts, " now), or a higher limit (the estimate errs on the side of room)");
}

std::shared_ptr<nn::Module> make_model(const RunConfig& c, const Dataset& train) {
  const models::ModelOptions options = model_options(c, train);
  check_model_fits(c, options);
  try {
    return models::make_model(c.model.name, options);
  } catch (const std::bad_alloc&) {
    CYG_INPUT_CHECK(false, "'model.width' = ", c.model.width, ": ", c.model.name,
                    " at this width needs more host memory than this machine gives");
  }
  return nullptr;
}

// The precision key on `device`: auto is bf16 on a GPU that has bf16 tensor cores
// (compute capability 8.0 and newer), fp32 elsewhere (the CPU, the emulated device, older
// GPUs). bf16 asked for on an older GPU is refused: cuDNN has no bf16 convolutions there.
std::string resolve_precision(const std::string& key, Device device) {
  const bool gpu = device.is_cuda();
  const int major = gpu ? cuda_device_info(device.index).compute_major : 0;
  if (key == "auto") return gpu && major >= 8 ? "bf16" : "fp32";
  CYG_INPUT_CHECK(key != "bf16" || !gpu || major >= 8, "'precision' = bf16 needs a GPU of compute capability 8.0 or "
                  "newer; this one has ", major, ".x: use fp32 or tf32");
  return key;
}

// The memory_format key on `device`. channels_last runs where the device's kernel table
// has the channels-last kernels of the run's precision (the CPU: f32 with oneDNN; a GPU:
// f32, tf32 and bf16); asked for where it cannot run, it is nchw with a note, as the ops
// would run it anyway. auto is channels_last where it pays: the CPU in fp32 (oneDNN's
// fast convolutions take NHWC; measured), and a GPU in bf16 (cuDNN's tensor-core kernels
// take NHWC and KRSC as they are, and the filters' KRSC copies cost no launch: counted);
// else nchw (on a GPU in fp32 or tf32 each convolution transposes its filter).
std::string resolve_memory_format(const std::string& key, Device device, const std::string& precision) {
  const bool possible = kernels_for(device).has_channels_last(precision == "bf16" ? DType::BF16 : DType::F32);
  if (key == "auto") return possible && (device.is_cpu() || precision == "bf16") ? "channels_last" : "nchw";
  if (key == "channels_last" && !possible) {
    std::fprintf(stderr, "note: memory_format channels_last runs as nchw on %s (it has no channels-last %s kernels)\n",
                 device.str().c_str(), precision == "bf16" ? "bf16" : "f32");
    return "nchw";
  }
  return key;
}

// A GPU named without its index (cuda, or auto) is, for each rank, the GPU of its rank
// on its node. The index is chosen before any GPU is made current: cudaSetDevice creates
// the GPU's context at once, so making GPU 0 current first would give every rank a
// context there (memory on GPU 0, and a refusal where GPUs are exclusive to a process).
// parse_device makes the chosen GPU current, before the model moves: the runtime, the
// caching allocator and the cuDNN/cuBLAS handles use the process's current GPU.
Device device_of_rank(const RunConfig& c, const Communicator& comm) {
  const bool unindexed_gpu = c.device == "cuda" || (c.device == "auto" && cuda_available());
  if (unindexed_gpu && comm.local_size() > 1 && cuda_available())
    return parse_device("cuda:" + std::to_string(comm.local_rank() % std::max(1, cuda_device_count())));
  return parse_device(c.device);
}

// A GPU's UUID as a whole number below 2^52, never 0 (FNV-1a, its low 52 bits): exact in
// a double, so ranks can compare GPUs through a sum of doubles.
double gpu_identity(const std::string& uuid) {
  uint64_t h = 14695981039346656037ull;
  for (char c : uuid) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return static_cast<double>((h & ((uint64_t{1} << 52) - 1)) | 1u);
}

// Every core by default; the ranks sharing a node share its cores (no oversubscription),
// unless OMP_NUM_THREADS says otherwise.
int64_t threads_of_rank(const RunConfig& c, const Communicator& comm) {
  if (c.threads > 0 || comm.local_size() == 1 || std::getenv("OMP_NUM_THREADS") != nullptr) return c.threads;
  const int64_t cores = std::max<int64_t>(1, static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  return std::max<int64_t>(1, cores / comm.local_size());
}

}  // namespace

std::vector<double> gpu_of_each_rank(Communicator& comm, double mine) {
  std::vector<double> gpus(static_cast<size_t>(comm.size()), 0.0);
  gpus[static_cast<size_t>(comm.rank())] = mine;
  comm.all_reduce_sum(gpus.data(), static_cast<int64_t>(gpus.size()));
  return gpus;
}

std::optional<std::pair<int64_t, int64_t>> ranks_sharing_a_gpu(const std::vector<double>& gpus) {
  for (size_t b = 1; b < gpus.size(); ++b)
    for (size_t a = 0; a < b; ++a)
      if (gpus[a] != 0 && gpus[a] == gpus[b]) return std::make_pair(static_cast<int64_t>(a), static_cast<int64_t>(b));
  return std::nullopt;
}

std::string pairing_said(const DataConfig& d) {
  if (d.mixup_alpha > 0) return ", MixUp (data.mixup_alpha " + format_number(d.mixup_alpha) + ")";
  if (d.cutmix_alpha > 0) return ", CutMix (data.cutmix_alpha " + format_number(d.cutmix_alpha) + ")";
  return "";
}

// An image folder's classes and the normalisation computed from its training images (a
// dataset of one's own has no documented one).
std::string folder_said(const DataConfig& d, const DataSplits& data, bool computed) {
  if (d.dataset != "folder") return "";
  std::ostringstream os;
  os << std::fixed << std::setprecision(4) << data.train.num_classes << " classes, ";
  if (d.image_size > 0) os << "resized to " << d.image_size << "x" << d.image_size << " (" << d.resize_method << "), ";
  if (!computed) return os.str();
  auto list = [&](const std::vector<float>& values) {
    std::ostringstream l;
    l << std::fixed << std::setprecision(4);
    for (size_t i = 0; i < values.size(); ++i) l << (i ? ", " : "") << values[i];
    return l.str();
  };
  os << "normalised by its training images' mean (" << list(data.normalization.mean) << ") and std ("
     << list(data.normalization.std) << "), ";
  return os.str();
}

std::shared_ptr<Communicator> make_communicator(AppKind kind, const RunConfig& c) {
  const bool ranks = c.distributed == "true" || (c.distributed == "auto" && launched_as_ranks());
  if (!ranks || kind == AppKind::Evaluate) return single_process_communicator();
  // One process asked for distributed training where the build has no MPI is one rank.
  if (!has_mpi() && !launched_as_ranks()) return single_process_communicator();
  CYG_INPUT_CHECK(has_mpi(), "'distributed' = ", c.distributed, (c.distributed == "auto" ? " (started by a launcher "
                  "as several ranks)" : ""), ": this build has no MPI; install libopenmpi-dev "
                  "(scripts/install_deps.sh) and build again, or set distributed=false");
  std::shared_ptr<Communicator> comm = mpi_communicator();
  comm->set_timeout(c.distributed_timeout);
  return comm;
}

Experiment::Experiment(AppKind app, const RunConfig& run_config, std::shared_ptr<Communicator> communicator)
    : kind(app),
      config(run_config),
      comm(communicator ? std::move(communicator) : make_communicator(app, config)),
      sync_batchnorm(config.sync_batchnorm && comm->size() > 1 ? comm.get() : nullptr),
      device(device_of_rank(config, *comm)),
      precision(resolve_precision(config.precision, device)),
      autocast(precision == "bf16"),
      memory_format(resolve_memory_format(config.memory_format, device, precision)),
      channels_last(memory_format == "channels_last") {
  fn::set_deterministic(config.deterministic);
  fn::set_allow_tf32(precision == "fp32" && config.precision == "fp32" ? false
                     : precision == "tf32"                              ? true
                                                                        : config.allow_tf32);
  fn::set_cudnn_benchmark(config.cudnn_benchmark);
  fn::set_cudnn_engines(conv_engines_named(config.cudnn_engines));
  fn::set_cpu_threads(threads_of_rank(config, *comm));
  // The cache file is rank 0's to write (the others search for themselves).
  if (device.is_cuda() && comm->rank() == 0) fn::set_cudnn_cache(config.cudnn_cache);
  data = load_data(config);
  // A folder's normalisation, computed from its training images, is recorded in the run's
  // configuration (config.yaml, the checkpoint): an evaluation or a resume then normalises
  // as the training did, whatever has changed in the folder since.
  if (config.data.dataset == "folder" && config.data.mean.empty()) {
    normalisation_computed = true;
    config.data.mean.assign(data.normalization.mean.begin(), data.normalization.mean.end());
    config.data.std.assign(data.normalization.std.begin(), data.normalization.std.end());
  }
  // So are its classes: a class folder added, removed or renamed since is then an error,
  // not labels that silently mean other classes.
  // (A resumed run keeps what it recorded: nothing, for a run made before these keys.)
  if (config.data.dataset == "folder" && config.data.classes.empty() && config.resume.empty())
    config.data.classes = data.train.class_names;
  // And its training files: a resume refuses a folder whose files were added, removed or
  // moved since (the epochs' order, the held-out split and the statistics would differ).
  if (config.data.dataset == "folder") {
    train_files_now = folder_fingerprint(config.data.root, config.data.train_folder);
    if (!config.resume.empty())
      check_training_files(config.data, train_files_now,
                           "a resumed run trains on the images it started with: put the folder back as it was, or "
                           "start a new run");
    if (config.resume.empty() && (config.data.train_files.empty() || kind != AppKind::Evaluate))
      config.data.train_files = train_files_now;
  }
  // A crop from padding as wide as the image can miss the image entirely: a blank input.
  const int64_t height = data.train.images.size(2), width = data.train.images.size(3);
  CYG_INPUT_CHECK(config.data.cutout < std::min(height, width), "'data.cutout' = ", config.data.cutout,
                  ": expected less than the side of the ", height, "x", width, " images, so that no image is cut whole");
  CYG_INPUT_CHECK(config.data.crop_padding < std::min(height, width), "'data.crop_padding' = ",
                  config.data.crop_padding, ": expected less than the side of the ", height, "x", width,
                  " images, so that every crop holds part of the image");
  const LoaderOptions batches = loader_options();
  Augmentation augmentation;
  augmentation.crop_padding = config.data.crop_padding;
  augmentation.horizontal_flip = config.data.flip;
  augmentation.cutout = config.data.cutout;
  LoaderOptions training =
      LoaderOptions(batches).shuffle(true).balanced(config.data.sampler == "balanced")
          .drop_last(config.train.drop_last).augmentation(augmentation);
  // One pairing at most (validate refuses both).
  if (config.data.cutmix_alpha > 0)
    training.cutmix(config.data.cutmix_alpha, config.train.micro_batches);
  else
    training.mixup(config.data.mixup_alpha, config.train.micro_batches);
  train_loader = std::make_unique<Loader>(data.train, training);
  val_loader = std::make_unique<Loader>(data.val, batches);
  model = make_model(config, data.train);
  if (device.is_cpu() && kind != AppKind::Evaluate)
    check_step_fits(config, data.train, *model, memory_format, comm->size());
  if (!config.model.init_from.empty() && config.resume.empty()) load_weights(config.model.init_from, *model);
  model->to(device);
  // Every rank starts from rank 0's weights (a resume then loads the checkpoint on each).
  broadcast_module(*model, *comm);
  optimizer = make_optimizer(config.optimizer, model->parameters());
  if (config.train.ema_decay > 0 && (kind == AppKind::Baseline || kind == AppKind::OneCycle))
    ema = std::make_unique<WeightAverage>(*model, config.train.ema_decay, config.train.ema_warmup);
  if (config.train.swa_start_epoch > 0 && (kind == AppKind::Baseline || kind == AppKind::OneCycle))
    swa = WeightAverage::equal_average(*model);
  steps_per_epoch = train_loader->batches_per_epoch();
  CYG_INPUT_CHECK(steps_per_epoch > 0, "the training set (", data.train.size(), " images) gives no batch of ",
                  config.train.batch_size, " (train.drop_last is on)");
  schedule = make_schedule(config, steps_per_epoch, config.train.epochs * steps_per_epoch);
  distributed = kind != AppKind::Evaluate && (data_parallel() || config.distributed == "true");
  // Gradients on a GPU are summed by NCCL; elsewhere (the emulated device, a build
  // without NCCL, ranks sharing a GPU, which NCCL refuses) through the host. Every rank
  // takes the same road, agreed on in one collective.
  bool shared_gpu = false;
  if (data_parallel()) {
    const std::vector<double> gpus = gpu_of_each_rank(
        *comm, device.is_cuda() ? gpu_identity(cuda_device_info(device.index).uuid) : 0.0);
    const int64_t on_gpus = static_cast<int64_t>(std::count_if(gpus.begin(), gpus.end(), [](double g) { return g != 0; }));
    CYG_INPUT_CHECK(on_gpus == 0 || on_gpus == comm->size(), "'device' = '", config.device, "': ", on_gpus, " of the ",
                    comm->size(), " ranks run on a GPU and the others do not; give every rank a GPU (device=cuda) ",
                    "or none (device=cpu)");
    const std::optional<std::pair<int64_t, int64_t>> pair = ranks_sharing_a_gpu(gpus);
    shared_gpu = pair.has_value();
    if (shared_gpu && is_root())
      std::fprintf(stderr, "cygnet: warning: ranks %lld and %lld run on the same GPU, which NCCL refuses: gradients "
                           "are summed through the host (MPI) instead\n",
                   static_cast<long long>(pair->first), static_cast<long long>(pair->second));
  }
  if (distributed && device.is_cuda() && has_nccl() && !shared_gpu) {
    device_comm = nccl_communicator(*comm, device.index, config.distributed_timeout);
  } else if (data_parallel() && !device.is_cpu()) {
    device_comm = host_staged_communicator(*comm, device);
  }
  if (device_comm) device_comm->set_timeout(config.distributed_timeout);
  if (data_parallel()) {
    // Each rank's slice of every batch: one image at least, and two for a batchnorm of
    // its own (training statistics need more than one value per channel).
    const int64_t per_rank = config.sync_batchnorm ? 1 : 2;
    for (const Loader* loader : {train_loader.get(), val_loader.get()}) {
      const bool train = loader == train_loader.get();
      const int64_t needed = train ? per_rank * comm->size() : comm->size();
      CYG_INPUT_CHECK(loader->smallest_batch() >= needed, "'train.batch_size' = ", config.train.batch_size,
                      ": the ", train ? "training" : "validation", " set's smallest batch has ",
                      loader->smallest_batch(), " image(s), fewer than the ", needed, " its ", comm->size(),
                      " ranks need", train ? " (train.drop_last=true drops it; sync_batchnorm=true needs one per rank)"
                                           : "");
    }
  }
}

bool Experiment::any_rank(bool flag) const {
  if (!data_parallel()) return flag;
  double count = flag ? 1.0 : 0.0;
  comm->all_reduce_sum(&count, 1);
  return count > 0;
}

namespace {
// " of N micro-batches" as each rank runs them (fewer than asked where a rank's slice is
// too small for two images each), or nothing.
std::string micro_batches_said(AppKind kind, const RunConfig& config, int ranks, int64_t train_images) {
  if (config.train.micro_batches == 1 || kind == AppKind::Evaluate) return "";
  const int64_t slice = std::min<int64_t>(config.train.batch_size, train_images) / std::max(1, ranks);
  const int64_t parts = micro_batch_count(config.train.micro_batches, slice);
  std::string said = " of " + std::to_string(parts) + " micro-batches";
  if (parts != config.train.micro_batches)
    said += " (" + std::to_string(config.train.micro_batches) + " asked: two images each at least)";
  return said;
}

// What the optimizer does besides its name, for the header: " (gradient norm clipped at
// X, no weight decay on biases and batchnorm)", or nothing.
std::string optimizer_said(AppKind kind, const OptimizerConfig& optimizer) {
  if (kind == AppKind::Evaluate) return "";
  std::vector<std::string> said;
  if (optimizer.clip_grad_norm > 0) said.push_back("gradient norm clipped at " + format_number(optimizer.clip_grad_norm));
  if (!optimizer.decay_bias_and_norm)
    said.push_back("no weight decay on biases and batchnorm");
  if (said.empty()) return "";
  std::string out = " (" + said[0];
  for (size_t i = 1; i < said.size(); ++i) out += ", " + said[i];
  return out + ")";
}
}  // namespace

LoaderOptions Experiment::loader_options() const {
  return LoaderOptions(config.train.batch_size)
      .seed(static_cast<uint64_t>(config.seed))
      .normalization(data.normalization)
      .device(device)
      .shard(comm->rank(), comm->size())
      // The batch in the layout the first convolution takes.
      .channels_last(memory_format == "channels_last");
}

std::unique_ptr<Loader> Experiment::mirrored_val_loader() const {
  Augmentation mirror;
  mirror.mirror_every_image = true;
  return std::make_unique<Loader>(data.val, loader_options().augmentation(mirror));
}

std::string Experiment::header_line() const {
  std::ostringstream os;
  std::string where = device.str();
  if (config.device == "auto" && !device.is_cuda()) where += " (no GPU answered: " + cuda_unavailable_reason() + ")";
  if (!device.is_cpu() && kind != AppKind::Evaluate) where += config.cuda_graphs ? " (CUDA graphs)" : " (eager steps)";
  if (device.is_cpu()) where += " (" + std::to_string(fn::cpu_threads()) + " threads)";
  if (distributed && !data_parallel()) where += ", 1 rank (" + std::string(device_comm ? "NCCL" : comm->name()) + ")";
  if (data_parallel())
    where += ", " + std::to_string(comm->size()) + " ranks (" + comm->name() +
             (device_comm ? ", gradients by " + device_comm->name() : "") + ", batch " +
             std::to_string(config.train.batch_size) + " over all, batchnorm " +
             (config.sync_batchnorm ? "synchronised" : "per rank") + ")";
  os << app_name(kind) << " '" << config.name << "': " << config.model.name << " on " << data.train.name << " ("
     << folder_said(config.data, data, normalisation_computed) << data.train.size() << " train, " << data.val.size() << (data.val.size() == 1 ? " val image" : " val images")
     << (config.data.sampler == "balanced" ? ", each class drawn equally often" : "") << "), " << where << ", " << precision << ", " << memory_format << ", "
     << config.optimizer.name << optimizer_said(kind, config.optimizer)
     << ", schedule " << (kind == AppKind::LrFind ? "range sweep" : config.schedule.name)
     << (kind == AppKind::OneCycle && !config.schedule.lr_max_from.empty()
             ? " (lr_max " + format_significant(config.schedule.lr_max) + ": the " + config.schedule.lr_max_rule +
                   " of the range test in " + config.schedule.lr_max_from + ")"
             : "")
     << ", " << steps_per_epoch << " steps per epoch"
     << micro_batches_said(kind, config, comm->size(), data.train.size())
     << (kind != AppKind::Evaluate ? pairing_said(config.data) : "")
     << (ema ? ", weights averaged (train.ema_decay " + format_number(ema->decay()) +
                   (ema->warm_up() ? ", warmed up" : "") + ")"
             : "")
     << (swa ? ", stochastic weight averaging from epoch " + std::to_string(config.train.swa_start_epoch) +
                   (config.train.swa_lr > 0 ? " (lr to " + format_number(config.train.swa_lr) + " over " +
                                                  std::to_string(config.train.swa_anneal_epochs) + " epochs, " +
                                                  config.train.swa_anneal_strategy + ")"
                                            : "")
             : "");
  return os.str();
}

}  // namespace cyg::app
