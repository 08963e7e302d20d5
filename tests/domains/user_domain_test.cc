#include "domains/user/user_domain.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/domains/domain_harness.h"

namespace flashsaga::domains {
namespace {

using harness::Harness;
using harness::message;
using harness::reply_of;
using harness::result_of;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

class UserDomainTest : public ::testing::Test {
 protected:
  harness::Output create(std::string_view name, std::string_view email) {
    ipc::CreateUserBody b{};
    EXPECT_TRUE(b.name.assign(name));
    EXPECT_TRUE(b.email.assign(email));
    return h.apply(message(MessageType::create_user, Domain::port, Domain::user, b));
  }
  std::uint64_t create_ok(std::string_view name, std::string_view email) {
    const auto reply = reply_of(create(name, email));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::ok)) << email;
    return reply.entity_id;
  }
  harness::Output update(const ipc::UpdateUserBody& b) {
    return h.apply(message(MessageType::update_user, Domain::port, Domain::user, b));
  }
  static ipc::UpdateUserBody set_email(std::uint64_t id, std::string_view email) {
    ipc::UpdateUserBody b{};
    b.user_id = id;
    b.set_email = 1;
    EXPECT_TRUE(b.email.assign(email));
    return b;
  }
  UserRow user(std::uint64_t id) { return h.row<UserRow>("users", journal::key_u64(id)); }
  std::uint64_t email_owner(std::string_view lower) {
    std::uint64_t id = 0;
    return h.get("emails", journal::as_bytes(lower), id) ? id : 0;
  }

  UserDomain logic;
  UserDomain restarted;  // the same domain after a restart (h.recover)
  Harness h{logic};
};

TEST_F(UserDomainTest, CreatesUsersWithIdsCountingFromOne) {
  EXPECT_EQ(create_ok("Kim", "kim@example.com"), 1u);
  EXPECT_EQ(create_ok("Lee", "lee@example.com"), 2u);
  const UserRow row = user(2);
  EXPECT_EQ(row.id, 2u);
  EXPECT_EQ(row.name.view(), "Lee");
  EXPECT_EQ(row.email.view(), "lee@example.com");
  EXPECT_EQ(row.blocked, 0);
  EXPECT_EQ(row.created_ns, harness::t0_ns);
}

TEST_F(UserDomainTest, JournalsEachCreatedUserWithItsRow) {
  create_ok("Kim", "Kim@Example.com");
  const auto records = h.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].type, RecordType::user_created);
  const UserRow row = records[0].as<UserRow>();
  EXPECT_EQ(row.id, 1u);
  EXPECT_EQ(row.email.view(), "Kim@Example.com");  // kept as given
}

TEST_F(UserDomainTest, RefusesInvalidNamesWithFieldOne) {
  for (std::string_view name :
       {std::string_view(""), std::string_view("tab\there"), std::string_view("bell\a")}) {
    const auto reply = reply_of(create(name, "ok@example.com"));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field)) << name;
    EXPECT_EQ(reply.field, UserDomain::field_name) << name;
  }
  EXPECT_EQ(create_ok(std::string(name_size_bytes, 'n'), "ok@example.com"), 1u);
  EXPECT_EQ(h.count("users"), 1u);
}

TEST_F(UserDomainTest, RefusesAddressesThatDoNotLookLikeOneWithFieldTwo) {
  const std::string_view bad[] = {
      "",
      "plain",
      "@example.com",
      "kim@",
      "kim@example",
      "kim@@ex.com",
      "a@b@example.com",
      "kim @ex.com",
      "kim@ex .com",
      "kim@.com",
      "kim@com.",
      "kim\t@ex.com",
  };
  for (std::string_view email : bad) {
    const auto reply = reply_of(create("Kim", email));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field)) << email;
    EXPECT_EQ(reply.field, UserDomain::field_email) << email;
  }
  EXPECT_EQ(h.count("users"), 0u);
  EXPECT_TRUE(h.records().empty());
  EXPECT_EQ(create_ok("Kim", "kim.lee+sale@mail.example.co.kr"), 1u);
  const std::string longest = std::string(email_size_bytes - 7, 'a') + "@ex.com";
  EXPECT_EQ(create_ok("Max", longest), 2u);
}

TEST_F(UserDomainTest, EmailIsUniqueWhateverItsCase) {
  create_ok("Kim", "Kim@Example.COM");
  const auto reply = reply_of(create("Other", "kim@example.com"));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::conflict));
  EXPECT_EQ(reply.field, UserDomain::field_email);
  EXPECT_EQ(email_owner("kim@example.com"), 1u);
  // The refused request used no id.
  EXPECT_EQ(create_ok("Lee", "lee@example.com"), 2u);
}

