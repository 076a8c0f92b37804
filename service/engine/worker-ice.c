/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-ice"
#define _GNU_SOURCE /* sendmmsg */

#include "config.h"

#include "worker-ice.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <agent.h>
#include <sodium.h>

#include "ice-candidate.h"
#include "uplink.h"

/* Remote candidates kept before the checks start. */
#define EARLY_CANDIDATES_MAX 64
/* Dropped remote candidates: the first ones are logged as messages, later
 * ones only now and then (a hostile peer must not flood the journal). */
#define DROP_LOG_LIMIT 10
#define DROP_LOG_EVERY 100

/* Batched sends: datagrams per system call, and the limits of one UDP GSO
 * (UDP_SEGMENT) send: segments (the kernel's UDP_MAX_SEGMENTS is 64 on
 * older kernels) and bytes (an IP packet's payload, with room for IPv6
 * extension headers). */
#define SEND_BATCH         64
#define GSO_MAX_SEGMENTS   64
#define GSO_MAX_BYTES      65000
/* Socket buffers of the selected pair's socket, like WireGuard's own (and
 * the proxy's): a burst of a batch must not overflow the default 208 KiB,
 * or consent checks drown with the data. */
#define SOCKET_BUFFER      (4 * 1024 * 1024)
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

G_DEFINE_QUARK (nb-worker-ice-error-quark, nb_worker_ice_error)

static guint closing_agents;

/* ------------------------------------------------------------------------ */
/* Enums and the pair value */

static const GEnumValue ice_state_values[] = {
  { NB_ICE_STATE_NEW, "NB_ICE_STATE_NEW", "new" },
  { NB_ICE_STATE_GATHERING, "NB_ICE_STATE_GATHERING", "gathering" },
  { NB_ICE_STATE_CHECKING, "NB_ICE_STATE_CHECKING", "checking" },
  { NB_ICE_STATE_CONNECTED, "NB_ICE_STATE_CONNECTED", "connected" },
  { NB_ICE_STATE_DISCONNECTED, "NB_ICE_STATE_DISCONNECTED", "disconnected" },
  { NB_ICE_STATE_FAILED, "NB_ICE_STATE_FAILED", "failed" },
  { NB_ICE_STATE_CLOSED, "NB_ICE_STATE_CLOSED", "closed" },
  { 0, NULL, NULL },
};

GType
nb_ice_state_get_type (void)
{
  static gsize type;

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("NbIceState", ice_state_values));
  return type;
}

const char *
nb_ice_state_to_string (NbIceState state)
{
  if ((guint) state <= NB_ICE_STATE_CLOSED)
    return ice_state_values[state].value_nick;
  return "unknown";
}

const char *
nb_ice_conn_class_to_string (NbIceConnClass cls)
{
  return cls == NB_ICE_CONN_TURN ? "TURN" : "P2P";
}

NbIcePairInfo *
nb_ice_pair_info_copy (const NbIcePairInfo *info)
{
  NbIcePairInfo *copy = g_new (NbIcePairInfo, 1);

  *copy = *info;
  copy->local_endpoint = g_strdup (info->local_endpoint);
  copy->remote_endpoint = g_strdup (info->remote_endpoint);
  copy->local_socket = info->local_socket ? g_object_ref (info->local_socket) : NULL;
  copy->remote_address = info->remote_address ? g_object_ref (info->remote_address) : NULL;
  return copy;
}

void
nb_ice_pair_info_free (NbIcePairInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->local_endpoint);
  g_free (info->remote_endpoint);
  g_clear_object (&info->local_socket);
  g_clear_object (&info->remote_address);
  g_free (info);
}

G_DEFINE_BOXED_TYPE (NbIcePairInfo, nb_ice_pair_info, nb_ice_pair_info_copy, nb_ice_pair_info_free)

char *
nb_ice_pair_info_to_string (const NbIcePairInfo *info)
{
  return g_strdup_printf ("%s %s <-> %s %s (%s)",
                          nb_signal_candidate_type_to_string (info->local_type),
                          info->local_endpoint,
                          nb_signal_candidate_type_to_string (info->remote_type),
                          info->remote_endpoint,
                          nb_ice_conn_class_to_string (info->conn_class));
}

static GInetSocketAddress *
inet_socket_address_from_nice (const NiceAddress *addr)
{
  char ip[NICE_ADDRESS_STRING_LEN];

  nice_address_to_string (addr, ip);
  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string (ip, nice_address_get_port (addr)));
}

static NbIcePairInfo *
pair_info_from_nice (const NiceCandidate *local, const NiceCandidate *remote, gboolean controlling)
{
  NbIcePairInfo *info = g_new0 (NbIcePairInfo, 1);

  info->local_type = nb_ice_candidate_type_from_nice (local->type);
  info->remote_type = nb_ice_candidate_type_from_nice (remote->type);
  info->local_endpoint = nb_ice_address_to_endpoint (&local->addr);
  info->remote_endpoint = nb_ice_address_to_endpoint (&remote->addr);
  info->relayed_on_local = local->type == NICE_CANDIDATE_TYPE_RELAYED;
  info->relayed = info->relayed_on_local || remote->type == NICE_CANDIDATE_TYPE_RELAYED;
  info->conn_class = info->relayed ? NB_ICE_CONN_TURN : NB_ICE_CONN_P2P;
  info->priority = info->relayed ? NB_WORKER_ICE_PRIORITY_TURN : NB_WORKER_ICE_PRIORITY_P2P;
  info->controlling = controlling;
  /* A local host candidate is its own socket; a peer-reflexive (or
   * server-reflexive) one is reached through its base, the socket that
   * sends. */
  if (!info->relayed_on_local)
    {
      const NiceAddress *sock = &local->addr;

      if (local->type != NICE_CANDIDATE_TYPE_HOST && nice_address_is_valid (&local->base_addr))
        sock = &local->base_addr;
      info->local_socket = inet_socket_address_from_nice (sock);
    }
  info->remote_address = inet_socket_address_from_nice (&remote->addr);
  return info;
}

/* ------------------------------------------------------------------------ */
/* The worker */

typedef enum {
  EV_STATE,
  EV_LOCAL_CANDIDATE,
  EV_GATHERING_DONE,
  EV_CONNECTED,
  EV_PAIR_CHANGED,
  EV_DISCONNECTED,
  EV_FAILED,
} EventKind;

typedef struct {
  EventKind kind;
  NbSignalCandidate *candidate;
  NbIcePairInfo *pair;
  char *reason;
  NbIceState state;   /* the state this event makes public */
} Event;

