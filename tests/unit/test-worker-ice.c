/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWorkerIce (service/engine/worker-ice.c) and its helpers
 * (ice-candidate.c): two workers in one main loop over loopback, exchanging
 * credentials and trickled candidate lines directly (as signal would carry
 * them), plus the helpers' rules on their own.
 */
#include "config.h"

#include <string.h>

#include "ice-candidate.h"
#include "network-map.h"
#include "worker-ice.h"

static const char *const no_filter[] = { NULL };
static const char *const loopback_only[] = { "127.0.0.1", NULL };

/* Every log line of the process, to prove secrets stay out of them. */
static GString *log_text;

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") || g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      {
        if (fields[i].length < 0)
          g_string_append (log_text, fields[i].value);
        else
          g_string_append_len (log_text, fields[i].value, fields[i].length);
        g_string_append_c (log_text, ' ');
      }
  g_string_append_c (log_text, '\n');
  if (level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;   /* recorded, not printed */
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* ------------------------------------------------------------------------ */
/* Waiting on the main loop (no sleeps) */

typedef gboolean (*CondFunc) (gpointer data);

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until @cond holds; FALSE after @ms. */
static gboolean
wait_until (CondFunc cond, gpointer data, guint ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (ms, set_flag, &timed_out);

  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (data);
}

static gboolean
no_closing_agents (gpointer data)
{
  return nb_worker_ice_closing_agents () == 0;
}

static void
wait_agents_released (void)
{
  g_assert_true (wait_until (no_closing_agents, NULL, 10000));
}

/* ------------------------------------------------------------------------ */
/* A peer: one worker and what it reported */

typedef struct Peer Peer;
struct Peer {
  const char *name;
  NbWorkerIce *worker;
  Peer *other;
  gboolean forward;            /* trickle our candidates to other */
  GPtrArray *lines;            /* our local candidate lines */
  guint forward_errors;
  gboolean gathered;
  guint connected;
  NbIcePairInfo *pair;
  gboolean disconnected, failed;
  char *reason;
  gint64 end_us;
  GPtrArray *received;         /* GBytes* */
};

static void
on_local_candidate (NbWorkerIce *w, NbSignalCandidate *c, Peer *p)
{
  g_autoptr (GError) error = NULL;
  char *line = nb_signal_candidate_to_string (c, &error);

  g_assert_no_error (error);
  g_ptr_array_add (p->lines, line);
  if (p->forward && p->other != NULL && p->other->worker != NULL)
    {
      g_autoptr (GError) add_error = NULL;

      if (!nb_worker_ice_add_remote_candidate_string (p->other->worker, line, &add_error))
        p->forward_errors++;
    }
}

static void
on_gathering_done (NbWorkerIce *w, Peer *p)
{
  p->gathered = TRUE;
}

static void
on_connected (NbWorkerIce *w, NbIcePairInfo *pair, Peer *p)
{
  p->connected++;
  g_clear_pointer (&p->pair, nb_ice_pair_info_free);
  p->pair = nb_ice_pair_info_copy (pair);
  g_assert_cmpint (nb_worker_ice_get_state (w), ==, NB_ICE_STATE_CONNECTED);
}

static void
on_disconnected (NbWorkerIce *w, const char *reason, Peer *p)
{
  p->disconnected = TRUE;
  p->end_us = g_get_monotonic_time ();
  g_free (p->reason);
  p->reason = g_strdup (reason);
}

static void
on_failed (NbWorkerIce *w, const char *reason, Peer *p)
{
  p->failed = TRUE;
  p->end_us = g_get_monotonic_time ();
  g_free (p->reason);
  p->reason = g_strdup (reason);
}

static void
on_data (NbWorkerIce *w, GBytes *bytes, Peer *p)
{
  g_ptr_array_add (p->received, g_bytes_ref (bytes));
}

static void
peer_init (Peer *p, const char *name, const NbWorkerIceConfig *config)
{
  g_autoptr (GError) error = NULL;

  memset (p, 0, sizeof *p);
  p->name = name;
  p->forward = TRUE;
  p->lines = g_ptr_array_new_with_free_func (g_free);
  p->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  p->worker = nb_worker_ice_new (config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p->worker);
  g_signal_connect (p->worker, "local-candidate", G_CALLBACK (on_local_candidate), p);
  g_signal_connect (p->worker, "gathering-done", G_CALLBACK (on_gathering_done), p);
  g_signal_connect (p->worker, "connected", G_CALLBACK (on_connected), p);
  g_signal_connect (p->worker, "disconnected", G_CALLBACK (on_disconnected), p);
  g_signal_connect (p->worker, "failed", G_CALLBACK (on_failed), p);
  g_signal_connect (p->worker, "data", G_CALLBACK (on_data), p);
}

static void
peer_clear (Peer *p)
{
  if (p->worker != NULL)
    {
      nb_worker_ice_close (p->worker);
      g_clear_object (&p->worker);
    }
  g_clear_pointer (&p->lines, g_ptr_array_unref);
  g_clear_pointer (&p->received, g_ptr_array_unref);
  g_clear_pointer (&p->pair, nb_ice_pair_info_free);
  g_clear_pointer (&p->reason, g_free);
}

static void
link_peers (Peer *a, Peer *b)
{
  a->other = b;
  b->other = a;
}

/* The offer/answer dance: A offers (gathers at once, no remote
 * credentials yet), B answers with A's credentials, A learns B's. */
static void
start_pair (Peer *a, Peer *b)
{
  g_autoptr (GError) error = NULL;
  const char *ufrag, *pwd;

  g_assert_true (nb_worker_ice_start (a->worker, NULL, NULL, &error));
  g_assert_no_error (error);
  nb_worker_ice_get_local_credentials (a->worker, &ufrag, &pwd);
  g_assert_true (nb_worker_ice_start (b->worker, ufrag, pwd, &error));
  g_assert_no_error (error);
  nb_worker_ice_get_local_credentials (b->worker, &ufrag, &pwd);
  g_assert_true (nb_worker_ice_set_remote_credentials (a->worker, ufrag, pwd, &error));
  g_assert_no_error (error);
}

static gboolean
both_connected (gpointer data)
{
  Peer **pp = data;

  return pp[0]->connected && pp[1]->connected;
}

static gboolean
peer_ended (gpointer data)
{
  Peer *p = data;

  return p->disconnected || p->failed;
}

static gboolean
peer_gathered (gpointer data)
{
  return ((Peer *) data)->gathered;
}

static gboolean
peer_received_any (gpointer data)
{
  return ((Peer *) data)->received->len > 0;
}

static void
connect_pair (Peer *a, Peer *b)
{
  Peer *pp[2] = { a, b };

  link_peers (a, b);
  start_pair (a, b);
  g_assert_true (wait_until (both_connected, pp, 10000));
  g_assert_cmpuint (a->connected, ==, 1);
  g_assert_cmpuint (b->connected, ==, 1);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

static gboolean
all_alpha (const char *s, gsize len)
{
  if (strlen (s) != len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalpha (s[i]))
      return FALSE;
  return TRUE;
}

static void
test_credentials (void)
{
  char u1[NB_ICE_UFRAG_LEN + 1], p1[NB_ICE_PWD_LEN + 1];
  char u2[NB_ICE_UFRAG_LEN + 1], p2[NB_ICE_PWD_LEN + 1];
  g_autoptr (NbWorkerIce) w = NULL;
  const char *ufrag, *pwd;

  nb_ice_generate_credentials (u1, p1);
  nb_ice_generate_credentials (u2, p2);
  g_assert_true (all_alpha (u1, 16));
  g_assert_true (all_alpha (p1, 32));
  g_assert_cmpstr (u1, !=, u2);
  g_assert_cmpstr (p1, !=, p2);

  w = nb_worker_ice_new (NULL, NULL);
  nb_worker_ice_get_local_credentials (w, &ufrag, &pwd);
  g_assert_true (all_alpha (ufrag, 16));
  g_assert_true (all_alpha (pwd, 32));
  g_assert_false (nb_worker_ice_is_controlling (w));
  g_assert_cmpint (nb_worker_ice_get_state (w), ==, NB_ICE_STATE_NEW);

  g_assert_true (nb_ice_credential_is_valid ("abcD"));
  g_assert_true (nb_ice_credential_is_valid ("a+b/9"));
  g_assert_false (nb_ice_credential_is_valid (""));
  g_assert_false (nb_ice_credential_is_valid (NULL));
  g_assert_false (nb_ice_credential_is_valid ("a:b"));
  g_assert_false (nb_ice_credential_is_valid ("a b"));
  {
    g_autofree char *longer = g_strnfill (257, 'a');
    g_assert_false (nb_ice_credential_is_valid (longer));
    longer[256] = '\0';
    g_assert_true (nb_ice_credential_is_valid (longer));
  }
}

static void
test_uri (void)
{
  struct { const char *text; NbIceUriScheme scheme; const char *host; guint16 port; NbIceUriTransport t; } good[] = {
    { "stun:stun.netbird.io:443", NB_ICE_URI_STUN, "stun.netbird.io", 443, NB_ICE_URI_TRANSPORT_UDP },
    { "stun:10.77.0.3", NB_ICE_URI_STUN, "10.77.0.3", 3478, NB_ICE_URI_TRANSPORT_UDP },
    { "STUN:[2001:db8::1]:3479", NB_ICE_URI_STUN, "2001:db8::1", 3479, NB_ICE_URI_TRANSPORT_UDP },
    { "turn:turn.netbird.io:443?transport=udp", NB_ICE_URI_TURN, "turn.netbird.io", 443, NB_ICE_URI_TRANSPORT_UDP },
    { "turn:turn.netbird.io:443?transport=tcp", NB_ICE_URI_TURN, "turn.netbird.io", 443, NB_ICE_URI_TRANSPORT_TCP },
    { "turn:[::1]", NB_ICE_URI_TURN, "::1", 3478, NB_ICE_URI_TRANSPORT_UDP },
    { "turns:t.example", NB_ICE_URI_TURNS, "t.example", 5349, NB_ICE_URI_TRANSPORT_TCP },
    { "stuns:s.example:5350", NB_ICE_URI_STUNS, "s.example", 5350, NB_ICE_URI_TRANSPORT_TCP },
  };
  const char *bad[] = {
    "", "stun", "stun:", "http://x", "stun:host:0", "stun:host:65536", "stun:host:12a",
    "stun:host?transport=udp", "turn:host:3478?transport=sctp", "turn:[::1", "turn:[notv6]:1",
    "turn:[10.0.0.1]:1", "stun:ho st", "stun:host:", "turn:a:1:2",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NbIceUri) uri = nb_ice_uri_parse (good[i].text, &error);

      g_assert_no_error (error);
      g_assert_cmpint (uri->scheme, ==, good[i].scheme);
      g_assert_cmpstr (uri->host, ==, good[i].host);
      g_assert_cmpuint (uri->port, ==, good[i].port);
      g_assert_cmpint (uri->transport, ==, good[i].t);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NbIceUri) uri = nb_ice_uri_parse (bad[i], &error);

      g_assert_null (uri);
      g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
    }
  {
    g_autoptr (NbIceUri) a = nb_ice_uri_parse ("stun:Turn.Example:3478", NULL);
    g_autoptr (NbIceUri) b = nb_ice_uri_parse ("turn:turn.example?transport=udp", NULL);
    g_autoptr (NbIceUri) c = nb_ice_uri_parse ("turn:turn.example:3479", NULL);

    g_assert_true (nb_ice_uri_same_server (a, b));
    g_assert_false (nb_ice_uri_same_server (a, c));
  }
}

