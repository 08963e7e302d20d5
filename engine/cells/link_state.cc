#include "engine/cells/link_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace flashsaga::cells {

bool load_link_state(const std::filesystem::path& file, LinkState& out, std::string* error) {
  out = LinkState{};
  std::ifstream in(file);
  if (!in) return true;  // none yet
  std::string kind;
  std::uint64_t index = 0, value = 0;
  for (std::size_t line = 0; line < 4 * engine::cells_max && in >> kind >> index >> value; ++line) {
    auto* column = kind == "inbox"         ? &out.inbox
                   : kind == "acked"       ? &out.acked
                   : kind == "lease_inbox" ? &out.lease_inbox
                   : kind == "lease_acked" ? &out.lease_acked
                                           : nullptr;
    if (index >= engine::cells_max || column == nullptr) {
      *error = file.string() + ": bad entry '" + kind + " " + std::to_string(index) + "'";
      return false;
    }
    (*column)[index] = value;
  }
  return true;
}

bool save_link_state(const std::filesystem::path& file, const LinkState& state,
                     std::string* error) {
  std::ostringstream os;
  for (std::size_t i = 0; i < engine::cells_max; ++i) {
    if (state.inbox[i] != 0) os << "inbox " << i << " " << state.inbox[i] << "\n";
    if (state.acked[i] != 0) os << "acked " << i << " " << state.acked[i] << "\n";
    if (state.lease_inbox[i] != 0) os << "lease_inbox " << i << " " << state.lease_inbox[i] << "\n";
    if (state.lease_acked[i] != 0) os << "lease_acked " << i << " " << state.lease_acked[i] << "\n";
  }
  const std::string text = os.str();
  const std::filesystem::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && std::rename(tmp.c_str(), file.c_str()) == 0;
  if (ok) {
    const int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ok = ::fsync(dir) == 0;
      ::close(dir);
    }
  }
  if (!ok) *error = "cannot write " + file.string();
  return ok;
}

}  // namespace flashsaga::cells
