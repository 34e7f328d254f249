#include "server/metrics_endpoint.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>

namespace mesh::host {

metrics_endpoint::metrics_endpoint(const std::string& listen, render_fn render)
    : http_(std::make_unique<httplib::Server>()) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    throw std::runtime_error("--metrics-listen " + listen + ": expected HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);  // [::1]:9100
  const std::string port_text = listen.substr(colon + 1);
  int port = 0;
  if (port_text != "*") {
    size_t used = 0;
    try {
      port = std::stoi(port_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != port_text.size() || port < 0 || port > 65535)
      throw std::runtime_error("--metrics-listen " + listen + ": invalid port \"" + port_text +
                               "\"");
  }
  // One request at a time is plenty for a scraper, and keeps the endpoint to one extra thread.
  http_->new_task_queue = [] { return new httplib::ThreadPool(1); };
  // httplib's default sets SO_REUSEPORT, which would let a second host share a port in use
  // without an error. SO_REUSEADDR alone still allows a restart over TIME_WAIT connections.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http_->Get("/metrics", [render = std::move(render)](const httplib::Request&,
                                                      httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  const int bound = port == 0 ? http_->bind_to_any_port(host)
                              : (http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    throw std::runtime_error("cannot serve metrics on " + listen +
                             ": the address cannot be bound (in use, or not local)");
  address_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
             std::to_string(bound);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() only interrupts a server that runs: wait until it does, so a quick SIGTERM cannot
  // leave the thread listening forever.
  for (int i = 0; i < 5000 && !http_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

metrics_endpoint::~metrics_endpoint() { stop(); }

void metrics_endpoint::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mesh::host
