/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests service/engine/peer-conn.c: two real NbPeerConn in one process,
 * one per side of a connection, each with a real wireguard-go (through
 * NbWgUapi) and real libnice workers; the handshakers' messages are sealed
 * with the sender's key, opened with the receiver's and delivered from an
 * idle source, as the signal client would. One case adds the in-process
 * devnet relay server and forces the relay path.
 *
 * wireguard-go needs root, a TUN device and its UAPI directory
 * /run/wireguard: the test re-executes itself under
 * `unshare --net --mount --fork` (private loopback, tmpfs on /run) and
 * exits 77 (skip) when that is not possible or wireguard-go is missing.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "peer-conn.h"
#include "relay-manager.h"
#include "relay-msg.h"
#include "relay-server.h"
#include "wg-uapi.h"

#define NS_ENV        "NB_TEST_PEER_CONN_NETNS"
#define RELAY_SECRET  "peer-conn-test-secret"

typedef struct _Side Side;

struct _Side {
  const char *name;
  const char *ifname;
  guint16 port;
  const char *overlay;       /* this side's overlay IP (the other's allowed IP) */
  const char *routed;        /* a network behind this side (also allowed), for traffic */
  const char *sink;          /* an address in @routed the other side sends to */
  const char *fqdn;

  NbWgKey priv;
  char *pub;
  NbWgUapi *uapi;

  /* per case */
  NbPeerConnContext ctx;
  NbPeerConn *conn;
  NbRelayManager *relay;
  Side *other;
  guint n_connected;
  guint n_messages;
  gboolean deaf;             /* not registered at "signal": messages to it are dropped */
  guint n_dropped;
  gboolean signal_down;      /* its own sends fail as with no signal stream */
  guint n_offers_sent;
  gint64 first_offer_us;     /* monotonic; 0: none sent */
};

static Side sides[2] = {
  { .name = "a", .ifname = "wgpa", .port = 51901, .overlay = "100.64.0.1", .fqdn = "pa.test",
    .routed = "10.9.1.0/24", .sink = "10.9.1.1" },
  { .name = "b", .ifname = "wgpb", .port = 51902, .overlay = "100.64.0.2", .fqdn = "pb.test",
    .routed = "10.9.2.0/24", .sink = "10.9.2.1" },
};
static gboolean devices_up;

/* ---- main-loop helpers --------------------------------------------------- */

static gboolean
timeout_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates until @cond holds or @timeout_ms passes; returns @cond's value. */
static gboolean
wait_for (gboolean (*cond) (gpointer), gpointer data, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, timeout_flag_cb, &timed_out);

  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (data);
}

static gboolean
pointer_set (gpointer data)
{
  return *(gpointer *) data != NULL;
}

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  g_assert_true (wait_for (pointer_set, slot, 15000));
  return *slot;
}

static NbWgStats *
get_stats (Side *s)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  NbWgStats *stats;

  nb_wg_backend_get_stats_async (NB_WG_BACKEND (s->uapi), NULL, store_result_cb, &res);
  stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (s->uapi), wait_result (&res), &error);
  g_assert_no_error (error);
  return stats;
}

static gint64
peer_handshake (Side *s)
{
  g_autoptr (NbWgStats) stats = get_stats (s);
  NbWgKey key = NB_WG_KEY_INIT;
  const NbWgPeerStats *ps;

  g_assert_true (nb_wg_key_from_base64 (s->other->pub, &key, NULL));
  ps = nb_wg_stats_find_peer (stats, &key);
  return ps != NULL ? ps->last_handshake_us : -1;
}

static gboolean
sleep_done (gpointer data)
{
  return *(gboolean *) data;
}

static void
sleep_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, timeout_flag_cb, &done);
  wait_for (sleep_done, &done, ms + 1000);
}

/* ---- namespace and devices ------------------------------------------------ */

static gboolean
link_up (const char *ifname)
{
  struct ifreq ifr = { 0 };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  g_strlcpy (ifr.ifr_name, ifname, IFNAMSIZ);
  ok = ioctl (fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl (fd, SIOCSIFFLAGS, &ifr) == 0;
  close (fd);
  return ok;
}

/* wireguard-go binds its port once the link is up. */
static gboolean
port_bound (gpointer data)
{
  Side *s = data;
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, s->port);
  g_autoptr (GError) error = NULL;

  if (g_socket_bind (sock, addr, FALSE, &error))
    return FALSE;
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
}

static gboolean
sleep_a_bit (gpointer data)
{
  return FALSE;
}

