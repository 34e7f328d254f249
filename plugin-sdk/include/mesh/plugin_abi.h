/* Mesh plugin ABI: the contract between the mesh host and an actor module.
 *
 * Only C types and MessagePack bytes cross this boundary. A plugin is a shared library that
 * exports two functions:
 *
 *   uint32_t mesh_plugin_abi_version(void);          -- checked first, before anything else
 *   const mesh_plugin_info* mesh_plugin_init(void);   -- called once, after the version check
 *
 * Versioning: a host accepts a plugin whose major version equals its own and whose minor version
 * is not newer than its own. Structs carry their size and only ever grow at the end; a host reads
 * a field only when `struct_size` says the plugin's struct has it.
 *
 * Ownership: every pointer the host passes is valid only for the duration of the call. Every
 * pointer the plugin returns from mesh_plugin_init (names, tables) must stay valid for as long as
 * the library is loaded; the host never unloads a library while any of its actors lives.
 *
 * Errors: entry points never throw (they are noexcept in C++). A handler reports failure through
 * its return status and writes a human-readable message with mesh_output.write.
 */
#ifndef MESH_PLUGIN_ABI_H
#define MESH_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MESH_ABI_VERSION_MAJOR 1
#define MESH_ABI_VERSION_MINOR 2
/** The packed version a plugin reports: major in the high 16 bits, minor in the low 16 bits. */
#define MESH_ABI_VERSION ((uint32_t)((MESH_ABI_VERSION_MAJOR << 16) | MESH_ABI_VERSION_MINOR))

#define MESH_PLUGIN_ABI_VERSION_SYMBOL "mesh_plugin_abi_version"
#define MESH_PLUGIN_INIT_SYMBOL "mesh_plugin_init"

/** A read-only byte range owned by the caller, valid for the duration of one call. */
typedef struct mesh_bytes {
  const uint8_t* data;
  size_t size;
} mesh_bytes;

/** Outcome of a handler. */
typedef enum mesh_status {
  /** Success: the output holds one MessagePack object (the reply). */
  MESH_STATUS_OK = 0,
  /** The actor failed: the output holds the error message; the host discards the activation
   *  and the next request for the same id gets a fresh actor. */
  MESH_STATUS_ACTOR_ERROR = 1,
  /** The request was rejected (bad payload, unknown action): the output holds the error message;
   *  the activation is kept. */
  MESH_STATUS_REJECTED = 2
} mesh_status;

/** Why an actor is being destroyed. */
typedef enum mesh_deactivation_reason {
  MESH_DEACTIVATE_IDLE = 0,      /**< idle for longer than the host's idle timeout */
  MESH_DEACTIVATE_SHUTDOWN = 1,  /**< the host is stopping */
  MESH_DEACTIVATE_REBALANCE = 2, /**< the actor's key moved to another host */
  MESH_DEACTIVATE_CRASHED = 3    /**< a handler failed; the hook is not run, state is dropped */
} mesh_deactivation_reason;

/** A host-owned, append-only output buffer. `write` copies the bytes and returns 0, or returns
 *  non-zero if the host refuses them (too large); the plugin then stops writing. */
typedef struct mesh_output {
  void* host_state;
  int (*write)(void* host_state, const uint8_t* data, size_t size);
} mesh_output;

/** How a message (mesh_message) came about. */
typedef enum mesh_message_kind {
  /** The outcome of the actor's own call (or acknowledged cast) made with mesh_host_services:
   *  the callee's reply, or an error. */
  MESH_MESSAGE_REPLY = 0,
  /** One of the actor's timers fired. */
  MESH_MESSAGE_TIMER = 1
} mesh_message_kind;

/** A message the host puts in an actor's mailbox (since ABI 1.2), handed to
 *  mesh_module.on_message in the actor's turn order. Valid only during that call. */
