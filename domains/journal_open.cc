#include "domains/journal_open.h"

#include <sys/stat.h>

#include <string>

#include "domains/rows.h"

namespace flashsaga::domains {

namespace {

journal::Status open_read_only(const std::filesystem::path& data_dir, ipc::Domain domain, bool view,
                               std::unique_ptr<journal::Env>& out) {
  journal::Options o;
  o.domain = std::string(ipc::domain_name(domain));
  o.dir = data_dir / o.domain / (view ? "view" : "journal");
  o.read_only = true;
  o.create = false;
  o.tables = view ? all_tables(domain) : journal_tables();
  journal::Status s = journal::Env::open(o, out);
  if (s.ok()) return s;
  struct stat st {};
  if (s.code() == journal::ErrorCode::not_found && ::stat(o.dir.c_str(), &st) != 0) {
    return journal::Status(s.code(), s.lmdb_rc(),
                           "no " + o.domain + (view ? " view" : " journal") + " in " +
                               data_dir.string() + " (" + o.dir.string() +
                               " is missing; is this a flashsaga data directory, and has the "
                               "deployment run?)");
  }
  if (s.code() == journal::ErrorCode::version_mismatch) {
    return journal::Status(s.code(), s.lmdb_rc(),
                           s.message() + " (this flashsaga reads journal layout version " +
                               std::to_string(journal::journal_layout_version) +
                               " and row layout version " + std::to_string(row_layout_version) +
                               "; use the flashsaga that wrote it)");
  }
  return s;
}

}  // namespace

journal::Status open_journal_read_only(const std::filesystem::path& data_dir, ipc::Domain domain,
                                       std::unique_ptr<journal::Env>& out) {
  return open_read_only(data_dir, domain, false, out);
}

journal::Status open_view_read_only(const std::filesystem::path& data_dir, ipc::Domain domain,
                                    std::unique_ptr<journal::Env>& out) {
  return open_read_only(data_dir, domain, true, out);
}

}  // namespace flashsaga::domains
