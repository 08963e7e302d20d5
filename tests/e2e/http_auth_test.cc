// The operator token (auth.operator_token_file) over real HTTP against a real deployment:
// operator routes answer 401 without the token, 403 with a wrong one and work with the right
// one; buyers' routes stay open; with no token configured everything is as before; a token file
// that is not 0600 stops `flashsaga run` with a message naming it; the gateway binds loopback
// by default and warns loudly when told to bind elsewhere without a token.
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/e2e/http_deployment.h"

namespace flashsaga::testing {
namespace {

const std::string token = "s3cret-operator-token-0123456789";

// A token file in a fresh directory, with the given mode; returns its path.
std::filesystem::path token_file(const std::string& content, mode_t mode) {
  char tmpl[] = "/tmp/flashsaga-token-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const std::filesystem::path file = dir / "operator-token";
  std::ofstream(file) << content;
  ::chmod(file.c_str(), mode);
  return file;
}

std::string auth_section(const std::filesystem::path& file) {
  return "[auth]\noperator_token_file = \"" + file.string() + "\"\n";
}

HttpHeaders bearer(const std::string& t) {
  return {{"Authorization", "Bearer " + t}};
}

// Output and exit status of the flashsaga binary with these arguments (bounded by the binary).
std::pair<int, std::string> run_flashsaga(const std::string& args) {
  const std::string cmd = std::string(FLASHSAGA_EXE) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = p ? ::pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct OperatorCall {
  std::string method, target, body;
};

// Every operator route, on entities the fixture below creates (user 1, product 1).
std::vector<OperatorCall> operator_calls() {
  return {
      {"POST", "/products", R"({"name":"Drop","price":1000,"stock":10,"max_per_user":5})"},
      {"PATCH", "/products/1", R"({"price":1100})"},
      {"POST", "/products/1/restock", R"({"quantity":5})"},
      {"POST", "/coupon-templates", R"({"name":"5 off","kind":"fixed","value":500,"quantity":10})"},
      {"POST", "/users/1/wallet/deposits", R"({"amount":100000})"},
      {"POST", "/users/1/points", R"({"amount":100,"reason":"welcome"})"},
      {"PATCH", "/users/1", R"({"blocked":false})"},
  };
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = token_file(token + "\n", 0600);
    d_ = std::make_unique<HttpDeployment>("", auth_section(file_));
    // The fixture's entities, created as the operator.
    ASSERT_EQ(d_->post("/users", R"({"name":"Kim","email":"kim@example.com"})").status, 201);
    ASSERT_EQ(d_->post("/products", R"({"name":"Shoe","price":1000,"stock":100,"max_per_user":10})",
                       bearer(token))
                  .status,
              201);
    ASSERT_EQ(d_->post("/users/1/wallet/deposits", R"({"amount":100000})", bearer(token)).status,
              201);
  }
  void TearDown() override {
    d_.reset();
    std::error_code ec;
    std::filesystem::remove_all(file_.parent_path(), ec);
  }
  HttpResponse call(const OperatorCall& c, const HttpHeaders& h) const {
    return http_request(d_->port(), c.method, c.target, c.body, h);
  }
  // Places an order for product 1 and waits for it to complete; returns its id.
  std::int64_t completed_order() {
    const HttpResponse r =
        d_->post("/orders", R"({"user_id":1,"items":[{"product_id":1,"quantity":1}]})");
    EXPECT_EQ(r.status, 202) << r.body;
    const std::int64_t id = num(body_of(r), "id");
    const HttpResponse done = d_->get("/orders/" + std::to_string(id) + "?wait=10000");
    EXPECT_EQ(str(body_of(done), "status"), "COMPLETED") << done.body;
    return id;
  }

  std::filesystem::path file_;
  std::unique_ptr<HttpDeployment> d_;
};

TEST_F(AuthTest, OperatorRoutesWithoutTheTokenAre401) {
  for (const OperatorCall& c : operator_calls()) {
    SCOPED_TRACE(c.method + " " + c.target);
    expect_error(call(c, {}), 401, "unauthorized");
    // Another scheme, or an empty bearer, is no token either.
    expect_error(call(c, {{"Authorization", "Basic " + token}}), 401, "unauthorized");
    expect_error(call(c, {{"Authorization", "Bearer "}}), 401, "unauthorized");
  }
}

TEST_F(AuthTest, OperatorRoutesWithAWrongTokenAre403) {
  for (const OperatorCall& c : operator_calls()) {
    SCOPED_TRACE(c.method + " " + c.target);
    expect_error(call(c, bearer(token + "x")), 403, "forbidden");
    expect_error(call(c, bearer(token.substr(0, token.size() - 1))), 403, "forbidden");
    expect_error(call(c, bearer("S3CRET-OPERATOR-TOKEN-0123456789")), 403, "forbidden");
  }
  // Nothing was changed by the refused calls.
  EXPECT_EQ(d_->get("/products/2").status, 404);
  EXPECT_EQ(num(body_of(d_->get("/products/1")), "price"), 1000);
}

TEST_F(AuthTest, OperatorRoutesWithTheTokenWork) {
  const std::vector<int> expected = {201, 200, 200, 201, 201, 201, 200};
  const auto calls = operator_calls();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE(calls[i].method + " " + calls[i].target);
    const HttpResponse r =
        call(calls[i], {{"authorization", "bearer  " + token}});  // any case, extra space
    EXPECT_EQ(r.status, expected[i]) << r.body;
  }
  EXPECT_EQ(num(body_of(d_->get("/products/1")), "price"), 1100);
  // Blocking is the operator's; a buyer's own name change is not.
  expect_error(d_->patch("/users/1", R"({"name":"Kim K","blocked":true})"), 401, "unauthorized");
  EXPECT_EQ(d_->patch("/users/1", R"({"name":"Kim K"})").status, 200);
  EXPECT_EQ(d_->patch("/users/1", R"({"blocked":true})", bearer(token)).status, 200);
  EXPECT_TRUE(body_of(d_->get("/users/1")).at("blocked").as_bool());
}

TEST_F(AuthTest, BuyerRoutesStayOpen) {
  EXPECT_EQ(d_->post("/users", R"({"name":"Lee","email":"lee@example.com"})").status, 201);
  ASSERT_EQ(d_->post("/coupon-templates",
                     R"({"name":"5 off","kind":"fixed","value":500,"quantity":10})", bearer(token))
                .status,
            201);
  EXPECT_EQ(d_->post("/coupons", R"({"template_id":1,"user_id":1})").status, 201);
  const std::int64_t id = completed_order();
  for (const std::string& target : std::vector<std::string>{
           "/products", "/products/1", "/users/1", "/users/1/wallet", "/users/1/points",
           "/users/1/coupons", "/coupon-templates/1", "/healthz", "/metrics",
           "/orders/" + std::to_string(id), "/payments/" + std::to_string(id)}) {
    EXPECT_EQ(d_->get(target).status, 200) << target;
  }
  // A buyer's cancel is open and stays the customer's.
  const HttpResponse c = d_->post("/orders/" + std::to_string(id) + "/cancel", "{}");
  EXPECT_EQ(c.status, 202) << c.body;
  const HttpResponse o = d_->get("/orders/" + std::to_string(id) + "?wait=10000");
  EXPECT_EQ(str(body_of(o), "reason"), "cancelled_by_customer") << o.body;
  d_->expect_check_clean();
}

TEST_F(AuthTest, OperatorCancelNeedsTheToken) {
  const std::string target = "/orders/" + std::to_string(completed_order()) + "/cancel";
  expect_error(d_->post(target, R"({"reason":"cancelled_by_operator"})"), 401, "unauthorized");
  expect_error(d_->post(target, R"({"reason":"operator"})"), 401, "unauthorized");
  expect_error(d_->post(target, "{}", bearer("wrong-token-wrong-token")), 403, "forbidden");
  // With the token, the cancel is the operator's whatever the body says.
  const HttpResponse r = d_->post(target, "{}", bearer(token));
  EXPECT_EQ(r.status, 202) << r.body;
  const HttpResponse o = d_->get(target.substr(0, target.size() - 7) + "?wait=10000");
  EXPECT_EQ(str(body_of(o), "reason"), "cancelled_by_operator") << o.body;
  d_->expect_check_clean();
}

TEST(AuthUnset, EveryRouteIsOpenAsBefore) {
  HttpDeployment d;
  EXPECT_NE(d.log().find("listening on http://127.0.0.1:"), std::string::npos) << d.log();
  EXPECT_EQ(d.log().find("WARNING"), std::string::npos) << d.log();
  EXPECT_EQ(d.post("/users", R"({"name":"Kim","email":"kim@example.com"})").status, 201);
  // An Authorization header, right or not, changes nothing without a configured token.
  for (const OperatorCall& c : operator_calls()) {
    const HttpResponse r =
        http_request(d.port(), c.method, c.target, c.body, bearer("anything-at-all"));
    EXPECT_LT(r.status, 300) << c.method << " " << c.target << ": " << r.body;
  }
  const HttpResponse o =
      d.post("/orders", R"({"user_id":1,"items":[{"product_id":1,"quantity":1}]})");
  ASSERT_EQ(o.status, 202) << o.body;
  const std::string id = std::to_string(num(body_of(o), "id"));
  EXPECT_EQ(str(body_of(d.get("/orders/" + id + "?wait=10000")), "status"), "COMPLETED");
  EXPECT_EQ(d.post("/orders/" + id + "/cancel", R"({"reason":"operator"})").status, 202);
  EXPECT_EQ(str(body_of(d.get("/orders/" + id + "?wait=10000")), "reason"),
            "cancelled_by_operator");
}

TEST(AuthUnset, BindingBeyondLoopbackWithoutATokenWarns) {
  HttpDeployment d("address = \"0.0.0.0\"\n");
  EXPECT_NE(d.log().find("WARNING: listening on 0.0.0.0 WITHOUT an operator token"),
            std::string::npos)
      << d.log();
}

TEST(AuthConfig, DefaultsBindLoopbackWithNoToken) {
  const auto [status, out] = run_flashsaga("config");
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("address = \"127.0.0.1\""), std::string::npos) << out;
  EXPECT_NE(out.find("operator_token_file = \"\""), std::string::npos) << out;
}