static void
device_start (Side *s)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GAsyncResult) res2 = NULL;
  g_autoptr (GError) error = NULL;
  NbWgKey pub = NB_WG_KEY_INIT;

  nb_wg_key_generate_private (&s->priv);
  nb_wg_key_derive_public (&s->priv, &pub);
  s->pub = nb_wg_key_to_base64 (&pub);

  s->uapi = nb_wg_uapi_new (s->ifname, &error);
  g_assert_no_error (error);
  nb_wg_uapi_set_log_level (s->uapi, "error");
  nb_wg_uapi_start_async (s->uapi, NULL, store_result_cb, &res);
  nb_wg_uapi_start_finish (s->uapi, wait_result (&res), &error);
  g_assert_no_error (error);

  nb_wg_uapi_set_device_async (s->uapi, &s->priv, s->port, NULL, store_result_cb, &res2);
  nb_wg_uapi_set_device_finish (s->uapi, wait_result (&res2), &error);
  g_assert_no_error (error);
  g_assert_true (link_up (s->ifname));
  for (guint i = 0; i < 250 && !port_bound (s); i++)
    {
      wait_for (sleep_a_bit, NULL, 20);
    }
  g_assert_true (port_bound (s));
}

static void
run_cmd (const char *cmdline)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_spawn_command_line_sync (cmdline, NULL, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed: %s", cmdline, err);
}

static void
ensure_devices (void)
{
  if (devices_up)
    return;
  sides[0].other = &sides[1];
  sides[1].other = &sides[0];
  device_start (&sides[0]);
  device_start (&sides[1]);
  /* Test traffic: each side sends to a network routed through its
   * WireGuard; the other side decrypts it (its WireGuard counts it) and
   * the kernel drops it there. */
  for (guint i = 0; i < 2; i++)
    {
      Side *s = &sides[i];
      g_autofree char *addr = g_strdup_printf ("ip addr add %s/32 dev %s", s->overlay, s->ifname);
      g_autofree char *route = g_strdup_printf ("ip route add %s dev %s src %s", s->other->routed,
                                                s->ifname, s->overlay);

      run_cmd (addr);
      run_cmd (route);
    }
  devices_up = TRUE;
}

/* ---- the signal exchange ------------------------------------------------- */

typedef struct {
  Side *to;
  GBytes *wire;
} Delivery;

static gboolean
deliver_cb (gpointer data)
{
  Delivery *d = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbSignalMessage) msg = NULL;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (d->wire, &len);

  if (d->to->deaf)
    {
      /* as the signal server does for a peer that is not registered */
      d->to->n_dropped++;
      g_bytes_unref (d->wire);
      g_free (d);
      return G_SOURCE_REMOVE;
    }
  msg = nb_signal_message_open (bytes, len, &d->to->priv, d->to->pub, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msg->sender_key, ==, d->to->other->pub);
  d->to->n_messages++;
  if (d->to->conn != NULL)
    nb_peer_conn_on_signal_message (d->to->conn, msg);
  g_bytes_unref (d->wire);
  g_free (d);
  return G_SOURCE_REMOVE;
}

/* The sender of side @user_data: seals for the other side and delivers
 * the wire bytes from an idle, like a signal server round trip. */
static gboolean
send_to_other (const char            *remote_key,
               const NbSignalMessage *msg,
               gpointer               user_data,
               GError               **error)
{
  Side *s = user_data;
  Delivery *d;
  GBytes *wire;

  g_assert_cmpstr (remote_key, ==, s->other->pub);
  if (s->signal_down)
    {
      g_set_error_literal (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED,
                           "not connected to the signal server");
      return FALSE;
    }
  if (msg->type == NB_SIGNAL_MSG_OFFER)
    {
      s->n_offers_sent++;
      if (s->first_offer_us == 0)
        s->first_offer_us = g_get_monotonic_time ();
    }
  wire = nb_signal_message_seal (msg, &s->priv, s->pub, remote_key, error);
  if (wire == NULL)
    return FALSE;
  d = g_new0 (Delivery, 1);
  d->to = s->other;
  d->wire = wire;
  g_idle_add (deliver_cb, d);
  return TRUE;
}

/* ---- cases --------------------------------------------------------------- */

static void
on_connected (NbPeerConn *conn, Side *s)
{
  s->n_connected++;
}

static void
side_open (Side *s, gboolean force_relay, NbRelayManager *relay)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NbRemotePeer) rp = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autofree char *cidr = g_strdup_printf ("%s/32", s->other->overlay);
  const char *ips[] = { cidr, s->other->routed, NULL };
  const char *local[] = { "127.0.0.1", NULL };

  nb_peer_conn_context_init (&s->ctx);
  s->ctx.local_key = g_strdup (s->pub);
  s->ctx.relay = relay != NULL ? g_object_ref (relay) : NULL;
  s->ctx.wg = NB_WG_BACKEND (g_object_ref (s->uapi));
  s->ctx.status = nb_status_recorder_new ();
  s->ctx.wg_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (lo, s->port));
  s->ctx.wg_listen_port = s->port;
  s->ctx.interface_blacklist = g_new0 (char *, 1);
  s->ctx.local_addresses = g_strdupv ((char **) local);
  s->ctx.force_relay = force_relay;
  s->ctx.version = "0.60.0-test";
  s->n_connected = 0;
  s->signal_down = FALSE;
  s->n_offers_sent = 0;
  s->first_offer_us = 0;

  rp = nb_remote_peer_new (s->other->pub, ips, s->other->fqdn, "0.60.0-test");
  s->conn = nb_peer_conn_new (&s->ctx, rp, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s->conn);
  nb_peer_conn_set_signal_sender (s->conn, send_to_other, s, NULL);
  g_signal_connect (s->conn, "connected", G_CALLBACK (on_connected), s);
}

