/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/wg/wg-uapi-msg.c (the UAPI codec), service/wg/wg-backend.c
 * (errors, names, allowed IPs, endpoints) and service/wg/wg-uapi.c against
 *  - an in-process fake UAPI socket (queueing, timeouts, bad answers), and
 *  - this binary re-executed as a fake `wireguard-go -f IFNAME` (process
 *    management: start, stop, SIGKILL, "died", dispose).
 * The real wireguard-go is exercised by tests/e2e/test-wg-uapi.sh (root,
 * namespaces); no wireguard-go is ever started here. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "wg-backend.h"
#include "wg-uapi-msg.h"
#include "wg-uapi.h"

/* Key known answers from wireguard-tools (see test-wg-key.c). */
#define WG_PRIV_B64   "8AY6e6GLDqUpp/wdgltmDhyXD6Hm6jHePc5mMudemWA="
#define WG_PRIV_HEX   "f0063a7ba18b0ea529a7fc1d825b660e1c970fa1e6ea31de3dce6632e75e9960"
#define WG_PUB_B64    "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8="
#define ALICE_PUB_B64 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define ALICE_PUB_HEX "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PUB_B64   "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define BOB_PUB_HEX   "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define PSK_B64       "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define PSK_HEX       "0101010101010101010101010101010101010101010101010101010101010101"
#define ZERO_HEX      "0000000000000000000000000000000000000000000000000000000000000000"

/* What wireguard-go 0.0.20220316 (Debian 12) answered to get=1, captured
 * in a network namespace after
 *   wg set wgcap listen-port 51820 private-key <WG_PRIV>
 *     peer ALICE endpoint 192.0.2.1:51820 allowed-ips 100.64.0.5/32,10.1.0.0/16
 *          persistent-keepalive 25 preshared-key <PSK>
 *     peer BOB endpoint [2001:db8::1]:51821 allowed-ips fd00::/64
 * (the test keys above; the device lists peers in its own order). */
static const char real_get_answer[] =
  "private_key=" WG_PRIV_HEX "\n"
  "listen_port=51820\n"
  "public_key=" BOB_PUB_HEX "\n"
  "preshared_key=" ZERO_HEX "\n"
  "protocol_version=1\n"
  "endpoint=[2001:db8::1]:51821\n"
  "last_handshake_time_sec=0\n"
  "last_handshake_time_nsec=0\n"
  "tx_bytes=0\n"
  "rx_bytes=0\n"
  "persistent_keepalive_interval=0\n"
  "allowed_ip=fd00::/64\n"
  "public_key=" ALICE_PUB_HEX "\n"
  "preshared_key=" PSK_HEX "\n"
  "protocol_version=1\n"
  "endpoint=192.0.2.1:51820\n"
  "last_handshake_time_sec=0\n"
  "last_handshake_time_nsec=0\n"
  "tx_bytes=0\n"
  "rx_bytes=0\n"
  "persistent_keepalive_interval=25\n"
  "allowed_ip=100.64.0.5/32\n"
  "allowed_ip=10.1.0.0/16\n"
  "errno=0\n"
  "\n";

static NbWgKey
key_from_b64 (const char *text)
{
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  g_assert_true (nb_wg_key_from_base64 (text, &key, &error));
  g_assert_no_error (error);
  return key;
}

static void
assert_buf (const NbWgUapiBuf *buf,
            const char        *want)
{
  g_assert_nonnull (buf);
  g_assert_cmpuint (buf->len, ==, strlen (want));
  g_assert_cmpstr (buf->data, ==, want);
}

/* ---- requests, byte for byte -------------------------------------------------- */

static void
test_format_get (void)
{
  g_autoptr(NbWgUapiBuf) buf = nb_wg_uapi_format_get ();

  assert_buf (buf, "get=1\n\n");
}