TEST(AuthConfig, ATokenFileThatIsNot0600IsRefused) {
  struct Case {
    std::string content;
    mode_t mode;
    std::string says;
  };
  const std::vector<Case> cases = {
      {token, 0644, "has mode 0644; it must be 0600"},
      {token, 0640, "has mode 0640; it must be 0600"},
      {"short\n", 0600, "16 to 4096 characters"},
      {"two words here 0123456789\n", 0600, "visible ASCII"},
  };
  for (const Case& c : cases) {
    const std::filesystem::path file = token_file(c.content, c.mode);
    const std::filesystem::path cfg = file.parent_path() / "flashsaga.toml";
    std::ofstream(cfg) << "[deployment]\ndata_dir = \"" << (file.parent_path() / "data").string()
                       << "\"\n"
                       << auth_section(file);
    const auto [status, out] = run_flashsaga("run --config " + cfg.string());
    EXPECT_NE(status, 0) << out;
    EXPECT_NE(out.find("auth.operator_token_file " + file.string()), std::string::npos) << out;
    EXPECT_NE(out.find(c.says), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(file.parent_path() / "data")) << "started anyway";
    std::error_code ec;
    std::filesystem::remove_all(file.parent_path(), ec);
  }
  // A missing file too.
  char tmpl[] = "/tmp/flashsaga-token-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  std::ofstream(dir / "flashsaga.toml")
      << "[deployment]\ndata_dir = \"" << (dir / "data").string() << "\"\n"
      << auth_section(dir / "missing");
  const auto [status, out] = run_flashsaga("run --config " + (dir / "flashsaga.toml").string());
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("cannot open"), std::string::npos) << out;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace flashsaga::testing
