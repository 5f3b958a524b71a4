// Whole-file writes that a reader never sees half done: the bytes go to a temporary
// file beside the target, reach the disk, and are renamed over the target.
#pragma once
#include <string>

namespace cyg {

// Writes `bytes` to `path` through a temporary file in the same folder (written,
// flushed, fsync'ed, then renamed onto `path`). On any failure the temporary file is
// removed and a cyg::Error names `path` and the reason.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace cyg
