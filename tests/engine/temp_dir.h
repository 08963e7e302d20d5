// temp_dir: a fresh directory under /tmp for one test, removed with everything in it at scope
// exit (the engine tests' journals, views and staging logs).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace flashsaga::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "flashsaga_engine_test") {
    std::string pattern = "/tmp/" + prefix + ".XXXXXX";
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace flashsaga::testing
