/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests the WireGuard profile that service/wg/wg-nm.c hands to
 * NetworkManager (pure functions, no daemon): it passes
 * nm_connection_verify(), carries the keys, peers, endpoints, allowed IPs
 * and keepalives given, keeps the private key with secret flags NONE,
 * disables IP configuration on the device, and refuses bad input; the
 * in-place peer updates keep NbWgBackend's semantics. Also the kernel
 * probe's answer on a machine with or without kernel WireGuard. */
#include "config.h"

#include <NetworkManager.h>
#include <string.h>

#include "wg-nm.h"

static NbWgKey
key_of (guint8 n)
{
  NbWgKey k;

  memset (k.bytes, n, sizeof k.bytes);
  return k;
}

static char *
b64_of (guint8 n)
{
  NbWgKey k = key_of (n);
  return nb_wg_key_to_base64 (&k);
}

static NMConnection *
build_two_peers (GError **error)
{
  NbWgKey priv;
  const char *aips0[] = { "100.64.0.7", "10.20.0.9/24", NULL };
  const char *aips1[] = { "fd00::1/64", NULL };
  g_autoptr (GInetSocketAddress) ep0 = nb_wg_endpoint_parse ("192.0.2.1:51820", NULL);
  g_autoptr (GInetSocketAddress) ep1 = nb_wg_endpoint_parse ("[2001:db8::1]:51821", NULL);
  NbWgKey psk = key_of (9);
  NbWgPeerConfig peers[2] = {
    { .public_key = key_of (2), .endpoint = ep0, .persistent_keepalive_s = 25,
      .allowed_ips = aips0, .replace_allowed_ips = TRUE },
    { .public_key = key_of (3), .endpoint = ep1, .preshared_key = &psk,
      .allowed_ips = aips1, .replace_allowed_ips = TRUE },
  };
  NbWgNmProfile profile = {
    .interface_name = "wt0",
    .private_key = &priv,
    .listen_port = 51820,
    .fwmark = 0x1bd00,
    .mtu = 1280,
    .peers = peers,
    .n_peers = 2,
  };

  nb_wg_key_generate_private (&priv);
  return nb_wg_nm_build_connection (&profile, error);
}

