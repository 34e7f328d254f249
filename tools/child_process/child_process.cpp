#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mesh::tools {
namespace {

using namespace std::chrono_literals;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The pids started and not yet reaped, for kill_all_started().
struct started_children {
  std::mutex mutex;
  std::set<pid_t> pids;
};

started_children& started() {
  static started_children children;
  return children;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

/// Closes a file descriptor on scope exit.
struct fd_owner {
  int fd = -1;
  ~fd_owner() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

}  // namespace

void child_process::kill_all_started() noexcept {
  try {
    std::lock_guard lock(started().mutex);
    for (pid_t pid : started().pids) ::kill(pid, SIGKILL);
  } catch (...) {
  }
}

child_process::child_process(const std::vector<std::string>& argv, const std::filesystem::path& log)
    : child_process(argv, child_options{.log = log}) {}

child_process::child_process(const std::vector<std::string>& argv, const child_options& options)
    : options_(options) {
  if (argv.empty()) throw std::runtime_error("child_process: no program to start");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, options_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto args = c_strings(argv);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  {
    std::lock_guard lock(started().mutex);
    started().pids.insert(pid_);
  }
  if (options_.ready_file.empty()) return;

  const auto end = std::chrono::steady_clock::now() + options_.ready_timeout;
  while (!std::filesystem::exists(options_.ready_file)) {
    if (!running() || std::chrono::steady_clock::now() > end) {
      stop(1s);
      throw std::runtime_error(argv[0] + " did not get ready; its log:\n" +
                               read_text(options_.log));
    }
    std::this_thread::sleep_for(10ms);
  }
  endpoint_ = read_text(options_.ready_file);
  while (!endpoint_.empty() && (endpoint_.back() == '\n' || endpoint_.back() == '\r'))
    endpoint_.pop_back();
}

child_process::~child_process() {
  if (options_.grace.count() > 0) {
    stop(options_.grace);
  } else if (running()) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
}

void child_process::reaped(int status) {
  exited_ = true;
  status_ = status;
  std::lock_guard lock(started().mutex);
  started().pids.erase(pid_);
}

bool child_process::running() {
  if (exited_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) reaped(status);
  return !exited_;
}

void child_process::signal(int sig) {
  if (!exited_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return -WTERMSIG(status_);
}

bool child_process::stop(std::chrono::milliseconds timeout) {
  if (!running()) return true;
  ::kill(pid_, SIGTERM);
  if (wait(timeout)) return true;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped(status);
  return false;
}

command_output run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::vector<std::string>& extra_env) {
  if (argv.empty()) throw std::runtime_error("run_command: no program to run");
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  std::array<int, 2> out_pipe{}, err_pipe{};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  fd_owner out_read{out_pipe[0]}, out_write{out_pipe[1]};
  if (::pipe2(err_pipe.data(), O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  fd_owner err_read{err_pipe[0]}, err_write{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.fd, 2);
  auto args = c_strings(argv);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (const auto& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  out_write.close();
  err_write.close();

  command_output result;
  bool killed = false;
  std::array<pollfd, 2> fds{pollfd{out_read.fd, POLLIN, 0}, pollfd{err_read.fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;  // EOF: poll ignores negative descriptors
      }
    }
  }
  // Both pipes are closed (or the child was killed): the exit follows promptly.
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(5ms);
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (!killed) {
    if (WIFEXITED(status))
      result.status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      result.status = -WTERMSIG(status);
  }
  return result;
}

}  // namespace mesh::tools
