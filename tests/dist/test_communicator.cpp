// The communicator (engine/communicator.h). Run plainly, it checks the single-process
// one and that a plain start is not taken for ranks. Run under mpirun (ctest does, with
// 2 ranks, where the build has MPI), every rank checks MPI's collectives against sums
// worked out here from the ranks' own contributions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <chrono>
#include <cmath>
#include <thread>

#include "apps/common/experiment.h"
#include "engine/communicator.h"
#include "engine/autograd.h"
#include "engine/data_parallel.h"
#include "engine/functional.h"
#include "kernels/error.h"
#include "models/registry.h"
#include "tests/scoped_env.h"

namespace {

TEST(Communicator, ASingleProcessIsRankZeroOfOne) {
  const auto c = cyg::single_process_communicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  std::vector<float> v = {1.5f, -2.0f};
  c->all_reduce_sum(v.data(), 2);
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f}));
  c->barrier();
  EXPECT_THROW(c->broadcast(v.data(), 8, 1), cyg::Error);
}

using cyg::test::ScopedEnv;

// The command a stopped run prints to continue it starts the ranks as they were started.
TEST(Communicator, TheLauncherCommandIsTheOneThatStartedTheRanks) {
  {
    ScopedEnv step("SLURM_STEP_ID", std::nullopt), mpirun("OMPI_COMM_WORLD_SIZE", std::nullopt);
    EXPECT_EQ(cyg::launcher_command(2), "mpirun -np 2");
  }
  {
    ScopedEnv step("SLURM_STEP_ID", "0"), mpirun("OMPI_COMM_WORLD_SIZE", std::nullopt);
    EXPECT_EQ(cyg::launcher_command(16), "srun -n 16") << "srun's job step";
  }
  {
    ScopedEnv step("SLURM_STEP_ID", "0"), mpirun("OMPI_COMM_WORLD_SIZE", "4");
    EXPECT_EQ(cyg::launcher_command(4), "mpirun -np 4") << "mpirun inside a Slurm job step";
  }
  {
    ScopedEnv batch("SLURM_STEP_ID", ""), mpirun("OMPI_COMM_WORLD_SIZE", std::nullopt);
    EXPECT_EQ(cyg::launcher_command(2), "mpirun -np 2") << "an empty step id is none";
  }
}

// Which ranks share a GPU, by the numbers gpu_of_each_rank gathers (0: a rank without one).
TEST(Communicator, RanksSharingAGpuAreFoundByItsIdentity) {
  using cyg::app::ranks_sharing_a_gpu;
  EXPECT_FALSE(ranks_sharing_a_gpu({}).has_value());
  EXPECT_FALSE(ranks_sharing_a_gpu({7}).has_value());
  EXPECT_FALSE(ranks_sharing_a_gpu({7, 9, 11, 13}).has_value()) << "a GPU each";
  EXPECT_FALSE(ranks_sharing_a_gpu({0, 0, 0}).has_value()) << "no GPU: nothing shared";
  EXPECT_EQ(ranks_sharing_a_gpu({7, 9, 7, 9}), std::make_optional(std::make_pair<int64_t, int64_t>(0, 2)));
  EXPECT_EQ(ranks_sharing_a_gpu({5, 9, 11, 9}), std::make_optional(std::make_pair<int64_t, int64_t>(1, 3)));
  // One process: its own number, gathered without MPI.
  const auto single = cyg::single_process_communicator();
  EXPECT_EQ(cyg::app::gpu_of_each_rank(*single, 42.0), std::vector<double>{42.0});
}

TEST(Communicator, MpiRanksGatherTheirGpusInRankOrder) {
  if (!cyg::launched_as_ranks()) GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  const auto c = cyg::mpi_communicator();
  std::vector<double> want;
  for (int r = 0; r < c->size(); ++r) want.push_back(1000.0 + r % 2);
  EXPECT_EQ(cyg::app::gpu_of_each_rank(*c, 1000.0 + c->rank() % 2), want);
  EXPECT_EQ(cyg::app::ranks_sharing_a_gpu(want).has_value(), c->size() > 2);
}