static void
event_free (Event *ev)
{
  nb_signal_candidate_free (ev->candidate);
  nb_ice_pair_info_free (ev->pair);
  g_free (ev->reason);
  g_free (ev);
}

struct _NbWorkerIce
{
  GObject parent;

  GMainContext *context;
  NiceAgent *agent;
  guint stream_id;

  /* configuration */
  gboolean controlling;
  gboolean relay;
  gboolean force_relay;
  gboolean ipv6;
  char **interface_blacklist;  /* NULL = default */
  char **local_addresses;      /* NULL = enumerate */
  GPtrArray *routed;           /* GInetAddressMask* */
  guint check_timeout_ms;
  guint relay_wait_ms;

  char ufrag[NB_ICE_UFRAG_LEN + 1];
  char pwd[NB_ICE_PWD_LEN + 1];

  NbIceState state;            /* what get_state() says */
  NbIceState public_state;     /* what notify::state last announced */
  gboolean checks_started;
  gint64 checks_start_us;
  GPtrArray *early;            /* NiceCandidate*, before the checks */
  guint dropped;

  gboolean component_up;       /* libnice reported CONNECTED/READY */
  gboolean relay_wait_over;
  gboolean connected_emitted;
  NbIcePairInfo *pair;         /* libnice's current selected pair */
  NbIcePairInfo *reported;     /* the pair of the last connected/changed event */
  GSource *check_timer;
  GSource *relay_timer;

  GQueue events;
  GSource *dispatch;

  NbWorkerIceReceiveFunc recv_func;
  gpointer recv_data;
  GDestroyNotify recv_notify;

  /* The direct send path (see nb_worker_ice_send_batch): libnice's socket
   * of the selected pair when our candidate is not a relay candidate, and
   * the remote candidate's address; NULL when libnice must send. */
  GSocket *direct_socket;
  struct sockaddr_storage direct_to;
  socklen_t direct_to_len;
  gboolean gso_off;            /* the kernel refused a UDP GSO send */
};

G_DEFINE_FINAL_TYPE (NbWorkerIce, nb_worker_ice, G_TYPE_OBJECT)

enum {
  SIG_LOCAL_CANDIDATE,
  SIG_GATHERING_DONE,
  SIG_CONNECTED,
  SIG_SELECTED_PAIR_CHANGED,
  SIG_DISCONNECTED,
  SIG_FAILED,
  SIG_DATA,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

enum {
  PROP_0,
  PROP_STATE,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

static gboolean
is_finished (NbWorkerIce *self)
{
  return self->state >= NB_ICE_STATE_DISCONNECTED;
}

/* ---- event queue -------------------------------------------------------- */

static gboolean dispatch_events (gpointer user_data);

static void
queue_event (NbWorkerIce *self, Event *ev)
{
  g_queue_push_tail (&self->events, ev);
  if (self->dispatch == NULL)
    {
      self->dispatch = g_idle_source_new ();
      g_source_set_priority (self->dispatch, G_PRIORITY_DEFAULT);
      g_source_set_callback (self->dispatch, dispatch_events, self, NULL);
      g_source_set_static_name (self->dispatch, "nb-worker-ice events");
      g_source_attach (self->dispatch, self->context);
    }
}

static void
queue_simple (NbWorkerIce *self, EventKind kind, NbIceState state, const char *reason)
{
  Event *ev = g_new0 (Event, 1);

  ev->kind = kind;
  ev->state = state;
  ev->reason = g_strdup (reason);
  queue_event (self, ev);
}

static void
set_public_state (NbWorkerIce *self, NbIceState state)
{
  if (self->public_state == state)
    return;
  self->public_state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static gboolean
dispatch_events (gpointer user_data)
{
  g_autoptr (NbWorkerIce) self = g_object_ref (NB_WORKER_ICE (user_data));
  Event *ev;

  g_source_unref (self->dispatch);
  self->dispatch = NULL;
  /* Handlers may queue or clear events (close()): pop one at a time. */
  while ((ev = g_queue_pop_head (&self->events)) != NULL)
    {
      switch (ev->kind)
        {
        case EV_STATE:
          set_public_state (self, ev->state);
          break;
        case EV_LOCAL_CANDIDATE:
          g_signal_emit (self, signals[SIG_LOCAL_CANDIDATE], 0, ev->candidate);
          break;
        case EV_GATHERING_DONE:
          g_signal_emit (self, signals[SIG_GATHERING_DONE], 0);
          break;
        case EV_CONNECTED:
          set_public_state (self, ev->state);
          g_signal_emit (self, signals[SIG_CONNECTED], 0, ev->pair);
          break;
        case EV_PAIR_CHANGED:
          g_signal_emit (self, signals[SIG_SELECTED_PAIR_CHANGED], 0, ev->pair);
          break;
        case EV_DISCONNECTED:
          set_public_state (self, ev->state);
          g_signal_emit (self, signals[SIG_DISCONNECTED], 0, ev->reason);
          break;
        case EV_FAILED:
          set_public_state (self, ev->state);
          g_signal_emit (self, signals[SIG_FAILED], 0, ev->reason);
          break;
        }
      event_free (ev);
    }
  return G_SOURCE_REMOVE;
}

/* ---- timers ------------------------------------------------------------- */

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_source_unref (*source);
      *source = NULL;
    }
}

static GSource *
add_timeout (NbWorkerIce *self, guint ms, GSourceFunc func, const char *name)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, self, NULL);
  g_source_set_static_name (source, name);
  g_source_attach (source, self->context);
  return source;
}

/* ---- direct send path ---------------------------------------------------- */

/* Datagrams on a pair whose local candidate is a host or reflexive one
 * leave libnice's socket as plain UDP to the remote candidate: what
 * nice_agent_send() does, less its lock, lookup and one sendmsg() per
 * datagram. The socket is libnice's (a reference, so the object stays,
 * but libnice may close it: checked before every use) and is re-read on
 * every selected pair change; teardown drops it. */
static void
set_socket_buffer (int fd, int force_option, int option)
{
  int size = SOCKET_BUFFER;

  /* FORCE needs CAP_NET_ADMIN; without it the plain option, capped by
   * net.core.[rw]mem_max. */
  if (setsockopt (fd, SOL_SOCKET, force_option, &size, sizeof size) == 0)
    return;
  if (setsockopt (fd, SOL_SOCKET, option, &size, sizeof size) != 0)
    g_debug ("socket buffer: %s", g_strerror (errno));
}