TEST_F(UserDomainTest, UpdateOfAnUnknownUserIsNotFound) {
  EXPECT_EQ(result_of(update(set_email(9, "x@example.com"))), CommandResult::not_found);
  EXPECT_EQ(result_of(update(set_email(0, "x@example.com"))), CommandResult::not_found);
  EXPECT_TRUE(h.records().empty());
}

TEST_F(UserDomainTest, UpdateMovesTheEmailKeyAndFreesTheOldAddress) {
  create_ok("Kim", "kim@example.com");
  EXPECT_EQ(result_of(update(set_email(1, "KIM@new.example.com"))), CommandResult::ok);
  EXPECT_EQ(user(1).email.view(), "KIM@new.example.com");
  EXPECT_EQ(email_owner("kim@new.example.com"), 1u);
  EXPECT_EQ(email_owner("kim@example.com"), 0u);
  EXPECT_EQ(create_ok("Other", "kim@example.com"), 2u);
  const auto records = h.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].type, RecordType::user_updated);
  EXPECT_EQ(records[1].as<UserRow>().email.view(), "KIM@new.example.com");
}

TEST_F(UserDomainTest, UpdateRefusesAnAddressHeldByAnotherUser) {
  create_ok("Kim", "kim@example.com");
  create_ok("Lee", "lee@example.com");
  const auto reply = reply_of(update(set_email(2, "Kim@Example.com")));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::conflict));
  EXPECT_EQ(reply.field, UserDomain::field_email);
  EXPECT_EQ(user(2).email.view(), "lee@example.com");
  EXPECT_EQ(email_owner("lee@example.com"), 2u);
}

TEST_F(UserDomainTest, UpdateMayChangeTheCaseOfTheUsersOwnAddress) {
  create_ok("Kim", "kim@example.com");
  EXPECT_EQ(result_of(update(set_email(1, "Kim@Example.com"))), CommandResult::ok);
  EXPECT_EQ(user(1).email.view(), "Kim@Example.com");
  EXPECT_EQ(email_owner("kim@example.com"), 1u);
}

TEST_F(UserDomainTest, UpdateWithOneInvalidFieldChangesNothing) {
  create_ok("Kim", "kim@example.com");
  ipc::UpdateUserBody b = set_email(1, "not-an-address");
  b.set_name = 1;
  ASSERT_TRUE(b.name.assign("New Name"));
  b.set_blocked = 1;
  b.blocked = 1;
  const auto reply = reply_of(update(b));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field));
  EXPECT_EQ(reply.field, UserDomain::field_email);
  const UserRow row = user(1);
  EXPECT_EQ(row.name.view(), "Kim");
  EXPECT_EQ(row.blocked, 0);
  EXPECT_EQ(h.records().size(), 1u);
}

TEST_F(UserDomainTest, UpdateRenamesAndBlocks) {
  create_ok("Kim", "kim@example.com");
  ipc::UpdateUserBody b{};
  b.user_id = 1;
  b.set_name = 1;
  ASSERT_TRUE(b.name.assign("Kim Lee"));
  b.set_blocked = 1;
  b.blocked = 1;
  EXPECT_EQ(result_of(update(b)), CommandResult::ok);
  const UserRow row = user(1);
  EXPECT_EQ(row.name.view(), "Kim Lee");
  EXPECT_EQ(row.blocked, 1);
  EXPECT_EQ(row.email.view(), "kim@example.com");
}

TEST_F(UserDomainTest, ARestartKeepsIdsAndAddressesFromTheView) {
  create_ok("Kim", "Kim@Example.com");
  create_ok("Lee", "lee@example.com");
  const std::string longest = std::string(email_size_bytes - 7, 'a') + "@ex.com";
  EXPECT_EQ(create_ok("Max", longest), 3u);
  EXPECT_EQ(result_of(update(set_email(2, "lee@new.example.com"))), CommandResult::ok);
  h.recover(restarted);
  EXPECT_EQ(result_of(create("Other", "kim@example.com")), CommandResult::conflict);
  EXPECT_EQ(result_of(create("Other", "LEE@new.example.com")), CommandResult::conflict);
  EXPECT_EQ(result_of(create("Other", longest)), CommandResult::conflict);
  EXPECT_EQ(email_owner(longest), 3u);
  EXPECT_EQ(create_ok("Park", "lee@example.com"), 4u);  // freed by the update before the restart
  EXPECT_EQ(result_of(update(set_email(1, "kim@example.com"))), CommandResult::ok);
  EXPECT_EQ(user(1).email.view(), "kim@example.com");
  EXPECT_EQ(user(1).created_ns, harness::t0_ns);
}

}  // namespace
}  // namespace flashsaga::domains