TEST(Communicator, MpiRanksSumBroadcastAndMeet) {
  if (!cyg::launched_as_ranks()) {
    EXPECT_FALSE(cyg::launched_as_ranks());
    if (!cyg::has_mpi()) {
      EXPECT_THROW(cyg::mpi_communicator(), cyg::Error);
    }
    GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  }
  const auto c = cyg::mpi_communicator();
  const int n = c->size(), r = c->rank();
  ASSERT_GE(n, 2);
  ASSERT_LT(r, n);
  EXPECT_EQ(c->name(), "MPI");
  // Rank r contributes (r + 1) * (i + 1) to element i: the sum is (i + 1) n (n + 1) / 2.
  const int64_t count = 100003;  // odd, and more than one message's worth
  std::vector<float> f(count);
  std::vector<double> d(count);
  for (int64_t i = 0; i < count; ++i) {
    f[i] = static_cast<float>((r + 1) * ((i % 7) + 1));
    d[i] = static_cast<double>(r + 1) * static_cast<double>(i + 1);
  }
  c->all_reduce_sum(f.data(), count);
  c->all_reduce_sum(d.data(), count);
  const double ranks_sum = n * (n + 1) / 2.0;
  for (int64_t i = 0; i < count; ++i) {
    ASSERT_EQ(f[i], static_cast<float>(ranks_sum * ((i % 7) + 1))) << "float element " << i;
    ASSERT_EQ(d[i], ranks_sum * static_cast<double>(i + 1)) << "double element " << i;
  }
  // The last rank's bytes reach every rank.
  std::vector<int> message(5, r);
  c->broadcast(message.data(), static_cast<int64_t>(message.size() * sizeof(int)), n - 1);
  EXPECT_EQ(message, std::vector<int>(5, n - 1));
  c->barrier();
  EXPECT_THROW(c->broadcast(message.data(), 4, n), cyg::Error) << "a root outside the ranks";
}

// Data parallelism's collectives over 2 ranks or more: gradients summed in buckets (small
// ones here, so that parameters share and split them), a parameter without a gradient
// on a rank counting as zeros, and every rank starting from rank 0's weights.
TEST(Communicator, MpiGradientsAreSummedInBucketsAndWeightsBroadcast) {
  if (!cyg::launched_as_ranks()) GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  const auto c = cyg::mpi_communicator();
  const int n = c->size(), r = c->rank();
  std::vector<cyg::Variable> params;
  for (int64_t numel : {3, 1000, 7, 1, 40})
    params.emplace_back(cyg::Tensor::zeros({numel}), cyg::RequiresGrad::Yes);
  for (size_t k = 0; k < params.size(); ++k) {
    if (k == 3 && r == 1) continue;  // no gradient on rank 1
    cyg::Tensor& g = params[k].ensure_grad();
    for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] = static_cast<float>((r + 1) * (i + 1) + k);
  }
  cyg::GradientReducer reducer(params, *c, 64);
  EXPECT_EQ(reducer.buckets(), 4);  // [40], [1, 7], [1000], [3], last first
  reducer.all_reduce();
  const double ranks_sum = n * (n + 1) / 2.0;
  for (size_t k = 0; k < params.size(); ++k) {
    const cyg::Tensor& g = params[k].grad();
    for (int64_t i = 0; i < g.numel(); ++i) {
      // Rank q adds (q + 1)(i + 1) + k; for parameter 3, every rank but rank 1.
      double expected = ranks_sum * static_cast<double>(i + 1) + n * static_cast<double>(k);
      if (k == 3) expected -= 2.0 * static_cast<double>(i + 1) + static_cast<double>(k);
      ASSERT_EQ(g.data<float>()[i], static_cast<float>(expected)) << "parameter " << k << " element " << i;
    }
  }
  // Models seeded differently on each rank hold rank 0's weights after the broadcast.
  cyg::models::ModelOptions options;
  options.seed = static_cast<uint64_t>(r);
  auto model = cyg::models::make_model("small_cnn", options);
  options.seed = 0;
  const auto rank0 = cyg::models::make_model("small_cnn", options);
  cyg::broadcast_module(*model, *c);
  const auto mine = model->state_dict(), theirs = rank0->state_dict();
  ASSERT_EQ(mine.size(), theirs.size());
  for (size_t k = 0; k < mine.size(); ++k)
    EXPECT_EQ(mine[k].second.to_vector(), theirs[k].second.to_vector()) << mine[k].first;
}