static gboolean
both_on_path (gpointer data)
{
  NbPeerPath path = GPOINTER_TO_INT (data);

  return nb_peer_conn_get_active_path (sides[0].conn) == path
    && nb_peer_conn_get_active_path (sides[1].conn) == path
    && sides[0].n_connected > 0 && sides[1].n_connected > 0;
}

static gboolean
both_handshaken (gpointer data)
{
  return peer_handshake (&sides[0]) > 0 && peer_handshake (&sides[1]) > 0;
}

static gboolean
both_handshaken_poll (gpointer data)
{
  if (both_handshaken (NULL))
    return TRUE;
  sleep_ms (100);
  return FALSE;
}

/* Each side's WireGuard peer: endpoint 127.0.0.1:<remote port> and
 * persistent keepalive 25 s. */
static gboolean
wg_endpoints_direct (gpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      Side *s = &sides[i];
      g_autoptr (NbWgStats) stats = get_stats (s);
      NbWgKey key = NB_WG_KEY_INIT;
      const NbWgPeerStats *ps;
      g_autofree char *ep = NULL;
      g_autofree char *want = g_strdup_printf ("127.0.0.1:%u", s->other->port);

      g_assert_true (nb_wg_key_from_base64 (s->other->pub, &key, NULL));
      ps = nb_wg_stats_find_peer (stats, &key);
      g_assert_nonnull (ps);
      g_assert_cmpuint (ps->allowed_ips->len, ==, 2);
      ep = ps->endpoint != NULL ? nb_wg_endpoint_to_string (ps->endpoint) : NULL;
      if (g_strcmp0 (ep, want) != 0
          || ps->persistent_keepalive_s != NB_PEER_CONN_PERSISTENT_KEEPALIVE_S)
        {
          g_debug ("%s: WireGuard endpoint %s, keepalive %u", s->name, ep ? ep : "-",
                   ps->persistent_keepalive_s);
          sleep_ms (50);
          return FALSE;
        }
    }
  return TRUE;
}

/* Side a's WireGuard peer b has the allowed IPs of the update. */
static gboolean
allowed_ips_updated (gpointer data)
{
  g_autoptr (NbWgStats) stats = get_stats (&sides[0]);
  NbWgKey key = NB_WG_KEY_INIT;
  const NbWgPeerStats *ps;
  g_autofree char *cidr = g_strdup_printf ("%s/32", sides[1].overlay);

  g_assert_true (nb_wg_key_from_base64 (sides[1].pub, &key, NULL));
  ps = nb_wg_stats_find_peer (stats, &key);
  g_assert_nonnull (ps);
  if (ps->allowed_ips->len == 2
      && g_strcmp0 (g_ptr_array_index (ps->allowed_ips, 1), "10.9.99.0/24") != 0
      && g_strcmp0 (g_ptr_array_index (ps->allowed_ips, 0), "10.9.99.0/24") != 0)
    {
      sleep_ms (50);
      return FALSE;
    }
  g_assert_cmpuint (ps->allowed_ips->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const char *ip = g_ptr_array_index (ps->allowed_ips, i);

      g_assert_true (g_strcmp0 (ip, cidr) == 0 || g_strcmp0 (ip, "10.9.99.0/24") == 0);
    }
  return TRUE;
}

static gboolean
both_direct (gpointer data)
{
  return nb_peer_conn_is_direct (sides[0].conn) && nb_peer_conn_is_direct (sides[1].conn);
}

static gboolean
peers_gone (gpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (NbWgStats) stats = get_stats (&sides[i]);

      if (stats->peers->len != 0)
        {
          sleep_ms (50);
          return FALSE;
        }
    }
  return TRUE;
}

static void
side_close (Side *s)
{
  nb_peer_conn_close (s->conn);
  g_assert_null (nb_status_recorder_get_peer (s->ctx.status, s->other->pub));
}