static void
direct_clear (NbWorkerIce *self)
{
  g_clear_object (&self->direct_socket);
  self->direct_to_len = 0;
}

static void
direct_refresh (NbWorkerIce *self)
{
  NiceCandidate *local = NULL, *remote = NULL;
  g_autoptr (GSocket) socket = NULL;

  direct_clear (self);
  if (self->agent == NULL || is_finished (self))
    return;
  /* NULL for a relayed local candidate (TURN framing) or no pair. */
  socket = nice_agent_get_selected_socket (self->agent, self->stream_id, 1);
  if (socket == NULL || g_socket_get_fd (socket) < 0
      || !nice_agent_get_selected_pair (self->agent, self->stream_id, 1, &local, &remote)
      || local->type == NICE_CANDIDATE_TYPE_RELAYED
      || local->transport != NICE_CANDIDATE_TRANSPORT_UDP)
    return;
  memset (&self->direct_to, 0, sizeof self->direct_to);
  nice_address_copy_to_sockaddr (&remote->addr, (struct sockaddr *) &self->direct_to);
  if (self->direct_to.ss_family == AF_INET)
    self->direct_to_len = sizeof (struct sockaddr_in);
  else if (self->direct_to.ss_family == AF_INET6)
    self->direct_to_len = sizeof (struct sockaddr_in6);
  else
    return;
  set_socket_buffer (g_socket_get_fd (socket), SO_RCVBUFFORCE, SO_RCVBUF);
  set_socket_buffer (g_socket_get_fd (socket), SO_SNDBUFFORCE, SO_SNDBUF);
  self->direct_socket = g_steal_pointer (&socket);
}

/* ---- agent teardown ----------------------------------------------------- */

static void
agent_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NiceAgent *agent = NICE_AGENT (source);

  g_debug ("agent %p released", (void *) agent);
  closing_agents--;
  g_object_unref (agent);
}

/* Stops the timers and lets the agent go: it releases its TURN allocations
 * (refresh with lifetime 0) in the background. */
static void
teardown (NbWorkerIce *self)
{
  NiceAgent *agent = g_steal_pointer (&self->agent);

  clear_source (&self->check_timer);
  clear_source (&self->relay_timer);
  g_clear_pointer (&self->early, g_ptr_array_unref);
  direct_clear (self);
  if (agent == NULL)
    return;
  g_signal_handlers_disconnect_by_data (agent, self);
  nice_agent_attach_recv (agent, self->stream_id, 1, self->context, NULL, NULL);
  nice_agent_remove_stream (agent, self->stream_id);
  closing_agents++;
  nice_agent_close_async (agent, agent_closed_cb, NULL);
}

static void
finish (NbWorkerIce *self, NbIceState state, const char *reason)
{
  if (is_finished (self))
    return;
  self->state = state;
  if (state == NB_ICE_STATE_DISCONNECTED)
    {
      g_message ("ICE connection lost: %s", reason);
      queue_simple (self, EV_DISCONNECTED, state, reason);
    }
  else
    {
      g_message ("ICE failed: %s", reason);
      queue_simple (self, EV_FAILED, state, reason);
    }
  teardown (self);
}

/* ---- connection reporting ----------------------------------------------- */

static guint
ms_since_checks (NbWorkerIce *self)
{
  if (!self->checks_started)
    return 0;
  return (guint) MIN ((g_get_monotonic_time () - self->checks_start_us) / 1000, G_MAXUINT);
}

static gboolean relay_wait_cb (gpointer user_data);

static void
maybe_report_connected (NbWorkerIce *self)
{
  Event *ev;
  g_autofree char *text = NULL;

  if (self->connected_emitted || is_finished (self) || !self->component_up || self->pair == NULL)
    return;
  if (self->pair->relayed && !self->relay_wait_over)
    {
      guint elapsed = ms_since_checks (self);

      if (self->relay_wait_ms == G_MAXUINT || elapsed >= self->relay_wait_ms)
        self->relay_wait_over = TRUE;
      else
        {
          if (self->relay_timer == NULL)
            {
              g_debug ("relayed pair selected after %u ms; waiting %u ms for a direct one",
                       elapsed, self->relay_wait_ms - elapsed);
              self->relay_timer = add_timeout (self, self->relay_wait_ms - elapsed, relay_wait_cb,
                                               "nb-worker-ice relay wait");
            }
          return;
        }
    }
  clear_source (&self->check_timer);
  clear_source (&self->relay_timer);
  self->connected_emitted = TRUE;
  self->state = NB_ICE_STATE_CONNECTED;
  self->pair->connect_ms = ms_since_checks (self);
  self->pair->controlling = nb_worker_ice_is_controlling (self);
  g_clear_pointer (&self->reported, nb_ice_pair_info_free);
  self->reported = nb_ice_pair_info_copy (self->pair);
  text = nb_ice_pair_info_to_string (self->pair);
  g_message ("ICE connected in %u ms: %s", self->pair->connect_ms, text);
  ev = g_new0 (Event, 1);
  ev->kind = EV_CONNECTED;
  ev->state = NB_ICE_STATE_CONNECTED;
  ev->pair = nb_ice_pair_info_copy (self->pair);
  queue_event (self, ev);
}

static gboolean
relay_wait_cb (gpointer user_data)
{
  NbWorkerIce *self = user_data;

  g_source_unref (self->relay_timer);
  self->relay_timer = NULL;
  self->relay_wait_over = TRUE;
  maybe_report_connected (self);
  return G_SOURCE_REMOVE;
}

static gboolean
check_timeout_cb (gpointer user_data)
{
  NbWorkerIce *self = user_data;
  g_autofree char *reason = NULL;

  g_source_unref (self->check_timer);
  self->check_timer = NULL;
  if (self->connected_emitted || is_finished (self))
    return G_SOURCE_REMOVE;
  if (self->component_up && self->pair != NULL)
    {
      /* Only the relay wait held it back. */
      self->relay_wait_over = TRUE;
      maybe_report_connected (self);
      return G_SOURCE_REMOVE;
    }
  reason = g_strdup_printf ("no candidate pair worked within %u ms", self->check_timeout_ms);
  finish (self, NB_ICE_STATE_FAILED, reason);
  return G_SOURCE_REMOVE;
}

/* ---- libnice signal handlers -------------------------------------------- */