// A collective another rank never joins ends this rank after distributed_timeout, with a
// message, exit code kCollectiveTimeoutExit (ctest reads the message); never a hang.
TEST(Communicator, MpiACollectiveNobodyJoinsEndsTheRank) {
  if (!cyg::launched_as_ranks()) GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  const auto c = cyg::mpi_communicator();
  c->set_timeout(1.0);
  double value = 1.0;
  if (c->rank() == 1) {
    // Late by far more than the timeout: rank 0 must be gone by then, and mpirun with it.
    std::this_thread::sleep_for(std::chrono::seconds(20));
    c->all_reduce_sum(&value, 1);
    return;
  }
  c->all_reduce_sum(&value, 1);
  ADD_FAILURE() << "the all-reduce waited past its timeout and returned";
}

// Buckets summed while the backward runs (the leaf-ready hook), on the CPU over MPI and
// on the emulated device (copies and sums on the reducer's own stream, after an event,
// through the host): every gradient equals the sum of the ranks' own gradients, worked
// out here from each rank's gradients taken without the reducer, and most buckets start
// before the backward ends.
TEST(Communicator, MpiBucketsAreSummedWhileTheBackwardRuns) {
  if (!cyg::launched_as_ranks()) GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  const auto c = cyg::mpi_communicator();
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()}) {
    SCOPED_TRACE(device.str());
    cyg::models::ModelOptions options;
    options.seed = 3;
    auto model = cyg::models::make_model("small_cnn", options);
    model->to(device);
    // This rank's batch, different on each rank.
    const cyg::Tensor images = cyg::Tensor::normal({4, 3, 8, 8}, 0, 1, 50 + static_cast<uint64_t>(c->rank())).to(device);
    cyg::Tensor labels = cyg::Tensor::empty({4}, cyg::DType::I32);
    for (int64_t i = 0; i < 4; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i + c->rank()) % 10);
    labels = labels.to(device);
    auto gradients = [&](cyg::GradientReducer* reducer) {
      for (cyg::Variable& p : model->parameters()) p.zero_grad();
      const cyg::Variable loss = cyg::fn::cross_entropy((*model)(cyg::Variable(images)), labels).loss;
      if (reducer) reducer->begin();
      cyg::backward(loss, cyg::Tensor(), reducer ? reducer->leaf_ready() : cyg::LeafReady());
      if (reducer) reducer->finish();
      std::vector<float> all;
      for (const cyg::Variable& p : model->parameters()) {
        const std::vector<float> g = p.grad().to_vector();
        all.insert(all.end(), g.begin(), g.end());
      }
      return all;
    };
    std::vector<float> expected = gradients(nullptr);
    c->all_reduce_sum(expected.data(), static_cast<int64_t>(expected.size()));
    const auto host_staged = cyg::host_staged_communicator(*c, device);
    cyg::GradientReducer reducer(model->parameters(), *c, 512, device.is_cpu() ? nullptr : host_staged.get());
    ASSERT_GE(reducer.buckets(), 3);
    for (int step = 0; step < 2; ++step) {
      EXPECT_EQ(gradients(&reducer), expected) << "step " << step;
      EXPECT_GE(reducer.started_early(), reducer.buckets() - 1) << "the buckets waited for the end of the backward";
    }
  }
}

