#include "plugin/plugin_watcher.hpp"

#include <system_error>

namespace mesh::host {

plugin_watcher::plugin_watcher(std::filesystem::path directory, callback on_event)
    : directory_(std::move(directory)), on_event_(std::move(on_event)) {}

plugin_watcher::~plugin_watcher() { stop(); }

void plugin_watcher::scan_once() { scan(false); }

void plugin_watcher::start(std::chrono::milliseconds interval) {
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      scan(true);
      lock.lock();
    }
  });
}

void plugin_watcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void plugin_watcher::scan(bool require_stable) {
  std::error_code ec;
  std::filesystem::directory_iterator it(directory_, ec);
  if (ec) return;  // a missing directory may appear later; main() reported it at start-up
  for (const auto& entry : it) {
    const auto& path = entry.path();
    if (path.extension() != ".so") continue;
    std::error_code fec;
    if (!entry.is_regular_file(fec)) continue;
    const auto size = entry.file_size(fec);
    if (fec) continue;
    const auto mtime = entry.last_write_time(fec);
    if (fec) continue;
    auto [pos, inserted] = files_.try_emplace(path);
    file_state& state = pos->second;
    const bool changed = inserted || state.size != size || state.mtime != mtime;
    if (changed) {
      const bool was_loaded = state.loaded;
      state = file_state{size, mtime, false, was_loaded};
      if (was_loaded) {
        on_event_(plugin_event{path, nullptr,
                               "file changed after it was loaded; a loaded plugin is never "
                               "replaced in place: copy the new version under a new file name"});
        state.tried = true;
        continue;
      }
      if (require_stable) continue;  // try on the next scan if it is still the same
    }
    if (state.tried) continue;
    state.tried = true;
    auto loaded = load_plugin(path);
    if (loaded) {
      state.loaded = true;
      on_event_(plugin_event{path, std::move(*loaded), {}});
    } else {
      on_event_(plugin_event{path, nullptr, std::move(loaded.error())});
    }
  }
}

}  // namespace mesh::host
