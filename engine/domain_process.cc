#include "engine/domain_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>

#include "domains/coupon/coupon_domain.h"
#include "domains/order/order_domain.h"
#include "domains/payment/payment_domain.h"
#include "domains/point/point_domain.h"
#include "domains/product/product_domain.h"
#include "domains/user/user_domain.h"
#include "engine/supervisor.h"

namespace flashsaga::engine {
namespace {

using domains::DomainLogic;

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) {
  stop_requested.store(true, std::memory_order_release);
}

std::unique_ptr<DomainLogic> make_logic(ipc::Domain d, const Config& config,
                                        ipc::Deployment& deployment) {
  switch (d) {
    case ipc::Domain::user:
      return std::make_unique<domains::UserDomain>(cell_options(config));
    case ipc::Domain::point:
      return std::make_unique<domains::PointDomain>(step_options(config));
    case ipc::Domain::product:
      return std::make_unique<domains::ProductDomain>(product_options(config), &deployment);
    case ipc::Domain::coupon:
      return std::make_unique<domains::CouponDomain>(step_options(config));
    case ipc::Domain::order:
      return std::make_unique<domains::OrderDomain>(order_options(config));
    case ipc::Domain::payment:
      return std::make_unique<domains::PaymentDomain>(payment_options(config));
    default:
      return nullptr;
  }
}

int fail(ipc::Domain d, const std::string& why) {
  std::fprintf(stderr, "flashsaga %s: %s\n", std::string(ipc::domain_name(d)).c_str(), why.c_str());
  return 1;
}

// A start that failed because LMDB found an environment damaged (a power loss under nosync)
// exits exit_damaged_journal: the supervisor then stops instead of restarting it forever.
int fail_start(ipc::Domain d, const Config& config, const std::string& why) {
  static const char* const damage[] = {"MDB_INVALID", "MDB_CORRUPTED", "MDB_PAGE_NOTFOUND"};
  for (const char* word : damage) {
    if (why.find(word) == std::string::npos) continue;
    (void)fail(d, why + "; the journal is damaged and this domain will not start on it: restore " +
                      (config.domain_dir(d) / "journal").string() +
                      " from a copy, or reset it: flashsaga journal reset --data " +
                      config.data_dir.string() + " --domain " + std::string(ipc::domain_name(d)) +
                      " --yes");
    return exit_damaged_journal;
  }
  return fail(d, why);
}

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTERM);
  sigaddset(&unblock, SIGINT);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
}

}  // namespace

domains::OrderOptions order_options(const Config& config) noexcept {
  return {.step_timeout_ms = config.step_timeout_ms,
          .reward_rate_bp = config.reward_rate_bp,
          .window = static_cast<std::size_t>(config.orders_in_memory)};
}

domains::PaymentOptions payment_options(const Config& config) noexcept {
  return {.adapter = config.payment_adapter,
          .pg_latency_ms = config.pg_latency_ms,
          .pg_decline_permille = config.pg_decline_permille,
          .pg_hang_permille = config.pg_hang_permille,
          .pg_seed = config.pg_seed,
          .window = static_cast<std::size_t>(config.orders_in_memory)};
}

domains::CellOptions cell_options(const Config& config) noexcept {
  return {.cell = config.cell, .cells = config.cells};
}

domains::ProductOptions product_options(const Config& config) noexcept {
  return {.products_max = config.geometry.products_max,
          .window = static_cast<std::size_t>(config.orders_in_memory),
          .cell = cell_options(config)};
}

domains::StepOptions step_options(const Config& config) noexcept {
  return {.window = static_cast<std::size_t>(config.orders_in_memory)};
}

runtime::RuntimeOptions runtime_options(const Config& config, ipc::Domain domain) {
  runtime::RuntimeOptions o;
  o.journal = config.journal_options(domain);
  o.view = config.view_options(domain);
  o.view_memory_dir = config.view_memory_dir(domain);
  o.fsync_interval_ns = config.fsync_interval_ms * 1'000'000;
  o.peer_view = [config](ipc::Domain d) { return config.view_options(d); };
  return o;
}

ipc::Domain parse_domain(std::string_view name) noexcept {
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    if (ipc::domain_name(static_cast<ipc::Domain>(i)) == name) return static_cast<ipc::Domain>(i);
  return ipc::Domain::none;
}

int run_domain(const Config& config, ipc::Domain domain) {
  if (domain == ipc::Domain::none || domain == ipc::Domain::port)
    return fail(domain, "unknown domain");
  std::unique_ptr<ipc::Deployment> deployment;
  std::string error;
  if (!ipc::Deployment::attach(config.data_dir, config.geometry, deployment, &error))
    return fail(domain, "cannot attach to the deployment: " + error);

  std::unique_ptr<DomainLogic> logic = make_logic(domain, config, *deployment);
  runtime::RuntimeOptions options = runtime_options(config, domain);
  for (const std::string& t : logic->tables())
    if (std::find(options.view.tables.begin(), options.view.tables.end(), t) ==
        options.view.tables.end())
      return fail(domain, "table '" + t + "' is missing from all_tables() in domains/rows.h");
  const std::filesystem::path dir = config.domain_dir(domain);
  ::mkdir(config.data_dir.c_str(), 0700);
  ::mkdir(dir.c_str(), 0700);
  const std::string lock_path = (dir / "domain.lock").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    return fail(domain, "another process is already the " + std::string(ipc::domain_name(domain)) +
                            " domain of " + config.data_dir.string());

  ipc::DomainStatus& status = deployment->status(domain);
  status.pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::recovering),
                     std::memory_order_release);
  catch_stop_signals();

  runtime::Runtime runtime(std::move(options), *deployment, *logic);
  if (!runtime.start(&error)) return fail_start(domain, config, error);
  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::ready),
                     std::memory_order_release);

  runtime.run(stop_requested);

  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::down), std::memory_order_release);
  ::close(lock_fd);
  return 0;
}

}  // namespace flashsaga::engine