static void
test_format_set_device (void)
{
  g_auto(NbWgKey) priv = key_from_b64 (WG_PRIV_B64);
  g_autoptr(GError) error = NULL;
  NbWgUapiBuf *buf;

  buf = nb_wg_uapi_format_set_device (&priv, 51820, &error);
  g_assert_no_error (error);
  assert_buf (buf, "set=1\nprivate_key=" WG_PRIV_HEX "\nlisten_port=51820\n\n");
  nb_wg_uapi_buf_free (buf);

  buf = nb_wg_uapi_format_set_device (&priv, NB_WG_LISTEN_PORT_UNCHANGED, &error);
  assert_buf (buf, "set=1\nprivate_key=" WG_PRIV_HEX "\n\n");
  nb_wg_uapi_buf_free (buf);

  buf = nb_wg_uapi_format_set_device (NULL, 0, &error);
  assert_buf (buf, "set=1\nlisten_port=0\n\n");
  nb_wg_uapi_buf_free (buf);

  buf = nb_wg_uapi_format_set_device (NULL, NB_WG_LISTEN_PORT_UNCHANGED, &error);
  assert_buf (buf, "set=1\n\n");
  nb_wg_uapi_buf_free (buf);

  buf = nb_wg_uapi_format_set_device (NULL, 65535, &error);
  assert_buf (buf, "set=1\nlisten_port=65535\n\n");
  nb_wg_uapi_buf_free (buf);

  g_assert_null (nb_wg_uapi_format_set_device (&priv, 65536, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (nb_wg_uapi_format_set_device (&priv, -2, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
}

static GInetSocketAddress *
endpoint (const char *text)
{
  g_autoptr(GError) error = NULL;
  GInetSocketAddress *ep = nb_wg_endpoint_parse (text, &error);

  g_assert_no_error (error);
  return ep;
}

static void
test_format_set_peer (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetSocketAddress) ep4 = endpoint ("192.0.2.1:51820");
  g_autoptr(GInetSocketAddress) ep6 = endpoint ("[2001:db8::1]:51821");
  g_auto(NbWgKey) psk = key_from_b64 (PSK_B64);
  NbWgKey zero = NB_WG_KEY_INIT;
  const char *ips[] = { "100.64.0.5/32", "10.1.2.3/16", NULL };
  const char *ips6[] = { "fd00::1/64", "100.64.0.6", NULL };
  NbWgPeerConfig peer = { 0 };
  NbWgUapiBuf *buf;

  peer.public_key = key_from_b64 (ALICE_PUB_B64);
  peer.endpoint = ep4;
  peer.preshared_key = &psk;
  peer.persistent_keepalive_s = 25;
  peer.allowed_ips = ips;
  peer.replace_allowed_ips = TRUE;
  peer.update_only = TRUE;
  buf = nb_wg_uapi_format_set_peer (&peer, &error);
  g_assert_no_error (error);
  assert_buf (buf,
              "set=1\n"
              "public_key=" ALICE_PUB_HEX "\n"
              "update_only=true\n"
              "preshared_key=" PSK_HEX "\n"
              "endpoint=192.0.2.1:51820\n"
              "persistent_keepalive_interval=25\n"
              "replace_allowed_ips=true\n"
              "allowed_ip=100.64.0.5/32\n"
              "allowed_ip=10.1.0.0/16\n"
              "\n");
  nb_wg_uapi_buf_free (buf);

  /* The minimum: only the key and the keepalive (always applied). */
  memset (&peer, 0, sizeof peer);
  peer.public_key = key_from_b64 (BOB_PUB_B64);
  buf = nb_wg_uapi_format_set_peer (&peer, &error);
  g_assert_no_error (error);
  assert_buf (buf,
              "set=1\n"
              "public_key=" BOB_PUB_HEX "\n"
              "persistent_keepalive_interval=0\n"
              "\n");
  nb_wg_uapi_buf_free (buf);

  /* IPv6 endpoint in brackets, canonical allowed IPs, the zero preshared
   * key (removes it), allowed IPs added (no replace). */
  peer.endpoint = ep6;
  peer.preshared_key = &zero;
  peer.allowed_ips = ips6;
  buf = nb_wg_uapi_format_set_peer (&peer, &error);
  g_assert_no_error (error);
  assert_buf (buf,
              "set=1\n"
              "public_key=" BOB_PUB_HEX "\n"
              "preshared_key=" ZERO_HEX "\n"
              "endpoint=[2001:db8::1]:51821\n"
              "persistent_keepalive_interval=0\n"
              "allowed_ip=fd00::/64\n"
              "allowed_ip=100.64.0.6/32\n"
              "\n");
  nb_wg_uapi_buf_free (buf);
}

static void
test_format_set_peer_invalid (void)
{
  static const char *bad[] = {
    "", "x", "10.0.0.0/", "/24", "10.0.0.0/33", "fd00::/129", "10.0.0.0/024",
    " 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.256/32",
    "fe80::1%eth0/64", "10.0.0.0/8/8", "1.2.3/24", "010.0.0.0/8",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      const char *ips[] = { "100.64.0.5/32", bad[i], NULL };
      NbWgPeerConfig peer = { 0 };

      peer.public_key = key_from_b64 (ALICE_PUB_B64);
      peer.allowed_ips = ips;
      g_assert_null (nb_wg_uapi_format_set_peer (&peer, &error));
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
    }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string ("192.0.2.1");
    g_autoptr(GSocketAddress) ep0 = g_inet_socket_address_new (addr, 0);
    NbWgPeerConfig peer = { 0 };

    peer.public_key = key_from_b64 (ALICE_PUB_B64);
    peer.endpoint = G_INET_SOCKET_ADDRESS (ep0);
    g_assert_null (nb_wg_uapi_format_set_peer (&peer, &error));
    g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
  }
}

static void
test_format_remove_peer (void)
{
  NbWgKey pub = key_from_b64 (ALICE_PUB_B64);
  g_autoptr(NbWgUapiBuf) buf = nb_wg_uapi_format_remove_peer (&pub);

  assert_buf (buf, "set=1\npublic_key=" ALICE_PUB_HEX "\nremove=true\n\n");
}

static void
test_buf_growth (void)
{
  g_autoptr(NbWgUapiBuf) buf = nb_wg_uapi_buf_new (0);
  g_autoptr(GString) want = g_string_new (NULL);
  guint i;

  for (i = 0; i < 5000; i++)
    {
      g_autofree char *piece = g_strdup_printf ("line=%u\n", i);

      nb_wg_uapi_buf_append (buf, piece, strlen (piece));
      g_string_append (want, piece);
    }
  g_assert_cmpuint (buf->len, ==, want->len);
  g_assert_cmpmem (buf->data, buf->len, want->str, want->len);
  g_assert_cmpint (buf->data[buf->len], ==, '\0');
}

/* ---- values ------------------------------------------------------------------- */

static void
test_interface_names (void)
{
  static const char *good[] = { "wg0", "nb-wt0", "a", "A.b_c-1", "123456789012345", "wg.", "...x" };
  static const char *bad[] = {
    "", "-f", "--help", "1234567890123456", "wg 0", "wg/0", "wg:0", "wg\n", "wgä",
    ".", "..", "wg0%", "$(x)",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (nb_wg_interface_name_validate (good[i], &error));
      g_assert_no_error (error);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(NbWgUapi) uapi = NULL;

      g_assert_false (nb_wg_interface_name_validate (bad[i], &error));
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
      uapi = nb_wg_uapi_new (bad[i], &error);
      g_assert_null (uapi);
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
    }
  g_assert_false (nb_wg_interface_name_validate (NULL, NULL));
}

static void
test_allowed_ips (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "100.64.0.5/32", "100.64.0.5/32" },
    { "100.64.0.5", "100.64.0.5/32" },
    { "10.1.2.3/16", "10.1.0.0/16" },
    { "10.1.2.3/0", "0.0.0.0/0" },
    { "10.255.255.255/9", "10.128.0.0/9" },
    { "fd00::1/64", "fd00::/64" },
    { "FD00::1", "fd00::1/128" },
    { "2001:db8:ffff::/35", "2001:db8:e000::/35" },
    { "::/0", "::/0" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *out = nb_wg_allowed_ip_normalize (cases[i].in, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (out, ==, cases[i].out);
    }
}

static void
test_endpoints (void)
{
  static const struct { const char *in, *out; } good[] = {
    { "192.0.2.1:51820", "192.0.2.1:51820" },
    { "[2001:db8::1]:1", "[2001:db8::1]:1" },
    { "[2001:DB8::1]:65535", "[2001:db8::1]:65535" },
    { "[fe80::1%eth0]:51820", "[fe80::1]:51820" },
    { "[::ffff:192.0.2.1]:5", "[::ffff:192.0.2.1]:5" },
  };
  static const char *bad[] = {
    "", "192.0.2.1", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:0051820",
    "2001:db8::1:51820", "[2001:db8::1]51820", "[2001:db8::1]", "[192.0.2.1]:5",
    "host.example:51820", "192.0.2.1:51820x", " 192.0.2.1:5", "[fe80::1%]:5", ":5",
    "192.0.2.1:-5",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GInetSocketAddress) ep = endpoint (good[i].in);
      g_autofree char *text = nb_wg_endpoint_to_string (ep);

      g_assert_cmpstr (text, ==, good[i].out);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (nb_wg_endpoint_parse (bad[i], &error));
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_error_errno (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) copy = NULL;
  g_autoptr(GError) other = g_error_new (NB_WG_ERROR, NB_WG_ERROR_PROTOCOL, "x");
  g_autoptr(GError) foreign = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "x");

  g_assert_cmpstr (g_quark_to_string (NB_WG_ERROR), ==, "nb-wg-error-quark");
  nb_wg_set_refused_error (&error, -98, "wg0");
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_REFUSED);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (error), ==, EADDRINUSE);
  g_assert_nonnull (strstr (error->message, "wg0"));
  g_assert_nonnull (strstr (error->message, "errno 98"));
  copy = g_error_copy (error);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (copy), ==, EADDRINUSE);
  g_prefix_error (&copy, "prefix: ");
  g_assert_cmpint (nb_wg_error_get_uapi_errno (copy), ==, EADDRINUSE);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (other), ==, 0);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (foreign), ==, 0);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (NULL), ==, 0);
}

/* ---- answers ------------------------------------------------------------------ */

