#include "raw_echo.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <zmq.hpp>

namespace mesh::bench {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

}  // namespace

int run_raw_echo(const std::string& endpoint, const std::filesystem::path& ready_file) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const pid_t parent = ::getppid();

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::router);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::router_mandatory, 1);
  socket.set(zmq::sockopt::rcvhwm, 100'000);
  socket.set(zmq::sockopt::sndhwm, 100'000);
  socket.bind(endpoint);
  {
    const auto tmp = ready_file.string() + ".tmp";
    std::ofstream(tmp) << socket.get(zmq::sockopt::last_endpoint) << "\n";
    std::filesystem::rename(tmp, ready_file);
  }
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (!g_stop.load() && ::getppid() == parent) {
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(200)) == 0) continue;
      // Echo everything that is queued, frame by frame, keeping the multipart structure.
      for (int i = 0; i < 256; ++i) {
        zmq::message_t frame;
        if (!socket.recv(frame, zmq::recv_flags::dontwait)) break;
        for (bool more = frame.more();; more = frame.more()) {
          socket.send(frame, more ? zmq::send_flags::sndmore : zmq::send_flags::none);
          if (!more) break;
          (void)socket.recv(frame, zmq::recv_flags::none);
        }
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR && e.num() != EHOSTUNREACH) throw;
    }
  }
  return 0;
}

}  // namespace mesh::bench
