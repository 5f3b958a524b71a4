// Whole-file writes that a reader never sees half done: the bytes go to a temporary
// file beside the target, reach the disk, and are renamed over the target.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace cyg {

// Writes `bytes` to `path` through a temporary file in the same folder (written,
// flushed, fsync'ed, then renamed onto `path`). On any failure the temporary file is
// removed and a cyg::Error names `path` and the reason.
void write_file_atomically(const std::string& path, const std::string& bytes);

// One span of bytes to write: `size` bytes from `data`.
struct ByteSpan {
  const void* data;
  size_t size;
};

// The same, for a file made of pieces written one after the other (a header, then each
// tensor's bytes where they lie): no copy of the whole file is made first.
void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& pieces);

// Whether write_file_atomically(path, ...) could write there now, checked before the work
// that makes the bytes: a cyg::Error names `path` and the reason (the same words a failed
// write gives) where it is a folder or its folder takes no new file. It creates and
// removes a temporary file beside `path`, and leaves `path` as it was.
void check_writable(const std::string& path);

// Fault injection for tests: every file operation of the run's writers (an atomic write's
// start and its rename, a checkpoint's renames) calls this first. With
// CYGNET_KILL_AT_FILE_OP=k in the environment, the k-th call ends the process at once,
// as kill -9 would (_exit(137): no destructor, no cleanup, a temporary file left behind).
// Without it, nothing happens.
void file_operation_point();

}  // namespace cyg