/* close_async completes once the WireGuard peer is gone, not before. */
static void
side_close_async (Side *s)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GAsyncResult) res2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = NULL;

  nb_peer_conn_close_async (s->conn, store_result_cb, &res);
  g_assert_null (res);
  g_assert_true (nb_peer_conn_close_finish (s->conn, wait_result (&res), &error));
  g_assert_no_error (error);
  stats = get_stats (s);
  g_assert_cmpuint (stats->peers->len, ==, 0);
  g_assert_null (nb_status_recorder_get_peer (s->ctx.status, s->other->pub));
  /* closed already: nothing to wait for */
  nb_peer_conn_close_async (s->conn, store_result_cb, &res2);
  g_assert_null (res2);
  g_assert_true (nb_peer_conn_close_finish (s->conn, wait_result (&res2), &error));
  g_assert_no_error (error);
}

/* The latency in the status of the side whose WireGuard initiated the
 * handshake (it only measures its own): positive, and not more than the
 * time the whole test took. */
static gint64
status_latency (Side *s)
{
  const NbPeerStatus *st = nb_status_recorder_get_peer (s->ctx.status, s->other->pub);

  g_assert_nonnull (st);
  return st->latency_us;
}

static gboolean
some_latency (gpointer data)
{
  return status_latency (&sides[0]) > 0 || status_latency (&sides[1]) > 0;
}

static void
assert_latency (gint64 since_us)
{
  g_assert_true (wait_for (some_latency, NULL, 5000));
  for (guint i = 0; i < 2; i++)
    {
      gint64 l = status_latency (&sides[i]);

      g_test_message ("%s: latency %" G_GINT64_FORMAT " us", sides[i].name, l);
      g_assert_cmpint (l, >=, 0);
      g_assert_cmpint (l, <=, g_get_monotonic_time () - since_us);
    }
}

static void
side_clear (Side *s)
{
  g_clear_object (&s->conn);
  nb_peer_conn_context_clear (&s->ctx);
  g_clear_object (&s->relay);
}

/* ICE over loopback: host/host P2P, WireGuard's handshake through the
 * proxies, then the direct endpoint; close removes peer and record. */
static void
test_ice_direct (void)
{
  gint64 t0, connect_ms, handshake_ms, direct_ms;

  ensure_devices ();
  side_open (&sides[0], FALSE, NULL);
  side_open (&sides[1], FALSE, NULL);

  t0 = g_get_monotonic_time ();
  nb_peer_conn_open (sides[0].conn);
  nb_peer_conn_open (sides[1].conn);
  /* no signal from inside a public call */
  g_assert_cmpuint (sides[0].n_connected + sides[1].n_connected, ==, 0);

  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 20000));
  connect_ms = (g_get_monotonic_time () - t0) / 1000;
  for (guint i = 0; i < 2; i++)
    {
      Side *s = &sides[i];
      const NbIcePairInfo *pair = nb_peer_conn_get_ice_pair (s->conn);
      const NbPeerStatus *st;

      g_assert_true (nb_peer_conn_is_connected (s->conn));
      g_assert_cmpuint (nb_peer_conn_get_active_priority (s->conn), ==, NB_WORKER_ICE_PRIORITY_P2P);
      g_assert_nonnull (pair);
      g_assert_cmpint (pair->local_type, ==, NB_SIGNAL_CANDIDATE_HOST);
      g_assert_cmpint (pair->remote_type, ==, NB_SIGNAL_CANDIDATE_HOST);
      g_assert_cmpuint (s->n_connected, ==, 1);

      st = nb_status_recorder_get_peer (s->ctx.status, s->other->pub);
      g_assert_nonnull (st);
      g_assert_cmpint (st->status, ==, NB_PEER_CONN_CONNECTED);
      g_assert_cmpint (st->conn_type, ==, NB_PEER_CONN_TYPE_P2P);
      g_assert_cmpint (st->ice_status, ==, NB_PEER_PATH_CONNECTED);
      g_assert_cmpstr (st->local_candidate_type, ==, "host");
      g_assert_cmpstr (st->remote_candidate_type, ==, "host");
      g_assert_cmpstr (st->fqdn, ==, s->other->fqdn);
      g_assert_cmpstr (st->ip, ==, s->other->overlay);
      g_assert_nonnull (st->local_endpoint);
      g_assert_true (g_str_has_prefix (st->remote_endpoint, "127.0.0.1:"));
    }

  g_assert_true (wait_for (both_handshaken_poll, NULL, 15000));
  handshake_ms = (g_get_monotonic_time () - t0) / 1000;

  g_assert_true (wait_for (both_direct, NULL, 10000));
  direct_ms = (g_get_monotonic_time () - t0) / 1000;
  /* WireGuard's view: the remote's own port, keepalive on (the
   * non-controller turns it on after the first handshake) */
  g_assert_true (wait_for (wg_endpoints_direct, NULL, 5000));
  g_test_message ("ICE connected in %" G_GINT64_FORMAT " ms, WireGuard handshake by %" G_GINT64_FORMAT
                  " ms, direct by %" G_GINT64_FORMAT " ms", connect_ms, handshake_ms, direct_ms);
  /* the first handshake went through the proxies: its round trip stays */
  assert_latency (t0);

  side_close (&sides[0]);
  side_close (&sides[1]);
  g_assert_true (wait_for (peers_gone, NULL, 10000));
  side_clear (&sides[0]);
  side_clear (&sides[1]);
}