static void
on_new_candidate (NiceAgent *agent, NiceCandidate *candidate, gpointer user_data)
{
  NbWorkerIce *self = user_data;
  NbSignalCandidate *line;
  Event *ev;

  if (candidate->stream_id != self->stream_id || candidate->component_id != 1 || is_finished (self))
    return;
  line = nb_ice_candidate_from_nice (candidate);
  if (line == NULL)
    return;
  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN) == FALSE)
    {
      g_autofree char *text = nb_signal_candidate_to_string (line, NULL);
      g_debug ("local candidate %s", text ? text : "?");
    }
  ev = g_new0 (Event, 1);
  ev->kind = EV_LOCAL_CANDIDATE;
  ev->candidate = line;
  queue_event (self, ev);
}

static void
on_gathering_done (NiceAgent *agent, guint stream_id, gpointer user_data)
{
  NbWorkerIce *self = user_data;

  if (stream_id != self->stream_id || is_finished (self))
    return;
  g_debug ("gathering done");
  queue_simple (self, EV_GATHERING_DONE, self->state, NULL);
}

static void
on_selected_pair (NiceAgent *agent, guint stream_id, guint component_id,
                  NiceCandidate *local, NiceCandidate *remote, gpointer user_data)
{
  NbWorkerIce *self = user_data;
  gboolean changed;

  if (stream_id != self->stream_id || component_id != 1 || is_finished (self))
    return;
  g_clear_pointer (&self->pair, nb_ice_pair_info_free);
  self->pair = pair_info_from_nice (local, remote, nb_worker_ice_is_controlling (self));
  direct_refresh (self);
  {
    g_autofree char *text = nb_ice_pair_info_to_string (self->pair);
    g_debug ("libnice selected %s", text);
  }
  if (!self->connected_emitted)
    {
      maybe_report_connected (self);
      return;
    }
  changed = self->reported == NULL
            || g_strcmp0 (self->reported->local_endpoint, self->pair->local_endpoint) != 0
            || g_strcmp0 (self->reported->remote_endpoint, self->pair->remote_endpoint) != 0
            || self->reported->local_type != self->pair->local_type
            || self->reported->remote_type != self->pair->remote_type;
  if (changed)
    {
      Event *ev = g_new0 (Event, 1);

      self->pair->connect_ms = ms_since_checks (self);
      g_clear_pointer (&self->reported, nb_ice_pair_info_free);
      self->reported = nb_ice_pair_info_copy (self->pair);
      ev->kind = EV_PAIR_CHANGED;
      ev->pair = nb_ice_pair_info_copy (self->pair);
      queue_event (self, ev);
    }
}

static void
on_component_state (NiceAgent *agent, guint stream_id, guint component_id, guint state,
                    gpointer user_data)
{
  NbWorkerIce *self = user_data;

  if (stream_id != self->stream_id || component_id != 1 || is_finished (self))
    return;
  g_debug ("libnice component state %s", nice_component_state_to_string (state));
  switch (state)
    {
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY:
      if (!self->component_up)
        {
          NiceCandidate *local = NULL, *remote = NULL;

          self->component_up = TRUE;
          if (self->pair == NULL
              && nice_agent_get_selected_pair (agent, stream_id, 1, &local, &remote))
            self->pair = pair_info_from_nice (local, remote, nb_worker_ice_is_controlling (self));
          direct_refresh (self);
          maybe_report_connected (self);
        }
      break;
    case NICE_COMPONENT_STATE_FAILED:
      if (self->connected_emitted)
        finish (self, NB_ICE_STATE_DISCONNECTED,
                "the selected pair stopped answering keepalives (consent lost)");
      else if (self->component_up)
        finish (self, NB_ICE_STATE_FAILED, "the selected pair broke before it was reported");
      /* Before any pair worked, libnice gives up once the pairs it knows
       * failed; trickled candidates may still come, and the check timer
       * decides (pion's Checking timeout). */
      break;
    default:
      break;
    }
}

static void
on_recv (NiceAgent *agent, guint stream_id, guint component_id, guint len, gchar *buf,
         gpointer user_data)
{
  NbWorkerIce *self = user_data;

  if (self->recv_func != NULL)
    {
      self->recv_func (self, (const guint8 *) buf, len, self->recv_data);
      return;
    }
  if (g_signal_has_handler_pending (self, signals[SIG_DATA], 0, FALSE))
    {
      g_autoptr (GBytes) bytes = g_bytes_new (buf, len);

      g_signal_emit (self, signals[SIG_DATA], 0, bytes);
    }
}

/* ---- construction ------------------------------------------------------- */

static void
log_dropped_config (const char *what, const char *uri, const char *why)
{
  g_message ("not using %s %s: %s", what, uri ? uri : "(null)", why);
}

static gboolean
configure_servers (NbWorkerIce *self, const NbWorkerIceConfig *config)
{
  g_autoptr (GPtrArray) turn_uris = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_ice_uri_free);
  gboolean use_turn = self->relay || self->force_relay;
  guint n_turn = 0;

  if (use_turn && config->turns != NULL)
    {
      for (guint i = 0; i < config->turns->len; i++)
        {
          const NbTurnConfig *turn = g_ptr_array_index (config->turns, i);
          g_autoptr (GError) error = NULL;
          g_autoptr (NbIceUri) uri = nb_ice_uri_parse (turn->uri, &error);

          if (uri == NULL)
            {
              log_dropped_config ("TURN server", turn->uri, error->message);
              continue;
            }
          if (uri->scheme != NB_ICE_URI_TURN)
            {
              log_dropped_config ("TURN server", turn->uri, "only turn: URIs are used");
              continue;
            }
          if (uri->transport != NB_ICE_URI_TRANSPORT_UDP)
            {
              log_dropped_config ("TURN server", turn->uri, "only TURN over UDP is used");
              continue;
            }
          if (turn->user == NULL || turn->password == NULL)
            {
              log_dropped_config ("TURN server", turn->uri, "no credentials");
              continue;
            }
          if (n_turn >= NICE_CANDIDATE_MAX_TURN_SERVERS)
            {
              log_dropped_config ("TURN server", turn->uri, "libnice takes at most 8");
              continue;
            }
          if (!nice_agent_set_relay_info (self->agent, self->stream_id, 1, uri->host, uri->port,
                                          turn->user, turn->password, NICE_RELAY_TYPE_TURN_UDP))
            {
              log_dropped_config ("TURN server", turn->uri, "libnice refused it");
              continue;
            }
          g_debug ("TURN server %s:%u (UDP), user %s", uri->host, uri->port, turn->user);
          n_turn++;
          g_ptr_array_add (turn_uris, g_steal_pointer (&uri));
        }
    }
  if (self->force_relay && n_turn == 0)
    g_message ("relay candidates only, but no usable TURN server: nothing to gather");

  if (config->stuns != NULL && !self->force_relay)
    {
      for (guint i = 0; i < config->stuns->len; i++)
        {
          const NbHostConfig *stun = g_ptr_array_index (config->stuns, i);
          g_autoptr (GError) error = NULL;
          g_autoptr (NbIceUri) uri = nb_ice_uri_parse (stun->uri, &error);
          gboolean clash = FALSE;

          if (uri == NULL)
            {
              log_dropped_config ("STUN server", stun->uri, error->message);
              continue;
            }
          if (uri->scheme != NB_ICE_URI_STUN)
            {
              log_dropped_config ("STUN server", stun->uri, "only stun: URIs over UDP are used");
              continue;
            }
          for (guint j = 0; j < turn_uris->len; j++)
            clash = clash || nb_ice_uri_same_server (uri, g_ptr_array_index (turn_uris, j));
          if (clash)
            {
              /* lab F10: libnice drops the binding answers of a STUN server
               * that is also one of its TURN servers; the TURN allocation
               * gives the server-reflexive candidate. */
              g_debug ("STUN server %s is also a TURN server: srflx from the allocation", stun->uri);
              continue;
            }
          /* libnice takes one STUN server. */
          g_object_set (self->agent, "stun-server", uri->host, "stun-server-port", (guint) uri->port,
                        NULL);
          g_debug ("STUN server %s:%u", uri->host, uri->port);
          break;
        }
    }
  return TRUE;
}