static void
test_profile (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) c = build_two_peers (&error);
  NMSettingConnection *s_con;
  NMSettingWireGuard *s_wg;
  NMSettingIPConfig *s_ip4, *s_ip6;
  NMWireGuardPeer *p;
  g_autofree char *k2 = b64_of (2), *k3 = b64_of (3), *k9 = b64_of (9);
  NbWgKey parsed;

  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_assert_true (nm_connection_verify (c, &error));
  g_assert_no_error (error);
  g_assert_true (nm_connection_verify_secrets (c, &error));
  g_assert_no_error (error);

  s_con = nm_connection_get_setting_connection (c);
  g_assert_cmpstr (nm_setting_connection_get_connection_type (s_con), ==, NM_SETTING_WIREGUARD_SETTING_NAME);
  g_assert_cmpstr (nm_setting_connection_get_interface_name (s_con), ==, "wt0");
  g_assert_cmpstr (nm_setting_connection_get_id (s_con), ==, "netbird wt0");
  g_assert_cmpuint (strlen (nm_setting_connection_get_uuid (s_con)), ==, 36);
  g_assert_false (nm_setting_connection_get_autoconnect (s_con));

  s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (c, NM_TYPE_SETTING_WIREGUARD));
  g_assert_nonnull (s_wg);
  g_assert_true (nb_wg_key_from_base64 (nm_setting_wireguard_get_private_key (s_wg), &parsed, NULL));
  g_assert_false (nb_wg_key_is_zero (&parsed));
  g_assert_cmpint (nm_setting_wireguard_get_private_key_flags (s_wg), ==, NM_SETTING_SECRET_FLAG_NONE);
  g_assert_cmpuint (nm_setting_wireguard_get_listen_port (s_wg), ==, 51820);
  g_assert_cmphex (nm_setting_wireguard_get_fwmark (s_wg), ==, 0x1bd00);
  g_assert_cmpuint (nm_setting_wireguard_get_mtu (s_wg), ==, 1280);
  g_assert_false (nm_setting_wireguard_get_peer_routes (s_wg));
  g_assert_cmpint (nm_setting_wireguard_get_ip4_auto_default_route (s_wg), ==, NM_TERNARY_FALSE);
  g_assert_cmpint (nm_setting_wireguard_get_ip6_auto_default_route (s_wg), ==, NM_TERNARY_FALSE);

  s_ip4 = nm_connection_get_setting_ip4_config (c);
  s_ip6 = nm_connection_get_setting_ip6_config (c);
  g_assert_cmpstr (nm_setting_ip_config_get_method (s_ip4), ==, NM_SETTING_IP4_CONFIG_METHOD_DISABLED);
  g_assert_cmpstr (nm_setting_ip_config_get_method (s_ip6), ==, NM_SETTING_IP6_CONFIG_METHOD_DISABLED);

  g_assert_cmpuint (nm_setting_wireguard_get_peers_len (s_wg), ==, 2);
  p = nm_setting_wireguard_get_peer (s_wg, 0);
  g_assert_cmpstr (nm_wireguard_peer_get_public_key (p), ==, k2);
  g_assert_cmpstr (nm_wireguard_peer_get_endpoint (p), ==, "192.0.2.1:51820");
  g_assert_cmpuint (nm_wireguard_peer_get_persistent_keepalive (p), ==, 25);
  g_assert_null (nm_wireguard_peer_get_preshared_key (p));
  g_assert_cmpuint (nm_wireguard_peer_get_allowed_ips_len (p), ==, 2);
  /* Normalised: a bare address gets /32, host bits are cleared. */
  g_assert_cmpstr (nm_wireguard_peer_get_allowed_ip (p, 0, NULL), ==, "100.64.0.7/32");
  g_assert_cmpstr (nm_wireguard_peer_get_allowed_ip (p, 1, NULL), ==, "10.20.0.0/24");
  g_assert_true (nm_wireguard_peer_is_sealed (p));

  p = nm_setting_wireguard_get_peer (s_wg, 1);
  g_assert_cmpstr (nm_wireguard_peer_get_public_key (p), ==, k3);
  g_assert_cmpstr (nm_wireguard_peer_get_endpoint (p), ==, "[2001:db8::1]:51821");
  g_assert_cmpuint (nm_wireguard_peer_get_persistent_keepalive (p), ==, 0);
  g_assert_cmpstr (nm_wireguard_peer_get_preshared_key (p), ==, k9);
  g_assert_cmpint (nm_wireguard_peer_get_preshared_key_flags (p), ==, NM_SETTING_SECRET_FLAG_NONE);
  g_assert_cmpstr (nm_wireguard_peer_get_allowed_ip (p, 0, NULL), ==, "fd00::/64");

  /* Survives the D-Bus round trip NetworkManager will do. */
  {
    g_autoptr (GVariant) dict = nm_connection_to_dbus (c, NM_CONNECTION_SERIALIZE_ALL);
    g_autoptr (NMConnection) back = nm_simple_connection_new_from_dbus (dict, &error);
    g_autoptr (GHashTable) diffs = NULL;
    g_assert_no_error (error);
    if (!nm_connection_diff (c, back, NM_SETTING_COMPARE_FLAG_EXACT, &diffs))
      {
        GHashTableIter it;
        gpointer name, keys;
        g_hash_table_iter_init (&it, diffs);
        while (g_hash_table_iter_next (&it, &name, &keys))
          {
            GList *l = g_hash_table_get_keys (keys);
            for (GList *k = l; k; k = k->next)
              g_test_message ("differs after D-Bus: %s.%s", (char *) name, (char *) k->data);
            g_list_free (l);
          }
        g_assert_not_reached ();
      }
  }
}

static void
test_profile_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) c = NULL;
  NbWgKey priv = key_of (0x40);
  NbWgNmProfile profile = { .interface_name = "nb-x.1", .private_key = &priv, .id = "office",
                            .uuid = "0bcd6e3c-7e35-4bd8-9a43-7a0c8f9d5e11" };
  NMSettingWireGuard *s_wg;

  c = nb_wg_nm_build_connection (&profile, &error);
  g_assert_no_error (error);
  g_assert_true (nm_connection_verify (c, NULL));
  g_assert_cmpstr (nm_connection_get_id (c), ==, "office");
  g_assert_cmpstr (nm_connection_get_uuid (c), ==, "0bcd6e3c-7e35-4bd8-9a43-7a0c8f9d5e11");
  g_assert_cmpstr (nm_connection_get_interface_name (c), ==, "nb-x.1");
  s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (c, NM_TYPE_SETTING_WIREGUARD));
  g_assert_cmpuint (nm_setting_wireguard_get_listen_port (s_wg), ==, 0);
  g_assert_cmpuint (nm_setting_wireguard_get_peers_len (s_wg), ==, 0);
}

