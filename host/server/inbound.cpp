#include "server/inbound.hpp"

#include <vector>

namespace mesh::host {

namespace {

/// Freed inbounds kept for reuse by this thread (none in sanitized builds, so that ASan still
/// sees every use after free).
struct inbound_cache {
  static constexpr size_t keep = 1024;
  std::vector<void*> free;
  inbound_cache() { free.reserve(keep); }
  ~inbound_cache() {
    for (void* p : free) ::operator delete(p);
  }
};
thread_local inbound_cache t_inbounds;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool cache_inbounds = false;
#else
constexpr bool cache_inbounds = true;
#endif

}  // namespace

void* inbound::operator new(size_t size) {
  auto& cache = t_inbounds.free;
  if (cache_inbounds && !cache.empty() && size == sizeof(inbound)) {
    void* p = cache.back();
    cache.pop_back();
    return p;
  }
  return ::operator new(size);
}

void inbound::operator delete(void* p) noexcept {
  auto& cache = t_inbounds.free;
  if (cache_inbounds && cache.size() < inbound_cache::keep) {
    cache.push_back(p);  // within the reserved capacity: cannot throw
  } else {
    ::operator delete(p);
  }
}

void inbound_deleter::operator()(inbound* in) const noexcept { delete in; }

}  // namespace mesh::host
