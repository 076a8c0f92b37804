/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built editor plugin, loaded the way nmcli and the connection editors
 * load it (libnm, from the build tree's .name file or the .so): its
 * identity, import and export of both formats through real files, the
 * refusals and their messages, and the lazy editor loading. Nothing of the
 * plugin is linked in: every call goes through the NMVpnEditorPlugin
 * interface of the dlopen()ed module.
 */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <NetworkManager.h>

#include "nm-netbird-settings.h"

static NMVpnEditorPlugin *plugin;
static char *tmpdir;

static char *
write_tmp (const char *name, const char *text, gssize len)
{
  char *path = g_build_filename (tmpdir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static NMConnection *
import_text (const char *name, const char *text, gssize len, GError **error)
{
  g_autofree char *path = write_tmp (name, text, len);

  return nm_vpn_editor_plugin_import (plugin, path, error);
}

static NMConnection *
import_ok (const char *name, const char *text)
{
  g_autoptr (GError) error = NULL;
  NMConnection *connection = import_text (name, text, -1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
  /* What NetworkManager would check when the connection is added. */
  g_assert_true (nm_connection_normalize (connection, NULL, NULL, &error));
  g_assert_no_error (error);
  return connection;
}

static NMSettingVpn *
vpn (NMConnection *connection)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);

  g_assert_nonnull (s_vpn);
  g_assert_cmpstr (nm_setting_vpn_get_service_type (s_vpn), ==, NM_NETBIRD_SERVICE_TYPE);
  return s_vpn;
}

/* "key=value\n" for every data item, sorted: compares two connections'
 * vpn.data as a whole. */
static char *
data_dump (NMConnection *connection)
{
  NMSettingVpn *s_vpn = vpn (connection);
  g_autofree const char **keys = nm_setting_vpn_get_data_keys (s_vpn, NULL);
  GString *out = g_string_new (NULL);

  for (guint i = 0; keys && keys[i]; i++)
    g_string_append_printf (out, "%s=%s\n", keys[i], nm_setting_vpn_get_data_item (s_vpn, keys[i]));
  return g_string_free (out, FALSE);
}

static guint
n_secrets (NMConnection *connection)
{
  guint n = 0;

  g_free (nm_setting_vpn_get_secret_keys (vpn (connection), &n));
  return n;
}

/* ------------------------------------------------------------------------ */

static void
test_identity (void)
{
  g_autofree char *name = NULL;
  g_autofree char *description = NULL;
  g_autofree char *service = NULL;

  g_object_get (plugin,
                NM_VPN_EDITOR_PLUGIN_NAME, &name,
                NM_VPN_EDITOR_PLUGIN_DESCRIPTION, &description,
                NM_VPN_EDITOR_PLUGIN_SERVICE, &service,
                NULL);
  g_assert_cmpstr (name, ==, "NetBird");
  g_assert_nonnull (strstr (description, "NetBird"));
  g_assert_cmpstr (service, ==, NM_NETBIRD_SERVICE_TYPE);
  g_assert_cmpint (nm_vpn_editor_plugin_get_capabilities (plugin), ==,
                   NM_VPN_EDITOR_PLUGIN_CAPABILITY_IMPORT | NM_VPN_EDITOR_PLUGIN_CAPABILITY_EXPORT);
}

/* The .name file of the build tree, read by libnm as nmcli reads it, leads
 * to this plugin, and carries the keys the desktop clients look for. */
static void
test_name_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMVpnPluginInfo) info = nm_vpn_plugin_info_new_from_file (NAME_FILE, &error);
  NMVpnEditorPlugin *loaded;
  g_autofree char *service = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (nm_vpn_plugin_info_get_name (info), ==, "netbird");
  g_assert_cmpstr (nm_vpn_plugin_info_get_service (info), ==, NM_NETBIRD_SERVICE_TYPE);
  g_assert_cmpstr (nm_vpn_plugin_info_get_plugin (info), ==, PLUGIN_PATH);
  g_assert_cmpstr (nm_vpn_plugin_info_get_auth_dialog (info), ==, AUTH_DIALOG_PATH);
  g_assert_true (nm_vpn_plugin_info_supports_hints (info));
  g_assert_cmpstr (nm_vpn_plugin_info_lookup_property (info, "GNOME", "supports-external-ui-mode"), ==, "true");
  g_assert_nonnull (nm_vpn_plugin_info_lookup_property (info, "GNOME", "properties"));
  g_assert_nonnull (nm_vpn_plugin_info_get_program (info));

  loaded = nm_vpn_plugin_info_load_editor_plugin (info, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  g_object_get (loaded, NM_VPN_EDITOR_PLUGIN_SERVICE, &service, NULL);
  g_assert_cmpstr (service, ==, NM_NETBIRD_SERVICE_TYPE);
}

/* nmcli must work without GTK: loading the plugin maps no GTK library. */
static void
test_no_gtk (void)
{
  g_autofree char *maps = read_file ("/proc/self/maps");

  g_assert_nonnull (strstr (maps, "libnm-vpn-plugin-netbird.so"));
  g_assert_null (strstr (maps, "libgtk"));
  g_assert_null (strstr (maps, "netbird-editor"));
}

/* ------------------------------------------------------------------------ */
/* Our file */

#define HEADER \
  "# NetBird connection for NetworkManager.\n" \
  "# Import: nmcli connection import type netbird file FILE\n" \
  "# Secrets (setup key, pre-shared key) are never exported.\n"

static const char full_file[] =
  HEADER
  "[netbird]\n"
  "name=Office mesh\n"
  "management-url=https://netbird.example.com:443\n"
  "admin-url=https://netbird.example.com/peers\n"
  "interface-name=wt7\n"
  "listen-port=51821\n"
  "rosenpass=yes\n"
  "rosenpass-permissive=no\n"
  "wireguard-backend=userspace\n"
  "hostname=laptop-7.example\n"
  "log-level=debug\n"
  "mtu=1380\n"
  "exit-node=Exit DE 1\n";

static void
test_keyfile_round_trip (void)
{
  g_autoptr (NMConnection) connection = import_ok ("office.netbird", full_file);
  NMSettingVpn *s_vpn = vpn (connection);
  g_autofree char *out_path = g_build_filename (tmpdir, "out.netbird", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (nm_connection_get_id (connection), ==, "Office mesh");
  g_assert_cmpstr (nm_connection_get_connection_type (connection), ==, NM_SETTING_VPN_SETTING_NAME);
  g_assert_nonnull (nm_connection_get_uuid (connection));
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "management-url"), ==, "https://netbird.example.com:443");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "admin-url"), ==, "https://netbird.example.com/peers");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "interface-name"), ==, "wt7");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "listen-port"), ==, "51821");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "rosenpass"), ==, "yes");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "rosenpass-permissive"), ==, "no");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "wireguard-backend"), ==, "userspace");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "hostname"), ==, "laptop-7.example");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "log-level"), ==, "debug");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, "mtu"), ==, "1380");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE), ==, "Exit DE 1");
  g_assert_cmpuint (nm_setting_vpn_get_num_data_items (s_vpn), ==, 11);
  g_assert_cmpuint (n_secrets (connection), ==, 0);
  g_assert_true (nm_netbird_validate_data (s_vpn, NULL));

  g_assert_true (nm_vpn_editor_plugin_export (plugin, out_path, connection, &error));
  g_assert_no_error (error);
  out = read_file (out_path);
  g_assert_cmpstr (out, ==, full_file);
}

