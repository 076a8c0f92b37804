/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rules are strict and checked without I/O: the same function runs in
 * the service (which refuses a connection it cannot use), the editors (which
 * mark a field red) and import (which names the bad line), so every caller
 * agrees on what a valid connection is. The rules themselves are in the
 * header.
 */
#define G_LOG_DOMAIN "nm-netbird-settings"

#include "config.h"

#include "nm-netbird-settings.h"

#include <string.h>
#include <glib/gi18n-lib.h>

G_DEFINE_QUARK (nm-netbird-settings-error-quark, nm_netbird_settings_error)

static const char *const data_keys[] = {
  NM_NETBIRD_KEY_MANAGEMENT_URL,
  NM_NETBIRD_KEY_ADMIN_URL,
  NM_NETBIRD_KEY_INTERFACE_NAME,
  NM_NETBIRD_KEY_LISTEN_PORT,
  NM_NETBIRD_KEY_ROSENPASS,
  NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE,
  NM_NETBIRD_KEY_WIREGUARD_BACKEND,
  NM_NETBIRD_KEY_HOSTNAME,
  NM_NETBIRD_KEY_LOG_LEVEL,
  NM_NETBIRD_KEY_MTU,
  NM_NETBIRD_KEY_EXIT_NODE,
  NULL,
};

#define FLAGS_SUFFIX "-flags"

const char * const *
nm_netbird_data_keys (void)
{
  return data_keys;
}

static gboolean
is_data_key (const char *key)
{
  return g_strv_contains (data_keys, key);
}

static gboolean
is_secret_key (const char *key)
{
  return g_str_equal (key, NM_NETBIRD_KEY_SETUP_KEY)
         || g_str_equal (key, NM_NETBIRD_KEY_PRESHARED_KEY);
}

static gboolean
is_flags_key (const char *key)
{
  return g_str_equal (key, NM_NETBIRD_KEY_SETUP_KEY FLAGS_SUFFIX)
         || g_str_equal (key, NM_NETBIRD_KEY_PRESHARED_KEY FLAGS_SUFFIX);
}

static gboolean
invalid (GError **error, const char *key, const char *what)
{
  /* TRANSLATORS: "<setting key>: <what is wrong with its value>" */
  g_set_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE,
               _("%s: %s"), key, what);
  return FALSE;
}