/* allow_direct off: WireGuard keeps the proxy endpoint and the handshake
 * goes through the ICE transports of both proxies. */
static void
test_ice_proxy (void)
{
  gint64 t0 = g_get_monotonic_time ();

  ensure_devices ();
  side_open (&sides[0], FALSE, NULL);
  side_open (&sides[1], FALSE, NULL);
  sides[0].ctx.allow_direct = FALSE;
  sides[1].ctx.allow_direct = FALSE;
  nb_peer_conn_open (sides[0].conn);
  nb_peer_conn_open (sides[1].conn);

  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 20000));
  g_assert_true (wait_for (both_handshaken_poll, NULL, 15000));
  assert_latency (t0);
  for (guint i = 0; i < 2; i++)
    {
      Side *s = &sides[i];
      g_autoptr (NbWgStats) stats = get_stats (s);
      NbWgKey key = NB_WG_KEY_INIT;
      const NbWgPeerStats *ps;
      g_autofree char *ep = NULL;
      g_autofree char *want = nb_wg_endpoint_to_string (nb_peer_conn_get_proxy_address (s->conn));

      g_assert_false (nb_peer_conn_is_direct (s->conn));
      g_assert_true (nb_wg_key_from_base64 (s->other->pub, &key, NULL));
      ps = nb_wg_stats_find_peer (stats, &key);
      g_assert_nonnull (ps);
      ep = nb_wg_endpoint_to_string (ps->endpoint);
      g_assert_cmpstr (ep, ==, want);
    }

  /* a network map update: allowed IPs replaced in place, FQDN in the status */
  {
    g_autofree char *cidr = g_strdup_printf ("%s/32", sides[1].overlay);
    const char *ips[] = { cidr, "10.9.99.0/24", NULL };
    g_autoptr (NbRemotePeer) rp = nb_remote_peer_new (sides[1].pub, ips, "pb-renamed.test", NULL);

    nb_peer_conn_update (sides[0].conn, rp);
    g_assert_true (wait_for (allowed_ips_updated, NULL, 5000));
    g_assert_cmpstr (nb_status_recorder_get_peer (sides[0].ctx.status, sides[1].pub)->fqdn, ==,
                     "pb-renamed.test");
    g_assert_cmpint (nb_peer_conn_get_active_path (sides[0].conn), ==, NB_PEER_PATH_ICE);
  }
  side_close_async (&sides[0]);
  side_close_async (&sides[1]);
  side_clear (&sides[0]);
  side_clear (&sides[1]);
}

/* ---- relay --------------------------------------------------------------- */

static void
on_home_ready (NbRelayManager *m, const char *url, guint *count)
{
  (*count)++;
}

static gboolean
uint_nonzero (gpointer data)
{
  return *(guint *) data != 0;
}