static void
test_parse_set_answer (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (nb_wg_uapi_parse_set_response ("errno=0\n\n", 9, &error));
  g_assert_no_error (error);

  g_assert_false (nb_wg_uapi_parse_set_response ("errno=-22\n\n", 11, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_REFUSED);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (error), ==, EINVAL);
  g_clear_error (&error);

  /* A positive errno (the kernel-style form) is the same. */
  g_assert_false (nb_wg_uapi_parse_set_response ("errno=98\n\n", 10, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_REFUSED);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (error), ==, EADDRINUSE);
  g_clear_error (&error);

  g_assert_false (nb_wg_uapi_parse_set_response ("listen_port=1\nerrno=0\n\n", 23, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
}

static void
test_parse_get_real (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  NbWgKey want_pub = key_from_b64 (WG_PUB_B64);
  NbWgKey alice = key_from_b64 (ALICE_PUB_B64);
  NbWgKey bob = key_from_b64 (BOB_PUB_B64);
  const NbWgPeerStats *a, *b;
  g_autofree char *ep_a = NULL;
  g_autofree char *ep_b = NULL;

  stats = nb_wg_uapi_parse_get_response (real_get_answer, strlen (real_get_answer), &error);
  g_assert_no_error (error);
  g_assert_nonnull (stats);
  g_assert_true (stats->has_private_key);
  g_assert_true (nb_wg_key_equal (&stats->public_key, &want_pub));
  g_assert_cmpuint (stats->listen_port, ==, 51820);
  g_assert_cmpuint (stats->fwmark, ==, 0);
  g_assert_cmpuint (stats->peers->len, ==, 2);

  /* The device's order is kept. */
  b = g_ptr_array_index (stats->peers, 0);
  g_assert_true (nb_wg_key_equal (&b->public_key, &bob));
  a = nb_wg_stats_find_peer (stats, &alice);
  g_assert_true (a == g_ptr_array_index (stats->peers, 1));
  g_assert_true (nb_wg_stats_find_peer (stats, &bob) == b);
  g_assert_null (nb_wg_stats_find_peer (stats, &want_pub));

  ep_a = nb_wg_endpoint_to_string (a->endpoint);
  g_assert_cmpstr (ep_a, ==, "192.0.2.1:51820");
  g_assert_true (a->has_preshared_key);
  g_assert_cmpuint (a->persistent_keepalive_s, ==, 25);
  g_assert_cmpint (a->last_handshake_us, ==, 0);
  g_assert_cmpuint (a->rx_bytes, ==, 0);
  g_assert_cmpuint (a->allowed_ips->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (a->allowed_ips, 0), ==, "100.64.0.5/32");
  g_assert_cmpstr (g_ptr_array_index (a->allowed_ips, 1), ==, "10.1.0.0/16");

  ep_b = nb_wg_endpoint_to_string (b->endpoint);
  g_assert_cmpstr (ep_b, ==, "[2001:db8::1]:51821");
  g_assert_false (b->has_preshared_key);
  g_assert_cmpuint (b->persistent_keepalive_s, ==, 0);
  g_assert_cmpuint (b->allowed_ips->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (b->allowed_ips, 0), ==, "fd00::/64");
}

static void
test_parse_get_stats (void)
{
  static const char answer[] =
    "listen_port=40000\n"
    "fwmark=51820\n"
    "some_future_device_key=whatever\n"
    "public_key=" ALICE_PUB_HEX "\n"
    "protocol_version=1\n"
    "last_handshake_time_sec=1700000000\n"
    "last_handshake_time_nsec=123456789\n"
    "tx_bytes=18446744073709551615\n"
    "rx_bytes=1234\n"
    "some_future_peer_key=1\n"
    "persistent_keepalive_interval=65535\n"
    "public_key=" BOB_PUB_HEX "\n"
    "errno=0\n\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  const NbWgPeerStats *a, *b;

  stats = nb_wg_uapi_parse_get_response (answer, strlen (answer), &error);
  g_assert_no_error (error);
  g_assert_false (stats->has_private_key);
  g_assert_true (nb_wg_key_is_zero (&stats->public_key));
  g_assert_cmpuint (stats->listen_port, ==, 40000);
  g_assert_cmpuint (stats->fwmark, ==, 51820);
  g_assert_cmpuint (stats->peers->len, ==, 2);
  a = g_ptr_array_index (stats->peers, 0);
  g_assert_null (a->endpoint);
  g_assert_cmpint (a->last_handshake_us, ==, G_GINT64_CONSTANT (1700000000123456));
  g_assert_cmpuint (a->tx_bytes, ==, G_MAXUINT64);
  g_assert_cmpuint (a->rx_bytes, ==, 1234);
  g_assert_cmpuint (a->persistent_keepalive_s, ==, 65535);
  g_assert_false (a->has_preshared_key);
  g_assert_cmpuint (a->allowed_ips->len, ==, 0);
  b = g_ptr_array_index (stats->peers, 1);
  g_assert_cmpint (b->last_handshake_us, ==, 0);
  g_assert_null (b->endpoint);

  /* Nothing configured at all. */
  g_clear_pointer (&stats, nb_wg_stats_free);
  stats = nb_wg_uapi_parse_get_response ("errno=0\n\n", 9, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stats->peers->len, ==, 0);
  g_assert_false (stats->has_private_key);
}

static void
test_parse_get_refused (void)
{
  g_autoptr(GError) error = NULL;
  static const char answer[] = "listen_port=1\nerrno=-5\n\n";

  g_assert_null (nb_wg_uapi_parse_get_response (answer, strlen (answer), &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_REFUSED);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (error), ==, EIO);
}

static void
test_parse_get_malformed (void)
{
  static const char *bad[] = {
    "",
    "\n",
    "errno=0\n",                                      /* truncated */
    "errno=0",
    "listen_port=1\n",
    "listen_port=1\n\n",                              /* no errno line */
    "errno=0\n\nx",                                   /* trailing bytes */
    "errno=0\n\n\n",
    "errno=\n\n",
    "errno=x\n\n",
    "errno=--1\n\n",
    "errno=99999999999\n\n",
    "errno=0\nlisten_port=1\nerrno=0\n\n",            /* errno in the middle */
    "garbage\nerrno=0\n\n",                           /* no '=' */
    "=1\nerrno=0\n\n",                                /* empty key */
    "listen_port=65536\nerrno=0\n\n",
    "listen_port=-1\nerrno=0\n\n",
    "listen_port=\nerrno=0\n\n",
    "listen_port= 1\nerrno=0\n\n",
    "fwmark=4294967296\nerrno=0\n\n",
    "private_key=1234\nerrno=0\n\n",
    "private_key=" ALICE_PUB_HEX "0\nerrno=0\n\n",
    "private_key=zz20f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a\nerrno=0\n\n",
    "tx_bytes=1\nerrno=0\n\n",                        /* peer key before public_key */
    "allowed_ip=10.0.0.0/8\nerrno=0\n\n",
    "endpoint=192.0.2.1:1\nerrno=0\n\n",
    "public_key=\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\ntx_bytes=18446744073709551616\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nrx_bytes=1x\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nendpoint=nowhere\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nendpoint=192.0.2.1:0\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nallowed_ip=10.0.0.0/33\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nlast_handshake_time_sec=99999999999999999\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\npersistent_keepalive_interval=65536\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\npreshared_key=00\nerrno=0\n\n",
    "public_key=" ALICE_PUB_HEX "\nprotocol_version=one\nerrno=0\n\n",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("case %u", i);
      g_assert_null (nb_wg_uapi_parse_get_response (bad[i], strlen (bad[i]), &error));
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
      /* Never a value in the message: values can be keys. */
      g_assert_null (strstr (error->message, "8520f0"));
      g_assert_null (strstr (error->message, "zz20f0"));
    }

  /* NUL bytes inside */
  {
    g_autoptr(GError) error = NULL;
    static const char nul[] = "listen_port=1\0\nerrno=0\n\n";

    g_assert_null (nb_wg_uapi_parse_get_response (nul, sizeof nul - 1, &error));
    g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
  }
}

/* The private key of a get answer never shows up in an error message. */
static void
test_parse_no_secret_in_errors (void)
{
  g_autofree char *answer = g_strconcat ("private_key=" WG_PRIV_HEX "\nlisten_port=x\nerrno=0\n\n", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_null (nb_wg_uapi_parse_get_response (answer, strlen (answer), &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
  g_assert_null (strstr (error->message, "f0063a7b"));
}

static void
test_response_length (void)
{
  g_assert_cmpuint (nb_wg_uapi_response_length ("", 0), ==, 0);
  g_assert_cmpuint (nb_wg_uapi_response_length ("\n", 1), ==, 1);
  g_assert_cmpuint (nb_wg_uapi_response_length ("errno=0\n", 8), ==, 0);
  g_assert_cmpuint (nb_wg_uapi_response_length ("errno=0\n\n", 9), ==, 9);
  g_assert_cmpuint (nb_wg_uapi_response_length ("errno=0\n\nmore", 13), ==, 9);
  g_assert_cmpuint (nb_wg_uapi_response_length ("a=1\nerrno=0\n\n", 13), ==, 13);
  g_assert_cmpuint (nb_wg_uapi_response_length ("a=1\nerrno=0", 11), ==, 0);
}

/* Mutations of a real answer: every outcome is success or a NB_WG_ERROR,
 * never a crash (ASan/UBSan builds check the rest). */
static void
test_parse_mutations (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261124);
  gsize base_len = strlen (real_get_answer);
  guint i;

  for (i = 0; i < 20000; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(NbWgStats) stats = NULL;
      g_autofree char *data = g_memdup2 (real_get_answer, base_len);
      gsize len = base_len;
      guint n, j;

      switch (g_rand_int_range (rand, 0, 4))
        {
        case 0:   /* truncate */
          len = g_rand_int_range (rand, 0, base_len);
          break;
        case 1:   /* flip bytes */
          n = g_rand_int_range (rand, 1, 4);
          for (j = 0; j < n; j++)
            data[g_rand_int_range (rand, 0, len)] = (char) g_rand_int_range (rand, 0, 256);
          break;
        case 2:   /* a few printable changes in the interesting set */
          n = g_rand_int_range (rand, 1, 3);
          for (j = 0; j < n; j++)
            data[g_rand_int_range (rand, 0, len)] = "=\n0:[]/-9%"[g_rand_int_range (rand, 0, 10)];
          break;
        default:  /* random bytes */
          len = g_rand_int_range (rand, 0, 64);
          for (j = 0; j < len; j++)
            data[j] = (char) g_rand_int_range (rand, 0, 256);
          break;
        }
      stats = nb_wg_uapi_parse_get_response (data, len, &error);
      g_assert_true ((stats == NULL) != (error == NULL));
      if (error != NULL)
        g_assert_true (error->domain == NB_WG_ERROR);
      g_clear_error (&error);
      g_assert_true (nb_wg_uapi_parse_set_response (data, len, &error) == (error == NULL));
    }
}

/* ---- main loop helpers -------------------------------------------------------- */

static gboolean
timeout_fail_cb (gpointer data)
{
  g_error ("timed out waiting for %s", (const char *) data);
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until *@flag is set (fails after 10 s). */
static void
wait_for (const gboolean *flag,
          const char     *what)
{
  guint id = g_timeout_add_seconds (10, timeout_fail_cb, (gpointer) what);

  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
}

typedef struct {
  gboolean done;
  GAsyncResult *result;
} Wait;

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Wait *w = data;

  g_assert_false (w->done);
  w->result = g_object_ref (result);
  w->done = TRUE;
}

static void
wait_clear (Wait *w)
{
  g_clear_object (&w->result);
  w->done = FALSE;
}

static gboolean
flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the loop for @ms. */
static void
spin (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, flag_cb, &done);
  wait_for (&done, "spin");
}

/* ---- an in-process fake UAPI socket -------------------------------------------- */

#define ANSWER_CLOSE ((char *) 1)   /* close without answering */
#define ANSWER_HANG  ((char *) 2)   /* never answer */

typedef struct {
  GSocketService *service;
  char *dir;
  char *path;
  GQueue answers;              /* const char *, or ANSWER_* */
  GPtrArray *requests;         /* char * */
  GPtrArray *held;             /* GSocketConnection *, hung */
  guint delay_ms;              /* before answering */
  guint unanswered;            /* requests received, not yet answered */
  gboolean overlap;            /* a connection came while one was unanswered */
  guint connections;
} Fake;

typedef struct {
  Fake *fake;
  GSocketConnection *conn;
  GString *in;
  char buf[4096];
  char *answer;
} FakeConn;

static void fake_conn_read (FakeConn *fc);

static void
fake_conn_free (FakeConn *fc)
{
  g_object_unref (fc->conn);
  g_string_free (fc->in, TRUE);
  g_free (fc->answer);
  g_free (fc);
}

static void
fake_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  FakeConn *fc = data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (fc->conn), NULL, NULL);
  fake_conn_free (fc);
}

static gboolean
fake_answer_cb (gpointer data)
{
  FakeConn *fc = data;

  fc->fake->unanswered--;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (fc->conn)),
                                   fc->answer, strlen (fc->answer), G_PRIORITY_DEFAULT,
                                   NULL, fake_written_cb, fc);
  return G_SOURCE_REMOVE;
}

