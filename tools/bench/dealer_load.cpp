#include "dealer_load.hpp"

#include <stdexcept>

namespace mesh::bench {
namespace {

using clock = std::chrono::steady_clock;

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

std::pair<const void*, size_t> traffic::frame(uint64_t i) {
  if (raw_) return {raw_->data(), raw_->size()};
  wire::request req;
  req.kind = wire::op::call;
  req.rid = i + 1;
  req.capability = capability_;
  req.module = module_;
  const std::string& id = ids_[i % ids_.size()];
  req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
  req.payload = {payload_.data(), payload_.size()};
  buffer_.clear();
  wire::encode_request(buffer_, req);
  return {buffer_.data(), buffer_.size()};
}

void traffic::check(const zmq::message_t& reply) {
  ++replies_;
  if (raw_) {
    if (reply.size() != raw_->size()) throw std::runtime_error("raw echo returned wrong size");
    return;
  }
  zone_.clear();
  auto r = wire::decode_reply(reply.data<uint8_t>(), reply.size(), zone_);
  if (!r) throw std::runtime_error("undecodable reply: " + r.error().message);
  if (!r->ok) throw std::runtime_error("call failed: " + r->error_code + ": " + r->error_message);
  if (counted_host_ && r->has_actor && r->actor.host == *counted_host_) ++from_counted_host_;
}

dealer::dealer(zmq::context_t& context, const std::string& endpoint, const bench_options& options)
    : socket_(context, zmq::socket_type::dealer), options_(options) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::rcvhwm, 100'000);
  socket_.set(zmq::sockopt::sndhwm, 100'000);
  socket_.connect(endpoint);
}

run_result dealer::pipeline(traffic& t, size_t inflight, uint64_t count, clock::duration limit) {
  uint64_t sent = 0, completed = 0;
  const auto start = clock::now();
  const auto stop_at = start + limit;
  bool stopping = false;
  while (sent < std::min<uint64_t>(inflight, count)) send(t, sent++);
  zmq::message_t reply;
  while (completed < sent) {
    wait();
    while (socket_.recv(reply, zmq::recv_flags::dontwait)) {
      t.check(reply);
      ++completed;
      if (!stopping && sent < count) send(t, sent++);
    }
    if (!stopping && clock::now() >= stop_at) stopping = true;
  }
  return {completed, seconds_between(start, clock::now())};
}

std::vector<int64_t> dealer::sequential(traffic& t, uint64_t count, clock::duration limit) {
  std::vector<int64_t> samples;
  samples.reserve(count);
  const auto stop_at = clock::now() + limit;
  zmq::message_t reply;
  for (uint64_t i = 0; i < count; ++i) {
    const auto start = clock::now();
    if (start >= stop_at) break;
    send(t, i);
    for (;;) {
      if (socket_.recv(reply, zmq::recv_flags::dontwait)) break;
      wait();
    }
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
    t.check(reply);
  }
  return samples;
}

nlohmann::json dealer::query(wire::request req, std::chrono::milliseconds timeout) {
  req.rid = next_query_rid_++;
  wire::buffer out;
  wire::encode_request(out, req);
  socket_.send(zmq::const_buffer(out.data(), out.size()), zmq::send_flags::none);
  const auto end = clock::now() + timeout;
  zmq::message_t reply;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock::now());
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0)
      throw std::runtime_error(std::string(wire::to_string(req.kind)) + ": no reply within " +
                               std::to_string(timeout.count()) + " ms");
    if (!socket_.recv(reply, zmq::recv_flags::dontwait)) continue;
    auto doc = nlohmann::json::from_msgpack(reply.data<uint8_t>(),
                                            reply.data<uint8_t>() + reply.size(), true, false);
    if (doc.is_discarded() || !doc.is_object()) continue;
    if (doc.value("rid", uint64_t{0}) != req.rid) continue;
    if (doc.value("ok", false) != true)
      throw std::runtime_error(std::string(wire::to_string(req.kind)) + " failed: " + doc.dump());
    return doc;
  }
}

void dealer::send(traffic& t, uint64_t i) {
  const auto [data, size] = t.frame(i);
  socket_.send(zmq::const_buffer(data, size), zmq::send_flags::none);
}

void dealer::wait() {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, options_.stall_limit) == 0)
    throw std::runtime_error("no reply for " + std::to_string(options_.stall_limit.count()) +
                             " ms");
}

}  // namespace mesh::bench