static void
test_profile_refused (void)
{
  NbWgKey priv = key_of (0x40), zero = NB_WG_KEY_INIT;
  const char *bad_aips[] = { "10.0.0.0/33", NULL };
  NbWgPeerConfig bad_peer = { .public_key = key_of (2), .allowed_ips = bad_aips, .replace_allowed_ips = TRUE };
  NbWgPeerConfig keyless = { .public_key = NB_WG_KEY_INIT };
  struct {
    NbWgNmProfile profile;
    const char *what;
  } cases[] = {
    { { .interface_name = "-wt0", .private_key = &priv }, "interface starting with '-'" },
    { { .interface_name = "this-name-is-too-long", .private_key = &priv }, "interface name too long" },
    { { .interface_name = NULL, .private_key = &priv }, "no interface" },
    { { .interface_name = "wt0", .private_key = NULL }, "no private key" },
    { { .interface_name = "wt0", .private_key = &zero }, "all-zero private key" },
    { { .interface_name = "wt0", .private_key = &priv, .listen_port = 65536 }, "port" },
    { { .interface_name = "wt0", .private_key = &priv, .peers = &bad_peer, .n_peers = 1 }, "bad allowed IP" },
    { { .interface_name = "wt0", .private_key = &priv, .peers = &keyless, .n_peers = 1 }, "peer without key" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NMConnection) c = nb_wg_nm_build_connection (&cases[i].profile, &error);

      g_test_message ("case: %s", cases[i].what);
      g_assert_null (c);
      g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
      /* No key material in messages. */
      g_assert_null (strstr (error->message, "QEBAQEBA"));
    }
}