/* Absent keys stay absent (the defaults apply); the name comes from the
 * file name; comments, blank lines and spaces around '=' are fine. */
static void
test_keyfile_minimal (void)
{
  g_autoptr (NMConnection) connection = NULL;
  g_autoptr (NMConnection) again = NULL;
  g_autofree char *out_path = g_build_filename (tmpdir, "min-out.netbird", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  connection = import_ok ("Home lab.netbird",
                          "\n; a comment\n  [ netbird ]  \r\n"
                          "# another\n"
                          "  management-url =  http://10.0.0.1:33073  \r\n");
  g_assert_cmpstr (nm_connection_get_id (connection), ==, "Home lab");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (vpn (connection), "management-url"), ==, "http://10.0.0.1:33073");
  g_assert_cmpuint (nm_setting_vpn_get_num_data_items (vpn (connection)), ==, 1);

  g_assert_true (nm_vpn_editor_plugin_export (plugin, out_path, connection, &error));
  g_assert_no_error (error);
  out = read_file (out_path);
  g_assert_cmpstr (out, ==, HEADER "[netbird]\nname=Home lab\nmanagement-url=http://10.0.0.1:33073\n");
  again = nm_vpn_editor_plugin_import (plugin, out_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nm_connection_get_id (again), ==, "Home lab");
}

/* exit-node: its two words and a network ID (spaces inside kept, spaces
 * around removed like on every line) go through import and export
 * unchanged. */