static void
fake_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  FakeConn *fc = data;
  Fake *fake = fc->fake;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);
  char *answer;

  if (n <= 0)
    {
      fake_conn_free (fc);
      return;
    }
  g_string_append_len (fc->in, fc->buf, n);
  if (!g_str_has_suffix (fc->in->str, "\n\n"))
    {
      fake_conn_read (fc);
      return;
    }
  g_ptr_array_add (fake->requests, g_strdup (fc->in->str));
  answer = g_queue_is_empty (&fake->answers) ? "errno=0\n\n" : g_queue_pop_head (&fake->answers);
  if (answer == ANSWER_HANG)
    {
      g_ptr_array_add (fake->held, g_object_ref (fc->conn));
      fake_conn_free (fc);
      return;
    }
  if (answer == ANSWER_CLOSE)
    {
      g_io_stream_close (G_IO_STREAM (fc->conn), NULL, NULL);
      fake_conn_free (fc);
      return;
    }
  fake->unanswered++;
  fc->answer = g_strdup (answer);
  if (fake->delay_ms > 0)
    g_timeout_add (fake->delay_ms, fake_answer_cb, fc);
  else
    fake_answer_cb (fc);
}

static void
fake_conn_read (FakeConn *fc)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (fc->conn)),
                             fc->buf, sizeof fc->buf, G_PRIORITY_DEFAULT, NULL,
                             fake_read_cb, fc);
}

