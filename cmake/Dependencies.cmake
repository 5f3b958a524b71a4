# Finds what cygnet builds against. Each miss names the Debian package (scripts/install_deps.sh).

# find_library(<var> ...) for a shared library that may exist only as lib<name>.so.<major>
# (as in PyTorch's pip wheels, which have no lib<name>.so link): looks in each root and
# its lib/, lib64/ for lib<name>.so, then the versioned files found there (shortest
# name first, i.e. the soname).
function(cygnet_find_shared_library var name)
  set(names ${name})
  foreach(root IN LISTS ARGN)
    file(GLOB versioned LIST_DIRECTORIES false "${root}/lib${name}.so.[0-9]*" "${root}/lib/lib${name}.so.[0-9]*"
         "${root}/lib64/lib${name}.so.[0-9]*")
    list(SORT versioned)
    foreach(path IN LISTS versioned)
      get_filename_component(file "${path}" NAME)
      list(APPEND names "${file}")
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES names)
  find_library(${var} NAMES ${names} NAMES_PER_DIR HINTS ${ARGN} PATH_SUFFIXES lib lib64 lib/x64)
endfunction()

find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(ZLIB REQUIRED)

# BLAS for the CPU reference (conv via im2col + GEMM, linear). Prefer OpenBLAS.
set(BLA_VENDOR OpenBLAS)
find_package(BLAS)
if(NOT BLAS_FOUND)
  unset(BLA_VENDOR)
  find_package(BLAS REQUIRED)