static gboolean
parse_routed (NbWorkerIce *self, const char *const *cidrs, GError **error)
{
  self->routed = g_ptr_array_new_with_free_func (g_object_unref);
  for (; cidrs != NULL && *cidrs != NULL; cidrs++)
    {
      g_autoptr (GError) local = NULL;
      GInetAddressMask *mask = g_inet_address_mask_new_from_string (*cidrs, &local);

      if (mask == NULL)
        {
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                       "routed network \"%s\" is not a CIDR: %s", *cidrs, local->message);
          return FALSE;
        }
      g_ptr_array_add (self->routed, mask);
    }
  return TRUE;
}

NbWorkerIce *
nb_worker_ice_new (const NbWorkerIceConfig *config, GError **error)
{
  static const NbWorkerIceConfig defaults = { 0 };
  g_autoptr (NbWorkerIce) self = NULL;
  GObjectClass *agent_class;

  if (config == NULL)
    config = &defaults;
  if ((config->min_port != 0 || config->max_port != 0)
      && (config->min_port == 0 || config->max_port < config->min_port))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                   "local port range %u-%u is not valid", config->min_port, config->max_port);
      return NULL;
    }
  if (config->local_addresses != NULL)
    for (const char *const *a = config->local_addresses; *a; a++)
      if (!g_hostname_is_ip_address (*a))
        {
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                       "local address \"%s\" is not an IP address", *a);
          return NULL;
        }

  self = g_object_new (NB_TYPE_WORKER_ICE, NULL);
  self->controlling = config->controlling;
  self->relay = config->relay;
  self->force_relay = config->force_relay;
  self->ipv6 = !config->disable_ipv6;
  self->interface_blacklist = config->interface_blacklist
                                ? g_strdupv ((char **) config->interface_blacklist) : NULL;
  self->local_addresses = config->local_addresses && config->local_addresses[0]
                            ? g_strdupv ((char **) config->local_addresses) : NULL;
  self->check_timeout_ms = config->check_timeout_ms ? config->check_timeout_ms
                                                    : NB_WORKER_ICE_DEFAULT_CHECK_TIMEOUT_MS;
  self->relay_wait_ms = config->relay_acceptance_min_wait_ms
                          ? config->relay_acceptance_min_wait_ms
                          : NB_WORKER_ICE_RELAY_ACCEPTANCE_MIN_WAIT_MS;
  if (!parse_routed (self, config->routed_networks, error))
    return NULL;

  nb_ice_generate_credentials (self->ufrag, self->pwd);

  /* Full mode (no LITE flag), unreliable (no RELIABLE flag), aggressive
   * nomination (no REGULAR_NOMINATION flag: libnice then moves to better
   * pairs as they succeed), trickle, RFC 7675 consent freshness for the
   * keepalives on the selected pair. */
  self->agent = nice_agent_new_full (self->context, NICE_COMPATIBILITY_RFC5245,
                                     NICE_AGENT_OPTION_ICE_TRICKLE
                                     | NICE_AGENT_OPTION_CONSENT_FRESHNESS);
  agent_class = G_OBJECT_GET_CLASS (self->agent);
  g_object_set (self->agent,
                "controlling-mode", self->controlling,
                "ice-udp", TRUE,
                "ice-tcp", FALSE,
                "force-relay", self->force_relay,
                "keepalive-conncheck", TRUE,
                NULL);
  if (g_object_class_find_property (agent_class, "upnp") != NULL)
    g_object_set (self->agent, "upnp", FALSE, NULL);

  self->stream_id = nice_agent_add_stream (self->agent, 1);
  if (self->stream_id == 0)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                   "libnice could not add a stream");
      return NULL;
    }
  nice_agent_set_stream_name (self->agent, self->stream_id, "application");
  if (!nice_agent_set_local_credentials (self->agent, self->stream_id, self->ufrag, self->pwd))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                   "libnice refused the local credentials");
      return NULL;
    }
  if (config->min_port != 0)
    nice_agent_set_port_range (self->agent, self->stream_id, 1, config->min_port, config->max_port);
  configure_servers (self, config);

  g_signal_connect (self->agent, "new-candidate-full", G_CALLBACK (on_new_candidate), self);
  g_signal_connect (self->agent, "candidate-gathering-done", G_CALLBACK (on_gathering_done), self);
  g_signal_connect (self->agent, "new-selected-pair-full", G_CALLBACK (on_selected_pair), self);
  g_signal_connect (self->agent, "component-state-changed", G_CALLBACK (on_component_state), self);
  nice_agent_attach_recv (self->agent, self->stream_id, 1, self->context, on_recv, self);

  g_debug ("ICE worker made: %s, ufrag %s", self->controlling ? "controlling" : "controlled",
           self->ufrag);
  return g_steal_pointer (&self);
}

/* ---- public API ----------------------------------------------------------- */