static gboolean
fake_incoming_cb (GSocketService    *service,
                  GSocketConnection *conn,
                  GObject           *source,
                  gpointer           data)
{
  Fake *fake = data;
  FakeConn *fc = g_new0 (FakeConn, 1);

  fake->connections++;
  if (fake->unanswered > 0)
    fake->overlap = TRUE;
  fc->fake = fake;
  fc->conn = g_object_ref (conn);
  fc->in = g_string_new (NULL);
  fake_conn_read (fc);
  return TRUE;
}

static void
fake_setup (Fake          *fake,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  fake->dir = g_dir_make_tmp ("test-wg-uapi-XXXXXX", &error);
  g_assert_no_error (error);
  fake->path = g_build_filename (fake->dir, "wgt0.sock", NULL);
  g_queue_init (&fake->answers);
  fake->requests = g_ptr_array_new_with_free_func (g_free);
  fake->held = g_ptr_array_new_with_free_func (g_object_unref);
  fake->service = g_socket_service_new ();
  address = g_unix_socket_address_new (fake->path);
  g_socket_listener_add_address (G_SOCKET_LISTENER (fake->service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                 NULL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (fake->service, "incoming", G_CALLBACK (fake_incoming_cb), fake);
  g_socket_service_start (fake->service);
}

static void
fake_teardown (Fake          *fake,
               gconstpointer  data)
{
  g_socket_service_stop (fake->service);
  g_socket_listener_close (G_SOCKET_LISTENER (fake->service));
  g_clear_object (&fake->service);
  g_ptr_array_unref (fake->held);
  g_ptr_array_unref (fake->requests);
  g_queue_clear (&fake->answers);
  /* Let pending closes and reads finish. */
  spin (20);
  g_unlink (fake->path);
  g_rmdir (fake->dir);
  g_free (fake->path);
  g_free (fake->dir);
}

static NbWgUapi *
fake_client (Fake *fake)
{
  g_autoptr(GError) error = NULL;
  NbWgUapi *uapi = nb_wg_uapi_new ("wgt0", &error);

  g_assert_no_error (error);
  nb_wg_uapi_set_socket_dir (uapi, fake->dir);
  g_assert_cmpstr (nb_wg_uapi_get_socket_path (uapi), ==, fake->path);
  return uapi;
}

static void
test_client_roundtrip (Fake          *fake,
                       gconstpointer  data)
{
  g_autoptr(NbWgUapi) uapi = fake_client (fake);
  g_auto(NbWgKey) priv = key_from_b64 (WG_PRIV_B64);
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  Wait w = { 0 };

  g_queue_push_tail (&fake->answers, (char *) real_get_answer);

  /* Through the interface. */
  g_assert_cmpstr (nb_wg_backend_get_interface_name (NB_WG_BACKEND (uapi)), ==, "wgt0");
  nb_wg_backend_get_stats_async (NB_WG_BACKEND (uapi), NULL, wait_cb, &w);
  g_assert_false (w.done);   /* never completed from inside the call */
  wait_for (&w.done, "get");
  stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (uapi), w.result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stats->peers->len, ==, 2);
  g_assert_cmpuint (stats->listen_port, ==, 51820);
  wait_clear (&w);

  nb_wg_backend_set_device_async (NB_WG_BACKEND (uapi), &priv, 51821, NULL, wait_cb, &w);
  wait_for (&w.done, "set device");
  g_assert_true (nb_wg_backend_set_device_finish (NB_WG_BACKEND (uapi), w.result, &error));
  g_assert_no_error (error);
  wait_clear (&w);

  g_assert_cmpuint (fake->requests->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fake->requests, 0), ==, "get=1\n\n");
  g_assert_cmpstr (g_ptr_array_index (fake->requests, 1), ==,
                   "set=1\nprivate_key=" WG_PRIV_HEX "\nlisten_port=51821\n\n");
}

typedef struct {
  GPtrArray *order;
  const char *name;
} OrderItem;

static void
order_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  OrderItem *item = data;
  g_autoptr(GError) error = NULL;

  if (g_str_has_prefix (item->name, "get"))
    {
      g_autoptr(NbWgStats) stats = nb_wg_uapi_get_stats_finish (NB_WG_UAPI (source), result, &error);

      g_assert_nonnull (stats);
    }
  else
    g_assert_true (g_task_propagate_boolean (G_TASK (result), &error));
  g_assert_no_error (error);
  g_ptr_array_add (item->order, (gpointer) item->name);
}

/* Requests made back to back go out one at a time, in order, each after
 * the previous one was answered. */
static void
test_client_serialised (Fake          *fake,
                        gconstpointer  data)
{
  g_autoptr(NbWgUapi) uapi = fake_client (fake);
  g_autoptr(GPtrArray) order = g_ptr_array_new ();
  g_autoptr(GInetSocketAddress) ep1 = endpoint ("192.0.2.1:1");
  g_autoptr(GInetSocketAddress) ep2 = endpoint ("192.0.2.2:2");
  NbWgPeerConfig peer = { 0 };
  OrderItem items[] = {
    { order, "set1" }, { order, "get1" }, { order, "set2" }, { order, "get2" }, { order, "remove" },
  };
  guint i;

  fake->delay_ms = 15;
  g_queue_push_tail (&fake->answers, "errno=0\n\n");
  g_queue_push_tail (&fake->answers, "errno=0\n\n");
  g_queue_push_tail (&fake->answers, "errno=0\n\n");
  g_queue_push_tail (&fake->answers, "errno=0\n\n");
  g_queue_push_tail (&fake->answers, "errno=0\n\n");

  peer.public_key = key_from_b64 (ALICE_PUB_B64);
  peer.endpoint = ep1;
  nb_wg_uapi_set_peer_async (uapi, &peer, NULL, order_cb, &items[0]);
  nb_wg_uapi_get_stats_async (uapi, NULL, order_cb, &items[1]);
  peer.endpoint = ep2;
  nb_wg_uapi_set_peer_async (uapi, &peer, NULL, order_cb, &items[2]);
  nb_wg_uapi_get_stats_async (uapi, NULL, order_cb, &items[3]);
  nb_wg_uapi_remove_peer_async (uapi, &peer.public_key, NULL, order_cb, &items[4]);
  g_assert_cmpuint (order->len, ==, 0);

  while (order->len < G_N_ELEMENTS (items))
    g_main_context_iteration (NULL, TRUE);
  for (i = 0; i < G_N_ELEMENTS (items); i++)
    g_assert_cmpstr (g_ptr_array_index (order, i), ==, items[i].name);
  g_assert_false (fake->overlap);
  g_assert_cmpuint (fake->connections, ==, 5);
  g_assert_nonnull (strstr (g_ptr_array_index (fake->requests, 0), "endpoint=192.0.2.1:1\n"));
  g_assert_cmpstr (g_ptr_array_index (fake->requests, 1), ==, "get=1\n\n");
  g_assert_nonnull (strstr (g_ptr_array_index (fake->requests, 2), "endpoint=192.0.2.2:2\n"));
  g_assert_nonnull (strstr (g_ptr_array_index (fake->requests, 4), "remove=true\n"));
}

