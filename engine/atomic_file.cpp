// The atomic file writer: POSIX open, write, fsync and rename.
#include "engine/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/error.h"

namespace cyg {

namespace {

// Unique per process and call, so concurrent writers of one path never share a
// temporary file.
std::string temporary_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// Writes every piece to `fd` in order and syncs it; false with errno set on failure.
bool write_and_sync(int fd, const std::vector<ByteSpan>& pieces) {
  for (const ByteSpan& piece : pieces) {
    const char* bytes = static_cast<const char*>(piece.data);
    size_t done = 0;
    while (done < piece.size) {
      const ssize_t n = ::write(fd, bytes + done, piece.size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) errno = EIO;  // no progress and no reason given
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
  }
  return ::fsync(fd) == 0;
}

}  // namespace

void file_operation_point() {
  static const long kill_at = [] {
    const char* text = std::getenv("CYGNET_KILL_AT_FILE_OP");
    return text != nullptr ? std::strtol(text, nullptr, 10) : 0L;
  }();
  static std::atomic<long> operations{0};
  if (kill_at > 0 && ++operations == kill_at) ::_exit(137);
}

void check_writable(const std::string& path) {
  CYG_INPUT_CHECK(!path.empty() && path.back() != '/', "cannot write '", path, "': a folder, not a file");
  struct stat info {};
  CYG_INPUT_CHECK(::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode), "cannot write '", path,
                  "': a folder, not a file");
  std::string temporary = temporary_path_for(path);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  for (int tries = 1; fd < 0 && errno == EEXIST && tries < 100; ++tries) {  // a leftover of an earlier process
    temporary = temporary_path_for(path);
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  }
  CYG_INPUT_CHECK(fd >= 0, "cannot write '", path, "': ", std::strerror(errno));
  ::close(fd);
  std::remove(temporary.c_str());
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, std::vector<ByteSpan>{{bytes.data(), bytes.size()}});
}

void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& pieces) {
  file_operation_point();
  const std::string temporary = temporary_path_for(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  CYG_INPUT_CHECK(fd >= 0, "cannot write '", path, "': ", std::strerror(errno));
  const bool written = write_and_sync(fd, pieces);
  const int write_error = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    const std::string reason = std::strerror(written ? errno : write_error);
    std::remove(temporary.c_str());
    CYG_INPUT_CHECK(false, "cannot write '", path, "': ", reason);
  }
  file_operation_point();
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    CYG_INPUT_CHECK(false, "cannot write '", path, "': ", reason);
  }
}

}  // namespace cyg