static void
test_keyfile_exit_node (void)
{
  static const char *const values[] = {
    NM_NETBIRD_EXIT_NODE_AUTO, NM_NETBIRD_EXIT_NODE_NONE, "Exit DE 1",
    "Ausgang M\xc3\xbcnchen", "0123456789012345678901234567890123456789",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *text = g_strdup_printf ("[netbird]\nname=e\n  exit-node =  %s \t\n", values[i]);
      g_autofree char *expected = g_strdup_printf (HEADER "[netbird]\nname=e\nexit-node=%s\n", values[i]);
      g_autoptr (NMConnection) connection = import_ok ("e.netbird", text);
      g_autoptr (NMConnection) again = NULL;
      g_autofree char *out_path = g_build_filename (tmpdir, "exit-out.netbird", NULL);
      g_autofree char *out = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_cmpstr (nm_setting_vpn_get_data_item (vpn (connection), NM_NETBIRD_KEY_EXIT_NODE), ==, values[i]);
      g_assert_cmpuint (nm_setting_vpn_get_num_data_items (vpn (connection)), ==, 1);
      g_assert_true (nm_vpn_editor_plugin_export (plugin, out_path, connection, &error));
      g_assert_no_error (error);
      out = read_file (out_path);
      g_assert_cmpstr (out, ==, expected);
      again = nm_vpn_editor_plugin_import (plugin, out_path, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (nm_setting_vpn_get_data_item (vpn (again), NM_NETBIRD_KEY_EXIT_NODE), ==, values[i]);
    }
}

#define SETUP_KEY "A2C8E62B-38F5-4553-B31E-DD66C696CEBB"
#define PSK       "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="

/* Secrets are imported (stored by NetworkManager, flags 0) and never
 * exported. */
static void
test_keyfile_secrets (void)
{
  g_autoptr (NMConnection) connection = NULL;
  g_autofree char *out_path = g_build_filename (tmpdir, "secrets-out.netbird", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  NMSettingSecretFlags flags = 99;
  NMSettingVpn *s_vpn;

  connection = import_ok ("s.netbird",
                          "[netbird]\nname=s\nsetup-key=" SETUP_KEY "\npreshared-key=" PSK "\n");
  s_vpn = vpn (connection);
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, "setup-key"), ==, SETUP_KEY);
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, "preshared-key"), ==, PSK);
  g_assert_true (nm_setting_get_secret_flags (NM_SETTING (s_vpn), "setup-key", &flags, NULL));
  g_assert_cmpint (flags, ==, NM_SETTING_SECRET_FLAG_NONE);
  g_assert_true (nm_netbird_validate_secrets (s_vpn, NULL));
  g_assert_true (nm_netbird_validate_data (s_vpn, NULL));

  g_assert_true (nm_vpn_editor_plugin_export (plugin, out_path, connection, &error));
  g_assert_no_error (error);
  out = read_file (out_path);
  g_assert_null (strstr (out, SETUP_KEY));
  g_assert_null (strstr (out, PSK));
  g_assert_null (strstr (out, "flags"));
  g_assert_cmpstr (out, ==, HEADER "[netbird]\nname=s\n");
}

typedef struct {
  const char *text;
  const char *message;  /* the whole message */
} Refusal;

static void
check_refusal (const char *name, const char *text, gssize len, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) connection = import_text (name, text, len, &error);

  if (connection)
    g_error ("imported, expected \"%s\":\n%s", message, text);
  g_assert_nonnull (error);
  g_assert_true (error->domain == NM_CONNECTION_ERROR);
  g_assert_cmpstr (error->message, ==, message);
}