void
nb_worker_ice_get_local_credentials (NbWorkerIce *self, const char **ufrag, const char **pwd)
{
  g_return_if_fail (NB_IS_WORKER_ICE (self));
  if (ufrag)
    *ufrag = self->ufrag;
  if (pwd)
    *pwd = self->pwd;
}

gboolean
nb_worker_ice_is_controlling (NbWorkerIce *self)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  /* libnice 0.1.21 resolves role conflicts (RFC 8445 7.3.1.1) inside, but
   * its "controlling-mode" property keeps reporting the configured role and
   * nothing exposes the effective one. */
  return self->controlling;
}

static gboolean
check_credentials (const char *ufrag, const char *pwd, GError **error)
{
  if (!nb_ice_credential_is_valid (ufrag) || !nb_ice_credential_is_valid (pwd))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                   "remote ICE credentials are not 1-%d ice-chars", NB_ICE_CREDENTIAL_MAX_LEN);
      return FALSE;
    }
  return TRUE;
}

static void
apply_remote_candidates (NbWorkerIce *self, GSList *list)
{
  int n = nice_agent_set_remote_candidates (self->agent, self->stream_id, 1, list);

  if (n < 0 || (guint) n < g_slist_length (list))
    g_debug ("libnice took %d of %u remote candidates", n, g_slist_length (list));
}

static void
begin_checks (NbWorkerIce *self, const char *ufrag, const char *pwd)
{
  GSList *list = NULL;

  nice_agent_set_remote_credentials (self->agent, self->stream_id, ufrag, pwd);
  self->checks_started = TRUE;
  self->checks_start_us = g_get_monotonic_time ();
  self->state = NB_ICE_STATE_CHECKING;
  queue_simple (self, EV_STATE, NB_ICE_STATE_CHECKING, NULL);
  self->check_timer = add_timeout (self, self->check_timeout_ms, check_timeout_cb,
                                   "nb-worker-ice check timeout");
  if (self->early != NULL && self->early->len > 0)
    {
      for (guint i = self->early->len; i > 0; i--)
        list = g_slist_prepend (list, g_ptr_array_index (self->early, i - 1));
      apply_remote_candidates (self, list);
      g_slist_free (list);
    }
  g_clear_pointer (&self->early, g_ptr_array_unref);
  g_debug ("checks started with remote ufrag %s", ufrag);
}

gboolean
nb_worker_ice_start (NbWorkerIce *self, const char *remote_ufrag, const char *remote_pwd,
                     GError **error)
{
  g_autoptr (GPtrArray) addresses = NULL;
  guint added = 0;

  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  if (self->state != NB_ICE_STATE_NEW || self->agent == NULL)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                   "the ICE worker is %s, not new", nb_ice_state_to_string (self->state));
      return FALSE;
    }
  if ((remote_ufrag == NULL) != (remote_pwd == NULL))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                   "remote ufrag and password go together");
      return FALSE;
    }
  if (remote_ufrag != NULL && !check_credentials (remote_ufrag, remote_pwd, error))
    return FALSE;

  if (self->local_addresses != NULL)
    {
      addresses = g_ptr_array_new_with_free_func (g_free);
      for (char **a = self->local_addresses; *a; a++)
        g_ptr_array_add (addresses, g_strdup (*a));
    }
  else
    addresses = nb_ice_local_addresses ((const char *const *) self->interface_blacklist, self->ipv6);
  for (guint i = 0; i < addresses->len; i++)
    {
      const char *text = g_ptr_array_index (addresses, i);
      NiceAddress addr;

      if (!nice_address_set_from_string (&addr, text))
        continue;
      if (!self->ipv6 && nice_address_ip_version (&addr) == 6)
        continue;
      if (nice_agent_add_local_address (self->agent, &addr))
        {
          g_debug ("gathering on %s", text);
          added++;
        }
    }
  if (added == 0)
    {
      /* libnice would gather on every interface if given none. */
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_NO_ADDRESS,
                   "no local address left to gather candidates on");
      return FALSE;
    }
  /* The state goes out before the candidates libnice reports at once. */
  self->state = NB_ICE_STATE_GATHERING;
  queue_simple (self, EV_STATE, NB_ICE_STATE_GATHERING, NULL);
  if (!nice_agent_gather_candidates (self->agent, self->stream_id))
    {
      self->state = NB_ICE_STATE_NEW;
      g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                   "libnice could not gather candidates (port range in use?)");
      return FALSE;
    }
  /* libnice's sockets exist now; it sends on them from the main loop. */
  nb_uplink_bind_all ();
  if (remote_ufrag != NULL)
    begin_checks (self, remote_ufrag, remote_pwd);
  return TRUE;
}

gboolean
nb_worker_ice_set_remote_credentials (NbWorkerIce *self, const char *remote_ufrag,
                                      const char *remote_pwd, GError **error)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  if (self->state != NB_ICE_STATE_GATHERING)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                   "remote credentials while %s", nb_ice_state_to_string (self->state));
      return FALSE;
    }
  if (!check_credentials (remote_ufrag, remote_pwd, error))
    return FALSE;
  begin_checks (self, remote_ufrag, remote_pwd);
  return TRUE;
}

static void
count_drop (NbWorkerIce *self, const GError *error)
{
  self->dropped++;
  if (self->dropped <= DROP_LOG_LIMIT || self->dropped % DROP_LOG_EVERY == 0)
    g_message ("dropping remote candidate (%u so far): %s", self->dropped, error->message);
  else
    g_debug ("dropping remote candidate: %s", error->message);
}

gboolean
nb_worker_ice_add_remote_candidate (NbWorkerIce *self, const NbSignalCandidate *candidate,
                                    GError **error)
{
  g_autoptr (GError) local = NULL;
  NiceCandidate *c, *extra;

  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  g_return_val_if_fail (candidate != NULL, FALSE);

  if (is_finished (self) || self->agent == NULL)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                   "remote candidate for a finished ICE worker");
      g_debug ("ignoring remote candidate: worker %s", nb_ice_state_to_string (self->state));
      return FALSE;
    }
  c = nb_ice_candidate_to_nice (candidate, self->stream_id, self->ipv6, self->routed, &local);
  if (c == NULL)
    {
      count_drop (self, local);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  extra = nb_ice_extra_srflx_candidate (c);

  if (!self->checks_started)
    {
      guint n = 1 + (extra != NULL);

      if (self->early == NULL)
        self->early = g_ptr_array_new_with_free_func ((GDestroyNotify) nice_candidate_free);
      if (self->early->len + n > EARLY_CANDIDATES_MAX)
        {
          local = g_error_new (NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                               "more than %d remote candidates before the checks started",
                               EARLY_CANDIDATES_MAX);
          count_drop (self, local);
          g_propagate_error (error, g_steal_pointer (&local));
          nice_candidate_free (c);
          if (extra)
            nice_candidate_free (extra);
          return FALSE;
        }
      g_ptr_array_add (self->early, c);
      if (extra)
        g_ptr_array_add (self->early, extra);
      return TRUE;
    }

  {
    GSList *list = g_slist_prepend (NULL, c);

    if (extra)
      list = g_slist_append (list, extra);
    apply_remote_candidates (self, list);
    g_slist_free (list);
  }
  nice_candidate_free (c);
  if (extra)
    nice_candidate_free (extra);
  return TRUE;
}