// Synchronised batchnorm over the ranks: each rank normalises its slice of a batch by
// the statistics of the whole batch. Every rank makes the whole batch (each rank's slice
// from its own seed), runs the ordinary batchnorm on it, and checks its own slice's
// output and gradients, and the sums over the ranks of the parameters' gradients,
// against it. On the CPU (its loops) and the emulated device (the kernels' composition),
// with slices of one image of 1x1 (one value per channel on a rank) and of 2 of 3x2.
TEST(Communicator, MpiSynchronisedBatchNormUsesTheWholeBatch) {
  if (!cyg::launched_as_ranks()) GTEST_SKIP() << "not started by mpirun: the 2-rank run is its own ctest entry (Mpi.*)";
  const auto c = cyg::mpi_communicator();
  const int n = c->size(), r = c->rank();
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (int64_t per_rank : {1, 2}) {
      SCOPED_TRACE(device.str() + ", " + std::to_string(per_rank) + " image(s) per rank");
      const int64_t C = 3, H = per_rank == 1 ? 1 : 3, W = per_rank == 1 ? 1 : 2, N = per_rank * n;
      auto slice_of = [&](int rank, uint64_t stream) {
        return cyg::Tensor::uniform({per_rank, C, H, W}, -1.0, 3.0, 1000 * stream + static_cast<uint64_t>(rank));
      };
      // The whole batch, slices in rank order, and its upstream gradient.
      std::vector<float> x_all, dy_all;
      for (int q = 0; q < n; ++q) {
        const std::vector<float> xq = slice_of(q, 1).to_vector(), dyq = slice_of(q, 2).to_vector();
        x_all.insert(x_all.end(), xq.begin(), xq.end());
        dy_all.insert(dy_all.end(), dyq.begin(), dyq.end());
      }
      struct Out {
        std::vector<float> y, dx, dgamma, dbeta, running_var;
      };
      auto bn = [&](const cyg::Tensor& x, const cyg::Tensor& dy, cyg::Communicator* sync_over) {
        const cyg::fn::SyncBatchNorm sync(sync_over);
        cyg::Variable xv(x.to(device), cyg::RequiresGrad::Yes);
        cyg::Variable gamma(cyg::Tensor::uniform({C}, 0.5, 1.5, 7).to(device), cyg::RequiresGrad::Yes);
        cyg::Variable beta(cyg::Tensor::uniform({C}, -0.5, 0.5, 8).to(device), cyg::RequiresGrad::Yes);
        cyg::Tensor running_mean = cyg::Tensor::zeros({C}).to(device), running_var = cyg::Tensor::ones({C}).to(device);
        const cyg::Variable y = cyg::fn::batch_norm(xv, gamma, beta, running_mean, running_var,
                                                    cyg::fn::BatchNormMode::Train, 0.1, 1e-5,
                                                    cyg::fn::BatchNormThen::Relu);
        cyg::backward(y, dy.to(device));
        return Out{y.data().to_vector(), xv.grad().to_vector(), gamma.grad().to_vector(), beta.grad().to_vector(),
                   running_var.to_vector()};
      };
      const Out whole = bn(cyg::Tensor::from_vector(x_all, {N, C, H, W}), cyg::Tensor::from_vector(dy_all, {N, C, H, W}),
                           nullptr);
      Out mine = bn(slice_of(r, 1), slice_of(r, 2), c.get());
      const size_t per = static_cast<size_t>(per_rank * C * H * W), at = per * static_cast<size_t>(r);
      for (size_t i = 0; i < per; ++i) {
        ASSERT_NEAR(mine.y[i], whole.y[at + i], 1e-5 + 1e-5 * std::fabs(whole.y[at + i])) << "y " << i;
        ASSERT_NEAR(mine.dx[i], whole.dx[at + i], 1e-5 + 1e-5 * std::fabs(whole.dx[at + i])) << "dx " << i;
      }
      c->all_reduce_sum(mine.dgamma.data(), C);
      c->all_reduce_sum(mine.dbeta.data(), C);
      for (int64_t k = 0; k < C; ++k) {
        EXPECT_NEAR(mine.dgamma[k], whole.dgamma[k], 1e-5 + 1e-5 * std::fabs(whole.dgamma[k])) << "dgamma " << k;
        EXPECT_NEAR(mine.dbeta[k], whole.dbeta[k], 1e-5 + 1e-5 * std::fabs(whole.dbeta[k])) << "dbeta " << k;
        EXPECT_NEAR(mine.running_var[k], whole.running_var[k], 1e-6) << "running_var " << k << " (unbiased, global)";
      }
    }
}

}  // namespace