static void
test_keyfile_refusals (void)
{
  static const Refusal refusals[] = {
    { "[netbird]\nname=a\nfoo=bar\n", "line 3: unknown key 'foo'" },
    { "[netbird]\n\n\nfoo = bar\n", "line 4: unknown key 'foo'" },
    { "[netbird]\nmanagement-url=ftp://example.com\n", "line 2: management-url: not an http(s) URL" },
    { "[netbird]\nmanagement-url=netbird.example.com\n", "line 2: management-url: not an http(s) URL" },
    { "[netbird]\nmanagement-url=https://example.com/api\n",
      "line 2: management-url: only http(s)://host[:port] is allowed, without a path" },
    { "[netbird]\nmanagement-url=https://u:p@example.com\n",
      "line 2: management-url: a user name or password does not belong in the URL" },
    { "[netbird]\nmanagement-url=https://example.com:0\n", "line 2: management-url: the port must be 1-65535" },
    { "[netbird]\nadmin-url=mailto:x@example.com\n", "line 2: admin-url: not an http(s) URL" },
    { "[netbird]\nlisten-port=65536\n", "line 2: listen-port: not a port number (0-65535)" },
    { "[netbird]\nlisten-port=-1\n", "line 2: listen-port: not a port number (0-65535)" },
    { "[netbird]\nlisten-port=\n", "line 2: listen-port: the value is empty" },
    { "[netbird]\ninterface-name=-wt0\n",
      "line 2: interface-name: an interface name is 1-15 letters, digits, '_', '.' or '-', and does not start with '-'" },
    { "[netbird]\ninterface-name=wt0123456789abcd\n",
      "line 2: interface-name: an interface name is 1-15 letters, digits, '_', '.' or '-', and does not start with '-'" },
    { "[netbird]\ninterface-name=..\n",
      "line 2: interface-name: an interface name is 1-15 letters, digits, '_', '.' or '-', and does not start with '-'" },
    { "[netbird]\nrosenpass=true\n", "line 2: rosenpass: must be 'yes' or 'no'" },
    { "[netbird]\nrosenpass-permissive=1\n", "line 2: rosenpass-permissive: must be 'yes' or 'no'" },
    { "[netbird]\nwireguard-backend=wg\n", "line 2: wireguard-backend: must be 'kernel', 'userspace' or 'auto'" },
    { "[netbird]\nhostname=my_host\n", "line 2: hostname: a host name is 1-253 letters, digits, '-' or '.'" },
    { "[netbird]\nlog-level=verbose\n", "line 2: log-level: must be one of error, warning, info, debug, trace" },
    { "[netbird]\nmtu=575\n", "line 2: mtu: the MTU must be a number from 576 to 8920" },
    { "[netbird]\nmtu=8921\n", "line 2: mtu: the MTU must be a number from 576 to 8920" },
    { "[netbird]\nname=x\nexit-node=0123456789012345678901234567890123456789x\n",
      "line 3: exit-node: a route network ID is at most 40 characters" },
    { "[netbird]\nexit-node=Exit\x01" "DE\n", "line 2: exit-node: a route network ID has no control characters" },
    { "[netbird]\nexit-node=Exit\tDE\n", "line 2: exit-node: a route network ID has no control characters" },
    { "[netbird]\nexit-node=\n", "line 2: exit-node: the value is empty" },
    { "[netbird]\nexit-node=none\nexit-node=auto\n", "line 3: duplicate key 'exit-node'" },
    { "[netbird]\nsetup-key-flags=0\n", "line 2: unknown key 'setup-key-flags'" },
    { "[netbird]\nname=a\nname=b\n", "line 3: duplicate key 'name'" },
    { "[netbird]\nmtu=1280\n# x\nmtu=1280\n", "line 4: duplicate key 'mtu'" },
    { "[netbird]\nname=\n", "line 2: name: the value is empty" },
    { "[netbird]\nmanagement-url\n", "line 2: expected key=value" },
    { "[netbird]\n=value\n", "line 2: expected key=value" },
    { "mtu=1280\n[netbird]\n", "line 1: expected the [netbird] section header first" },
    { "# c\n[openvpn]\nremote=x\n", "line 2: unknown section '[openvpn]'" },
    { "[netbird]\n[netbird]\n", "line 2: the [netbird] section appears twice" },
    { "[netbird\n", "line 1: a section header must end with ']'" },
    { "# only a comment\n", "not a NetBird connection file: there is no [netbird] section" },
    { "", "not a NetBird connection file: there is no [netbird] section" },
    { "[netbird]\nname=a\nhostname=h\xff\n", "line 3: not UTF-8 text" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (refusals); i++)
    check_refusal ("bad.netbird", refusals[i].text, -1, refusals[i].message);

  /* a NUL byte is not text either */
  check_refusal ("nul.netbird", "[netbird]\nname=a\0b\n", 18, "line 2: not UTF-8 text");
}

/* A refused secret is named by its key, never shown. */
static void
test_keyfile_secret_not_in_message (void)
{
  static const char *const bad[] = {
    "[netbird]\nsetup-key=S3CRET-not-a-uuid-value\n",
    "[netbird]\npreshared-key=S3CRETbase64butnot32bytes==\n",
  };

  check_refusal ("k.netbird", bad[0], -1,
                 "line 2: setup-key: not a setup key (expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX of hexadecimal digits)");
  check_refusal ("k.netbird", bad[1], -1,
                 "line 2: preshared-key: not a WireGuard key (base64 of 32 bytes)");
}

/* ------------------------------------------------------------------------ */
/* NetBird's config.json */

/* The shape the NetBird client writes (profilemanager.Config, Go's
 * encoding/json: url.URL as an object, every field present). */
static const char netbird_config[] =
  "{\n"
  "  \"Name\": \"Office\",\n"
  "  \"PrivateKey\": \"MLTv6pnMYqZ8AlPyPqlRQlRO0ZNv8Gz0Y4iX9KMAi1o=\",\n"
  "  \"PreSharedKey\": \"" PSK "\",\n"
  "  \"ManagementURL\": {\"Scheme\": \"https\", \"Opaque\": \"\", \"User\": null,\n"
  "    \"Host\": \"netbird.example.com:443\", \"Path\": \"\", \"RawPath\": \"\", \"OmitHost\": false,\n"
  "    \"ForceQuery\": false, \"RawQuery\": \"\", \"Fragment\": \"\", \"RawFragment\": \"\"},\n"
  "  \"AdminURL\": {\"Scheme\": \"https\", \"Opaque\": \"\", \"User\": null,\n"
  "    \"Host\": \"netbird.example.com:443\", \"Path\": \"/\", \"RawPath\": \"\", \"OmitHost\": false,\n"
  "    \"ForceQuery\": false, \"RawQuery\": \"\", \"Fragment\": \"\", \"RawFragment\": \"\"},\n"
  "  \"WgIface\": \"wt1\",\n"
  "  \"WgPort\": 51821,\n"
  "  \"NetworkMonitor\": null,\n"
  "  \"IFaceBlackList\": [\"wt0\", \"wt\", \"utun\", \"tun0\", \"zt\", \"ZeroTier\", \"wg\", \"ts\"],\n"
  "  \"DisableIPv6Discovery\": false,\n"
  "  \"RosenpassEnabled\": true,\n"
  "  \"RosenpassPermissive\": false,\n"
  "  \"ServerSSHAllowed\": false,\n"
  "  \"SSHKey\": \"-----BEGIN PRIVATE KEY-----\\nMC4CAQAw\\n-----END PRIVATE KEY-----\\n\",\n"
  "  \"NATExternalIPs\": null,\n"
  "  \"CustomDNSAddress\": \"\",\n"
  "  \"DisableAutoConnect\": false,\n"
  "  \"DNSRouteInterval\": 60000000000,\n"
  "  \"ClientCertPath\": \"\",\n"
  "  \"ClientCertKeyPath\": \"\",\n"
  "  \"MTU\": 1400\n"
  "}\n";

static void
test_json_import (void)
{
  g_autoptr (NMConnection) connection = import_ok ("config.json", netbird_config);
  NMSettingVpn *s_vpn = vpn (connection);
  g_autoptr (GVariant) dbus = nm_connection_to_dbus (connection, NM_CONNECTION_SERIALIZE_ALL);
  g_autofree char *all = g_variant_print (dbus, FALSE);
  g_autofree char *dump = data_dump (connection);

  g_assert_cmpstr (nm_connection_get_id (connection), ==, "Office");
  g_assert_cmpstr (dump, ==,
                   "admin-url=https://netbird.example.com:443/\n"
                   "interface-name=wt1\n"
                   "listen-port=51821\n"
                   "management-url=https://netbird.example.com:443\n"
                   "mtu=1400\n"
                   "preshared-key-flags=0\n"
                   "rosenpass=yes\n"
                   "rosenpass-permissive=no\n");
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, "preshared-key"), ==, PSK);
  g_assert_cmpuint (n_secrets (connection), ==, 1);
  /* the peer's own keys stay behind */
  g_assert_null (strstr (all, "MLTv6pnMYqZ8"));
  g_assert_null (strstr (all, "PRIVATE KEY"));
}

