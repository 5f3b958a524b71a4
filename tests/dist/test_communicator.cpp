// The communicator (engine/communicator.h). Run plainly, it checks the single-process
// one and that a plain start is not taken for ranks. Run under mpirun (ctest does, with
// 2 ranks, where the build has MPI), every rank checks MPI's collectives against sums
// worked out here from the ranks' own contributions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "engine/communicator.h"
#include "kernels/error.h"

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

}  // namespace