static NbRelayManager *
relay_manager_for (Side *s, const char *url)
{
  g_autoptr (NbRelayManager) m = nb_relay_manager_new (s->pub);
  g_autoptr (NbRelayToken) token = nb_relay_token_new ((const guint8 *) RELAY_SECRET, strlen (RELAY_SECRET),
                                                       g_get_real_time () / G_USEC_PER_SEC + 3600);
  g_autoptr (GError) error = NULL;
  const char *urls[] = { url, NULL };
  guint ready = 0;

  nb_relay_manager_set_servers (m, urls);
  g_assert_true (nb_relay_manager_set_token (m, token->payload, token->signature, &error));
  g_signal_connect (m, "home-ready", G_CALLBACK (on_home_ready), &ready);
  g_assert_true (nb_relay_manager_start (m, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (uint_nonzero, &ready, 10000));
  g_signal_handlers_disconnect_by_func (m, on_home_ready, &ready);
  return g_steal_pointer (&m);
}

/* force_relay on both sides: the devnet relay server carries WireGuard. */
static void
test_relay_forced (void)
{
  g_autoptr (NbRelayServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  gint64 t0, connect_ms, handshake_ms;

  ensure_devices ();
  server = nb_relay_server_new ((const guint8 *) RELAY_SECRET, strlen (RELAY_SECRET), NULL);
  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  url = g_strdup (nb_relay_server_get_url (server));

  for (guint i = 0; i < 2; i++)
    sides[i].relay = relay_manager_for (&sides[i], url);
  side_open (&sides[0], TRUE, sides[0].relay);
  side_open (&sides[1], TRUE, sides[1].relay);

  t0 = g_get_monotonic_time ();
  nb_peer_conn_open (sides[0].conn);
  nb_peer_conn_open (sides[1].conn);
  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_RELAY), 20000));
  connect_ms = (g_get_monotonic_time () - t0) / 1000;
  for (guint i = 0; i < 2; i++)
    {
      Side *s = &sides[i];
      const NbPeerStatus *st = nb_status_recorder_get_peer (s->ctx.status, s->other->pub);

      g_assert_null (nb_peer_conn_get_ice_pair (s->conn));
      g_assert_false (nb_peer_conn_is_direct (s->conn));
      g_assert_cmpuint (nb_peer_conn_get_active_priority (s->conn), ==, NB_WORKER_ICE_PRIORITY_TURN);
      g_assert_cmpint (st->status, ==, NB_PEER_CONN_CONNECTED);
      g_assert_cmpint (st->conn_type, ==, NB_PEER_CONN_TYPE_RELAYED);
      g_assert_cmpint (st->relay_status, ==, NB_PEER_PATH_CONNECTED);
      g_assert_cmpint (st->ice_status, ==, NB_PEER_PATH_DISCONNECTED);
      g_assert_nonnull (st->relay_address);
    }
  g_assert_true (wait_for (both_handshaken_poll, NULL, 15000));
  handshake_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("relay connected in %" G_GINT64_FORMAT " ms, WireGuard handshake by %"
                  G_GINT64_FORMAT " ms", connect_ms, handshake_ms);

  side_close (&sides[0]);
  side_close (&sides[1]);
  g_assert_true (wait_for (peers_gone, NULL, 10000));
  for (guint i = 0; i < 2; i++)
    nb_relay_manager_stop (sides[i].relay);
  side_clear (&sides[0]);
  side_clear (&sides[1]);
  nb_relay_server_stop (server);
}

/* ---- failover ------------------------------------------------------------ */

typedef struct {
  GSocket *sock;
  guint id;
} Traffic;

/* 50 datagrams a second each way, through the WireGuard tunnel. */
static gboolean
traffic_cb (gpointer data)
{
  Traffic *t = data;
  static const char payload[200] = "peer-conn test traffic";

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (sides[i].other->sink);
      g_autoptr (GSocketAddress) to = g_inet_socket_address_new (ip, 9);

      g_socket_send_to (t->sock, to, payload, sizeof payload, NULL, NULL);
    }
  return G_SOURCE_CONTINUE;
}

static guint64
peer_rx (Side *s)
{
  g_autoptr (NbWgStats) stats = get_stats (s);
  NbWgKey key = NB_WG_KEY_INIT;
  const NbWgPeerStats *ps;

  g_assert_true (nb_wg_key_from_base64 (s->other->pub, &key, NULL));
  ps = nb_wg_stats_find_peer (stats, &key);
  g_assert_nonnull (ps);
  return ps->rx_bytes;
}

static gboolean
both_relay_up (gpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      const NbPeerStatus *st = nb_status_recorder_get_peer (sides[i].ctx.status, sides[i].other->pub);

      if (st == NULL || st->relay_status != NB_PEER_PATH_CONNECTED)
        return FALSE;
    }
  return TRUE;
}

static guint16
proxy_port (Side *s)
{
  GInetSocketAddress *addr = nb_peer_conn_get_proxy_address (s->conn);

  g_assert_nonnull (addr);
  return g_inet_socket_address_get_port (addr);
}

/* ICE and relay both up, ICE (direct) active, traffic both ways; the
 * direct path is cut silently (nftables drops, as on a real network):
 * the traffic watchdog moves both sides to the relay long before libnice
 * notices; after the cut is lifted, ICE takes over again. */