static void
test_interface_filter (void)
{
  const char *const custom[] = { "eth", NULL };
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (GPtrArray) filtered = NULL;
  gboolean has_loopback = FALSE;

  /* NetBird's default deny list */
  for (const char *const *n = (const char *const[]) { "lo", "lo0", "wt0", "wt5", "wg0", "utun3",
                                                      "tun0", "zt0", "ZeroTier1", "ts0",
                                                      "tailscale0", "Tailscale", "docker0",
                                                      "veth1a2b", "br-1234", NULL }; *n; n++)
    g_assert_true (nb_ice_interface_is_filtered (*n, NULL));
  for (const char *const *n = (const char *const[]) { "eth0", "enp3s0", "wlan0", "tun1", "br0",
                                                      NULL }; *n; n++)
    g_assert_false (nb_ice_interface_is_filtered (*n, NULL));
  /* empty list: nothing, loopback included */
  g_assert_false (nb_ice_interface_is_filtered ("lo", no_filter));
  g_assert_false (nb_ice_interface_is_filtered ("veth0", no_filter));
  /* a custom list keeps NetBird's hard-coded loopback rule */
  g_assert_true (nb_ice_interface_is_filtered ("eth0", custom));
  g_assert_true (nb_ice_interface_is_filtered ("lo", custom));
  g_assert_false (nb_ice_interface_is_filtered ("veth0", custom));

  all = nb_ice_local_addresses (no_filter, TRUE);
  filtered = nb_ice_local_addresses (NULL, TRUE);
  for (guint i = 0; i < all->len; i++)
    has_loopback = has_loopback || g_str_equal (g_ptr_array_index (all, i), "127.0.0.1");
  g_assert_true (has_loopback);
  for (guint i = 0; i < filtered->len; i++)
    {
      const char *a = g_ptr_array_index (filtered, i);

      g_assert_false (g_str_has_prefix (a, "127."));
      g_assert_cmpstr (a, !=, "::1");
      g_assert_false (g_str_has_prefix (a, "fe80"));
    }
}

