/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shared/nm-netbird-settings.c: the rules of every key at their edges, the
 * error codes, and whole settings (unknown keys, secret flags, secrets).
 * The service, the editors and import all rely on exactly these answers.
 */
#include "config.h"

#include <string.h>

#include "nm-netbird-settings.h"

typedef struct {
  const char *key;
  const char *value;
  gboolean ok;
} Case;

static void
test_key_values (void)
{
  static const Case cases[] = {
    { "management-url", "https://api.netbird.io:443", TRUE },
    { "management-url", "http://10.0.0.1:33073/", TRUE },
    { "management-url", "https://[fd00::1]:443", TRUE },
    { "management-url", "HTTPS://example.com", TRUE },
    { "management-url", "https://example.com:65535", TRUE },
    { "management-url", "https://example.com:65536", FALSE },
    { "management-url", "https://example.com:0", FALSE },
    { "management-url", "https://example.com/x", FALSE },
    { "management-url", "https://example.com?x=1", FALSE },
    { "management-url", "https://example.com#f", FALSE },
    { "management-url", "https://user@example.com", FALSE },
    { "management-url", "grpc://example.com", FALSE },
    { "management-url", "https://", FALSE },
    { "management-url", "example.com:443", FALSE },
    { "admin-url", "https://app.netbird.io", TRUE },
    { "admin-url", "https://example.com/netbird/?a=b", TRUE },
    { "admin-url", "file:///etc/passwd", FALSE },
    { "admin-url", "https://exa mple.com", FALSE },
    { "admin-url", "https://example.com/a b", FALSE },
    { "admin-url", "https://example.com/\nx", FALSE },
    { "admin-url", "https://example.com\t", FALSE },
    { "management-url", "https://example.com\n", FALSE },
    { "interface-name", "wt0", TRUE },
    { "interface-name", "a", TRUE },
    { "interface-name", "nb_mesh.0-a", TRUE },
    { "interface-name", "abcdefghijklmno", TRUE },
    { "interface-name", "abcdefghijklmnop", FALSE },
    { "interface-name", "-wt0", FALSE },
    { "interface-name", ".", FALSE },
    { "interface-name", "..", FALSE },
    { "interface-name", "wt 0", FALSE },
    { "interface-name", "wt/0", FALSE },
    { "interface-name", "wt\xc3\xa4", FALSE },
    { "listen-port", "0", TRUE },
    { "listen-port", "1", TRUE },
    { "listen-port", "65535", TRUE },
    { "listen-port", "65536", FALSE },
    { "listen-port", "+5", FALSE },
    { "listen-port", " 5", FALSE },
    { "listen-port", "5 ", FALSE },
    { "listen-port", "0x10", FALSE },
    { "rosenpass", "yes", TRUE },
    { "rosenpass", "no", TRUE },
    { "rosenpass", "Yes", FALSE },
    { "rosenpass-permissive", "no", TRUE },
    { "rosenpass-permissive", "true", FALSE },
    { "wireguard-backend", "kernel", TRUE },
    { "wireguard-backend", "userspace", TRUE },
    { "wireguard-backend", "auto", TRUE },
    { "wireguard-backend", "wireguard-go", FALSE },
    { "hostname", "laptop", TRUE },
    { "hostname", "a.b-c.example", TRUE },
    { "hostname", "under_score", FALSE },
    { "hostname", "sp ace", FALSE },
    { "log-level", "trace", TRUE },
    { "log-level", "warning", TRUE },
    { "log-level", "warn", FALSE },
    { "mtu", "576", TRUE },
    { "mtu", "8920", TRUE },
    { "mtu", "575", FALSE },
    { "mtu", "8921", FALSE },
    { "mtu", "1280.0", FALSE },
    { "exit-node", "auto", TRUE },
    { "exit-node", "none", TRUE },
    { "exit-node", "Exit DE 1", TRUE },
    { "exit-node", "x", TRUE },
    { "exit-node", "ch-zrh_exit.0", TRUE },
    { "exit-node", "Ausgang M\xc3\xbcnchen", TRUE },
    /* 40 characters are the limit: NetBird's, counted in characters */
    { "exit-node", "0123456789012345678901234567890123456789", TRUE },
    { "exit-node", "0123456789012345678901234567890123456789x", FALSE },
    { "exit-node", "\xc3\xbc" "123456789012345678901234567890123456789", TRUE },
    { "exit-node", " exit", FALSE },
    { "exit-node", "exit ", FALSE },
    { "exit-node", "\texit", FALSE },
    { "exit-node", "exit\xc2\xa0", FALSE },
    { "exit-node", "exit\x01node", FALSE },
    { "exit-node", "exit\nnode", FALSE },
    { "exit-node", "exit\x7f", FALSE },
    { "exit-node", "exit\xc2\x85node", FALSE },
    { "exit-node", "exit\xff", FALSE },
    { "setup-key", "A2C8E62B-38F5-4553-B31E-DD66C696CEBB", TRUE },
    { "setup-key", "a2c8e62b-38f5-4553-b31e-dd66c696cebb", TRUE },
    { "setup-key", "A2C8E62B38F54553B31EDD66C696CEBB", FALSE },
    { "setup-key", "G2C8E62B-38F5-4553-B31E-DD66C696CEBB", FALSE },
    { "setup-key", "A2C8E62B-38F5-4553-B31E-DD66C696CEBBX", FALSE },
    { "preshared-key", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", TRUE },
    { "preshared-key", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm=", FALSE },
    { "preshared-key", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm!=", FALSE },
    { "preshared-key", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk", FALSE },
    { "setup-key-flags", "0", TRUE },
    { "preshared-key-flags", "7", TRUE },
    { "setup-key-flags", "8", FALSE },
    { "setup-key-flags", "agent", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = nm_netbird_validate_key_value (cases[i].key, cases[i].value, &error);

      if (ok != cases[i].ok)
        g_error ("%s=%s: expected %s, got %s", cases[i].key, cases[i].value,
                 cases[i].ok ? "valid" : "invalid", error ? error->message : "valid");
      if (!ok)
        {
          g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE);
          /* the message names the key, and never shows a secret */
          g_assert_true (g_str_has_prefix (error->message, cases[i].key));
          if (strstr (cases[i].key, "key") && !strstr (cases[i].key, "flags"))
            g_assert_null (strstr (error->message, cases[i].value));
        }
    }
}

static void
test_codes (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (nm_netbird_validate_key_value ("remote", "x", &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY);
  g_assert_cmpstr (error->message, ==, "unknown key 'remote'");
  g_clear_error (&error);

  g_assert_false (nm_netbird_validate_key_value ("mtu", "", &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING);
  g_assert_cmpstr (error->message, ==, "mtu: the value is empty");
  g_clear_error (&error);

  g_assert_false (nm_netbird_validate_key_value ("mtu", NULL, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING);
  g_clear_error (&error);

  g_assert_false (nm_netbird_validate_setup_key (NULL, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING);
  g_clear_error (&error);

  g_assert_true (nm_netbird_validate_setup_key ("00000000-0000-0000-0000-000000000000", NULL));

  g_assert_false (nm_netbird_validate_key_value ("exit-node", "", &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING);
  g_assert_cmpstr (error->message, ==, "exit-node: the value is empty");
  g_clear_error (&error);
}

/* Each of the exit-node rules says which one is broken. */
static void
test_exit_node_messages (void)
{
  static const struct {
    const char *value;
    const char *message;
  } cases[] = {
    { "0123456789012345678901234567890123456789x", "exit-node: a route network ID is at most 40 characters" },
    { "exit\x01", "exit-node: a route network ID has no control characters" },
    { " Exit DE 1", "exit-node: a route network ID does not begin or end with white space" },
    { "Exit DE 1 ", "exit-node: a route network ID does not begin or end with white space" },
    { "exit\xc3", "exit-node: not UTF-8 text" },
  };

  g_assert_cmpstr (NM_NETBIRD_KEY_EXIT_NODE, ==, "exit-node");
  g_assert_cmpstr (NM_NETBIRD_EXIT_NODE_AUTO, ==, "auto");
  g_assert_cmpstr (NM_NETBIRD_EXIT_NODE_NONE, ==, "none");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_false (nm_netbird_validate_key_value (NM_NETBIRD_KEY_EXIT_NODE, cases[i].value, &error));
      g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

static void
test_data_keys (void)
{
  const char *const *keys = nm_netbird_data_keys ();

  g_assert_cmpuint (g_strv_length ((char **) keys), ==, 11);
  g_assert_cmpstr (keys[0], ==, NM_NETBIRD_KEY_MANAGEMENT_URL);
  g_assert_true (g_strv_contains (keys, NM_NETBIRD_KEY_MTU));
  /* last, so that files exported before it existed come out the same */
  g_assert_cmpstr (keys[10], ==, NM_NETBIRD_KEY_EXIT_NODE);
  g_assert_false (g_strv_contains (keys, NM_NETBIRD_KEY_SETUP_KEY));
  /* every default is valid */
  g_assert_true (nm_netbird_validate_key_value (NM_NETBIRD_KEY_MANAGEMENT_URL, NM_NETBIRD_DEFAULT_MANAGEMENT_URL, NULL));
  g_assert_true (nm_netbird_validate_key_value (NM_NETBIRD_KEY_ADMIN_URL, NM_NETBIRD_DEFAULT_ADMIN_URL, NULL));
  g_assert_true (nm_netbird_validate_key_value (NM_NETBIRD_KEY_INTERFACE_NAME, NM_NETBIRD_DEFAULT_INTERFACE_NAME, NULL));
}

static void
test_setting (void)
{
  g_autoptr (NMSetting) setting = nm_setting_vpn_new ();
  NMSettingVpn *s_vpn = NM_SETTING_VPN (setting);
  g_autoptr (GError) error = NULL;

  g_assert_true (nm_netbird_validate_data (s_vpn, NULL));
  g_assert_true (nm_netbird_validate_secrets (s_vpn, NULL));

  nm_setting_vpn_add_data_item (s_vpn, "management-url", "https://example.com");
  nm_setting_vpn_add_secret (s_vpn, "setup-key", "A2C8E62B-38F5-4553-B31E-DD66C696CEBB");
  nm_setting_set_secret_flags (setting, "setup-key", NM_SETTING_SECRET_FLAG_AGENT_OWNED, NULL);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "setup-key-flags"), ==, "1");
  g_assert_true (nm_netbird_validate_data (s_vpn, NULL));
  g_assert_true (nm_netbird_validate_secrets (s_vpn, NULL));

  nm_setting_vpn_add_data_item (s_vpn, "mtu", "99999");
  g_assert_false (nm_netbird_validate_data (s_vpn, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE);
  g_clear_error (&error);
  nm_setting_vpn_remove_data_item (s_vpn, "mtu");

  nm_setting_vpn_add_data_item (s_vpn, "exit-node", "Exit DE 1");
  g_assert_true (nm_netbird_validate_data (s_vpn, NULL));
  nm_setting_vpn_add_data_item (s_vpn, "exit-node", "exit\tnode");
  g_assert_false (nm_netbird_validate_data (s_vpn, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE);
  g_assert_true (g_str_has_prefix (error->message, "exit-node: "));
  g_clear_error (&error);
  nm_setting_vpn_remove_data_item (s_vpn, "exit-node");

  /* a secret key is not a data key, and the other way round */
  nm_setting_vpn_add_data_item (s_vpn, "setup-key", "A2C8E62B-38F5-4553-B31E-DD66C696CEBB");
  g_assert_false (nm_netbird_validate_data (s_vpn, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY);
  g_clear_error (&error);
  nm_setting_vpn_remove_data_item (s_vpn, "setup-key");

  nm_setting_vpn_add_secret (s_vpn, "mtu", "1280");
  g_assert_false (nm_netbird_validate_secrets (s_vpn, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY);
  g_clear_error (&error);
  nm_setting_vpn_remove_secret (s_vpn, "mtu");

  nm_setting_vpn_add_secret (s_vpn, "preshared-key", "not-a-key");
  g_assert_false (nm_netbird_validate_secrets (s_vpn, &error));
  g_assert_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE);
  g_assert_null (strstr (error->message, "not-a-key"));
}

int
main (int argc, char **argv)
{
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/settings/key-values", test_key_values);
  g_test_add_func ("/settings/codes", test_codes);
  g_test_add_func ("/settings/exit-node-messages", test_exit_node_messages);
  g_test_add_func ("/settings/data-keys", test_data_keys);
  g_test_add_func ("/settings/setting", test_setting);
  return g_test_run ();
}