typedef struct mesh_message {
  size_t struct_size;
  mesh_message_kind kind;
  /** REPLY: the handle `call` (or `cast`) returned. TIMER: the handle `timer_start` returned. */
  uint64_t handle;
  /** The tag the actor passed to `call`, `cast` or `timer_start`, unchanged. */
  uint64_t tag;
  /** REPLY: 1 when the callee replied (or the cast was accepted), 0 on an error. */
  int ok;
  /** REPLY with ok == 0: the error's wire name ("timeout", "unknown_module", "actor_error",
   *  ...; docs/PROTOCOL.md), NUL-terminated. NULL otherwise. */
  const char* error_code;
  /** REPLY, ok: the callee's reply, one MessagePack object (size 0 for an accepted cast).
   *  REPLY, not ok: the error message, UTF-8 text (not MessagePack). TIMER: size 0. */
  mesh_bytes body;
} mesh_message;

/** MESH_HOST_CAST_ACK: `cast` asks for its acknowledgement as a REPLY message. */
#define MESH_HOST_CAST_ACK 1u

/** Services the host offers an actor (since ABI 1.2), through mesh_actor_context.services.
 *  `self` is mesh_actor_context.self. Every function may be called only from inside one of that
 *  actor's own handlers (create excepted), on the thread running it; a call from anywhere else
 *  fails. None of them blocks: outcomes come later, as messages in the actor's mailbox.
 *  Functions that can fail return 0 and write the reason (one MessagePack string) to `error`
 *  (which may be NULL). Read a function only when `struct_size` says the table has it. */
typedef struct mesh_host_services {
  size_t struct_size;
  /** Calls actor `id` of `module` (capability `capability`) anywhere in the cluster with
   *  `payload` (one MessagePack object; size 0 sends nil). `timeout_ms` 0 means what is left of
   *  the current request's deadline, or the host's default when there is none. Returns a handle
   *  (never 0): the outcome comes back as one MESH_MESSAGE_REPLY with that handle and `tag`. */
  uint64_t (*call)(void* self, const char* capability, const char* module, mesh_bytes id,
                   mesh_bytes payload, uint32_t timeout_ms, uint64_t tag, mesh_output* error);
  /** Casts `payload` to an actor. With MESH_HOST_CAST_ACK in `flags`, the acknowledgement
   *  (the cast is in the target's mailbox) or the error comes back as a MESH_MESSAGE_REPLY;
   *  without it nothing comes back. Returns a handle (never 0), or 0 on refusal. */
  uint64_t (*cast)(void* self, const char* capability, const char* module, mesh_bytes id,
                   mesh_bytes payload, uint32_t flags, uint64_t tag, mesh_output* error);
  /** Inside a call handler: the handler will not reply now. Returns a token (never 0) to
   *  answer the call with `reply` in a later turn; whatever the handler writes to its output is
   *  then ignored. Returns 0 outside a call handler or when the call is deferred already. */
  uint64_t (*defer_reply)(void* self);
  /** Answers deferred call `token`: `status` MESH_STATUS_OK with `reply` (one MessagePack
   *  object; size 0 is nil), or MESH_STATUS_REJECTED with `reply` as the error message (one
   *  MessagePack string). Returns 1 when the reply was taken, 0 when it was refused (unknown or
   *  already answered token, a reply that is not one MessagePack object); a reply after the
   *  call's deadline is taken, dropped and counted. */
  int (*reply)(void* self, uint64_t token, mesh_status status, mesh_bytes reply,
               mesh_output* error);
  /** Arms a timer: the first firing after `due_ms` milliseconds, then (when `period_ms` is not 0)
   *  every `period_ms` after the previous firing's handler ended. Each firing is a
   *  MESH_MESSAGE_TIMER with the returned handle (never 0) and `tag`. Timers die with the
   *  activation and do not keep it alive. Returns 0 past the per-activation cap. */
  uint64_t (*timer_start)(void* self, uint64_t due_ms, uint64_t period_ms, uint64_t tag,
                          mesh_output* error);
  /** Cancels a timer; no firing is delivered after this returns. Returns 1 when the timer was
   *  armed, 0 when it was unknown (fired as a one-shot, cancelled, or never this actor's). */
  int (*timer_cancel)(void* self, uint64_t timer);
  /** Asks the host to deactivate this actor (hook reason idle) once its current turn ends and
   *  its mailbox is empty. */
  void (*deactivate)(void* self);
  /** What is left of the current request's deadline, in ms (0: none, or already passed). */
  uint32_t (*remaining_ms)(void* self);
} mesh_host_services;