/* Go matches field names ignoring case; URL strings are taken too; zero
 * values (empty strings, MTU 0, Go's empty URL) mean "NetBird's default". */
static void
test_json_import_variants (void)
{
  g_autoptr (NMConnection) a = NULL;
  g_autoptr (NMConnection) b = NULL;
  g_autofree char *dump_a = NULL;
  g_autofree char *dump_b = NULL;

  a = import_ok ("default.json",
                 "{\"managementurl\": {\"scheme\": \"http\", \"host\": \"10.1.2.3:33073\"},"
                 " \"wgport\": 0, \"WGIFACE\": \"\", \"MTU\": 0, \"AdminURL\": {\"Scheme\": \"\", \"Host\": \"\"},"
                 " \"PreSharedKey\": \"\"}");
  dump_a = data_dump (a);
  g_assert_cmpstr (dump_a, ==, "listen-port=0\nmanagement-url=http://10.1.2.3:33073\n");
  g_assert_cmpstr (nm_connection_get_id (a), ==, "NetBird (10.1.2.3)");
  g_assert_cmpuint (n_secrets (a), ==, 0);

  b = import_ok ("mesh.json",
                 "  {\"ManagementURL\": \"https://api.netbird.io:443\", \"AdminURL\": null}");
  dump_b = data_dump (b);
  g_assert_cmpstr (dump_b, ==, "management-url=https://api.netbird.io:443\n");

  /* an exact match wins over a case-insensitive one, as in Go */
  g_clear_object (&b);
  g_clear_pointer (&dump_b, g_free);
  b = import_ok ("c.json", "{\"wgiface\": \"wrong\", \"WgIface\": \"right\"}");
  dump_b = data_dump (b);
  g_assert_cmpstr (dump_b, ==, "interface-name=right\n");
}

