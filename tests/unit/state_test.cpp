// state_test.cpp: the run folder and its files (state.h) resist a planted
// symlink and do not depend on the umask. No root needed: the run folder is
// a temporary one.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.h"
#include "state.h"

namespace fs = std::filesystem;

namespace {

class State : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::path(::testing::TempDir()) / ("vpnpt-state-" + std::to_string(getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_);
    run_ = base_ / "run";
    victim_ = base_ / "victim";
    std::ofstream(victim_) << "precious\n";
    old_umask_ = umask(0);  // the worst case: every file would be 0666
  }
  void TearDown() override {
    umask(old_umask_);
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // A state file's path, as state.cpp names it: <what>-<netns inode>.
  fs::path state_path(const std::string& what) {
    struct stat st{};
    EXPECT_EQ(stat("/proc/self/ns/net", &st), 0);
    return run_ / (what + "-" + std::to_string(st.st_ino));
  }
  std::string victim() {
    std::ifstream in(victim_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static unsigned mode_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  fs::path base_, run_, victim_;
  mode_t old_umask_ = 0;
};

}  // namespace

TEST_F(State, RunFolderAndFilesHaveTheirModeWhateverTheUmask) {
  {
    vpnpt::Lock lock(run_);
  }
  EXPECT_EQ(mode_of(run_), 0700u);
  EXPECT_EQ(mode_of(state_path("lock")), 0600u);
  vpnpt::save_applied(run_, {"/etc/vpnpt/vpnpt.toml", "d1", "d2", "single", ""});
  EXPECT_EQ(mode_of(state_path("applied")), 0600u);
  EXPECT_EQ(mode_of(vpnpt::keep_transaction(run_, "table inet vpnpt {}\n")), 0600u);
}

TEST_F(State, LockDoesNotFollowASymlink) {
  fs::create_directories(run_);
  fs::permissions(run_, fs::perms::owner_all);
  fs::create_symlink(victim_, state_path("lock"));
  EXPECT_THROW(vpnpt::Lock lock(run_), vpnpt::Error);
  EXPECT_EQ(victim(), "precious\n");
}

TEST_F(State, SaveAppliedDoesNotFollowASymlink) {
  fs::create_directories(run_);
  fs::permissions(run_, fs::perms::owner_all);
  // The old fixed temporary name and the record itself, both planted.
  fs::create_symlink(victim_, state_path("applied").string() + ".tmp");
  vpnpt::save_applied(run_, {"/etc/vpnpt/vpnpt.toml", "d1", "d2", "single", ""});
  EXPECT_EQ(victim(), "precious\n");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(state_path("applied"))));
}

TEST_F(State, LoadAppliedDoesNotFollowASymlink) {
  fs::create_directories(run_);
  fs::permissions(run_, fs::perms::owner_all);
  std::ofstream(victim_) << R"({"config": "/tmp/evil.toml", "digest": "x"})" << "\n";
  fs::create_symlink(victim_, state_path("applied"));
  EXPECT_FALSE(vpnpt::load_applied(run_).has_value());
}

TEST_F(State, KeepTransactionDoesNotFollowASymlink) {
  fs::create_directories(run_);
  fs::permissions(run_, fs::perms::owner_all);
  fs::create_symlink(victim_, state_path("transaction").string() + ".nft");
  vpnpt::keep_transaction(run_, "table inet vpnpt {}\n");
  EXPECT_EQ(victim(), "precious\n");
}

TEST_F(State, AWritableRunFolderIsRefused) {
  fs::create_directories(run_);
  fs::permissions(run_, fs::perms::all);  // 0777: anyone could plant files
  try {
    vpnpt::Lock lock(run_);
    FAIL() << "a world-writable run folder was used";
  } catch (const vpnpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mode 0777"), std::string::npos) << e.what();
  }
}

TEST_F(State, ASymlinkedRunFolderIsRefused) {
  fs::create_directories(base_ / "elsewhere");
  fs::create_symlink(base_ / "elsewhere", run_);
  EXPECT_THROW(vpnpt::Lock lock(run_), vpnpt::Error);
  EXPECT_TRUE(fs::is_empty(base_ / "elsewhere"));
}