gboolean
nb_worker_ice_add_remote_candidate_string (NbWorkerIce *self, const char *line, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (NbSignalCandidate) candidate = NULL;

  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  candidate = nb_signal_candidate_parse (line ? line : "", &local);
  if (candidate == NULL)
    {
      g_autoptr (GError) wrapped = g_error_new (NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED,
                                                "bad candidate line: %s", local->message);

      count_drop (self, wrapped);
      g_propagate_error (error, g_steal_pointer (&wrapped));
      return FALSE;
    }
  return nb_worker_ice_add_remote_candidate (self, candidate, error);
}

guint
nb_worker_ice_get_dropped_candidates (NbWorkerIce *self)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), 0);
  return self->dropped;
}

void
nb_worker_ice_close (NbWorkerIce *self)
{
  g_return_if_fail (NB_IS_WORKER_ICE (self));
  if (self->state == NB_ICE_STATE_CLOSED)
    return;
  /* Nothing queued goes out after close(), except the end of a reported
   * connection. */
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  if (self->connected_emitted && self->state == NB_ICE_STATE_CONNECTED)
    queue_simple (self, EV_DISCONNECTED, NB_ICE_STATE_CLOSED, "closed");
  else
    queue_simple (self, EV_STATE, NB_ICE_STATE_CLOSED, NULL);
  self->state = NB_ICE_STATE_CLOSED;
  teardown (self);
  g_debug ("ICE worker closed");
}

NbIceState
nb_worker_ice_get_state (NbWorkerIce *self)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), NB_ICE_STATE_CLOSED);
  return self->state;
}

const NbIcePairInfo *
nb_worker_ice_get_selected_pair (NbWorkerIce *self)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), NULL);
  return self->connected_emitted ? self->reported : NULL;
}

GInetSocketAddress *
nb_worker_ice_get_local_socket_address (NbWorkerIce *self)
{
  g_return_val_if_fail (NB_IS_WORKER_ICE (self), NULL);
  if (!self->connected_emitted || self->reported == NULL || self->state != NB_ICE_STATE_CONNECTED)
    return NULL;
  return self->reported->local_socket;
}

gboolean
nb_worker_ice_send (NbWorkerIce *self, const void *data, gsize len, GError **error)
{
  gint sent;

  g_return_val_if_fail (NB_IS_WORKER_ICE (self), FALSE);
  if (self->agent == NULL || is_finished (self) || !self->component_up)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                   "no selected ICE pair to send on (%s)", nb_ice_state_to_string (self->state));
      return FALSE;
    }
  if (len > G_MAXUINT16)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                   "datagram of %" G_GSIZE_FORMAT " bytes is too long", len);
      return FALSE;
    }
  sent = nice_agent_send (self->agent, self->stream_id, 1, (guint) len, data);
  if (sent < 0 || (gsize) sent != len)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                   "libnice did not send the datagram");
      return FALSE;
    }
  return TRUE;
}

/* One chunk (at most SEND_BATCH datagrams) on the direct path: runs of
 * equal-sized datagrams (the last one of a run may be shorter) go as one
 * UDP GSO send each, all of them in one sendmmsg(). Returns how many
 * datagrams were sent, counted from the first; -1 with errno when the
 * first message failed. */
static gint
direct_send_chunk (NbWorkerIce *self, int fd, const guint8 *const *datagrams, const gsize *lengths,
                   guint n, gboolean gso, guint *first_segments)
{
  struct mmsghdr msgs[SEND_BATCH];
  struct iovec iov[SEND_BATCH];
  union {
    char buf[CMSG_SPACE (sizeof (uint16_t))];
    struct cmsghdr align;
  } control[SEND_BATCH];
  guint segments[SEND_BATCH];
  guint m = 0, sent = 0;
  int r;

  memset (msgs, 0, sizeof (struct mmsghdr) * MIN (n, SEND_BATCH));
  for (guint i = 0; i < n && i < SEND_BATCH; )
    {
      guint start = i;
      gsize size = lengths[i], total = size;
      struct msghdr *h = &msgs[m].msg_hdr;

      iov[i].iov_base = (void *) datagrams[i];
      iov[i].iov_len = lengths[i];
      i++;
      while (gso && size > 0 && i < n && i < SEND_BATCH && i - start < GSO_MAX_SEGMENTS
             && lengths[i] > 0 && lengths[i] <= size && total + lengths[i] <= GSO_MAX_BYTES)
        {
          iov[i].iov_base = (void *) datagrams[i];
          iov[i].iov_len = lengths[i];
          total += lengths[i];
          i++;
          if (lengths[i - 1] < size)
            break;   /* a shorter one ends the run */
        }
      h->msg_name = &self->direct_to;
      h->msg_namelen = self->direct_to_len;
      h->msg_iov = &iov[start];
      h->msg_iovlen = i - start;
      segments[m] = i - start;
      if (segments[m] > 1)
        {
          struct cmsghdr *cm;
          uint16_t gso_size = (uint16_t) size;

          h->msg_control = control[m].buf;
          h->msg_controllen = sizeof control[m].buf;
          cm = CMSG_FIRSTHDR (h);
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN (sizeof gso_size);
          memcpy (CMSG_DATA (cm), &gso_size, sizeof gso_size);
        }
      m++;
    }
  *first_segments = segments[0];
  do
    r = sendmmsg (fd, msgs, m, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -1;
  for (guint k = 0; k < (guint) r; k++)
    sent += segments[k];
  return (gint) sent;
}

static guint
direct_send (NbWorkerIce *self, const guint8 *const *datagrams, const gsize *lengths, guint n,
             GError **error)
{
  guint taken = 0;

  while (taken < n)
    {
      guint first_segments = 0;
      int fd, err;
      gint r;

      /* libnice may have closed its socket (it does when the component
       * goes away); the GSocket then says so and its fd is not touched. */
      if (g_socket_is_closed (self->direct_socket))
        {
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                       "the selected pair's socket is closed");
          return taken;
        }
      fd = g_socket_get_fd (self->direct_socket);
      r = direct_send_chunk (self, fd, datagrams + taken, lengths + taken, n - taken,
                             !self->gso_off, &first_segments);
      if (r > 0)
        {
          taken += (guint) r;
          continue;
        }
      err = errno;
      if (r < 0 && first_segments > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE
                                          || err == EOPNOTSUPP || err == ENOPROTOOPT))
        {
          /* No UDP GSO here (old kernel, no checksum offload on the
           * route's device, a datagram larger than the path MTU): send
           * them one by one from now on. */
          g_message ("UDP segmentation offload refused (%s); sending datagrams one by one",
                     g_strerror (err));
          self->gso_off = TRUE;
          continue;
        }
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                   "could not send on the selected pair: %s",
                   r < 0 ? g_strerror (err) : "nothing sent");
      return taken;
    }
  return taken;
}