/* config.json -> connection -> config.json -> connection keeps vpn.data,
 * and a second export is the same file. */
static void
test_json_round_trip (void)
{
  g_autoptr (NMConnection) first = import_ok ("config.json", netbird_config);
  g_autoptr (NMConnection) second = NULL;
  g_autofree char *path1 = g_build_filename (tmpdir, "export1.json", NULL);
  g_autofree char *path2 = g_build_filename (tmpdir, "export2.json", NULL);
  g_autofree char *json1 = NULL;
  g_autofree char *json2 = NULL;
  g_autofree char *dump1 = NULL;
  g_autofree char *dump2 = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonObject *url;

  g_assert_true (nm_vpn_editor_plugin_export (plugin, path1, first, &error));
  g_assert_no_error (error);
  second = nm_vpn_editor_plugin_import (plugin, path1, &error);
  g_assert_no_error (error);
  g_assert_true (nm_vpn_editor_plugin_export (plugin, path2, second, &error));
  g_assert_no_error (error);

  /* the pre-shared key is a secret: imported, not exported */
  dump1 = data_dump (first);
  nm_setting_vpn_remove_data_item (vpn (first), "preshared-key-flags");
  g_free (dump1);
  dump1 = data_dump (first);
  dump2 = data_dump (second);
  g_assert_cmpstr (dump1, ==, dump2);
  g_assert_cmpstr (nm_connection_get_id (second), ==, "Office");

  json1 = read_file (path1);
  json2 = read_file (path2);
  g_assert_cmpstr (json1, ==, json2);
  g_assert_null (strstr (json1, "PreSharedKey"));
  g_assert_null (strstr (json1, PSK));
  g_assert_null (strstr (json1, "PrivateKey"));

  /* what NetBird reads */
  json_parser_load_from_data (parser, json1, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  url = json_object_get_object_member (root, "ManagementURL");
  g_assert_cmpstr (json_object_get_string_member (url, "Scheme"), ==, "https");
  g_assert_cmpstr (json_object_get_string_member (url, "Host"), ==, "netbird.example.com:443");
  g_assert_cmpstr (json_object_get_string_member (url, "Path"), ==, "");
  url = json_object_get_object_member (root, "AdminURL");
  g_assert_cmpstr (json_object_get_string_member (url, "Path"), ==, "/");
  g_assert_cmpstr (json_object_get_string_member (root, "WgIface"), ==, "wt1");
  g_assert_cmpint (json_object_get_int_member (root, "WgPort"), ==, 51821);
  g_assert_cmpint (json_object_get_int_member (root, "MTU"), ==, 1400);
  g_assert_true (json_object_get_boolean_member (root, "RosenpassEnabled"));
  g_assert_false (json_object_get_boolean_member (root, "RosenpassPermissive"));
}

/* A connection with only defaults exports NetBird's defaults explicitly, so
 * NetBird does not fill in its own (e.g. WgPort 0). */
static void
test_json_export_defaults (void)
{
  g_autoptr (NMConnection) connection = import_ok ("d.netbird", "[netbird]\nname=d\n");
  g_autofree char *path = g_build_filename (tmpdir, "defaults.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;

  g_assert_true (nm_vpn_editor_plugin_export (plugin, path, connection, &error));
  g_assert_no_error (error);
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (root, "ManagementURL"), "Host"),
                   ==, "api.netbird.io:443");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (root, "AdminURL"), "Host"),
                   ==, "app.netbird.io");
  g_assert_cmpstr (json_object_get_string_member (root, "WgIface"), ==, NM_NETBIRD_DEFAULT_INTERFACE_NAME);
  g_assert_cmpint (json_object_get_int_member (root, "WgPort"), ==, NM_NETBIRD_DEFAULT_LISTEN_PORT);
  g_assert_cmpint (json_object_get_int_member (root, "MTU"), ==, NM_NETBIRD_DEFAULT_MTU);
  g_assert_false (json_object_get_boolean_member (root, "RosenpassEnabled"));
}

/* config.json has no exit node: the setting is neither written there nor
 * keeps the export from working. */