static void
test_apply_peer (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) c = build_two_peers (&error);
  NMSettingWireGuard *s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (c, NM_TYPE_SETTING_WIREGUARD));
  g_autofree char *k2 = b64_of (2), *k3 = b64_of (3), *k4 = b64_of (4);
  g_autoptr (GInetSocketAddress) ep = nb_wg_endpoint_parse ("198.51.100.7:4000", NULL);
  const char *more[] = { "192.168.7.0/24", "100.64.0.7/32", NULL };
  const char *only[] = { "100.64.0.8/32", NULL };
  NbWgKey zero = NB_WG_KEY_INIT;
  NMWireGuardPeer *p;
  guint idx;

  /* Endpoint update, allowed IPs added (no duplicates), keepalive applied. */
  {
    NbWgPeerConfig upd = { .public_key = key_of (2), .endpoint = ep, .persistent_keepalive_s = 0,
                           .allowed_ips = more, .replace_allowed_ips = FALSE };
    g_assert_true (nb_wg_nm_apply_peer (c, &upd, &error));
    g_assert_no_error (error);
  }
  p = nm_setting_wireguard_get_peer_by_public_key (s_wg, k2, &idx);
  g_assert_cmpuint (idx, ==, 0);
  g_assert_cmpstr (nm_wireguard_peer_get_endpoint (p), ==, "198.51.100.7:4000");
  g_assert_cmpuint (nm_wireguard_peer_get_persistent_keepalive (p), ==, 0);
  g_assert_cmpuint (nm_wireguard_peer_get_allowed_ips_len (p), ==, 3);
  g_assert_cmpstr (nm_wireguard_peer_get_allowed_ip (p, 2, NULL), ==, "192.168.7.0/24");

  /* NULL endpoint and preshared key leave them; replace allowed IPs. */
  {
    NbWgPeerConfig upd = { .public_key = key_of (3), .allowed_ips = only, .replace_allowed_ips = TRUE };
    g_assert_true (nb_wg_nm_apply_peer (c, &upd, &error));
  }
  p = nm_setting_wireguard_get_peer_by_public_key (s_wg, k3, NULL);
  g_assert_cmpstr (nm_wireguard_peer_get_endpoint (p), ==, "[2001:db8::1]:51821");
  g_assert_nonnull (nm_wireguard_peer_get_preshared_key (p));
  g_assert_cmpuint (nm_wireguard_peer_get_allowed_ips_len (p), ==, 1);
  g_assert_cmpstr (nm_wireguard_peer_get_allowed_ip (p, 0, NULL), ==, "100.64.0.8/32");

  /* The all-zero preshared key removes it. */
  {
    NbWgPeerConfig upd = { .public_key = key_of (3), .preshared_key = &zero };
    g_assert_true (nb_wg_nm_apply_peer (c, &upd, &error));
  }
  p = nm_setting_wireguard_get_peer_by_public_key (s_wg, k3, NULL);
  g_assert_null (nm_wireguard_peer_get_preshared_key (p));
  g_assert_cmpuint (nm_wireguard_peer_get_allowed_ips_len (p), ==, 1);

  /* update_only on an unknown peer: nothing happens. */
  {
    NbWgPeerConfig upd = { .public_key = key_of (4), .endpoint = ep, .update_only = TRUE };
    g_assert_true (nb_wg_nm_apply_peer (c, &upd, &error));
  }
  g_assert_cmpuint (nm_setting_wireguard_get_peers_len (s_wg), ==, 2);

  /* A new peer is appended. */
  {
    NbWgPeerConfig add = { .public_key = key_of (4), .allowed_ips = only, .replace_allowed_ips = TRUE };
    g_assert_true (nb_wg_nm_apply_peer (c, &add, &error));
  }
  g_assert_cmpuint (nm_setting_wireguard_get_peers_len (s_wg), ==, 3);
  g_assert_nonnull (nm_setting_wireguard_get_peer_by_public_key (s_wg, k4, &idx));
  g_assert_cmpuint (idx, ==, 2);

  /* A refused update leaves the peer as it was. */
  {
    const char *bad[] = { "100.64.0.1/40", NULL };
    NbWgPeerConfig upd = { .public_key = key_of (2), .allowed_ips = bad, .replace_allowed_ips = TRUE };
    g_assert_false (nb_wg_nm_apply_peer (c, &upd, &error));
    g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }
  p = nm_setting_wireguard_get_peer_by_public_key (s_wg, k2, NULL);
  g_assert_cmpuint (nm_wireguard_peer_get_allowed_ips_len (p), ==, 3);

  g_assert_true (nm_connection_verify (c, &error));
  g_assert_no_error (error);

  /* Removal. */
  {
    NbWgKey k = key_of (3);
    g_assert_true (nb_wg_nm_remove_peer (c, &k));
    g_assert_false (nb_wg_nm_remove_peer (c, &k));
  }
  g_assert_cmpuint (nm_setting_wireguard_get_peers_len (s_wg), ==, 2);
  g_assert_null (nm_setting_wireguard_get_peer_by_public_key (s_wg, k3, NULL));
}

/* The probe answers either way; without kernel WireGuard it says why, and
 * reading a device that does not exist is NOT_RUNNING, not a crash. */
static void
test_kernel_probe (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = NULL;
  gboolean available = nb_wg_nm_kernel_available (&error);

  if (available)
    {
      g_test_message ("kernel WireGuard available");
      g_assert_no_error (error);
    }
  else
    {
      g_test_message ("kernel WireGuard unavailable: %s", error->message);
      g_assert_nonnull (error);
      g_assert_cmpstr (error->message, !=, "");
    }
  g_clear_error (&error);

  stats = nb_wg_nm_read_kernel_stats ("nbtest-absent0", &error);
  g_assert_null (stats);
  g_assert_nonnull (error);
  if (available)
    g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING);
  else
    g_assert_true (error->domain == NB_WG_ERROR);
  g_clear_error (&error);

  stats = nb_wg_nm_read_kernel_stats ("-bad", &error);
  g_assert_null (stats);
  g_assert_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg-nm/profile", test_profile);
  g_test_add_func ("/wg-nm/profile-defaults", test_profile_defaults);
  g_test_add_func ("/wg-nm/profile-refused", test_profile_refused);
  g_test_add_func ("/wg-nm/apply-peer", test_apply_peer);
  g_test_add_func ("/wg-nm/kernel-probe", test_kernel_probe);
  return g_test_run ();
}