guint
nb_worker_ice_send_batch (NbWorkerIce         *self,
                          const guint8 *const *datagrams,
                          const gsize         *lengths,
                          guint                n_datagrams,
                          GError             **error)
{
  NiceOutputMessage messages[SEND_BATCH];
  GOutputVector vectors[SEND_BATCH];
  guint taken = 0;

  g_return_val_if_fail (NB_IS_WORKER_ICE (self), 0);
  g_return_val_if_fail (n_datagrams == 0 || (datagrams != NULL && lengths != NULL), 0);
  if (self->agent == NULL || is_finished (self) || !self->component_up)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE,
                   "no selected ICE pair to send on (%s)", nb_ice_state_to_string (self->state));
      return 0;
    }
  for (guint i = 0; i < n_datagrams; i++)
    if (lengths[i] > G_MAXUINT16)
      {
        /* Everything before the long one goes; it and the rest do not. */
        g_autoptr (GError) local_error = NULL;
        guint sent = nb_worker_ice_send_batch (self, datagrams, lengths, i, &local_error);

        if (local_error != NULL)
          g_propagate_error (error, g_steal_pointer (&local_error));
        else
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
                       "datagram of %" G_GSIZE_FORMAT " bytes is too long", lengths[i]);
        return sent;
      }
  if (self->direct_socket != NULL)
    return direct_send (self, datagrams, lengths, n_datagrams, error);

  while (taken < n_datagrams)
    {
      guint chunk = MIN (n_datagrams - taken, SEND_BATCH);
      GError *local_error = NULL;
      gint sent;

      for (guint i = 0; i < chunk; i++)
        {
          vectors[i].buffer = datagrams[taken + i];
          vectors[i].size = lengths[taken + i];
          messages[i].buffers = &vectors[i];
          messages[i].n_buffers = 1;
        }
      sent = nice_agent_send_messages_nonblocking (self->agent, self->stream_id, 1, messages,
                                                   chunk, NULL, &local_error);
      if (sent <= 0)
        {
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                       "libnice did not send the datagrams: %s",
                       local_error ? local_error->message : "nothing sent");
          g_clear_error (&local_error);
          return taken;
        }
      taken += (guint) sent;
      if ((guint) sent < chunk)
        {
          g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FAILED,
                       "libnice sent %d of %u datagrams", sent, chunk);
          return taken;
        }
    }
  return taken;
}

gboolean
nb_worker_ice_send_bytes (NbWorkerIce *self, GBytes *datagram, GError **error)
{
  gsize len;
  const void *data = g_bytes_get_data (datagram, &len);

  return nb_worker_ice_send (self, data, len, error);
}

void
nb_worker_ice_set_receive_func (NbWorkerIce *self, NbWorkerIceReceiveFunc func, gpointer user_data,
                                GDestroyNotify notify)
{
  g_return_if_fail (NB_IS_WORKER_ICE (self));
  if (self->recv_notify != NULL)
    self->recv_notify (self->recv_data);
  self->recv_func = func;
  self->recv_data = user_data;
  self->recv_notify = notify;
}

guint
nb_worker_ice_closing_agents (void)
{
  return closing_agents;
}

/* ---- GObject ------------------------------------------------------------ */

static void
nb_worker_ice_init (NbWorkerIce *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->events);
  self->state = self->public_state = NB_ICE_STATE_NEW;
}

static void
nb_worker_ice_dispose (GObject *object)
{
  NbWorkerIce *self = NB_WORKER_ICE (object);

  teardown (self);
  clear_source (&self->dispatch);
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  if (self->recv_notify != NULL)
    self->recv_notify (self->recv_data);
  self->recv_func = NULL;
  self->recv_notify = NULL;
  G_OBJECT_CLASS (nb_worker_ice_parent_class)->dispose (object);
}

static void
nb_worker_ice_finalize (GObject *object)
{
  NbWorkerIce *self = NB_WORKER_ICE (object);

  sodium_memzero (self->pwd, sizeof self->pwd);
  g_strfreev (self->interface_blacklist);
  g_strfreev (self->local_addresses);
  g_clear_pointer (&self->routed, g_ptr_array_unref);
  g_clear_pointer (&self->pair, nb_ice_pair_info_free);
  g_clear_pointer (&self->reported, nb_ice_pair_info_free);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (nb_worker_ice_parent_class)->finalize (object);
}

static void
nb_worker_ice_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NbWorkerIce *self = NB_WORKER_ICE (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
nb_worker_ice_class_init (NbWorkerIceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_worker_ice_dispose;
  object_class->finalize = nb_worker_ice_finalize;
  object_class->get_property = nb_worker_ice_get_property;

  props[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NB_TYPE_ICE_STATE, NB_ICE_STATE_NEW,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS
                                         | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  signals[SIG_LOCAL_CANDIDATE] =
    g_signal_new ("local-candidate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIG_GATHERING_DONE] =
    g_signal_new ("gathering-done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIG_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, NB_TYPE_ICE_PAIR_INFO | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIG_SELECTED_PAIR_CHANGED] =
    g_signal_new ("selected-pair-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, NB_TYPE_ICE_PAIR_INFO | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIG_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIG_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIG_DATA] =
    g_signal_new ("data", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_BYTES);
}