static void
test_json_export_exit_node (void)
{
  g_autoptr (NMConnection) connection = import_ok ("x.netbird", "[netbird]\nname=x\nexit-node=Exit DE 1\n");
  g_autofree char *path = g_build_filename (tmpdir, "exit-node.json", NULL);
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (nm_vpn_editor_plugin_export (plugin, path, connection, &error));
  g_assert_no_error (error);
  json = read_file (path);
  g_assert_null (strstr (json, "Exit DE 1"));
  g_assert_nonnull (strstr (json, "\"WgIface\""));
}

static void
test_json_refusals (void)
{
  static const Refusal refusals[] = {
    { "{\"WgPort\": \"51820\"}", "WgPort: expected a whole number" },
    { "{\"WgPort\": 51820.5}", "WgPort: expected a whole number" },
    { "{\"WgPort\": 70000}", "WgPort: listen-port: not a port number (0-65535)" },
    { "{\"WgPort\": -2}", "WgPort: listen-port: not a port number (0-65535)" },
    { "{\"WgIface\": 7}", "WgIface: expected a string" },
    { "{\"WgIface\": \"a-very-long-interface\"}",
      "WgIface: interface-name: an interface name is 1-15 letters, digits, '_', '.' or '-', and does not start with '-'" },
    { "{\"ManagementURL\": {\"Scheme\": \"ftp\", \"Host\": \"example.com\"}}",
      "ManagementURL: management-url: not an http(s) URL" },
    { "{\"ManagementURL\": {\"Scheme\": \"https\", \"Host\": \"\"}}", "ManagementURL: not an http(s) URL" },
    { "{\"ManagementURL\": {\"Scheme\": \"https\", \"Host\": \"e.com\", \"Path\": \"/api\"}}",
      "ManagementURL: management-url: only http(s)://host[:port] is allowed, without a path" },
    { "{\"ManagementURL\": {\"Scheme\": 1}}", "ManagementURL.Scheme: expected a string" },
    { "{\"ManagementURL\": [1]}", "ManagementURL: expected a URL object or a string" },
    { "{\"WgIface\": \"wt0\", \"RosenpassEnabled\": \"yes\"}", "RosenpassEnabled: expected true or false" },
    { "{\"WgIface\": \"wt0\", \"MTU\": 100}", "MTU: mtu: the MTU must be a number from 576 to 8920" },
    { "{\"WgIface\": \"wt0\", \"PreSharedKey\": \"S3CRET\"}",
      "PreSharedKey: preshared-key: not a WireGuard key (base64 of 32 bytes)" },
    { "{\"WgIface\": \"wt0\", \"Name\": false}", "Name: expected a string" },
    { "{\"Scheme\": \"https\"}", "not a NetBird config.json: it has none of ManagementURL, WgIface, WgPort, PrivateKey" },
    { "[1, 2]", "not a NetBird config.json: the top level is not an object" },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) connection = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (refusals); i++)
    check_refusal ("bad.json", refusals[i].text, -1, refusals[i].message);

  /* a JSON syntax error names where it is */
  connection = import_text ("broken.json", "{\n  \"WgIface\": \"wt0\",\n  \"WgPort\": \n}\n", -1, &error);
  g_assert_null (connection);
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, "not a NetBird config.json: "));
  g_assert_nonnull (strstr (error->message, ":4:"));
}

/* ------------------------------------------------------------------------ */
/* Export refusals and the file name */

static NMConnection *
make_connection (const char *id, const char *service, const char *key, const char *value)
{
  NMConnection *connection = nm_simple_connection_new ();
  NMSetting *s_con = nm_setting_connection_new ();
  NMSetting *s_vpn = nm_setting_vpn_new ();

  g_object_set (s_con, NM_SETTING_CONNECTION_ID, id,
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_VPN_SETTING_NAME, NULL);
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, service, NULL);
  if (key)
    nm_setting_vpn_add_data_item (NM_SETTING_VPN (s_vpn), key, value);
  nm_connection_add_setting (connection, s_con);
  nm_connection_add_setting (connection, s_vpn);
  return connection;
}

