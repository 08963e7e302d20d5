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

namespace flashsaga::engine {
namespace {

using domains::DomainLogic;

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) { stop_requested.store(true, std::memory_order_release); }

std::unique_ptr<DomainLogic> make_logic(ipc::Domain d, const Config& config, ipc::Deployment& deployment) {
  switch (d) {
    case ipc::Domain::user: return std::make_unique<domains::UserDomain>();
    case ipc::Domain::point: return std::make_unique<domains::PointDomain>();
    case ipc::Domain::product: return std::make_unique<domains::ProductDomain>(product_options(config), &deployment);
    case ipc::Domain::coupon: return std::make_unique<domains::CouponDomain>();
    case ipc::Domain::order: return std::make_unique<domains::OrderDomain>(order_options(config));
    case ipc::Domain::payment: return std::make_unique<domains::PaymentDomain>(payment_options(config));
    default: return nullptr;
  }
}

int fail(ipc::Domain d, const std::string& why) {
  std::fprintf(stderr, "flashsaga %s: %s\n", std::string(ipc::domain_name(d)).c_str(), why.c_str());
  return 1;
}

}  // namespace

domains::OrderOptions order_options(const Config& config) noexcept {
  return {.step_timeout_ms = config.step_timeout_ms, .reward_rate_bp = config.reward_rate_bp};
}

domains::PaymentOptions payment_options(const Config& config) noexcept {
  return {.adapter = config.payment_adapter,
          .pg_latency_ms = config.pg_latency_ms,
          .pg_decline_permille = config.pg_decline_permille,
          .pg_hang_permille = config.pg_hang_permille,
          .pg_seed = config.pg_seed};
}

domains::ProductOptions product_options(const Config& config) noexcept {
  return {.products_max = config.geometry.products_max};
}

runtime::RuntimeOptions runtime_options(const Config& config) { return {.data_dir = config.data_dir}; }

ipc::Domain parse_domain(std::string_view name) noexcept {
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    if (ipc::domain_name(static_cast<ipc::Domain>(i)) == name) return static_cast<ipc::Domain>(i);
  return ipc::Domain::none;
}

int run_domain(const Config& config, ipc::Domain domain) {
  if (domain == ipc::Domain::none || domain == ipc::Domain::port) return fail(domain, "unknown domain");
  std::unique_ptr<ipc::Deployment> deployment;
  std::string error;
  if (!ipc::Deployment::attach(config.data_dir, config.geometry, deployment, &error))
    return fail(domain, "cannot attach to the deployment: " + error);

  std::unique_ptr<DomainLogic> logic = make_logic(domain, config, *deployment);
  journal::Options options = config.journal_options(domain);
  options.tables = domains::all_tables(domain);
  for (const std::string& t : logic->tables())
    if (std::find(options.tables.begin(), options.tables.end(), t) == options.tables.end())
      return fail(domain, "table '" + t + "' is missing from all_tables() in domains/rows.h");
  ::mkdir(config.data_dir.c_str(), 0700);
  ::mkdir(options.dir.c_str(), 0700);
  const std::string lock_path = (options.dir / "domain.lock").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    return fail(domain, "another process is already the " + std::string(ipc::domain_name(domain)) +
                            " domain of " + config.data_dir.string());

  std::unique_ptr<journal::Env> env;
  journal::Status s = journal::Env::open(options, env);
  if (!s.ok()) return fail(domain, "cannot open journal " + options.dir.string() + ": " + s.message());

  ipc::DomainStatus& status = deployment->status(domain);
  status.pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::recovering), std::memory_order_release);

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

  runtime::Runtime agent(runtime_options(config), *deployment, *env, *logic);
  if (!agent.recover(&error)) return fail(domain, error);
  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::ready), std::memory_order_release);

  agent.run(stop_requested);

  (void)env->sync();
  status.state.store(static_cast<std::uint32_t>(ipc::DomainState::down), std::memory_order_release);
  ::close(lock_fd);
  return 0;
}

}  // namespace flashsaga::engine