/* Decimal digits only (no sign, no spaces), within [min, max]. */
static gboolean
parse_uint (const char *value, guint64 min, guint64 max, guint64 *out)
{
  guint64 n;

  if (!g_ascii_isdigit (value[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned (value, 10, min, max, &n, NULL))
    return FALSE;
  if (out)
    *out = n;
  return TRUE;
}

static gboolean
validate_url (const char *key, const char *value, gboolean server_only, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  const char *scheme;
  const char *host;
  const char *path;

  /* GUri lets spaces and line breaks through; a URL has none. */
  for (const char *p = value; *p; p++)
    if ((guchar) *p <= ' ' || *p == 0x7f)
      return invalid (error, key, _("not an http(s) URL"));

  uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
  if (!uri)
    return invalid (error, key, _("not an http(s) URL"));

  scheme = g_uri_get_scheme (uri);
  host = g_uri_get_host (uri);
  if (!(g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "https") == 0)
      || !host || !host[0])
    return invalid (error, key, _("not an http(s) URL"));

  if (g_uri_get_userinfo (uri))
    return invalid (error, key, _("a user name or password does not belong in the URL"));

  /* GUri gives -1 for "no port"; it already refuses ports above 65535. */
  if (g_uri_get_port (uri) == 0)
    return invalid (error, key, _("the port must be 1-65535"));

  if (server_only)
    {
      path = g_uri_get_path (uri);
      if ((path[0] && !g_str_equal (path, "/")) || g_uri_get_query (uri) || g_uri_get_fragment (uri))
        return invalid (error, key, _("only http(s)://host[:port] is allowed, without a path"));
    }
  return TRUE;
}

static gboolean
validate_interface_name (const char *key, const char *value, GError **error)
{
  gsize len = strlen (value);

  if (len > 15 || value[0] == '-' || g_str_equal (value, ".") || g_str_equal (value, ".."))
    goto bad;
  for (const char *p = value; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '.' && *p != '-')
      goto bad;
  return TRUE;

bad:
  return invalid (error, key,
                  _("an interface name is 1-15 letters, digits, '_', '.' or '-', and does not start with '-'"));
}

static gboolean
validate_hostname (const char *key, const char *value, GError **error)
{
  gsize len = strlen (value);

  if (len > 253)
    goto bad;
  for (const char *p = value; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
      goto bad;
  return TRUE;

bad:
  return invalid (error, key, _("a host name is 1-253 letters, digits, '-' or '.'"));
}

/* "auto" and "none" pass the same rules; any other value is a NetID, which
 * NetBird limits to 40 characters (not bytes). The value is shown in logs
 * and in the editor, hence no control characters; a blank at either end
 * would not be visible there, yet NetIDs are compared exactly. */
static gboolean
validate_exit_node (const char *key, const char *value, GError **error)
{
  gunichar first;
  gunichar last;

  if (!g_utf8_validate (value, -1, NULL))
    return invalid (error, key, _("not UTF-8 text"));
  if (g_utf8_strlen (value, -1) > NM_NETBIRD_EXIT_NODE_MAX_CHARS)
    return invalid (error, key, _("a route network ID is at most 40 characters"));
  for (const char *p = value; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return invalid (error, key, _("a route network ID has no control characters"));
  first = g_utf8_get_char (value);
  last = g_utf8_get_char (g_utf8_find_prev_char (value, value + strlen (value)));
  if (g_unichar_isspace (first) || g_unichar_isspace (last))
    return invalid (error, key, _("a route network ID does not begin or end with white space"));
  return TRUE;
}

static gboolean
validate_choice (const char *key, const char *value, const char *const *choices,
                 const char *what, GError **error)
{
  if (g_strv_contains (choices, value))
    return TRUE;
  return invalid (error, key, what);
}

static gboolean
validate_flags (const char *key, const char *value, GError **error)
{
  const guint64 all = NM_SETTING_SECRET_FLAG_AGENT_OWNED | NM_SETTING_SECRET_FLAG_NOT_SAVED
                      | NM_SETTING_SECRET_FLAG_NOT_REQUIRED;

  if (parse_uint (value, 0, all, NULL))
    return TRUE;
  return invalid (error, key, _("not a secret flags value"));
}

gboolean
nm_netbird_validate_setup_key (const char *value, GError **error)
{
  /* 8-4-4-4-12 hexadecimal digits */
  static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

  if (!value || !value[0])
    {
      g_set_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING,
                   _("%s: the value is empty"), NM_NETBIRD_KEY_SETUP_KEY);
      return FALSE;
    }
  if (strlen (value) != sizeof pattern - 1)
    goto bad;
  for (gsize i = 0; pattern[i]; i++)
    {
      if (pattern[i] == '-' ? value[i] != '-' : !g_ascii_isxdigit (value[i]))
        goto bad;
    }
  return TRUE;

bad:
  return invalid (error, NM_NETBIRD_KEY_SETUP_KEY,
                  _("not a setup key (expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX of hexadecimal digits)"));
}

static gboolean
validate_preshared_key (const char *key, const char *value, GError **error)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  guchar *raw;
  gsize raw_len = 0;

  /* 32 bytes are 43 base64 digits and one '='. g_base64_decode() skips
   * bad characters, so the alphabet is checked first. */
  if (strlen (value) != 44 || value[43] != '=')
    goto bad;
  for (gsize i = 0; i < 43; i++)
    if (!strchr (alphabet, value[i]))
      goto bad;
  raw = g_base64_decode (value, &raw_len);
  memset (raw, 0, raw_len);
  g_free (raw);
  if (raw_len != 32)
    goto bad;
  return TRUE;

bad:
  return invalid (error, key, _("not a WireGuard key (base64 of 32 bytes)"));
}

gboolean
nm_netbird_validate_key_value (const char *key, const char *value, GError **error)
{
  static const char *const yes_no[] = { "yes", "no", NULL };
  static const char *const backends[] = { "kernel", "userspace", "auto", NULL };
  static const char *const levels[] = { "error", "warning", "info", "debug", "trace", NULL };

  g_return_val_if_fail (key != NULL, FALSE);

  if (!is_data_key (key) && !is_secret_key (key) && !is_flags_key (key))
    {
      g_set_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY,
                   _("unknown key '%s'"), key);
      return FALSE;
    }
  if (!value || !value[0])
    {
      g_set_error (error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_MISSING,
                   _("%s: the value is empty"), key);
      return FALSE;
    }

  if (g_str_equal (key, NM_NETBIRD_KEY_MANAGEMENT_URL))
    return validate_url (key, value, TRUE, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_ADMIN_URL))
    return validate_url (key, value, FALSE, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_INTERFACE_NAME))
    return validate_interface_name (key, value, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_LISTEN_PORT))
    {
      if (parse_uint (value, 0, 65535, NULL))
        return TRUE;
      return invalid (error, key, _("not a port number (0-65535)"));
    }
  if (g_str_equal (key, NM_NETBIRD_KEY_ROSENPASS)
      || g_str_equal (key, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE))
    return validate_choice (key, value, yes_no, _("must be 'yes' or 'no'"), error);
  if (g_str_equal (key, NM_NETBIRD_KEY_WIREGUARD_BACKEND))
    return validate_choice (key, value, backends,
                            _("must be 'kernel', 'userspace' or 'auto'"), error);
  if (g_str_equal (key, NM_NETBIRD_KEY_HOSTNAME))
    return validate_hostname (key, value, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_LOG_LEVEL))
    return validate_choice (key, value, levels,
                            _("must be one of error, warning, info, debug, trace"), error);
  if (g_str_equal (key, NM_NETBIRD_KEY_MTU))
    {
      if (parse_uint (value, NM_NETBIRD_MTU_MIN, NM_NETBIRD_MTU_MAX, NULL))
        return TRUE;
      return invalid (error, key, _("the MTU must be a number from 576 to 8920"));
    }
  if (g_str_equal (key, NM_NETBIRD_KEY_EXIT_NODE))
    return validate_exit_node (key, value, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_SETUP_KEY))
    return nm_netbird_validate_setup_key (value, error);
  if (g_str_equal (key, NM_NETBIRD_KEY_PRESHARED_KEY))
    return validate_preshared_key (key, value, error);
  return validate_flags (key, value, error);
}

