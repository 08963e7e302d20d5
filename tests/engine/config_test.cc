#include "engine/config.h"

#include <gtest/gtest.h>

#include <fstream>

namespace flashsaga::engine {
namespace {

std::filesystem::path write_file(const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() /
                 ("flashsaga-config-test-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(p) << text;
  return p;
}

TEST(Config, TheShippedConfigFileIsExactlyTheDefaults) {
  Config shipped;
  std::string error;
  ASSERT_TRUE(load_config(std::string(FLASHSAGA_SOURCE_DIR) + "/tools/deploy/flashsaga.toml",
                          shipped, &error))
      << error;
  const Config defaults;
  EXPECT_EQ(shipped.geometry.hash(), defaults.geometry.hash());
  EXPECT_EQ(shipped.durability, defaults.durability);
  EXPECT_EQ(shipped.step_timeout_ms, defaults.step_timeout_ms);
  EXPECT_EQ(shipped.http_port, defaults.http_port);
  EXPECT_EQ(shipped.data_dir, defaults.data_dir);
  EXPECT_EQ(shipped.fsync_interval_ms, defaults.fsync_interval_ms);
  EXPECT_EQ(shipped.views_in_memory, defaults.views_in_memory);
  EXPECT_EQ(shipped.orders_in_memory, defaults.orders_in_memory);
}

TEST(Config, DefaultsPrintedAsTomlLoadBackUnchanged) {
  Config back;
  std::string error;
  ASSERT_TRUE(load_config(write_file(default_config_toml()), back, &error)) << error;
  EXPECT_EQ(back.map_size_mib, Config{}.map_size_mib);
  EXPECT_EQ(back.idempotency_retention_s, Config{}.idempotency_retention_s);
}

TEST(Config, AnUnknownKeyIsAnErrorNamingIt) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config(write_file("[saga]\nstep_timeout = 5\n"), c, &error));
  EXPECT_NE(error.find("saga.step_timeout"), std::string::npos) << error;
}

TEST(Config, OutOfRangeAndWrongTypesAreErrorsWithTheirPosition) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config(write_file("[rings]\nports = 99\n"), c, &error));
  EXPECT_NE(error.find("rings.ports"), std::string::npos) << error;
  EXPECT_FALSE(load_config(write_file("[http]\nport = \"eighty\"\n"), c, &error));
  EXPECT_NE(error.find("http.port"), std::string::npos) << error;
  EXPECT_FALSE(load_config(write_file("[rings]\nsaga_capacity_slots = 1000\n"), c, &error));
  EXPECT_NE(error.find("power"), std::string::npos) << error;
  EXPECT_FALSE(load_config(write_file("[deployment]\ndurability = \"maybe\"\n"), c, &error));
  EXPECT_FALSE(load_config(write_file("this is not toml ["), c, &error));
  EXPECT_FALSE(load_config(write_file("[deployment]\nfsync_interval_ms = 0\n"), c, &error));
  EXPECT_NE(error.find("deployment.fsync_interval_ms"), std::string::npos) << error;
}

// Found by config_fuzz: a float where an integer belongs was converted, and 51e30 overflowed
// int64 (undefined behaviour). A float is a type error, whatever its value.
TEST(Config, AFloatWhereAnIntegerBelongsIsAnErrorNeverConverted) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config(write_file("[deployment]\nfsync_interval_ms = 51e30\n"), c, &error));
  EXPECT_NE(error.find("deployment.fsync_interval_ms"), std::string::npos) << error;
  EXPECT_FALSE(load_config(write_file("[rings]\nports = 4.0\n"), c, &error));
  EXPECT_NE(error.find("rings.ports"), std::string::npos) << error;
}

TEST(Config, TheIntervalModeAndItsPeriod) {
  Config c;
  std::string error;
  ASSERT_TRUE(load_config(
      write_file("[deployment]\ndurability = \"interval\"\nfsync_interval_ms = 250\n"), c, &error))
      << error;
  EXPECT_EQ(c.durability, journal::Durability::interval);
  EXPECT_EQ(c.fsync_interval_ms, 250);
}

TEST(Config, SettingsOverrideTheDefaults) {
  Config c;
  std::string error;
  ASSERT_TRUE(load_config(
      write_file(
          "[deployment]\ndurability = \"nosync\"\n[payment]\nadapter = \"pg\"\npg_decline_permille = 30\n"),
      c, &error))
      << error;
  EXPECT_EQ(c.durability, journal::Durability::nosync);
  EXPECT_EQ(c.payment_adapter, PaymentAdapter::pg);
  EXPECT_EQ(c.pg_decline_permille, 30u);
}

}  // namespace
}  // namespace flashsaga::engine