static void
test_failover (void)
{
  g_autoptr (NbRelayServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *rules = NULL;
  g_autofree char *rules_path = g_build_filename (g_get_tmp_dir (), "nb-test-peer-conn.nft", NULL);
  g_autofree char *cut_cmd = g_strdup_printf ("nft -f %s", rules_path);
  g_autofree char *nft = NULL;
  Traffic traffic = { 0 };
  guint64 rx0[2], rx1[2];
  gint64 t_cut, failover_ms, back_ms;

  ensure_devices ();
  nft = g_find_program_in_path ("nft");
  if (nft == NULL)
    {
      g_test_skip ("no nft");
      return;
    }
  server = nb_relay_server_new ((const guint8 *) RELAY_SECRET, strlen (RELAY_SECRET), NULL);
  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  url = g_strdup (nb_relay_server_get_url (server));
  for (guint i = 0; i < 2; i++)
    sides[i].relay = relay_manager_for (&sides[i], url);
  side_open (&sides[0], FALSE, sides[0].relay);
  side_open (&sides[1], FALSE, sides[1].relay);
  nb_peer_conn_open (sides[0].conn);
  nb_peer_conn_open (sides[1].conn);

  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 20000));
  g_assert_true (wait_for (both_relay_up, NULL, 10000));
  g_assert_true (wait_for (both_handshaken_poll, NULL, 15000));

  traffic.sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  traffic.id = g_timeout_add (20, traffic_cb, &traffic);
  g_assert_true (wait_for (both_direct, NULL, 10000));

  /* healthy: two seconds of traffic, no false failover */
  sleep_ms (2000);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpint (nb_peer_conn_get_active_path (sides[i].conn), ==, NB_PEER_PATH_ICE);
      g_assert_true (nb_peer_conn_is_direct (sides[i].conn));
    }

  /* Silent loss of every UDP datagram on loopback but those to and from
   * the proxies (WireGuard <-> proxy stays local): the ICE pair, any new
   * ICE session and the direct WireGuard path are cut; the relay is TCP.
   * Dropped on input, so senders see no error, as on a real network. */
  rules = g_strdup_printf ("table inet nb_test_peer_conn {\n"
                           "  chain in {\n"
                           "    type filter hook input priority 0;\n"
                           "    udp sport != { %u, %u } udp dport != { %u, %u } drop\n"
                           "  }\n"
                           "}\n",
                           proxy_port (&sides[0]), proxy_port (&sides[1]),
                           proxy_port (&sides[0]), proxy_port (&sides[1]));
  g_assert_true (g_file_set_contents (rules_path, rules, -1, &error));
  g_assert_no_error (error);
  run_cmd (cut_cmd);
  t_cut = g_get_monotonic_time ();

  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_RELAY), 10000));
  failover_ms = (g_get_monotonic_time () - t_cut) / 1000;
  for (guint i = 0; i < 2; i++)
    {
      g_assert_false (nb_peer_conn_is_direct (sides[i].conn));
      rx0[i] = peer_rx (&sides[i]);
    }
  /* the traffic flows through the relay */
  sleep_ms (1000);
  for (guint i = 0; i < 2; i++)
    {
      rx1[i] = peer_rx (&sides[i]);
      g_assert_cmpuint (rx1[i], >, rx0[i] + 20 * 200);
    }

  run_cmd ("nft delete table inet nb_test_peer_conn");
  g_unlink (rules_path);
  t_cut = g_get_monotonic_time ();
  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 30000));
  back_ms = (g_get_monotonic_time () - t_cut) / 1000;

  g_test_message ("failover ICE -> relay %" G_GINT64_FORMAT " ms after the cut; back to ICE %"
                  G_GINT64_FORMAT " ms after the path returned", failover_ms, back_ms);
  g_assert_cmpint (failover_ms, <=, 2500);

  g_source_remove (traffic.id);
  g_clear_object (&traffic.sock);
  side_close (&sides[0]);
  side_close (&sides[1]);
  g_assert_true (wait_for (peers_gone, NULL, 10000));
  for (guint i = 0; i < 2; i++)
    nb_relay_manager_stop (sides[i].relay);
  side_clear (&sides[0]);
  side_clear (&sides[1]);
  nb_relay_server_stop (server);
}


static gboolean
uint_at_least_2 (gpointer data)
{
  return *(guint *) data >= 2;
}

/* The remote is not registered at signal yet when we open: our offer and
 * our candidates are lost. When it comes and offers, our answer is followed
 * by our candidates again, so both sides know each other's host candidate
 * and the pair is host/host on both (not host/prflx), direct. */
static void
test_late_remote (void)
{
  guint messages;

  ensure_devices ();
  side_open (&sides[0], FALSE, NULL);
  side_open (&sides[1], FALSE, NULL);
  sides[1].deaf = TRUE;
  sides[1].n_dropped = 0;
  messages = sides[1].n_messages;

  nb_peer_conn_open (sides[0].conn);
  /* the offer and the host candidate, and gathering over */
  g_assert_true (wait_for (uint_at_least_2, &sides[1].n_dropped, 5000));
  sleep_ms (500);
  g_assert_cmpuint (sides[1].n_messages, ==, messages);

  sides[1].deaf = FALSE;
  nb_peer_conn_open (sides[1].conn);
  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 20000));
  for (guint i = 0; i < 2; i++)
    {
      const NbIcePairInfo *pair = nb_peer_conn_get_ice_pair (sides[i].conn);

      g_assert_nonnull (pair);
      g_test_message ("%s: %s/%s", sides[i].name, nb_signal_candidate_type_to_string (pair->local_type),
                      nb_signal_candidate_type_to_string (pair->remote_type));
      g_assert_cmpint (pair->local_type, ==, NB_SIGNAL_CANDIDATE_HOST);
      g_assert_cmpint (pair->remote_type, ==, NB_SIGNAL_CANDIDATE_HOST);
    }
  g_assert_true (wait_for (both_direct, NULL, 15000));

  side_close (&sides[0]);
  side_close (&sides[1]);
  g_assert_true (wait_for (peers_gone, NULL, 10000));
  side_clear (&sides[0]);
  side_clear (&sides[1]);
}