static void
check_export_refused (NMConnection *connection, const char *message)
{
  static const char *const names[] = { "x.netbird", "x.json" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (tmpdir, names[i], NULL);
      g_autoptr (GError) error = NULL;

      g_remove (path);
      g_assert_false (nm_vpn_editor_plugin_export (plugin, path, connection, &error));
      g_assert_nonnull (error);
      g_assert_cmpstr (error->message, ==, message);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
}

static void
test_export_refusals (void)
{
  g_autoptr (NMConnection) bad_port = make_connection ("p", NM_NETBIRD_SERVICE_TYPE, "listen-port", "abc");
  g_autoptr (NMConnection) unknown = make_connection ("u", NM_NETBIRD_SERVICE_TYPE, "remote", "x");
  g_autoptr (NMConnection) openvpn = make_connection ("o", "org.freedesktop.NetworkManager.openvpn", NULL, NULL);
  g_autoptr (NMConnection) newline = make_connection ("a\nb", NM_NETBIRD_SERVICE_TYPE, NULL, NULL);
  g_autofree char *path = g_build_filename (tmpdir, "x.netbird", NULL);
  g_autoptr (GError) error = NULL;

  check_export_refused (bad_port, "cannot export the connection: listen-port: not a port number (0-65535)");
  check_export_refused (unknown, "cannot export the connection: unknown key 'remote'");
  check_export_refused (openvpn, "not a NetBird connection");

  g_assert_false (nm_vpn_editor_plugin_export (plugin, path, newline, &error));
  g_assert_cmpstr (error->message, ==, "cannot export the connection: its name is empty or has a line break");
}

static void
test_suggested_filename (void)
{
  g_autoptr (NMConnection) a = make_connection ("Office mesh", NM_NETBIRD_SERVICE_TYPE, NULL, NULL);
  g_autoptr (NMConnection) b = make_connection ("a/b\tc", NM_NETBIRD_SERVICE_TYPE, NULL, NULL);
  g_autofree char *name_a = nm_vpn_editor_plugin_get_suggested_filename (plugin, a);
  g_autofree char *name_b = nm_vpn_editor_plugin_get_suggested_filename (plugin, b);

  g_assert_cmpstr (name_a, ==, "Office mesh.netbird");
  g_assert_cmpstr (name_b, ==, "a_b_c.netbird");
}

/* ------------------------------------------------------------------------ */
/* The editor is loaded lazily; without GTK3 in the process the GTK4 one is
 * asked for, and a missing library is an error that names it. (The editors
 * themselves: test-editor-load.c.) */
static void
test_editor_missing (void)
{
  g_autofree char *empty = g_build_filename (tmpdir, "no-editor", NULL);
  g_autoptr (NMConnection) connection = make_connection ("e", NM_NETBIRD_SERVICE_TYPE, NULL, NULL);
  g_autoptr (GError) error = NULL;
  NMVpnEditor *editor;

  g_assert_cmpint (g_mkdir (empty, 0700), ==, 0);
  g_setenv ("NM_NETBIRD_EDITOR_DIR", empty, TRUE);
  editor = nm_vpn_editor_plugin_get_editor (plugin, connection, &error);
  g_unsetenv ("NM_NETBIRD_EDITOR_DIR");
  g_assert_null (editor);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "libnm-gtk4-vpn-plugin-netbird-editor.so"));
  g_assert_nonnull (strstr (error->message, empty));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);

  /* check_owner -1: the build tree may belong to anyone */
  plugin = nm_vpn_editor_plugin_load_from_file (PLUGIN_PATH, NM_NETBIRD_SERVICE_TYPE, -1, NULL, NULL, &error);
  g_assert_no_error (error);
  tmpdir = g_dir_make_tmp ("test-plugin-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugin/identity", test_identity);
  g_test_add_func ("/plugin/name-file", test_name_file);
  g_test_add_func ("/plugin/no-gtk", test_no_gtk);
  g_test_add_func ("/plugin/keyfile/round-trip", test_keyfile_round_trip);
  g_test_add_func ("/plugin/keyfile/minimal", test_keyfile_minimal);
  g_test_add_func ("/plugin/keyfile/exit-node", test_keyfile_exit_node);
  g_test_add_func ("/plugin/keyfile/secrets", test_keyfile_secrets);
  g_test_add_func ("/plugin/keyfile/refusals", test_keyfile_refusals);
  g_test_add_func ("/plugin/keyfile/secret-not-in-message", test_keyfile_secret_not_in_message);
  g_test_add_func ("/plugin/json/import", test_json_import);
  g_test_add_func ("/plugin/json/import-variants", test_json_import_variants);
  g_test_add_func ("/plugin/json/round-trip", test_json_round_trip);
  g_test_add_func ("/plugin/json/export-defaults", test_json_export_defaults);
  g_test_add_func ("/plugin/json/export-exit-node", test_json_export_exit_node);
  g_test_add_func ("/plugin/json/refusals", test_json_refusals);
  g_test_add_func ("/plugin/export-refusals", test_export_refusals);
  g_test_add_func ("/plugin/suggested-filename", test_suggested_filename);
  g_test_add_func ("/plugin/editor-missing", test_editor_missing);

  ret = g_test_run ();

  {
    g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name (dir)))
      {
        g_autofree char *path = g_build_filename (tmpdir, name, NULL);
        g_remove (path);
      }
    g_rmdir (tmpdir);
  }
  g_free (tmpdir);
  g_object_unref (plugin);
  return ret;
}
