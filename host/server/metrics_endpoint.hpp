// The Prometheus endpoint (`meshd --metrics-listen`): GET /metrics over HTTP, served by
// cpp-httplib on a thread of its own. It never touches dispatcher state: it renders the
// snapshot the dispatcher publishes (server::published_stats).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace mesh::host {

class metrics_endpoint {
 public:
  /// Returns the body of GET /metrics (Prometheus text format 0.0.4). Called on the HTTP thread.
  using render_fn = std::function<std::string()>;

  /// Binds `listen` ("HOST:PORT"; port 0 or `*` picks a free one) and starts serving.
  /// Throws std::runtime_error with a clear message when the address is malformed or cannot be
  /// bound.
  metrics_endpoint(const std::string& listen, render_fn render);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  /// The bound address, "HOST:PORT" with the real port.
  const std::string& address() const noexcept { return address_; }
  /// Stops serving and joins the thread (also done by the destructor).
  void stop();

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string address_;
};

}  // namespace mesh::host