typedef struct {
  gboolean secrets;
  GError *error;
} ForeachData;

static void
validate_item (const char *key, const char *value, gpointer user_data)
{
  ForeachData *data = user_data;
  gboolean ours;

  if (data->error)
    return;
  ours = data->secrets ? is_secret_key (key) : (is_data_key (key) || is_flags_key (key));
  if (!ours)
    {
      g_set_error (&data->error, NM_NETBIRD_SETTINGS_ERROR, NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY,
                   _("unknown key '%s'"), key);
      return;
    }
  nm_netbird_validate_key_value (key, value, &data->error);
}

gboolean
nm_netbird_validate_data (NMSettingVpn *s_vpn, GError **error)
{
  ForeachData data = { FALSE, NULL };

  g_return_val_if_fail (NM_IS_SETTING_VPN (s_vpn), FALSE);

  nm_setting_vpn_foreach_data_item (s_vpn, validate_item, &data);
  if (data.error)
    {
      g_propagate_error (error, data.error);
      return FALSE;
    }
  return TRUE;
}

gboolean
nm_netbird_validate_secrets (NMSettingVpn *s_vpn, GError **error)
{
  ForeachData data = { TRUE, NULL };

  g_return_val_if_fail (NM_IS_SETTING_VPN (s_vpn), FALSE);

  nm_setting_vpn_foreach_secret (s_vpn, validate_item, &data);
  if (data.error)
    {
      g_propagate_error (error, data.error);
      return FALSE;
    }
  return TRUE;
}