static GError *
get_error (NbWgUapi *uapi)
{
  GError *error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  Wait w = { 0 };

  nb_wg_uapi_get_stats_async (uapi, NULL, wait_cb, &w);
  wait_for (&w.done, "get");
  stats = nb_wg_uapi_get_stats_finish (uapi, w.result, &error);
  wait_clear (&w);
  g_assert_true ((stats == NULL) != (error == NULL));
  return error;
}

static void
test_client_bad_answers (Fake          *fake,
                         gconstpointer  data)
{
  g_autoptr(NbWgUapi) uapi = fake_client (fake);
  GError *error;

  g_queue_push_tail (&fake->answers, "errno=-22\n\n");
  error = get_error (uapi);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_REFUSED);
  g_assert_cmpint (nb_wg_error_get_uapi_errno (error), ==, EINVAL);
  g_assert_nonnull (strstr (error->message, "wgt0"));
  g_clear_error (&error);

  g_queue_push_tail (&fake->answers, "hello world\n\n");
  error = get_error (uapi);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
  g_clear_error (&error);

  g_queue_push_tail (&fake->answers, ANSWER_CLOSE);
  error = get_error (uapi);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* Half an answer, then EOF. */
  g_queue_push_tail (&fake->answers, "listen_port=1\nerr");
  error = get_error (uapi);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL);
  g_clear_error (&error);

  nb_wg_uapi_set_request_timeout (uapi, 100);
  g_queue_push_tail (&fake->answers, ANSWER_HANG);
  error = get_error (uapi);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT);
  g_clear_error (&error);

  /* And it still works after all that. */
  error = get_error (uapi);
  g_assert_no_error (error);
}

static void
test_client_not_running (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-wg-uapi-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "wgt1.sock", NULL);
  g_autoptr(NbWgUapi) uapi = nb_wg_uapi_new ("wgt1", &error);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  GError *e;

  g_assert_no_error (error);
  nb_wg_uapi_set_socket_dir (uapi, dir);
  g_assert_false (nb_wg_uapi_is_running (uapi));
  g_assert_cmpint (nb_wg_uapi_get_pid (uapi), ==, 0);

  /* No socket. */
  e = get_error (uapi);
  g_assert_error (e, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING);
  g_clear_error (&e);

  /* A stale socket, as a killed wireguard-go leaves it. */
  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
  address = g_unix_socket_address_new (path);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
  g_socket_close (socket, NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  e = get_error (uapi);
  g_assert_error (e, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING);
  g_clear_error (&e);

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_client_invalid_argument (Fake          *fake,
                              gconstpointer  data)
{
  g_autoptr(NbWgUapi) uapi = fake_client (fake);
  g_autoptr(GError) error = NULL;
  const char *ips[] = { "10.0.0.0/40", NULL };
  NbWgPeerConfig peer = { 0 };
  Wait w = { 0 };

  peer.public_key = key_from_b64 (ALICE_PUB_B64);
  peer.allowed_ips = ips;
  nb_wg_uapi_set_peer_async (uapi, &peer, NULL, wait_cb, &w);
  g_assert_false (w.done);
  wait_for (&w.done, "set peer");
  g_assert_false (nb_wg_uapi_set_peer_finish (uapi, w.result, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "wgt0"));
  wait_clear (&w);
  g_clear_error (&error);

  nb_wg_uapi_set_device_async (uapi, NULL, 70000, NULL, wait_cb, &w);
  wait_for (&w.done, "set device");
  g_assert_false (nb_wg_uapi_set_device_finish (uapi, w.result, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
  wait_clear (&w);
  g_assert_cmpuint (fake->requests->len, ==, 0);
}

static void
test_client_cancel (Fake          *fake,
                    gconstpointer  data)
{
  g_autoptr(NbWgUapi) uapi = fake_client (fake);
  g_autoptr(GCancellable) cancel_first = g_cancellable_new ();
  g_autoptr(GCancellable) cancel_second = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Wait w1 = { 0 }, w2 = { 0 }, w3 = { 0 };
  gint64 t0;

  g_queue_push_tail (&fake->answers, ANSWER_HANG);
  nb_wg_uapi_get_stats_async (uapi, cancel_first, wait_cb, &w1);        /* hangs */
  nb_wg_uapi_remove_peer_async (uapi, &(NbWgKey) NB_WG_KEY_INIT, cancel_second, wait_cb, &w2);
  nb_wg_uapi_get_stats_async (uapi, NULL, wait_cb, &w3);
  spin (30);
  g_assert_cmpuint (fake->requests->len, ==, 1);

  /* The queued one goes at once, without waiting for the first. */
  t0 = g_get_monotonic_time ();
  g_cancellable_cancel (cancel_second);
  g_assert_false (w2.done);
  wait_for (&w2.done, "cancelled queued request");
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 1000 * 1000);
  g_assert_false (nb_wg_uapi_remove_peer_finish (uapi, w2.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (w1.done);

  /* The one in flight: its connection is closed, the next one runs. */
  g_cancellable_cancel (cancel_first);
  wait_for (&w1.done, "cancelled request in flight");
  g_assert_null (nb_wg_uapi_get_stats_finish (uapi, w1.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  wait_for (&w3.done, "the request after them");
  {
    g_autoptr(NbWgStats) stats = nb_wg_uapi_get_stats_finish (uapi, w3.result, &error);

    g_assert_no_error (error);
    g_assert_nonnull (stats);
  }
  g_assert_cmpuint (fake->requests->len, ==, 2);
  wait_clear (&w1);
  wait_clear (&w2);
  wait_clear (&w3);
}

/* ---- this binary as a fake wireguard-go ----------------------------------------- */

static char *fake_socket_path;

static void
fake_wg_term (int sig)
{
  if (fake_socket_path != NULL)
    unlink (fake_socket_path);
  _exit (0);
}

/* `test-wg-uapi -f IFNAME` with NB_TEST_FAKE_WG=serve|ignore-term|exit|hang
 * and NB_TEST_FAKE_WG_DIR: a stand-in that serves a minimal UAPI socket in
 * that directory. Blocking code: it is a separate process. */
static int
fake_wg_main (int   argc,
              char *argv[])
{
  const char *mode = g_getenv ("NB_TEST_FAKE_WG");
  const char *dir = g_getenv ("NB_TEST_FAKE_WG_DIR");
  const char *log_level = g_getenv ("LOG_LEVEL");
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  if (argc != 3 || strcmp (argv[1], "-f") != 0 || dir == NULL)
    _exit (2);
  if (g_getenv ("WG_TUN_FD") != NULL || g_getenv ("WG_UAPI_FD") != NULL)
    _exit (4);
  if (strcmp (mode, "exit") == 0)
    _exit (3);
  if (strcmp (mode, "hang") == 0)
    for (;;)
      pause ();

  fake_socket_path = g_strdup_printf ("%s/%s.sock", dir, argv[2]);
  /* Like Go on a socket: a write to a closed connection is an error, not
   * a signal (the start probe connects and closes at once). */
  signal (SIGPIPE, SIG_IGN);
  if (strcmp (mode, "ignore-term") == 0)
    signal (SIGTERM, SIG_IGN);
  else
    signal (SIGTERM, fake_wg_term);
  printf ("fake wireguard-go for %s, LOG_LEVEL=%s\n", argv[2], log_level ? log_level : "");
  fflush (stdout);

  unlink (fake_socket_path);
  g_strlcpy (sun.sun_path, fake_socket_path, sizeof sun.sun_path);
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &sun, sizeof sun) < 0 || listen (fd, 8) < 0)
    _exit (5);
  for (;;)
    {
      char buf[4096];
      gsize len = 0;
      int c = accept (fd, NULL, NULL);
      const char *answer;

      if (c < 0)
        continue;
      while (len < sizeof buf - 1)
        {
          ssize_t n = read (c, buf + len, sizeof buf - 1 - len);

          if (n <= 0)
            break;
          len += n;
          buf[len] = '\0';
          if (g_str_has_suffix (buf, "\n\n"))
            break;
        }
      buf[len] = '\0';
      if (len == 0)
        {
          close (c);
          continue;
        }
      /* fwmark tells the test which LOG_LEVEL we got. */
      if (g_str_has_prefix (buf, "get=1\n"))
        answer = g_strcmp0 (log_level, "verbose") == 0
                 ? "listen_port=4242\nfwmark=7\nerrno=0\n\n"
                 : "listen_port=4242\nerrno=0\n\n";
      else
        answer = "errno=0\n\n";
      if (write (c, answer, strlen (answer)) < 0)
        {
          /* nothing to do */
        }
      close (c);
    }
}

typedef struct {
  char *dir;
  char *self_exe;
  NbWgUapi *uapi;
  GError *died;
  guint died_count;
} ProcFixture;

static void
died_cb (NbWgUapi     *uapi,
         const GError *reason,
         gpointer      data)
{
  ProcFixture *f = data;

  f->died_count++;
  g_clear_error (&f->died);
  f->died = g_error_copy (reason);
}

static NbWgUapi *
proc_client (ProcFixture *f,
             const char  *ifname)
{
  g_autoptr(GError) error = NULL;
  NbWgUapi *uapi = nb_wg_uapi_new (ifname, &error);

  g_assert_no_error (error);
  nb_wg_uapi_set_socket_dir (uapi, f->dir);
  nb_wg_uapi_set_program (uapi, f->self_exe);
  nb_wg_uapi_set_log_level (uapi, "verbose");
  g_signal_connect (uapi, "died", G_CALLBACK (died_cb), f);
  return uapi;
}

static void
proc_setup (ProcFixture   *f,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-wg-uapi-XXXXXX", &error);
  g_assert_no_error (error);
  f->self_exe = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  g_setenv ("NB_TEST_FAKE_WG_DIR", f->dir, TRUE);
  g_setenv ("NB_TEST_FAKE_WG", "serve", TRUE);
  /* Must not reach the child. */
  g_setenv ("WG_TUN_FD", "3", TRUE);
  f->uapi = proc_client (f, "wgp0");
}

static gboolean
pid_gone (GPid pid)
{
  return kill (pid, 0) < 0 && errno == ESRCH;
}

/* Iterates until @pid no longer exists (reaped), at most 10 s. */
static void
wait_pid_gone (GPid pid)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!pid_gone (pid))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin (5);
    }
}

static void
proc_teardown (ProcFixture   *f,
               gconstpointer  data)
{
  GPid pid = nb_wg_uapi_get_pid (f->uapi);

  g_clear_object (&f->uapi);
  if (pid != 0)
    wait_pid_gone (pid);
  g_clear_error (&f->died);
  g_unsetenv ("WG_TUN_FD");
  spin (10);
  {
    g_autoptr(GDir) d = g_dir_open (f->dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *path = g_build_filename (f->dir, name, NULL);

        g_unlink (path);
      }
  }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->self_exe);
}