static void
test_candidate_conversion (void)
{
  g_autoptr (GPtrArray) routed = g_ptr_array_new_with_free_func (g_object_unref);
  NiceCandidate *nc = nice_candidate_new (NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE);
  NiceCandidate *back, *extra;
  g_autoptr (NbSignalCandidate) line = NULL;
  g_autoptr (NbSignalCandidate) parsed = NULL;
  g_autofree char *text = NULL;
  struct { const char *line; int code; } refused[] = {
    { "1 2 udp 100 10.0.0.1 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 100 peer.local 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 100 0.0.0.0 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 100 224.0.0.1 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 100 255.255.255.255 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 100 100.64.3.4 4000 typ host", NB_WORKER_ICE_ERROR_FILTERED },
    { "1 1 udp 100 10.9.8.7 4000 typ srflx raddr 1.2.3.4 rport 5", NB_WORKER_ICE_ERROR_FILTERED },
    { "1 1 udp 100 2001:db8::1 4000 typ host", NB_WORKER_ICE_ERROR_FILTERED },
  };

  g_ptr_array_add (routed, g_inet_address_mask_new_from_string ("100.64.0.0/10", NULL));
  g_ptr_array_add (routed, g_inet_address_mask_new_from_string ("10.9.0.0/16", NULL));

  /* local NiceCandidate -> candidate line */
  nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
  nc->component_id = 1;
  nc->priority = 1677729535;
  g_strlcpy (nc->foundation, "2", sizeof nc->foundation);
  nice_address_set_from_string (&nc->addr, "198.51.100.7");
  nice_address_set_port (&nc->addr, 61000);
  nice_address_set_from_string (&nc->base_addr, "192.168.1.20");
  nice_address_set_port (&nc->base_addr, 51820);
  line = nb_ice_candidate_from_nice (nc);
  text = nb_signal_candidate_to_string (line, NULL);
  g_assert_cmpstr (text, ==, "2 1 udp 1677729535 198.51.100.7 61000 typ srflx raddr 192.168.1.20 rport 51820");

  /* and back, through the parser the signal path uses */
  parsed = nb_signal_candidate_parse (text, NULL);
  back = nb_ice_candidate_to_nice (parsed, 7, TRUE, routed, NULL);
  g_assert_nonnull (back);
  g_assert_cmpint (back->type, ==, NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE);
  g_assert_cmpuint (back->stream_id, ==, 7);
  g_assert_cmpuint (back->component_id, ==, 1);
  g_assert_cmpuint (back->priority, ==, 1677729535);
  g_assert_true (nice_address_equal (&back->addr, &nc->addr));
  g_assert_true (nice_address_equal (&back->base_addr, &nc->base_addr));

  /* NetBird's extra srflx candidate on the base (WireGuard) port */
  extra = nb_ice_extra_srflx_candidate (back);
  g_assert_nonnull (extra);
  g_assert_cmpuint (nice_address_get_port (&extra->addr), ==, 51820);
  g_assert_true (nice_address_equal_no_port (&extra->addr, &nc->addr));
  nice_candidate_free (extra);
  nice_address_set_port (&back->base_addr, 61000);
  g_assert_null (nb_ice_extra_srflx_candidate (back));
  nice_candidate_free (back);

  /* a host candidate has no raddr */
  nc->type = NICE_CANDIDATE_TYPE_HOST;
  {
    g_autoptr (NbSignalCandidate) host = nb_ice_candidate_from_nice (nc);
    g_assert_null (host->related_address);
    g_assert_cmpint (host->type, ==, NB_SIGNAL_CANDIDATE_HOST);
  }
  /* TCP candidates are not signalled */
  nc->transport = NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE;
  g_assert_null (nb_ice_candidate_from_nice (nc));
  nice_candidate_free (nc);

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NbSignalCandidate) c = nb_signal_candidate_parse (refused[i].line, NULL);

      g_assert_nonnull (c);
      g_assert_null (nb_ice_candidate_to_nice (c, 1, FALSE, routed, &error));
      g_assert_error (error, NB_WORKER_ICE_ERROR, refused[i].code);
    }
}

