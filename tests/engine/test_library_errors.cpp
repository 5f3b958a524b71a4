// The checked-call macros turn CUDA, cuDNN and cuBLAS failures into one cyg::Error with
// the library's message, the call, the file and the line. None of this needs a GPU:
// the status codes are fed in directly.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <string>

#include "kernels/cuda/check.h"

namespace {

std::string message_of(void (*f)()) {
  try {
    f();
  } catch (const cyg::Error& e) {
    return e.what();
  }
  return "no exception";
}

TEST(LibraryErrors, CudaCheck) {
  const std::string what = message_of([] { CYG_CUDA_CHECK(cudaErrorInvalidValue); });
  EXPECT_NE(what.find("CUDA error: invalid argument"), std::string::npos) << what;
  EXPECT_NE(what.find("`cudaErrorInvalidValue`"), std::string::npos) << what;
  EXPECT_NE(what.find("test_library_errors.cpp:"), std::string::npos) << what;
}

TEST(LibraryErrors, CudnnCheck) {
  const std::string what = message_of([] { CYG_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_NE(what.find("cuDNN error: CUDNN_STATUS_BAD_PARAM"), std::string::npos) << what;
  EXPECT_NE(what.find("test_library_errors.cpp:"), std::string::npos) << what;
}

TEST(LibraryErrors, CublasCheck) {
  const std::string what = message_of([] { CYG_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_NE(what.find("cuBLAS error: "), std::string::npos) << what;
  EXPECT_NE(what.find("`CUBLAS_STATUS_INVALID_VALUE`"), std::string::npos) << what;
}

TEST(LibraryErrors, SuccessDoesNotThrow) {
  EXPECT_NO_THROW(CYG_CUDA_CHECK(cudaSuccess));
  EXPECT_NO_THROW(CYG_CUDNN_CHECK(CUDNN_STATUS_SUCCESS));
  EXPECT_NO_THROW(CYG_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
}

}  // namespace