static gboolean
start (NbWgUapi *uapi,
       GError  **error)
{
  Wait w = { 0 };
  gboolean ok;

  nb_wg_uapi_start_async (uapi, NULL, wait_cb, &w);
  g_assert_false (w.done);
  wait_for (&w.done, "start");
  ok = nb_wg_uapi_start_finish (uapi, w.result, error);
  wait_clear (&w);
  return ok;
}

static void
stop (NbWgUapi *uapi)
{
  g_autoptr(GError) error = NULL;
  Wait w = { 0 };

  nb_wg_uapi_stop_async (uapi, NULL, wait_cb, &w);
  wait_for (&w.done, "stop");
  g_assert_true (nb_wg_uapi_stop_finish (uapi, w.result, &error));
  g_assert_no_error (error);
  wait_clear (&w);
}

static void
test_proc_start_stop (ProcFixture   *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  Wait w = { 0 };
  GPid pid;

  g_assert_true (start (f->uapi, &error));
  g_assert_no_error (error);
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_assert_cmpint (pid, >, 0);
  g_assert_true (nb_wg_uapi_is_running (f->uapi));

  nb_wg_uapi_get_stats_async (f->uapi, NULL, wait_cb, &w);
  wait_for (&w.done, "get");
  stats = nb_wg_uapi_get_stats_finish (f->uapi, w.result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stats->listen_port, ==, 4242);
  g_assert_cmpuint (stats->fwmark, ==, 7);   /* LOG_LEVEL=verbose arrived */
  wait_clear (&w);

  /* Starting twice is refused. */
  g_assert_false (start (f->uapi, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_EXISTS);
  g_clear_error (&error);

  stop (f->uapi);
  g_assert_cmpint (nb_wg_uapi_get_pid (f->uapi), ==, 0);
  g_assert_true (pid_gone (pid));
  spin (20);
  g_assert_cmpuint (f->died_count, ==, 0);
  /* Stopping what is not running is fine. */
  stop (f->uapi);
}

static void
test_proc_died (ProcFixture   *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GError *e;
  GPid pid;

  g_assert_true (start (f->uapi, &error));
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  while (f->died_count == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (f->died_count, ==, 1);
  g_assert_error (f->died, NB_WG_ERROR, NB_WG_ERROR_DIED);
  g_assert_nonnull (strstr (f->died->message, "signal 9"));
  g_assert_nonnull (strstr (f->died->message, "wgp0"));
  g_assert_false (nb_wg_uapi_is_running (f->uapi));

  /* Requests fail at once, with the reason. */
  e = get_error (f->uapi);
  g_assert_error (e, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING);
  g_assert_nonnull (strstr (e->message, "signal 9"));
  g_clear_error (&e);

  /* A restart over the stale socket works. */
  g_assert_true (start (f->uapi, &error));
  g_assert_no_error (error);
  e = get_error (f->uapi);
  g_assert_no_error (e);
  stop (f->uapi);
  g_assert_cmpuint (f->died_count, ==, 1);
}

static void
test_proc_early_exit (ProcFixture   *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_setenv ("NB_TEST_FAKE_WG", "exit", TRUE);
  g_assert_false (start (f->uapi, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_SPAWN);
  g_assert_nonnull (strstr (error->message, "status 3"));
  g_clear_error (&error);
  spin (10);
  g_assert_cmpuint (f->died_count, ==, 0);

  nb_wg_uapi_set_program (f->uapi, "/nonexistent/wireguard-go");
  g_assert_false (start (f->uapi, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_SPAWN);
}

static void
test_proc_start_timeout (ProcFixture   *f,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  Wait w = { 0 };
  GPid pid;

  g_setenv ("NB_TEST_FAKE_WG", "hang", TRUE);
  nb_wg_uapi_set_start_timeout (f->uapi, 150);
  nb_wg_uapi_start_async (f->uapi, NULL, wait_cb, &w);
  spin (20);
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_assert_cmpint (pid, >, 0);
  wait_for (&w.done, "start");
  g_assert_false (nb_wg_uapi_start_finish (f->uapi, w.result, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT);
  wait_clear (&w);
  wait_pid_gone (pid);
  spin (10);
  g_assert_cmpuint (f->died_count, ==, 0);
}

/* Stopping during the start: the start fails with CANCELLED (from the
 * main loop, not from inside the stop call), the stop completes. */
static void
test_proc_stop_during_start (ProcFixture   *f,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  Wait ws = { 0 }, wt = { 0 };
  GPid pid;

  g_setenv ("NB_TEST_FAKE_WG", "hang", TRUE);
  nb_wg_uapi_start_async (f->uapi, NULL, wait_cb, &ws);
  spin (20);
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_assert_cmpint (pid, >, 0);
  nb_wg_uapi_stop_async (f->uapi, NULL, wait_cb, &wt);
  g_assert_false (ws.done);
  wait_for (&ws.done, "start");
  g_assert_false (nb_wg_uapi_start_finish (f->uapi, ws.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  wait_for (&wt.done, "stop");
  g_assert_true (nb_wg_uapi_stop_finish (f->uapi, wt.result, NULL));
  g_assert_true (pid_gone (pid));
  g_assert_cmpuint (f->died_count, ==, 0);
  wait_clear (&ws);
  wait_clear (&wt);
}

static void
test_proc_sigkill (ProcFixture   *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  gint64 t0;
  GPid pid;

  g_setenv ("NB_TEST_FAKE_WG", "ignore-term", TRUE);
  nb_wg_uapi_set_stop_timeout (f->uapi, 150);
  g_assert_true (start (f->uapi, &error));
  pid = nb_wg_uapi_get_pid (f->uapi);
  t0 = g_get_monotonic_time ();
  stop (f->uapi);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 140 * 1000);
  g_assert_true (pid_gone (pid));
  g_assert_cmpuint (f->died_count, ==, 0);
}

static void
test_proc_dispose (ProcFixture   *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GPid pid;

  g_assert_true (start (f->uapi, &error));
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_clear_object (&f->uapi);
  /* Terminated and reaped in the background, as long as the loop runs. */
  wait_pid_gone (pid);
  f->uapi = proc_client (f, "wgp0");

  /* Also when it ignores SIGTERM. */
  g_setenv ("NB_TEST_FAKE_WG", "ignore-term", TRUE);
  nb_wg_uapi_set_stop_timeout (f->uapi, 100);
  g_assert_true (start (f->uapi, &error));
  pid = nb_wg_uapi_get_pid (f->uapi);
  g_clear_object (&f->uapi);
  wait_pid_gone (pid);
  f->uapi = proc_client (f, "wgp0");
}

static void
test_proc_exists (ProcFixture   *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgUapi) other = proc_client (f, "wgp0");

  g_assert_true (start (f->uapi, &error));
  g_assert_false (start (other, &error));
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_EXISTS);
  g_assert_cmpint (nb_wg_uapi_get_pid (other), ==, 0);
  stop (f->uapi);
}

int
main (int   argc,
      char *argv[])
{
  if (g_getenv ("NB_TEST_FAKE_WG") != NULL && argc == 3 && strcmp (argv[1], "-f") == 0)
    return fake_wg_main (argc, argv);

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/wg-uapi/format/get", test_format_get);
  g_test_add_func ("/wg-uapi/format/set-device", test_format_set_device);
  g_test_add_func ("/wg-uapi/format/set-peer", test_format_set_peer);
  g_test_add_func ("/wg-uapi/format/set-peer-invalid", test_format_set_peer_invalid);
  g_test_add_func ("/wg-uapi/format/remove-peer", test_format_remove_peer);
  g_test_add_func ("/wg-uapi/format/buf-growth", test_buf_growth);
  g_test_add_func ("/wg-uapi/values/interface-names", test_interface_names);
  g_test_add_func ("/wg-uapi/values/allowed-ips", test_allowed_ips);
  g_test_add_func ("/wg-uapi/values/endpoints", test_endpoints);
  g_test_add_func ("/wg-uapi/values/error-errno", test_error_errno);
  g_test_add_func ("/wg-uapi/parse/set", test_parse_set_answer);
  g_test_add_func ("/wg-uapi/parse/get-real", test_parse_get_real);
  g_test_add_func ("/wg-uapi/parse/get-stats", test_parse_get_stats);
  g_test_add_func ("/wg-uapi/parse/get-refused", test_parse_get_refused);
  g_test_add_func ("/wg-uapi/parse/get-malformed", test_parse_get_malformed);
  g_test_add_func ("/wg-uapi/parse/no-secret-in-errors", test_parse_no_secret_in_errors);
  g_test_add_func ("/wg-uapi/parse/response-length", test_response_length);
  g_test_add_func ("/wg-uapi/parse/mutations", test_parse_mutations);
  g_test_add ("/wg-uapi/client/roundtrip", Fake, NULL, fake_setup, test_client_roundtrip, fake_teardown);
  g_test_add ("/wg-uapi/client/serialised", Fake, NULL, fake_setup, test_client_serialised, fake_teardown);
  g_test_add ("/wg-uapi/client/bad-answers", Fake, NULL, fake_setup, test_client_bad_answers, fake_teardown);
  g_test_add ("/wg-uapi/client/invalid-argument", Fake, NULL, fake_setup, test_client_invalid_argument, fake_teardown);
  g_test_add ("/wg-uapi/client/cancel", Fake, NULL, fake_setup, test_client_cancel, fake_teardown);
  g_test_add_func ("/wg-uapi/client/not-running", test_client_not_running);
  g_test_add ("/wg-uapi/process/start-stop", ProcFixture, NULL, proc_setup, test_proc_start_stop, proc_teardown);
  g_test_add ("/wg-uapi/process/died", ProcFixture, NULL, proc_setup, test_proc_died, proc_teardown);
  g_test_add ("/wg-uapi/process/early-exit", ProcFixture, NULL, proc_setup, test_proc_early_exit, proc_teardown);
  g_test_add ("/wg-uapi/process/start-timeout", ProcFixture, NULL, proc_setup, test_proc_start_timeout, proc_teardown);
  g_test_add ("/wg-uapi/process/stop-during-start", ProcFixture, NULL, proc_setup, test_proc_stop_during_start, proc_teardown);
  g_test_add ("/wg-uapi/process/sigkill", ProcFixture, NULL, proc_setup, test_proc_sigkill, proc_teardown);
  g_test_add ("/wg-uapi/process/dispose", ProcFixture, NULL, proc_setup, test_proc_dispose, proc_teardown);
  g_test_add ("/wg-uapi/process/exists", ProcFixture, NULL, proc_setup, test_proc_exists, proc_teardown);

  return g_test_run ();
}