static void
test_config_errors (void)
{
  const char *const bad_cidr[] = { "10.0.0.0/8", "not-a-cidr", NULL };
  const char *const bad_local[] = { "localhost", NULL };
  NbWorkerIceConfig config = { 0 };
  g_autoptr (GError) error = NULL;

  config.routed_networks = bad_cidr;
  g_assert_null (nb_worker_ice_new (&config, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);

  config = (NbWorkerIceConfig) { .min_port = 5000, .max_port = 4000 };
  g_assert_null (nb_worker_ice_new (&config, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);

  config = (NbWorkerIceConfig) { .local_addresses = bad_local };
  g_assert_null (nb_worker_ice_new (&config, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
}

/* ------------------------------------------------------------------------ */
/* Workers over loopback */

static gboolean
received_n (gpointer data)
{
  Peer *p = data;

  return p->received->len >= 3;
}

typedef struct {
  guint count;
  GByteArray *last;
} RecvState;

static void
recv_func (NbWorkerIce *w, const guint8 *data, gsize len, gpointer user_data)
{
  RecvState *st = user_data;

  st->count++;
  g_byte_array_set_size (st->last, 0);
  g_byte_array_append (st->last, data, len);
}

static gboolean
recv_state_got (gpointer data)
{
  return ((RecvState *) data)->count > 0;
}

static void
test_connect_loopback (void)
{
  NbWorkerIceConfig ca = { .controlling = TRUE, .interface_blacklist = no_filter,
                           .local_addresses = loopback_only, .min_port = 41230, .max_port = 41239 };
  NbWorkerIceConfig cb = { .controlling = FALSE, .interface_blacklist = no_filter,
                           .local_addresses = loopback_only };
  Peer a, b;
  g_autoptr (GError) error = NULL;
  RecvState st = { 0, g_byte_array_new () };
  guint16 port;

  peer_init (&a, "A", &ca);
  peer_init (&b, "B", &cb);
  g_assert_false (nb_worker_ice_send (a.worker, "x", 1, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);

  connect_pair (&a, &b);
  g_test_message ("connected in %u / %u ms", a.pair->connect_ms, b.pair->connect_ms);
  g_assert_cmpuint (a.forward_errors, ==, 0);
  g_assert_cmpuint (b.forward_errors, ==, 0);
  g_assert_cmpuint (a.lines->len, >=, 1);
  g_assert_true (wait_until (peer_gathered, &a, 5000));

  for (Peer *p = &a; p != NULL; p = p == &a ? &b : NULL)
    {
      const NbIcePairInfo *info = nb_worker_ice_get_selected_pair (p->worker);
      GInetSocketAddress *sock = nb_worker_ice_get_local_socket_address (p->worker);
      g_autofree char *ip = NULL;

      g_assert_nonnull (info);
      g_assert_cmpint (info->local_type, ==, NB_SIGNAL_CANDIDATE_HOST);
      g_assert_true (info->remote_type == NB_SIGNAL_CANDIDATE_HOST
                     || info->remote_type == NB_SIGNAL_CANDIDATE_PRFLX);
      g_assert_false (info->relayed);
      g_assert_false (info->relayed_on_local);
      g_assert_cmpint (info->conn_class, ==, NB_ICE_CONN_P2P);
      g_assert_cmpuint (info->priority, ==, NB_WORKER_ICE_PRIORITY_P2P);
      g_assert_true (g_str_has_prefix (info->local_endpoint, "127.0.0.1:"));
      g_assert_true (g_str_has_prefix (info->remote_endpoint, "127.0.0.1:"));
      g_assert_nonnull (sock);
      ip = g_inet_address_to_string (g_inet_socket_address_get_address (sock));
      g_assert_cmpstr (ip, ==, "127.0.0.1");
      g_assert_cmpint (nb_worker_ice_get_state (p->worker), ==, NB_ICE_STATE_CONNECTED);
    }
  g_assert_true (a.pair->controlling);
  g_assert_false (b.pair->controlling);
  /* the fixed port range */
  port = g_inet_socket_address_get_port (nb_worker_ice_get_local_socket_address (a.worker));
  g_assert_cmpuint (port, >=, 41230);
  g_assert_cmpuint (port, <=, 41239);
  /* each side sends to the other's socket */
  g_assert_cmpstr (strrchr (a.pair->remote_endpoint, ':'), ==,
                   strrchr (b.pair->local_endpoint, ':'));

  /* data both ways: the "data" signal ... */
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *msg = g_strdup_printf ("a->b %d", i);
      g_autoptr (GBytes) bytes = g_bytes_new (msg, strlen (msg));

      g_assert_true (nb_worker_ice_send_bytes (a.worker, bytes, &error));
      g_assert_no_error (error);
    }
  g_assert_true (wait_until (received_n, &b, 3000));
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (b.received, 0), NULL),
                   g_bytes_get_size (g_ptr_array_index (b.received, 0)), "a->b 0", 6);
  /* ... and a receive function */
  nb_worker_ice_set_receive_func (a.worker, recv_func, &st, NULL);
  g_assert_true (nb_worker_ice_send (b.worker, "b->a", 4, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (recv_state_got, &st, 3000));
  g_assert_cmpmem (st.last->data, st.last->len, "b->a", 4);
  g_assert_cmpuint (a.received->len, ==, 0);
  nb_worker_ice_set_receive_func (a.worker, NULL, NULL, NULL);

  /* close: "disconnected" ("closed") on the closing side */
  nb_worker_ice_close (a.worker);
  g_assert_true (wait_until (peer_ended, &a, 1000));
  g_assert_true (a.disconnected);
  g_assert_cmpstr (a.reason, ==, "closed");
  g_assert_cmpint (nb_worker_ice_get_state (a.worker), ==, NB_ICE_STATE_CLOSED);
  g_assert_false (nb_worker_ice_send (a.worker, "x", 1, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (nb_worker_ice_add_remote_candidate_string (a.worker, g_ptr_array_index (b.lines, 0), &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  /* the pair stays readable after the end */
  g_assert_nonnull (nb_worker_ice_get_selected_pair (a.worker));
  g_assert_null (nb_worker_ice_get_local_socket_address (a.worker));

  peer_clear (&a);
  peer_clear (&b);
  g_byte_array_unref (st.last);
  wait_agents_released ();
}

/* nb_worker_ice_send_batch on a host pair (the direct path: sendmmsg on
 * libnice's socket, runs of equal sizes as UDP GSO sends): everything
 * arrives through the peer's libnice, in order and as the datagrams that
 * were sent, whatever the mix of sizes and however many per call. */
typedef struct {
  Peer *peer;
  guint n;
} ReceivedAtLeast;

static gboolean
received_at_least (gpointer data)
{
  ReceivedAtLeast *r = data;

  return r->peer->received->len >= r->n;
}

/* Datagram @seq of @len bytes: the sequence number, then a pattern. */
static guint8 *
make_datagram (guint seq, gsize len)
{
  guint8 *d = g_malloc (MAX (len, 1));

  for (gsize i = 0; i < len; i++)
    d[i] = i < 4 ? (guint8) (seq >> (8 * i)) : (guint8) (seq * 31 + i);
  return d;
}

static void
send_and_check (Peer *from, Peer *to, const gsize *lengths, guint n, guint *seq)
{
  g_autoptr (GPtrArray) bufs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  guint first = to->received->len;
  ReceivedAtLeast r = { to, first + n };

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (bufs, make_datagram (*seq + i, lengths[i]));
  g_assert_cmpuint (nb_worker_ice_send_batch (from->worker, (const guint8 *const *) bufs->pdata,
                                              lengths, n, &error), ==, n);
  g_assert_no_error (error);
  g_assert_true (wait_until (received_at_least, &r, 5000));
  g_assert_cmpuint (to->received->len, ==, first + n);
  for (guint i = 0; i < n; i++)
    {
      gsize len;
      const guint8 *got = g_bytes_get_data (g_ptr_array_index (to->received, first + i), &len);

      g_assert_cmpmem (got, len, g_ptr_array_index (bufs, i), lengths[i]);
    }
  *seq += n;
}

static void
test_send_batch (void)
{
  NbWorkerIceConfig ca = { .controlling = TRUE, .interface_blacklist = no_filter,
                           .local_addresses = loopback_only };
  NbWorkerIceConfig cb = { .interface_blacklist = no_filter, .local_addresses = loopback_only };
  Peer a, b;
  g_autoptr (GError) error = NULL;
  gsize equal[64], mixed[40], small[100], too_long[3] = { 100, 70000, 100 };
  const guint8 *bufs[3];
  g_autofree guint8 *big = g_malloc0 (70000);
  guint seq = 0, i = 0;

  peer_init (&a, "A", &ca);
  peer_init (&b, "B", &cb);
  bufs[0] = bufs[1] = bufs[2] = big;
  g_assert_cmpuint (nb_worker_ice_send_batch (a.worker, bufs, too_long, 1, &error), ==, 0);
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);
  connect_pair (&a, &b);

  /* 64 equal ones: more bytes than one GSO send may carry */
  for (i = 0; i < G_N_ELEMENTS (equal); i++)
    equal[i] = 1200;
  send_and_check (&a, &b, equal, G_N_ELEMENTS (equal), &seq);
  /* runs that end with a shorter one, single ones, a one-byte one */
  for (i = 0; i < G_N_ELEMENTS (mixed); i++)
    mixed[i] = i < 10 ? 1000 : i == 10 ? 500 : i < 16 ? 1000 : i == 16 ? 1 : i < 27 ? 300
                                                                        : 1400 - (i % 2) * 16;
  send_and_check (&a, &b, mixed, G_N_ELEMENTS (mixed), &seq);
  /* more than one batch of the worker's in one call, the other way */
  for (i = 0; i < G_N_ELEMENTS (small); i++)
    small[i] = 100;
  send_and_check (&b, &a, small, G_N_ELEMENTS (small), &seq);
  /* one datagram */
  send_and_check (&a, &b, equal, 1, &seq);
  /* a datagram too long for UDP: the ones before it go, it and the rest
   * do not */
  g_assert_cmpuint (nb_worker_ice_send_batch (a.worker, bufs, too_long, 3, &error), ==, 1);
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);
  /* nothing to send is no error */
  g_assert_cmpuint (nb_worker_ice_send_batch (a.worker, NULL, NULL, 0, &error), ==, 0);
  g_assert_no_error (error);

  /* after the end: nothing goes, the socket is not touched */
  nb_worker_ice_close (a.worker);
  g_assert_cmpuint (nb_worker_ice_send_batch (a.worker, bufs, too_long, 1, &error), ==, 0);
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

/* The other side of a closed worker notices through the keepalives
 * (libnice: consent freshness, 10 s after the last answer). */
static void
test_remote_close_detected (void)
{
  NbWorkerIceConfig ca = { .controlling = TRUE, .interface_blacklist = no_filter,
                           .local_addresses = loopback_only };
  NbWorkerIceConfig cb = { .interface_blacklist = no_filter, .local_addresses = loopback_only };
  Peer a, b;
  gint64 t0;
  double secs;

  peer_init (&a, "A", &ca);
  peer_init (&b, "B", &cb);
  connect_pair (&a, &b);
  t0 = g_get_monotonic_time ();
  nb_worker_ice_close (a.worker);
  g_assert_true (wait_until (peer_ended, &b, 20000));
  secs = (b.end_us - t0) / 1e6;
  g_test_message ("B noticed after %.1f s: %s", secs, b.reason);
  g_assert_true (b.disconnected);
  g_assert_false (b.failed);
  g_assert_cmpint (nb_worker_ice_get_state (b.worker), ==, NB_ICE_STATE_DISCONNECTED);
  /* libnice's consent timeout is 10 s after the last answered keepalive,
   * sent every 4-6 s */
  g_assert_cmpfloat (secs, >=, 3.0);
  g_assert_cmpfloat (secs, <=, 16.0);
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

static void
count_notify (guint *count)
{
  (*count)++;
}

static void
test_interface_filter_gathering (void)
{
  NbWorkerIceConfig open = { .interface_blacklist = no_filter };
  NbWorkerIceConfig deflt = { 0 };
  Peer a, b;
  gboolean a_loop = FALSE, b_loop = FALSE;

  guint notified = 0;

  peer_init (&a, "A", &open);
  peer_init (&b, "B", &deflt);
  g_signal_connect_swapped (a.worker, "notify::state", G_CALLBACK (count_notify), &notified);
  g_assert_true (nb_worker_ice_start (a.worker, NULL, NULL, NULL));
  g_assert_cmpint (nb_worker_ice_get_state (a.worker), ==, NB_ICE_STATE_GATHERING);
  /* nothing is emitted from inside a public call: candidates and the
   * state change come from an idle source */
  g_assert_cmpuint (notified, ==, 0);
  g_assert_cmpuint (a.lines->len, ==, 0);
  if (!nb_worker_ice_start (b.worker, NULL, NULL, NULL))
    b.gathered = TRUE;  /* a host with loopback only: nothing left, fine */
  g_assert_true (wait_until (peer_gathered, &a, 5000));
  g_assert_true (wait_until (peer_gathered, &b, 5000));
  for (guint i = 0; i < a.lines->len; i++)
    a_loop = a_loop || strstr (g_ptr_array_index (a.lines, i), " 127.0.0.1 ") != NULL;
  for (guint i = 0; i < b.lines->len; i++)
    b_loop = b_loop || strstr (g_ptr_array_index (b.lines, i), " 127.0.0.1 ") != NULL;
  g_assert_true (a_loop);
  g_assert_false (b_loop);
  g_assert_cmpuint (notified, ==, 1);
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

static void
run_role_conflict (gboolean both_controlling)
{
  NbWorkerIceConfig c = { .controlling = both_controlling, .interface_blacklist = no_filter,
                          .local_addresses = loopback_only };
  Peer a, b;

  peer_init (&a, "A", &c);
  peer_init (&b, "B", &c);
  connect_pair (&a, &b);
  /* libnice settles the conflict inside (487 Role Conflict and the
   * tie-breakers) and does not tell which side gave in; the configured
   * role is what the pair reports. */
  g_assert_true (a.pair->controlling == both_controlling);
  g_assert_true (b.pair->controlling == both_controlling);
  g_assert_true (nb_worker_ice_send (b.worker, "pong", 4, NULL));
  g_assert_true (wait_until (peer_received_any, &a, 3000));
  g_assert_true (nb_worker_ice_send (a.worker, "ping", 4, NULL));
  g_assert_true (wait_until (peer_received_any, &b, 3000));
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

static void
test_role_conflict_controlling (void)
{
  run_role_conflict (TRUE);
}

static void
test_role_conflict_controlled (void)
{
  run_role_conflict (FALSE);
}

static void
test_bad_candidates (void)
{
  const char *const routed[] = { "100.64.0.0/10", NULL };
  NbWorkerIceConfig c = { .controlling = TRUE, .interface_blacklist = no_filter,
                          .local_addresses = loopback_only, .routed_networks = routed,
                          .disable_ipv6 = TRUE };
  NbWorkerIceConfig cb = { .interface_blacklist = no_filter, .local_addresses = loopback_only };
  struct { const char *line; int code; } bad[] = {
    { "", NB_WORKER_ICE_ERROR_MALFORMED },
    { "garbage", NB_WORKER_ICE_ERROR_MALFORMED },
    { "candidate:1 1 udp", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 2130706431 10.0.0.1 99999 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 2130706431 10.0.0.1 4000 typ bogus", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 tcp 2130706431 10.0.0.1 4000 typ host tcptype passive", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 2 udp 2130706431 10.0.0.1 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 2130706431 abcdef.local 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 2130706431 0.0.0.0 4000 typ host", NB_WORKER_ICE_ERROR_MALFORMED },
    { "1 1 udp 2130706431 100.64.0.9 51820 typ host", NB_WORKER_ICE_ERROR_FILTERED },
    { "1 1 udp 2130706431 2001:db8::5 51820 typ host", NB_WORKER_ICE_ERROR_FILTERED },
    { "1 1 udp 2130706431 10.0.0.1 4000 typ host\xff", NB_WORKER_ICE_ERROR_MALFORMED },
  };
  Peer a, b;
  g_autoptr (NbSignalCandidate) null_addr = nb_signal_candidate_new ();
  g_autoptr (GError) error = NULL;

  peer_init (&a, "A", &c);
  peer_init (&b, "B", &cb);
  /* before start (kept for later) and after */
  for (int round = 0; round < 2; round++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
        {
          g_autoptr (GError) e = NULL;

          g_assert_false (nb_worker_ice_add_remote_candidate_string (a.worker, bad[i].line, &e));
          g_assert_error (e, NB_WORKER_ICE_ERROR, bad[i].code);
        }
      if (round == 0)
        {
          link_peers (&a, &b);
          start_pair (&a, &b);
        }
    }
  /* a candidate value with holes */
  null_addr->component = 1;
  null_addr->port = 1;
  g_assert_false (nb_worker_ice_add_remote_candidate (a.worker, null_addr, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED);
  g_assert_cmpuint (nb_worker_ice_get_dropped_candidates (a.worker), ==, 2 * G_N_ELEMENTS (bad) + 1);

  /* the good ones still connect */
  {
    Peer *pp[2] = { &a, &b };
    g_assert_true (wait_until (both_connected, pp, 10000));
  }
  g_assert_cmpuint (b.forward_errors, ==, 0);
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

static void
test_early_candidate_limit (void)
{
  NbWorkerIceConfig c = { .interface_blacklist = no_filter, .local_addresses = loopback_only };
  g_autoptr (NbWorkerIce) w = nb_worker_ice_new (&c, NULL);
  g_autoptr (GError) error = NULL;
  guint accepted = 0;

  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *line = g_strdup_printf ("1 1 udp 2130706431 10.0.%u.%u 4000 typ host",
                                               i / 250, i % 250 + 1);

      if (nb_worker_ice_add_remote_candidate_string (w, line, NULL))
        accepted++;
    }
  g_assert_cmpuint (accepted, ==, 64);
  g_assert_cmpuint (nb_worker_ice_get_dropped_candidates (w), ==, 36);
  nb_worker_ice_close (w);
  g_assert_false (nb_worker_ice_add_remote_candidate_string (w, "1 1 udp 1 10.0.0.1 4000 typ host",
                                                             &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
}

static void
test_state_errors (void)
{
  NbWorkerIceConfig c = { .interface_blacklist = no_filter, .local_addresses = loopback_only };
  g_autoptr (NbWorkerIce) w = nb_worker_ice_new (&c, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (nb_worker_ice_set_remote_credentials (w, "abcd", "abcdefghijklmnopqrstuvwxyz", &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (nb_worker_ice_start (w, "abcd", NULL, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (nb_worker_ice_start (w, "ab:cd", "abcdefghijklmnopqrstuvwxyz", &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (nb_worker_ice_start (w, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (nb_worker_ice_start (w, NULL, NULL, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (nb_worker_ice_set_remote_credentials (w, "", "x", &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID);
  g_clear_error (&error);
  nb_worker_ice_close (w);
  nb_worker_ice_close (w);
  g_assert_cmpint (nb_worker_ice_get_state (w), ==, NB_ICE_STATE_CLOSED);
  g_assert_false (nb_worker_ice_set_remote_credentials (w, "abcd", "abcdefghijklmnopqrstuvwxyz", &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_STATE);
  g_clear_object (&w);
  wait_agents_released ();
}

/* No address left after the filter: an error, not libnice's "every
 * interface". */
static void
test_no_address (void)
{
  const char *const everything[] = { "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
                                     "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w",
                                     "x", "y", "z", "A", "B", "C", "D", "E", "F", "G", "H", "I",
                                     "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U",
                                     "V", "W", "X", "Y", "Z", "0", "1", "2", "3", "4", "5", "6",
                                     "7", "8", "9", "-", "_", ".", NULL };
  NbWorkerIceConfig c = { .interface_blacklist = everything + 1 };
  g_autoptr (NbWorkerIce) w = nb_worker_ice_new (&c, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (nb_worker_ice_start (w, NULL, NULL, &error));
  g_assert_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_NO_ADDRESS);
  g_assert_cmpint (nb_worker_ice_get_state (w), ==, NB_ICE_STATE_NEW);
}

/* Nothing gets through: both sides fail after the check timeout. */
static void
test_check_timeout (void)
{
  NbWorkerIceConfig c = { .controlling = TRUE, .interface_blacklist = no_filter,
                          .local_addresses = loopback_only, .check_timeout_ms = 1500 };
  NbWorkerIceConfig cb = { .interface_blacklist = no_filter, .local_addresses = loopback_only,
                           .check_timeout_ms = 1500 };
  Peer a, b;
  gint64 t0 = g_get_monotonic_time ();

  peer_init (&a, "A", &c);
  peer_init (&b, "B", &cb);
  a.forward = b.forward = FALSE;   /* signal loses every candidate */
  link_peers (&a, &b);
  start_pair (&a, &b);
  g_assert_true (wait_until (peer_ended, &a, 5000));
  g_assert_true (wait_until (peer_ended, &b, 5000));
  g_assert_true (a.failed && b.failed);
  g_assert_false (a.connected || b.connected);
  g_assert_nonnull (strstr (a.reason, "1500 ms"));
  g_assert_cmpint ((a.end_us - t0) / 1000, >=, 1400);
  g_assert_cmpint (nb_worker_ice_get_state (a.worker), ==, NB_ICE_STATE_FAILED);
  peer_clear (&a);
  peer_clear (&b);
  wait_agents_released ();
}

/* TURN passwords and our ICE password never reach a log line, even at
 * debug level. */
static void
test_secrets_not_logged (void)
{
  const char *secret = "Sup3rSecretTurnPassw0rd";
  NbTurnConfig turn = { .uri = (char *) "turn:127.0.0.1:9?transport=udp",
                        .user = (char *) "alice", .password = (char *) secret };
  NbHostConfig stun = { .uri = (char *) "stun:127.0.0.1:9" };
  g_autoptr (GPtrArray) turns = g_ptr_array_new ();
  g_autoptr (GPtrArray) stuns = g_ptr_array_new ();
  NbWorkerIceConfig c = { .interface_blacklist = no_filter, .local_addresses = loopback_only,
                          .relay = TRUE, .check_timeout_ms = 500 };
  Peer a;
  const char *pwd;

  g_ptr_array_add (turns, &turn);
  g_ptr_array_add (stuns, &stun);
  c.turns = turns;
  c.stuns = stuns;
  g_log_set_debug_enabled (TRUE);
  g_string_truncate (log_text, 0);
  peer_init (&a, "A", &c);
  nb_worker_ice_get_local_credentials (a.worker, NULL, &pwd);
  g_assert_true (nb_worker_ice_start (a.worker, "abcd", "abcdefghijklmnopqrstuvwxyz", NULL));
  g_assert_true (wait_until (peer_ended, &a, 5000));
  g_assert_true (a.failed);
  g_assert_nonnull (strstr (log_text->str, "nb-ice"));
  g_assert_nonnull (strstr (log_text->str, "TURN server 127.0.0.1:9"));
  g_assert_null (strstr (log_text->str, secret));
  g_assert_null (strstr (log_text->str, pwd));
  peer_clear (&a);
  wait_agents_released ();
  g_log_set_debug_enabled (FALSE);
}

/* A STUN server on the TURN server's address:port is not given to libnice
 * (lab F10); with relaying off it is. */
static void
test_stun_turn_clash (void)
{
  NbTurnConfig turn = { .uri = (char *) "turn:127.0.0.1:3478?transport=udp",
                        .user = (char *) "u", .password = (char *) "p" };
  NbHostConfig stun = { .uri = (char *) "stun:127.0.0.1:3478" };
  g_autoptr (GPtrArray) turns = g_ptr_array_new ();
  g_autoptr (GPtrArray) stuns = g_ptr_array_new ();
  NbWorkerIceConfig c = { .relay = TRUE };

  g_ptr_array_add (turns, &turn);
  g_ptr_array_add (stuns, &stun);
  c.turns = turns;
  c.stuns = stuns;
  g_log_set_debug_enabled (TRUE);
  g_string_truncate (log_text, 0);
  {
    g_autoptr (NbWorkerIce) w = nb_worker_ice_new (&c, NULL);
    g_assert_nonnull (strstr (log_text->str, "is also a TURN server"));
  }
  g_string_truncate (log_text, 0);
  c.relay = FALSE;
  {
    g_autoptr (NbWorkerIce) w = nb_worker_ice_new (&c, NULL);
    g_assert_null (strstr (log_text->str, "is also a TURN server"));
    g_assert_nonnull (strstr (log_text->str, "STUN server 127.0.0.1:3478"));
  }
  g_log_set_debug_enabled (FALSE);
  wait_agents_released ();
}

int
main (int argc, char **argv)
{
  int rc;

  log_text = g_string_new (NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/worker-ice/credentials", test_credentials);
  g_test_add_func ("/worker-ice/uri", test_uri);
  g_test_add_func ("/worker-ice/interface-filter", test_interface_filter);
  g_test_add_func ("/worker-ice/candidate-conversion", test_candidate_conversion);
  g_test_add_func ("/worker-ice/config-errors", test_config_errors);
  g_test_add_func ("/worker-ice/state-errors", test_state_errors);
  g_test_add_func ("/worker-ice/early-candidate-limit", test_early_candidate_limit);
  g_test_add_func ("/worker-ice/no-address", test_no_address);
  g_test_add_func ("/worker-ice/stun-turn-clash", test_stun_turn_clash);
  g_test_add_func ("/worker-ice/secrets-not-logged", test_secrets_not_logged);
  g_test_add_func ("/worker-ice/interface-filter-gathering", test_interface_filter_gathering);
  g_test_add_func ("/worker-ice/connect-loopback", test_connect_loopback);
  g_test_add_func ("/worker-ice/send-batch", test_send_batch);
  g_test_add_func ("/worker-ice/role-conflict/both-controlling", test_role_conflict_controlling);
  g_test_add_func ("/worker-ice/role-conflict/both-controlled", test_role_conflict_controlled);
  g_test_add_func ("/worker-ice/bad-candidates", test_bad_candidates);
  g_test_add_func ("/worker-ice/check-timeout", test_check_timeout);
  g_test_add_func ("/worker-ice/remote-close-detected", test_remote_close_detected);

  rc = g_test_run ();
  g_string_free (log_text, TRUE);
  return rc;
}
