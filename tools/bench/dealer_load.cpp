#include "dealer_load.hpp"

#include <algorithm>
#include <stdexcept>

namespace mesh::bench {
namespace {

using clock = std::chrono::steady_clock;

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void call_failed(const client::error& e) {
  throw std::runtime_error("call failed: " + e.code + ": " + e.message);
}

}  // namespace

client::actor_request calls::request(uint64_t i, std::chrono::milliseconds timeout) const {
  const size_t j = i % ids_.size();
  const call_target& t = targets_[j % targets_.size()];
  return {t.capability, t.module, ids_[j], client::view_of(t.payload), std::nullopt, timeout};
}

void calls::served(std::string_view host) {
  ++replies_;
  if (counted_host_ && host == *counted_host_) ++from_counted_host_;
}

size_t calls::frame_size() const {
  const size_t n = std::max<size_t>(1, std::min(targets_.size(), ids_.size()));
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const call_target& t = targets_[i % targets_.size()];
    wire::request req;
    req.kind = wire::op::call;
    req.rid = uint64_t{1} << 40;  // a typical client rid: several bytes, as in real traffic
    req.capability = t.capability;
    req.module = t.module;
    req.id = client::view_of(ids_[i % ids_.size()]);
    req.payload = client::view_of(t.payload);
    wire::buffer out;
    wire::encode_request(out, req);
    total += out.size();
  }
  return (total + n / 2) / n;
}

mesh_load::mesh_load(std::vector<std::string> endpoints, bool direct, const bench_options& options)
    : options_(options), client_(std::move(endpoints), [&] {
        client::options o;
        o.direct = direct;
        o.timeout = options.stall_limit;
        o.curve_server_key = options.curve_server_key;
        o.curve_public_key = options.curve_public_key;
        o.curve_secret_key = options.curve_secret_key;
        return o;
      }()) {
  if (direct) {
    const auto r = client_.refresh();
    if (!r) throw std::runtime_error("cannot learn the cluster's view: " + r.error().message);
  }
}

namespace {

/// The state of one pipelined phase. Handlers capture only a pointer to it, which fits in
/// std::function's inline storage: no allocation per call beyond the client's own.
struct pipeline_state {
  mesh::client::client& client;
  calls& c;
  uint64_t count;
  std::chrono::milliseconds timeout;
  uint64_t sent = 0, completed = 0;
  bool stopping = false;
  std::optional<client::error> failure;

  void send_next() {
    client.call_async_view(c.request(sent++, timeout),
                           [this](tl::expected<client::reply_view, client::error> r) {
                             on_reply(std::move(r));
                           });
  }

  // Each reply sends the next call from inside its handler, so the window stays full.
  void on_reply(tl::expected<client::reply_view, client::error> r) {
    if (!r) {
      if (!failure) failure = r.error();
      return;
    }
    ++completed;
    c.served(r->decoded.actor.host);
    if (!stopping && sent < count) send_next();
  }
};

}  // namespace

run_result mesh_load::pipeline(calls& c, size_t inflight, uint64_t count,
                               clock::duration limit) {
  pipeline_state s{client_, c, count,
                   std::chrono::duration_cast<std::chrono::milliseconds>(options_.stall_limit)};
  const auto start = clock::now();
  const auto stop_at = start + limit;
  while (s.sent < std::min<uint64_t>(inflight, count)) s.send_next();
  while (client_.in_flight() > 0) {
    client_.poll(std::chrono::milliseconds(100));
    if (s.failure) call_failed(*s.failure);
    if (!s.stopping && clock::now() >= stop_at) s.stopping = true;
  }
  if (s.failure) call_failed(*s.failure);
  return {s.completed, seconds_between(start, clock::now())};
}

std::vector<int64_t> mesh_load::sequential(calls& c, uint64_t count, clock::duration limit) {
  std::vector<int64_t> samples;
  samples.reserve(count);
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.stall_limit);
  const auto stop_at = clock::now() + limit;
  for (uint64_t i = 0; i < count; ++i) {
    const auto start = clock::now();
    if (start >= stop_at) break;
    std::optional<client::error> failure;
    bool done = false;
    client_.call_async_view(c.request(i, timeout),
                            [&](tl::expected<client::reply_view, client::error> r) {
                              done = true;
                              if (!r)
                                failure = r.error();
                              else
                                c.served(r->decoded.actor.host);
                            });
    while (!done) client_.poll(std::chrono::milliseconds(100));
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
    if (failure) call_failed(*failure);
  }
  return samples;
}

nlohmann::json mesh_load::query(const wire::request& req, std::string_view endpoint) {
  auto r = client_.request(req, endpoint);
  if (!r)
    throw std::runtime_error(std::string(wire::to_string(req.kind)) + " failed: " + r.error().code +
                             ": " + r.error().message);
  auto doc = nlohmann::json::from_msgpack(r->begin(), r->end(), true, false);
  if (doc.is_discarded() || !doc.is_object())
    throw std::runtime_error(std::string(wire::to_string(req.kind)) + ": undecodable reply");
  return doc;
}

dealer::dealer(zmq::context_t& context, const std::string& endpoint, const bench_options& options)
    : socket_(context, zmq::socket_type::dealer), options_(options) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::rcvhwm, 100'000);
  socket_.set(zmq::sockopt::sndhwm, 100'000);
  socket_.connect(endpoint);
}

run_result dealer::pipeline(size_t size, size_t inflight, uint64_t count, clock::duration limit) {
  const std::string frame(size, 'x');
  uint64_t sent = 0, completed = 0;
  const auto start = clock::now();
  const auto stop_at = start + limit;
  bool stopping = false;
  while (sent < std::min<uint64_t>(inflight, count)) {
    send(frame);
    ++sent;
  }
  zmq::message_t reply;
  while (completed < sent) {
    receive(reply, size);
    ++completed;
    if (!stopping && sent < count) {
      send(frame);
      ++sent;
    }
    if (!stopping && clock::now() >= stop_at) stopping = true;
  }
  return {completed, seconds_between(start, clock::now())};
}

std::vector<int64_t> dealer::sequential(size_t size, uint64_t count, clock::duration limit) {
  const std::string frame(size, 'x');
  std::vector<int64_t> samples;
  samples.reserve(count);
  const auto stop_at = clock::now() + limit;
  zmq::message_t reply;
  for (uint64_t i = 0; i < count; ++i) {
    const auto start = clock::now();
    if (start >= stop_at) break;
    send(frame);
    receive(reply, size);
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
  }
  return samples;
}

void dealer::send(const std::string& frame) {
  socket_.send(zmq::const_buffer(frame.data(), frame.size()), zmq::send_flags::none);
}

void dealer::receive(zmq::message_t& reply, size_t size) {
  if (socket_.recv(reply, zmq::recv_flags::dontwait)) {
  } else {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, options_.stall_limit) == 0)
      throw std::runtime_error("raw echo: no reply for " +
                               std::to_string(options_.stall_limit.count()) + " ms");
    (void)socket_.recv(reply);
  }
  if (reply.size() != size) throw std::runtime_error("raw echo returned the wrong size");
}

}  // namespace mesh::bench
