#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mesh::bench {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Pids of the children started and not yet reaped (the bench is single-threaded).
std::set<pid_t>& started() {
  static std::set<pid_t> pids;
  return pids;
}

}  // namespace

void child_process::kill_all_started() noexcept {
  for (pid_t pid : started()) ::kill(pid, SIGKILL);
}

child_process::child_process(const std::vector<std::string>& argv,
                             const std::filesystem::path& ready_file,
                             const std::filesystem::path& log, std::chrono::milliseconds timeout)
    : log_(log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  started().insert(pid_);
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!std::filesystem::exists(ready_file)) {
    if (!running() || std::chrono::steady_clock::now() > end) {
      stop(std::chrono::milliseconds(1000));
      throw std::runtime_error(argv[0] + " did not get ready; its log:\n" + read_text(log_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  endpoint_ = read_text(ready_file);
  while (!endpoint_.empty() && (endpoint_.back() == '\n' || endpoint_.back() == '\r'))
    endpoint_.pop_back();
}

child_process::~child_process() { stop(std::chrono::milliseconds(15'000)); }

bool child_process::running() {
  if (exited_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    started().erase(pid_);
  }
  return !exited_;
}

bool child_process::stop(std::chrono::milliseconds timeout) {
  if (!running()) return true;
  ::kill(pid_, SIGTERM);
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exited_ = true;
      started().erase(pid_);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mesh-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace mesh::bench