/* The controller's first offer fails: signal is down (and the remote's
 * offer does not reach it either). When signal is back, the offer goes at
 * once, not at the guard's next tick (0.8 s after a reconnect). */
static void
test_offer_signal_down (void)
{
  Side *ctrl, *other;
  gint64 t_back, delay_us;

  ensure_devices ();
  side_open (&sides[0], FALSE, NULL);
  side_open (&sides[1], FALSE, NULL);
  ctrl = strcmp (sides[0].pub, sides[1].pub) > 0 ? &sides[0] : &sides[1];
  other = ctrl->other;
  ctrl->signal_down = TRUE;
  ctrl->deaf = TRUE;
  ctrl->n_dropped = 0;

  nb_peer_conn_open (ctrl->conn);
  nb_peer_conn_open (other->conn);
  /* the other's offer is lost on the way to the controller */
  g_assert_true (wait_for (uint_at_least_2, &ctrl->n_dropped, 5000));
  sleep_ms (300);
  g_assert_cmpuint (ctrl->n_offers_sent, ==, 0);

  ctrl->signal_down = FALSE;
  ctrl->deaf = FALSE;
  t_back = g_get_monotonic_time ();
  nb_peer_conn_signal_reconnected (ctrl->conn);
  g_assert_cmpuint (ctrl->n_offers_sent, ==, 0);   /* not from inside the call */
  g_assert_true (wait_for (both_on_path, GINT_TO_POINTER (NB_PEER_PATH_ICE), 20000));
  g_assert_cmpuint (ctrl->n_offers_sent, >=, 1);
  delay_us = ctrl->first_offer_us - t_back;
  g_test_message ("offer %" G_GINT64_FORMAT " us after signal came back", delay_us);
  g_assert_cmpint (delay_us, <, 300 * 1000);

  side_close (&sides[0]);
  side_close (&sides[1]);
  g_assert_true (wait_for (peers_gone, NULL, 10000));
  side_clear (&sides[0]);
  side_clear (&sides[1]);
}

/* ---- main ---------------------------------------------------------------- */

static int
reexec_in_namespace (int argc, char **argv)
{
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autofree char *unshare = g_find_program_in_path ("unshare");

  if (geteuid () != 0 || self_exe == NULL || unshare == NULL)
    {
      g_printerr ("SKIP: needs root and unshare(1)\n");
      return 77;
    }
  g_ptr_array_add (args, (char *) "unshare");
  g_ptr_array_add (args, (char *) "--net");
  g_ptr_array_add (args, (char *) "--mount");
  g_ptr_array_add (args, (char *) "--fork");
  g_ptr_array_add (args, (char *) "--");
  g_ptr_array_add (args, self_exe);
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (args, argv[i]);
  g_ptr_array_add (args, NULL);
  g_setenv (NS_ENV, "1", TRUE);
  execvp ("unshare", (char **) args->pdata);
  g_printerr ("SKIP: unshare: %s\n", g_strerror (errno));
  return 77;
}

int
main (int argc, char **argv)
{
  g_autofree char *wg = NULL;

  if (g_getenv (NS_ENV) == NULL)
    return reexec_in_namespace (argc, argv);

  /* inside: private /run (wireguard-go's /run/wireguard), loopback up */
  if (mount ("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
      || mount ("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
    {
      g_printerr ("SKIP: cannot mount a tmpfs on /run: %s\n", g_strerror (errno));
      return 77;
    }
  if (!link_up ("lo"))
    {
      g_printerr ("SKIP: cannot bring lo up: %s\n", g_strerror (errno));
      return 77;
    }
  wg = g_find_program_in_path ("wireguard-go");
  if (wg == NULL)
    {
      g_printerr ("SKIP: no wireguard-go\n");
      return 77;
    }
  if (access ("/dev/net/tun", R_OK | W_OK) != 0)
    {
      g_printerr ("SKIP: no /dev/net/tun\n");
      return 77;
    }

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/peer-conn/ice-direct", test_ice_direct);
  g_test_add_func ("/peer-conn/ice-proxy", test_ice_proxy);
  g_test_add_func ("/peer-conn/relay-forced", test_relay_forced);
  g_test_add_func ("/peer-conn/failover", test_failover);
  g_test_add_func ("/peer-conn/late-remote", test_late_remote);
  g_test_add_func ("/peer-conn/offer-signal-down", test_offer_signal_down);
  return g_test_run ();
}