/** What an actor learns when it is created. Valid only during `create`, except `services`,
 *  `self` and `host`, which stay valid for the activation's life. */
typedef struct mesh_actor_context {
  size_t struct_size;
  /** The actor's id bytes (any bytes; usually UTF-8). */
  mesh_bytes id;
  /** The init_arg of the request that activated the actor, as one MessagePack object;
   *  size 0 when the request carried none. */
  mesh_bytes init_arg;
  /** NUL-terminated module and capability names of this actor. */
  const char* module;
  const char* capability;
  /** Host-unique number of this activation; a re-created actor gets a new one. */
  uint64_t activation;
  /** Since ABI 1.2: the host's services (see mesh_host_services) and this actor's handle for
   *  them; NULL on older hosts. */
  const mesh_host_services* services;
  void* self;
  /** Since ABI 1.2: the name of the host running the actor (as in actor references). */
  const char* host;
} mesh_actor_context;

/** One actor module: a name (the `module` of a request), its capability and its handlers.
 *  All handlers of one actor are called from one thread at a time, never concurrently. */
typedef struct mesh_module {
  size_t struct_size;
  const char* name;
  const char* capability;
  /** Creates an actor. Returns an opaque pointer owned by the plugin until `destroy`, or NULL
   *  after writing an error message to `error`. */
  void* (*create)(const mesh_actor_context* context, mesh_output* error);
  /** Handles a call: `payload` is one MessagePack object; writes the reply (one MessagePack
   *  object) or an error message to `output`. */
  mesh_status (*call)(void* actor, mesh_bytes payload, mesh_output* output);
  /** Handles a cast (no reply is sent to the caller); on failure writes an error message. */
  mesh_status (*cast)(void* actor, mesh_bytes payload, mesh_output* output);
  /** Runs the deactivation hook (unless reason is MESH_DEACTIVATE_CRASHED) and frees the actor. */
  void (*destroy)(void* actor, mesh_deactivation_reason reason);
  /** Since ABI 1.1: MESH_MODULE_* bits (0 when the plugin's struct ends before this field). */
  uint32_t flags;
  /** Since ABI 1.2 (optional, may be NULL): handles a message the host put in the actor's
   *  mailbox (a reply to its own call, a timer firing). Returning MESH_STATUS_ACTOR_ERROR
   *  discards the activation as a failed call does; the output is otherwise ignored. */
  mesh_status (*on_message)(void* actor, const mesh_message* message, mesh_output* output);
} mesh_module;

/** The size of a mesh_module from ABI 1.0 (without `flags`): the smallest a host accepts. */
#define MESH_MODULE_SIZE_1_0 (offsetof(mesh_module, destroy) + sizeof(void (*)(void)))
/** The size of a mesh_module from ABI 1.1 (ends with `flags`). */
#define MESH_MODULE_SIZE_1_1 (offsetof(mesh_module, flags) + sizeof(uint32_t))

/** The module's handlers never block and return within microseconds (in-memory work only: no
 *  I/O, no sleeping, no locks held by other threads). The host may then run them on its request
 *  thread instead of handing each request to a worker thread and back, which saves two thread
 *  wake-ups per request. If such a module's handlers compute for more than 5 ms or sleep for more
 *  than 20 ms three times, the host logs a warning and runs the module on its workers from then
 *  on. */
#define MESH_MODULE_NONBLOCKING 1u

/** What mesh_plugin_init returns; owned by the plugin, valid while the library is loaded. */
typedef struct mesh_plugin_info {
  size_t struct_size;
  /** The ABI the plugin was built against (same as mesh_plugin_abi_version). */
  uint32_t abi_version;
  const char* plugin_name;
  const char* plugin_version;
  size_t module_count;
  const mesh_module* const* modules;
} mesh_plugin_info;

typedef uint32_t (*mesh_plugin_abi_version_fn)(void);
typedef const mesh_plugin_info* (*mesh_plugin_init_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MESH_PLUGIN_ABI_H */