endif()
find_path(CBLAS_INCLUDE_DIR NAMES cblas.h PATH_SUFFIXES openblas openblas-pthread)
if(NOT CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install libopenblas-dev (scripts/install_deps.sh)")
endif()
add_library(cygnet_blas INTERFACE)
target_link_libraries(cygnet_blas INTERFACE ${BLAS_LIBRARIES})
target_include_directories(cygnet_blas INTERFACE ${CBLAS_INCLUDE_DIR})

# oneDNN (optional) for the CPU convolutions; without it they are im2col + BLAS, which
# stays the reference the tests compare with. Found by its library and header alone:
# Debian's CMake package config also asks for OpenCL, which the CPU path never uses.
set(CYGNET_HAVE_ONEDNN OFF)
if(NOT CYGNET_ONEDNN STREQUAL "OFF")
  find_library(DNNL_LIBRARY NAMES dnnl)
  find_path(DNNL_INCLUDE_DIR NAMES oneapi/dnnl/dnnl.hpp)
  if(DNNL_LIBRARY AND DNNL_INCLUDE_DIR)
    set(CYGNET_HAVE_ONEDNN ON)
    add_library(cygnet_dnnl INTERFACE)
    target_link_libraries(cygnet_dnnl INTERFACE ${DNNL_LIBRARY})
    target_include_directories(cygnet_dnnl SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
  elseif(CYGNET_ONEDNN STREQUAL "ON")
    message(FATAL_ERROR "CYGNET_ONEDNN=ON but oneDNN was not found: install libdnnl-dev "
                        "(scripts/install_deps.sh), or configure with -DCYGNET_ONEDNN=AUTO|OFF")
  else()
    message(STATUS "cygnet: oneDNN not found, CPU convolutions use im2col + BLAS")
  endif()
endif()

# MPI (optional) for runs over several processes (engine/communicator.h).
set(CYGNET_HAVE_MPI OFF)
if(NOT CYGNET_MPI STREQUAL "OFF")
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(CYGNET_HAVE_MPI ON)
  elseif(CYGNET_MPI STREQUAL "ON")
    message(FATAL_ERROR "CYGNET_MPI=ON but MPI was not found: install libopenmpi-dev (scripts/install_deps.sh), "
                        "or configure with -DCYGNET_MPI=AUTO|OFF")
  else()
    message(STATUS "cygnet: MPI not found, runs are single-process")
  endif()
endif()

# libjpeg (optional, libjpeg-turbo's libjpeg API) for JPEG images in image-folder datasets
# and in the images a model is asked about; without it they are read from PNG only.
set(CYGNET_HAVE_JPEG OFF)
if(NOT CYGNET_JPEG STREQUAL "OFF")
  find_package(JPEG QUIET)
  if(JPEG_FOUND)
    set(CYGNET_HAVE_JPEG ON)
  elseif(CYGNET_JPEG STREQUAL "ON")
    message(FATAL_ERROR "CYGNET_JPEG=ON but libjpeg was not found: install libjpeg-dev (scripts/install_deps.sh), "
                        "or configure with -DCYGNET_JPEG=AUTO|OFF")
  else()
    message(STATUS "cygnet: libjpeg not found, image folders are read from PNG files only")
  endif()
endif()

# nlohmann/json (header-only) for safetensors headers and run summaries.
find_path(NLOHMANN_JSON_INCLUDE_DIR NAMES nlohmann/json.hpp)
if(NOT NLOHMANN_JSON_INCLUDE_DIR)
  message(FATAL_ERROR "nlohmann/json.hpp not found: install nlohmann-json3-dev (scripts/install_deps.sh)")
endif()
add_library(cygnet_json INTERFACE)
target_include_directories(cygnet_json INTERFACE ${NLOHMANN_JSON_INCLUDE_DIR})

if(CYGNET_STATIC_DEPS)
  set(YAML_CPP_STATIC_LIBRARY_NAME libyaml-cpp.a)
  find_library(YAML_CPP_STATIC NAMES ${YAML_CPP_STATIC_LIBRARY_NAME})
endif()
find_package(yaml-cpp QUIET)
add_library(cygnet_yaml INTERFACE)
if(CYGNET_STATIC_DEPS AND YAML_CPP_STATIC)
  find_path(YAML_CPP_INCLUDE NAMES yaml-cpp/yaml.h)
  target_include_directories(cygnet_yaml INTERFACE ${YAML_CPP_INCLUDE})
  target_link_libraries(cygnet_yaml INTERFACE ${YAML_CPP_STATIC})
elseif(TARGET yaml-cpp)
  target_link_libraries(cygnet_yaml INTERFACE yaml-cpp)
elseif(yaml-cpp_FOUND)
  target_include_directories(cygnet_yaml INTERFACE ${YAML_CPP_INCLUDE_DIR})
  target_link_libraries(cygnet_yaml INTERFACE ${YAML_CPP_LIBRARIES})
else()
  message(FATAL_ERROR "yaml-cpp not found: install libyaml-cpp-dev (scripts/install_deps.sh)")
endif()

if(CYGNET_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    if(CYGNET_GTEST_SOURCE AND EXISTS "${CYGNET_GTEST_SOURCE}/CMakeLists.txt")
      set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
      set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
      add_subdirectory(${CYGNET_GTEST_SOURCE} ${CMAKE_BINARY_DIR}/_gtest EXCLUDE_FROM_ALL)
      # GoogleTest 1.11 and newer name these aliases themselves.
      if(NOT TARGET GTest::gtest)
        add_library(GTest::gtest ALIAS gtest)
      endif()
      if(NOT TARGET GTest::gtest_main)
        add_library(GTest::gtest_main ALIAS gtest_main)
      endif()
    else()
      message(FATAL_ERROR "GoogleTest not found: install libgtest-dev (scripts/install_deps.sh), "
                          "set CYGNET_GTEST_SOURCE to a GoogleTest source tree, or -DCYGNET_BUILD_TESTS=OFF")
    endif()
  endif()
  include(GoogleTest)
endif()

# ---- CUDA (optional) ----
set(CYGNET_HAVE_CUDA OFF)
if(NOT CYGNET_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER)
    check_language(CUDA)
  endif()
  if(CMAKE_CUDA_COMPILER)
    set(CYGNET_HAVE_CUDA ON)
  elseif(CYGNET_CUDA STREQUAL "ON")
    message(FATAL_ERROR "CYGNET_CUDA=ON but no CUDA compiler (nvcc) was found: put nvcc on PATH, "
                        "set CMAKE_CUDA_COMPILER, or configure with -DCYGNET_CUDA=AUTO|OFF")
  else()
    message(STATUS "cygnet: nvcc not found, building the CPU backend only")
  endif()
endif()

if(CYGNET_HAVE_CUDA)
  # The GPUs a default build runs on: machine code for Turing (sm_75), Ampere (sm_80,
  # sm_86), Ada (sm_89) and Hopper (sm_90), plus compute_90 PTX that newer GPUs JIT.
  # Where a GPU answers at configure time, its own architecture only (`native`). An
  # explicit -DCMAKE_CUDA_ARCHITECTURES wins.
  set(CYGNET_PORTABLE_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90")
  set(cygnet_default_architectures OFF)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(cygnet_default_architectures ON)
    execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE smi_status OUTPUT_VARIABLE smi_gpus ERROR_QUIET)
    if(smi_status EQUAL 0 AND smi_gpus MATCHES "^GPU ")
      set(CMAKE_CUDA_ARCHITECTURES native)
    else()
      set(CMAKE_CUDA_ARCHITECTURES ${CYGNET_PORTABLE_CUDA_ARCHITECTURES})
    endif()
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  if(cygnet_default_architectures AND CMAKE_CUDA_ARCHITECTURES STREQUAL "native")
    if(CMAKE_CUDA_ARCHITECTURES_NATIVE)
      message(STATUS "cygnet: CUDA architectures of this machine's GPUs: ${CMAKE_CUDA_ARCHITECTURES_NATIVE}")
    else()
      # nvidia-smi lists a GPU that the CUDA runtime cannot use (driver too old, a
      # virtualised device): build the portable set rather than fail.
      message(STATUS "cygnet: nvidia-smi lists a GPU but CMake's native-architecture probe found none; "
                     "building for ${CYGNET_PORTABLE_CUDA_ARCHITECTURES}")
      set(CMAKE_CUDA_ARCHITECTURES ${CYGNET_PORTABLE_CUDA_ARCHITECTURES})
    endif()
  endif()
  # The CUDA libraries come from the toolkit, or from PyTorch's pip wheels (the folders
  # of CYGNET_CUDA_LIBRARY_ROOTS, e.g. site-packages/nvidia/cu13 and nvidia/cudnn), which
  # ship lib<name>.so.<major> alone: cygnet_find_shared_library looks for those too.
  set(cygnet_toolkit_roots ${CMAKE_CUDA_COMPILER_TOOLKIT_ROOT} ${CMAKE_CUDA_COMPILER_TOOLKIT_LIBRARY_ROOT})
  find_package(CUDAToolkit QUIET)
  if(NOT CUDAToolkit_FOUND)
    cygnet_find_shared_library(CUDA_CUDART cudart ${cygnet_toolkit_roots} ${CYGNET_CUDA_LIBRARY_ROOTS})
    find_package(CUDAToolkit REQUIRED)
  endif()
  list(APPEND cygnet_toolkit_roots ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_LIBRARY_DIR})

  # cuDNN: under CUDNN_ROOT, the CUDA root, or a wheel's nvidia/cudnn folder.
  find_path(CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDNN_ROOT} ${cygnet_toolkit_roots} ${CUDAToolkit_INCLUDE_DIRS} ${CYGNET_CUDA_LIBRARY_ROOTS}
    PATH_SUFFIXES include)
  cygnet_find_shared_library(CUDNN_LIBRARY cudnn ${CUDNN_ROOT} ${cygnet_toolkit_roots} ${CYGNET_CUDA_LIBRARY_ROOTS})
  if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
    message(FATAL_ERROR "cuDNN not found (cudnn.h: '${CUDNN_INCLUDE_DIR}', library: '${CUDNN_LIBRARY}'): "
                        "set -DCUDNN_ROOT=<folder with include/ and lib/>, list PyTorch's nvidia/* wheel folders in "
                        "-DCYGNET_CUDA_LIBRARY_ROOTS, or configure with -DCYGNET_CUDA=OFF")
  endif()
  add_library(cygnet_cudnn INTERFACE)
  target_include_directories(cygnet_cudnn INTERFACE ${CUDNN_INCLUDE_DIR})
  target_link_libraries(cygnet_cudnn INTERFACE ${CUDNN_LIBRARY})

  # What the toolkit lacks (an nvcc-only install) is taken from the wheels, under the
  # toolkit's target names, which the libraries and tests link.
  if(NOT TARGET CUDA::cublas)
    find_path(CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${CYGNET_CUDA_LIBRARY_ROOTS} PATH_SUFFIXES include)
    cygnet_find_shared_library(CUBLAS_LIBRARY cublas ${CYGNET_CUDA_LIBRARY_ROOTS})
    cygnet_find_shared_library(CUBLASLT_LIBRARY cublasLt ${CYGNET_CUDA_LIBRARY_ROOTS})
    if(NOT CUBLAS_INCLUDE_DIR OR NOT CUBLAS_LIBRARY OR NOT CUBLASLT_LIBRARY)
      message(FATAL_ERROR "cuBLAS is not in the CUDA toolkit (${CUDAToolkit_LIBRARY_DIR}) nor in "
                          "CYGNET_CUDA_LIBRARY_ROOTS ('${CYGNET_CUDA_LIBRARY_ROOTS}'): cublas_v2.h "
                          "'${CUBLAS_INCLUDE_DIR}', libcublas '${CUBLAS_LIBRARY}', libcublasLt '${CUBLASLT_LIBRARY}'")
    endif()
    add_library(CUDA::cublas UNKNOWN IMPORTED)
    set_target_properties(CUDA::cublas PROPERTIES IMPORTED_LOCATION "${CUBLAS_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${CUBLAS_INCLUDE_DIR}"
                          INTERFACE_LINK_LIBRARIES "${CUBLASLT_LIBRARY}")
  endif()
  # NVTX3 is headers only; FindCUDAToolkit names the toolkit's include folder for it
  # whether they are there or not.
  find_path(NVTX3_INCLUDE_DIR nvtx3/nvToolsExt.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CYGNET_CUDA_LIBRARY_ROOTS}
            PATH_SUFFIXES include)
  if(NOT NVTX3_INCLUDE_DIR)
    message(FATAL_ERROR "NVTX3 headers (nvtx3/nvToolsExt.h) are not in the CUDA toolkit "
                        "(${CUDAToolkit_INCLUDE_DIRS}) nor in CYGNET_CUDA_LIBRARY_ROOTS ('${CYGNET_CUDA_LIBRARY_ROOTS}')")
  endif()
  if(NOT TARGET CUDA::nvtx3)
    add_library(CUDA::nvtx3 INTERFACE IMPORTED)
  endif()
  target_include_directories(CUDA::nvtx3 SYSTEM INTERFACE "${NVTX3_INCLUDE_DIR}")
  get_target_property(cygnet_cublas_location CUDA::cublas IMPORTED_LOCATION)
  message(STATUS "cygnet: cuDNN ${CUDNN_LIBRARY}, cuBLAS ${cygnet_cublas_location}")

  # NCCL (optional) sums data-parallel gradients on the GPUs: from the toolkit, NCCL_ROOT,
  # or PyTorch's nvidia/nccl wheel. Without it, they are summed through the host over MPI.
  set(CYGNET_HAVE_NCCL OFF)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} ${cygnet_toolkit_roots} ${CUDAToolkit_INCLUDE_DIRS}
            ${CYGNET_CUDA_LIBRARY_ROOTS} PATH_SUFFIXES include)
  cygnet_find_shared_library(NCCL_LIBRARY nccl ${NCCL_ROOT} ${cygnet_toolkit_roots} ${CYGNET_CUDA_LIBRARY_ROOTS})
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(CYGNET_HAVE_NCCL ON)
    add_library(cygnet_nccl INTERFACE)
    target_include_directories(cygnet_nccl INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(cygnet_nccl INTERFACE ${NCCL_LIBRARY})
    message(STATUS "cygnet: NCCL ${NCCL_LIBRARY}")
  else()
    message(STATUS "cygnet: NCCL not found; data-parallel gradients on GPUs go through the host (MPI)")
  endif()
endif()

# The tests of the cuDNN code on stand-ins (tests/kernels/fake_*.cpp) need the CUDA
# runtime's and cuDNN's headers alone: found also where the CUDA backend is not built
# (the AddressSanitizer job, scripts/sanitize.sh, builds without it), so that they run there too.
set(CYGNET_CUDA_HEADER_DIRS "")
if(CYGNET_HAVE_CUDA)
  set(CYGNET_CUDA_HEADER_DIRS ${CUDNN_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
else()
  find_package(CUDAToolkit QUIET)
  find_path(CYGNET_CUDA_RUNTIME_HEADER_DIR cuda_runtime.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CYGNET_CUDA_LIBRARY_ROOTS}
            PATH_SUFFIXES include)
  find_path(CYGNET_CUDNN_HEADER_DIR cudnn.h HINTS ${CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${CYGNET_CUDA_LIBRARY_ROOTS}
            PATH_SUFFIXES include)
  # cuDNN 9's headers (the backend API as cudnn_graph.cpp uses it), not an older one's.
  set(cygnet_cudnn_major 0)
  if(CYGNET_CUDNN_HEADER_DIR AND EXISTS "${CYGNET_CUDNN_HEADER_DIR}/cudnn_version.h")
    file(STRINGS "${CYGNET_CUDNN_HEADER_DIR}/cudnn_version.h" cygnet_cudnn_major_line REGEX "^#define CUDNN_MAJOR ")
    string(REGEX MATCH "[0-9]+" cygnet_cudnn_major "${cygnet_cudnn_major_line}")
  endif()
  if(CYGNET_CUDA_RUNTIME_HEADER_DIR AND cygnet_cudnn_major GREATER_EQUAL 9)
    set(CYGNET_CUDA_HEADER_DIRS ${CYGNET_CUDNN_HEADER_DIR} ${CYGNET_CUDA_RUNTIME_HEADER_DIR})
  endif()
endif()
