// Watches the plugins directory and loads every plugin file that appears in it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "plugin/plugin_loader.hpp"

namespace mesh::host {

/// The result of trying one file: a plugin, or the reason it was refused.
struct plugin_event {
  std::filesystem::path path;
  std::shared_ptr<loaded_plugin> plugin;  ///< null when refused
  std::string error;
};

/// Scans a directory for `*.so` files. scan_once() loads every new file; start() repeats that
/// on a background thread every `interval`, loading a file once its size and modification time
/// have been stable for one interval (so a file still being copied is not loaded half-written).
/// A file is tried once per version (size, mtime): a refused file is tried again after it
/// changes. Events go to `on_event`, called on the scanning thread.
class plugin_watcher {
 public:
  using callback = std::function<void(plugin_event)>;

  plugin_watcher(std::filesystem::path directory, callback on_event);
  ~plugin_watcher();
  plugin_watcher(const plugin_watcher&) = delete;
  plugin_watcher& operator=(const plugin_watcher&) = delete;

  /// Loads every plugin file present now (no stability wait); used at start-up.
  void scan_once();
  /// Starts polling every `interval` on a background thread.
  void start(std::chrono::milliseconds interval);
  /// Stops the background thread (also done by the destructor).
  void stop();

 private:
  struct file_state {
    std::uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    bool tried = false;
    bool loaded = false;
  };
  void scan(bool require_stable);

  std::filesystem::path directory_;
  callback on_event_;
  std::map<std::filesystem::path, file_state> files_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace mesh::host
