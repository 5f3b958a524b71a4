// The typed configuration of a run: YAML file -> structs, with every key known in
// advance (an unknown key is an error naming its path and the valid keys), values
// checked for type and range, `key.sub=value` overrides from the command line, and the
// resolved configuration written back as YAML into the run directory. Keys that name
// one of a fixed set (model, dataset, optimizer, schedule, ...) take the names of its
// registry: models/registry.h and apps/common/*_factory.h.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "kernels/conv.h"

namespace cyg::app {

enum class AppKind { Baseline, OneCycle, LrFind, Evaluate };
const char* app_name(AppKind kind);

struct ModelConfig {
  std::string name = "resnet18";  // cyg::models::model_names()
  int64_t width = 0;  // 0: the model's own
  std::string init_from;  // a .safetensors of weights to start from
};

// The values of data.sampler: "shuffle" and "balanced".
const std::vector<std::string>& sampler_names();

struct DataConfig {
  std::string dataset = "cifar10";  // dataset_names()
  std::string root;                 // empty: the dataset's default folder
  std::vector<double> mean, std;    // empty: the dataset's documented defaults
  int64_t crop_padding = 0;         // random crop with this zero padding (0: off)
  bool flip = false;                // random horizontal flip
  int64_t cutout = 0;               // cutout: a square of this side set to the mean (0: off)
  double mixup_alpha = 0.0;         // MixUp with Beta(alpha, alpha) weights (0: off)
  double cutmix_alpha = 0.0;        // CutMix with Beta(alpha, alpha) box areas (0: off)
  int64_t limit_train = 0, limit_val = 0;  // use the first N images (0: all)
  // How each training epoch visits the images (sampler_names()): "shuffle", each once in a
  // seeded order; "balanced", as many draws with every class equally likely
  // (balanced_epoch_sample: PyTorch's WeightedRandomSampler by inverse class counts).
  std::string sampler = "shuffle";
  int64_t synthetic_train = 2048, synthetic_val = 512, synthetic_size = 16, synthetic_channels = 3,
          synthetic_classes = 10;
  // dataset "folder" (image_folder.h): root/<train_folder>/<class>/<image>, the validation
  // split likewise (empty valid_folder: valid, val or test, the first found); each image
  // made `channels` (3 or 1) and image_size x image_size (0: the images' own size).
  std::string train_folder = "train", valid_folder;
  int64_t image_size = 0, channels = 3;
  // How an image of another aspect ratio is made square (fastai's Resize method): squish,
  // crop (the centre) or pad (with black); for folder images and cygnet_evaluate --image.
  std::string resize_method = "squish";
  // In (0, 1): the validation split is held out of train_folder instead, as fastai's
  // valid_pct: a shuffle drawn from `seed`, its first int(valid_pct * n) images; 0: none.
  double valid_pct = 0;
  // The class names in label order; empty: the training folder's subfolders, sorted (what
  // a run records here). Given, the training folder's class folders must be these.
  std::vector<std::string> classes;
  // What the run recorded of its training folder's files (folder_fingerprint); a resume,
  // and a scoring with valid_pct (whose split it decides), refuse a folder that differs.
  std::string train_files;
};

struct TrainConfig {
  int64_t epochs = 1;
  int64_t batch_size = 128;
  bool drop_last = false;
  int64_t max_steps = 0;  // stop after this many steps (0: no limit)
  // Lightning's max_time, "DD:HH:MM:SS" (or "HH:MM:SS"): stop, resumably, once the run has
  // trained this long (its training time over every resume); "": no limit.
  std::string max_time;
  double label_smoothing = 0.0;
  int64_t log_every = 50;  // steps between progress lines and metric reads
  // fastai's ActivationStats(with_hist=True): every n-th step, the mean, std, share near
  // zero and histogram of each layer's output (activation_stats.csv and the page's
  // pictures); 0: none.
  int64_t activation_stats_every = 0;
  int64_t micro_batches = 1;  // each batch in this many parts, gradients accumulated
  double target_val_acc = 0.0;  // time to accuracy: the first epoch reaching it; 0: none
  double ema_decay = 0.0;       // a moving average of the weights, evaluated each epoch; 0: none
  bool ema_warmup = false;      // its decay min(ema_decay, (1 + n) / (10 + n)) at update n
  // Early stopping (Lightning's EarlyStopping): the run ends after `patience` epochs in a
  // row without the monitored metric improving by more than min_delta; 0: none.
  int64_t early_stopping_patience = 0;
  std::string early_stopping_monitor = "val_loss";  // early_stopping_monitors()
  double early_stopping_min_delta = 0.0;
  // What picks best.safetensors (Lightning's ModelCheckpoint monitor): the highest
  // val_acc or the lowest val_loss of the complete epochs.
  std::string best_monitor = "val_acc";
  // Snapshots (Lightning's ModelCheckpoint(every_n_epochs=n, save_top_k=-1)): the weights at
  // the end of every n-th complete epoch, kept as epoch-<e>.safetensors; 0: none.
  int64_t save_every_n_epochs = 0;
  // Stochastic weight averaging (Lightning's StochasticWeightAveraging, PyTorch's
  // swa_utils): the weights at the end of this epoch (1-based) and of each one after join
  // an equal average, evaluated when the run ends with its batchnorm statistics
  // recomputed over the training images; 0: none.
  int64_t swa_start_epoch = 0;
  double swa_lr = 0.0;  // SWALR's target lr from swa_start_epoch on; 0: the schedule's lr stays
  int64_t swa_anneal_epochs = 10;           // SWALR's anneal_epochs
  std::string swa_anneal_strategy = "cos";  // swa_anneal_strategies()
};

struct OptimizerConfig {
  std::string name = "sgd";  // optimizer_names()
  double lr = 0.01;
  double momentum = 0.9;  // SGD momentum; Adam's beta1
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 5e-4;
  bool nesterov = false;
  double clip_grad_norm = 0.0;  // 0: no clipping
  bool decay_bias_and_norm = true;  // false: no weight decay on biases and batchnorm
};

struct ScheduleConfig {
  std::string name = "constant";  // schedule_names()
  double lr_min = 0.001, lr_max = 0.01;
  // 1cycle: lr_max taken from a range test's run directory (its suggestion by
  // lr_max_rule), when given; resolve_lr_max_from() reads it.
  std::string lr_max_from;
  std::string lr_max_rule = "valley";  // lr_suggestion_rules()
  double momentum_min = 0.85, momentum_max = 0.95;
  double anneal_percent = 10.0;
  double anneal_div = 100.0;
  // pytorch_one_cycle: PyTorch's OneCycleLR arguments (lr_max is its max_lr,
  // momentum_min/max its base/max_momentum).
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
  std::string anneal_strategy = "cos";  // cos or linear
  std::string interpolation = "linear";  // interpolation_names()
  bool cycle_momentum = true;            // drive momentum (Adam: beta1) from the cycle
  std::vector<int64_t> milestones;       // step: epochs at which lr *= gamma
  double gamma = 0.1;
  double min_lr = 0.0;  // cosine: the final lr; plateau: the lowest
  int64_t warmup_steps = 0;
  // plateau: PyTorch's ReduceLROnPlateau stepped at each epoch's end with the metric
  // plateau_monitor (early_stopping_monitors()); the lr starts at optimizer.lr.
  std::string plateau_monitor = "val_loss";
  double plateau_factor = 0.1;
  int64_t plateau_patience = 10;
  double plateau_threshold = 1e-4;
  std::string plateau_threshold_mode = "rel";  // rel or abs
  int64_t plateau_cooldown = 0;
};

struct LrFindConfig {
  double start_lr = 1e-7, end_lr = 10.0;
  int64_t steps = 0;  // 0: one epoch
  std::string spacing = "exponential";  // sweep_spacing_names()
  double divergence_factor = 4.0;
  double smoothing = 0.98;
  // One sweep per weight decay, each from the same initial weights, on one plot (Leslie
  // Smith's way of choosing it); empty: one sweep at optimizer.weight_decay.
  std::vector<double> weight_decays;
};

struct RunConfig {
  std::string name = "run";
  int64_t seed = 0;
  std::string device = "auto";
  bool deterministic = false;  // CUDA: bit-reproducible convolutions (slower algorithms)
  // auto | fp32 | tf32 | bf16 (precision_names()). auto: bf16 on a GPU of compute
  // capability 8.0 or newer, else fp32. fp32: strict float32 convolutions; tf32: float32
  // with TF32 tensor cores; bf16: PyTorch's bf16 autocast (fn::AutocastBf16).
  std::string precision = "auto";
  // auto | channels_last | nchw (memory_format_names()): the activations' layout.
  // auto: channels_last on the CPU in fp32 (with oneDNN) and on a GPU in bf16, else
  // nchw. Parameters and checkpoints keep PyTorch's layout either way.
  std::string memory_format = "auto";
  bool allow_tf32 = true;      // CUDA: TF32 tensor cores for float convolutions (precision auto)
  bool cudnn_benchmark = true;  // CUDA: time cuDNN's algorithms once per shape, keep the fastest
  std::string cudnn_cache;      // CUDA: a file keeping those choices across runs ("": none)
  // both | legacy | graph (cudnn_engines_names()): what autotuning times, cuDNN's legacy
  // algorithms and its graph API's engines, or one of the two (kernels/conv.h).
  std::string cudnn_engines = "both";
  bool cuda_graphs = true;      // CUDA, emulated: each training step one replayed CUDA graph
  int64_t threads = 0;          // CPU threads (0: OMP_NUM_THREADS where set, else every core)
  // Data parallelism over MPI ranks: auto (when started by mpirun or srun as several
  // ranks), true (MPI even for one rank) or false. train.batch_size stays the global batch.
  std::string distributed = "auto";
  bool sync_batchnorm = false;        // batch statistics of the global batch (summed over the ranks)
  double distributed_timeout = 300;   // seconds a collective waits for the other ranks (0: forever)
  bool tensorboard = false;  // also write the run's scalars as a TensorBoard event file
  std::string run_root = "runs";
  std::string resume;  // a run directory to continue
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  LrFindConfig lr_find;
};

const std::vector<std::string>& precision_names();
const std::vector<std::string>& memory_format_names();
const std::vector<std::string>& cudnn_engines_names();
ConvEngines conv_engines_named(const std::string& name);  // a name of cudnn_engines_names()
const std::vector<std::string>& distributed_names();
// What early stopping may watch: val_loss, val_acc, ema_val_loss, ema_val_acc.
const std::vector<std::string>& early_stopping_monitors();
// What may pick best.safetensors: val_acc, val_loss.
const std::vector<std::string>& best_monitors();
// How schedule.plateau_threshold is read: rel (a fraction of the best) or abs.
const std::vector<std::string>& plateau_threshold_modes();
// How SWALR anneals to train.swa_lr: cos or linear.
const std::vector<std::string>& swa_anneal_strategies();

// train.max_time in seconds (0: no limit); a value that is not "DD:HH:MM:SS" or "HH:MM:SS"
// of whole numbers, or a zero time, is an error naming the key.
double max_time_seconds(const TrainConfig& train);

// A resumed run must stay the experiment it was. How far it goes, how often it reports,
// where it runs, how it picks convolution algorithms and whether its steps are CUDA
// graphs: none of these makes it another experiment, so these keys may change.
const std::vector<std::string>& keys_changeable_on_resume();
// The configuration as an experiment: its YAML with those keys, the name and run_root
// at their defaults and no resume key. A checkpoint keeps it, so that a resume of an edited run is refused.
std::string experiment_yaml(const RunConfig& config);
// A checkpoint's experiment_yaml text as this version writes it: keys it lacks (added
// since it was written) at their defaults, so that a run from before a new key resumes.
// Text that does not read as a configuration comes back as it is.
std::string current_experiment_yaml(const std::string& stored, AppKind kind);

// Each app's defaults: baseline = Adam at a constant 1e-3; onecycle = SGD with the
// 1cycle schedule; lr_find = the range test.
RunConfig default_config(AppKind kind);

// Reads a YAML file over `config` and returns the keys it gives (dotted paths), so that
// a reader can tell a key left out from one set to its default. Errors name the file,
// and the line for syntax errors.
std::set<std::string> apply_yaml_file(RunConfig& config, const std::string& path);
// Applies "a.b=value" (the value parsed as YAML: 5, 0.1, true, [1, 2], text).
void apply_override(RunConfig& config, const std::string& assignment);
// Range and consistency checks, and names checked against their registries; the first
// problem is a cyg::Error naming the key (and, for a name, listing the valid ones).
void validate(const RunConfig& config);
std::string to_yaml(const RunConfig& config);
// Every key for --help: "  key = <the app's default>", then on the next line what it takes
// (its names, or its type and range) and a few words on what it does, with its unit.
std::string describe_keys(AppKind kind);
// Keys --help has no words for (a test keeps this empty).
std::vector<std::string> undocumented_keys();

}  // namespace cyg::app
