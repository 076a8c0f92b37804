/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our file is parsed by hand rather than with GKeyFile: a refusal has to
 * name the line, GKeyFile forgets line numbers, and it would also accept
 * escapes, locale keys and several groups that the format does not have.
 * Every value goes through nm_netbird_validate_key_value(), the same check
 * the service and the editors use, so an import never produces a connection
 * that fails later with a vaguer message.
 *
 * Secrets read from a file (setup key, pre-shared key) are wiped from our
 * copies of the text once they are in the connection.
 */
#define G_LOG_DOMAIN "nm-netbird-plugin"

#include "config.h"

#include "nm-netbird-import-export.h"

#include <string.h>
#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "nm-netbird-settings.h"

#define MAX_FILE_SIZE (1024 * 1024)

static NMConnection *
new_connection (const char *id, NMSettingVpn **out_vpn)
{
  NMConnection *connection = nm_simple_connection_new ();
  NMSetting *s_con = nm_setting_connection_new ();
  NMSetting *s_vpn = nm_setting_vpn_new ();
  g_autofree char *uuid = nm_utils_uuid_generate ();

  g_object_set (s_con,
                NM_SETTING_CONNECTION_ID, id,
                NM_SETTING_CONNECTION_UUID, uuid,
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_VPN_SETTING_NAME,
                NULL);
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, NM_NETBIRD_SERVICE_TYPE, NULL);
  nm_connection_add_setting (connection, s_con);
  nm_connection_add_setting (connection, s_vpn);
  *out_vpn = NM_SETTING_VPN (s_vpn);
  return connection;
}

static gboolean
is_secret_key (const char *key)
{
  return g_str_equal (key, NM_NETBIRD_KEY_SETUP_KEY)
         || g_str_equal (key, NM_NETBIRD_KEY_PRESHARED_KEY);
}

/* A secret NetworkManager stores with the connection (flags 0): an
 * imported connection must come up without an agent, e.g. on a server set
 * up with nmcli. */
static void
add_secret (NMSettingVpn *s_vpn, const char *key, const char *value)
{
  nm_setting_vpn_add_secret (s_vpn, key, value);
  nm_setting_set_secret_flags (NM_SETTING (s_vpn), key, NM_SETTING_SECRET_FLAG_NONE, NULL);
}

static void
wipe_free (char *text, gsize len)
{
  if (text)
    {
      memset (text, 0, len);
      g_free (text);
    }
}

/* ------------------------------------------------------------------------ */
/* Our connection file */

static gpointer
line_error (GError **error, guint lineno, gint code, const char *what)
{
  /* TRANSLATORS: "line <number>: <what is wrong>" in an imported file */
  g_set_error (error, NM_CONNECTION_ERROR, code, _("line %u: %s"), lineno, what);
  return NULL;
}

static guint
line_of_offset (const char *text, gsize offset)
{
  guint lineno = 1;

  for (gsize i = 0; i < offset; i++)
    if (text[i] == '\n')
      lineno++;
  return lineno;
}

/* Parses @copy (a NUL-terminated, writable copy of the file) in place. */
static NMConnection *
parse_keyfile (char *copy, const char *fallback_id, GError **error)
{
  g_autoptr (NMConnection) connection = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_autofree char *id = NULL;
  NMSettingVpn *s_vpn = NULL;
  gboolean in_section = FALSE;
  char *line;
  char *next;
  guint lineno = 0;

  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  connection = new_connection ("", &s_vpn);

  for (line = copy; line; line = next)
    {
      g_autoptr (GError) local = NULL;
      char *key;
      char *value;
      char *eq;

      lineno++;
      next = strchr (line, '\n');
      if (next)
        *next++ = '\0';
      line = g_strstrip (line);
      if (!line[0] || line[0] == '#' || line[0] == ';')
        continue;

      if (line[0] == '[')
        {
          gsize n = strlen (line);
          char *section;

          if (line[n - 1] != ']')
            return line_error (error, lineno, NM_CONNECTION_ERROR_FAILED,
                               _("a section header must end with ']'"));
          line[n - 1] = '\0';
          section = g_strstrip (line + 1);
          if (!g_str_equal (section, NM_NETBIRD_FILE_SECTION))
            {
              g_autofree char *what = g_strdup_printf (_("unknown section '[%s]'"), section);
              return line_error (error, lineno, NM_CONNECTION_ERROR_FAILED, what);
            }
          if (in_section)
            return line_error (error, lineno, NM_CONNECTION_ERROR_FAILED,
                               _("the [netbird] section appears twice"));
          in_section = TRUE;
          continue;
        }

      if (!in_section)
        return line_error (error, lineno, NM_CONNECTION_ERROR_FAILED,
                           _("expected the [netbird] section header first"));

      eq = strchr (line, '=');
      if (!eq)
        return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY,
                           _("expected key=value"));
      *eq = '\0';
      key = g_strstrip (line);
      value = g_strstrip (eq + 1);
      if (!key[0])
        return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY,
                           _("expected key=value"));

      if (g_hash_table_contains (seen, key))
        {
          g_autofree char *what = g_strdup_printf (_("duplicate key '%s'"), key);
          return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY, what);
        }

      if (g_str_equal (key, NM_NETBIRD_FILE_KEY_NAME))
        {
          if (!value[0])
            {
              g_autofree char *what = g_strdup_printf (_("%s: the value is empty"), key);
              return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY, what);
            }
          g_free (id);
          id = g_strdup (value);
        }
      else if (!g_strv_contains (nm_netbird_data_keys (), key) && !is_secret_key (key))
        {
          /* Includes the "<secret>-flags" keys that vpn.data may hold: the
           * file format has no use for them. */
          g_autofree char *what = g_strdup_printf (_("unknown key '%s'"), key);
          return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY, what);
        }
      else if (!nm_netbird_validate_key_value (key, value, &local))
        {
          return line_error (error, lineno, NM_CONNECTION_ERROR_INVALID_PROPERTY,
                             local->message);
        }
      else if (is_secret_key (key))
        {
          add_secret (s_vpn, key, value);
        }
      else
        {
          nm_setting_vpn_add_data_item (s_vpn, key, value);
        }
      g_hash_table_add (seen, g_strdup (key));
    }

  if (!in_section)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird connection file: there is no [netbird] section"));
      return NULL;
    }

  g_object_set (nm_connection_get_setting_connection (connection),
                NM_SETTING_CONNECTION_ID,
                id ? id : (fallback_id && fallback_id[0] ? fallback_id : "NetBird"),
                NULL);
  return g_steal_pointer (&connection);
}

NMConnection *
nm_netbird_import_keyfile (const char *text, gsize len, const char *fallback_id, GError **error)
{
  NMConnection *connection;
  const char *end = NULL;
  char *copy;

  g_return_val_if_fail (text != NULL, NULL);

  if (len > MAX_FILE_SIZE)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird connection file: it is too large"));
      return NULL;
    }
  /* also refuses NUL bytes */
  if (!g_utf8_validate_len (text, len, &end))
    return line_error (error, line_of_offset (text, end - text), NM_CONNECTION_ERROR_FAILED,
                       _("not UTF-8 text"));

  copy = g_strndup (text, len);
  connection = parse_keyfile (copy, fallback_id, error);
  wipe_free (copy, len);
  return connection;
}

static NMSettingVpn *
our_vpn_setting (NMConnection *connection, GError **error)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);

  if (!s_vpn || g_strcmp0 (nm_setting_vpn_get_service_type (s_vpn), NM_NETBIRD_SERVICE_TYPE) != 0)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_MISSING_SETTING,
                   _("not a NetBird connection"));
      return NULL;
    }
  return s_vpn;
}

/* Only settings that the service would accept are written. */
static NMSettingVpn *
exportable_vpn_setting (NMConnection *connection, GError **error)
{
  g_autoptr (GError) local = NULL;
  NMSettingVpn *s_vpn = our_vpn_setting (connection, error);

  if (!s_vpn)
    return NULL;
  if (!nm_netbird_validate_data (s_vpn, &local))
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_INVALID_PROPERTY,
                   _("cannot export the connection: %s"), local->message);
      return NULL;
    }
  return s_vpn;
}

char *
nm_netbird_export_keyfile (NMConnection *connection, GError **error)
{
  g_autoptr (GString) out = NULL;
  NMSettingVpn *s_vpn;
  const char *id;

  g_return_val_if_fail (NM_IS_CONNECTION (connection), NULL);

  s_vpn = exportable_vpn_setting (connection, error);
  if (!s_vpn)
    return NULL;
  id = nm_connection_get_id (connection);
  if (!id || !id[0] || strpbrk (id, "\r\n"))
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_INVALID_PROPERTY,
                   _("cannot export the connection: its name is empty or has a line break"));
      return NULL;
    }

  out = g_string_new ("# NetBird connection for NetworkManager.\n"
                      "# Import: nmcli connection import type netbird file FILE\n"
                      "# Secrets (setup key, pre-shared key) are never exported.\n");
  g_string_append_printf (out, "[%s]\n%s=%s\n", NM_NETBIRD_FILE_SECTION,
                          NM_NETBIRD_FILE_KEY_NAME, id);
  for (const char *const *key = nm_netbird_data_keys (); *key; key++)
    {
      const char *value = nm_setting_vpn_get_data_item (s_vpn, *key);

      if (value)
        g_string_append_printf (out, "%s=%s\n", *key, value);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ------------------------------------------------------------------------ */
/* NetBird's config.json */

/* Go's encoding/json matches field names exactly first, then ignoring
 * case; so does this. */
static JsonNode *
member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  g_autoptr (GList) members = NULL;

  if (node)
    return node;
  members = json_object_get_members (object);
  for (GList *l = members; l; l = l->next)
    if (g_ascii_strcasecmp (l->data, name) == 0)
      return json_object_get_member (object, l->data);
  return NULL;
}

static gboolean
field_error (GError **error, const char *field, const char *what)
{
  /* TRANSLATORS: "<config.json field>: <what is wrong>" */
  g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_INVALID_PROPERTY,
               _("%s: %s"), field, what);
  return FALSE;
}

static gboolean
is_null (JsonNode *node)
{
  return !node || JSON_NODE_HOLDS_NULL (node);
}

/* *out stays NULL for null or an absent field. */
static gboolean
get_string (JsonObject *object, const char *field, const char **out, GError **error)
{
  JsonNode *node = member (object, field);

  *out = NULL;
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return field_error (error, field, _("expected a string"));
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_int (JsonObject *object, const char *field, gboolean *present, gint64 *out, GError **error)
{
  JsonNode *node = member (object, field);

  *present = FALSE;
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return field_error (error, field, _("expected a whole number"));
  *present = TRUE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
get_bool (JsonObject *object, const char *field, gboolean *present, gboolean *out, GError **error)
{
  JsonNode *node = member (object, field);

  *present = FALSE;
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return field_error (error, field, _("expected true or false"));
  *present = TRUE;
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* NetBird stores its URLs as Go url.URL objects ({"Scheme": "https",
 * "Host": "api.netbird.io:443", "Path": "", ...}); a plain string is taken
 * too. *out is NULL for null, an absent field, or Go's zero URL. */
static gboolean
get_url (JsonObject *object, const char *field, char **out, GError **error)
{
  JsonNode *node = member (object, field);
  JsonObject *url;
  const char *scheme;
  const char *host;
  const char *path;
  const char *query;
  const char *opaque;

  *out = NULL;
  if (is_null (node))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      if (json_node_get_string (node)[0])
        *out = g_strdup (json_node_get_string (node));
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return field_error (error, field, _("expected a URL object or a string"));

  url = json_node_get_object (node);
  if (!get_string (url, "Scheme", &scheme, error)
      || !get_string (url, "Host", &host, error)
      || !get_string (url, "Path", &path, error)
      || !get_string (url, "RawQuery", &query, error)
      || !get_string (url, "Opaque", &opaque, error))
    {
      g_prefix_error (error, "%s.", field);
      return FALSE;
    }
  if ((!scheme || !scheme[0]) && (!host || !host[0]))
    return TRUE;
  if (!scheme || !scheme[0] || !host || !host[0] || (opaque && opaque[0]))
    return field_error (error, field, _("not an http(s) URL"));
  *out = g_strconcat (scheme, "://", host, path ? path : "",
                      query && query[0] ? "?" : "", query ? query : "", NULL);
  return TRUE;
}

/* Checks @value as our @key and adds it, or names @field in the error. */
static gboolean
add_checked (NMSettingVpn *s_vpn, const char *field, const char *key, const char *value,
             GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!nm_netbird_validate_key_value (key, value, &local))
    return field_error (error, field, local->message);
  if (is_secret_key (key))
    add_secret (s_vpn, key, value);
  else
    nm_setting_vpn_add_data_item (s_vpn, key, value);
  return TRUE;
}

static gboolean
add_int (NMSettingVpn *s_vpn, JsonObject *object, const char *field, const char *key,
         gboolean skip_zero, GError **error)
{
  gboolean present;
  gint64 n = 0;
  char buf[32];

  if (!get_int (object, field, &present, &n, error))
    return FALSE;
  if (!present || (skip_zero && n == 0))
    return TRUE;
  g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, n);
  return add_checked (s_vpn, field, key, buf, error);
}

static gboolean
add_bool (NMSettingVpn *s_vpn, JsonObject *object, const char *field, const char *key,
          GError **error)
{
  gboolean present;
  gboolean b = FALSE;

  if (!get_bool (object, field, &present, &b, error))
    return FALSE;
  if (present)
    nm_setting_vpn_add_data_item (s_vpn, key, b ? "yes" : "no");
  return TRUE;
}

NMConnection *
nm_netbird_import_config_json (const char *text, gsize len, const char *fallback_id,
                               GError **error)
{
  static const char *const identifying[] = { "ManagementURL", "WgIface", "WgPort", "PrivateKey", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (NMConnection) connection = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *management_url = NULL;
  g_autofree char *admin_url = NULL;
  g_autofree char *id = NULL;
  NMSettingVpn *s_vpn = NULL;
  JsonObject *object;
  JsonNode *root;
  const char *str;
  gboolean ours = FALSE;

  g_return_val_if_fail (text != NULL, NULL);

  if (len > MAX_FILE_SIZE)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird config.json: it is too large"));
      return NULL;
    }
  if (!json_parser_load_from_data (parser, text, len, &local))
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird config.json: %s"), local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird config.json: the top level is not an object"));
      return NULL;
    }
  object = json_node_get_object (root);
  for (const char *const *f = identifying; *f; f++)
    ours = ours || member (object, *f);
  if (!ours)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("not a NetBird config.json: it has none of ManagementURL, WgIface, WgPort, PrivateKey"));
      return NULL;
    }

  connection = new_connection ("", &s_vpn);

  if (!get_url (object, "ManagementURL", &management_url, error))
    return NULL;
  if (management_url
      && !add_checked (s_vpn, "ManagementURL", NM_NETBIRD_KEY_MANAGEMENT_URL, management_url, error))
    return NULL;
  if (!get_url (object, "AdminURL", &admin_url, error))
    return NULL;
  if (admin_url && !add_checked (s_vpn, "AdminURL", NM_NETBIRD_KEY_ADMIN_URL, admin_url, error))
    return NULL;

  if (!get_string (object, "WgIface", &str, error))
    return NULL;
  if (str && str[0] && !add_checked (s_vpn, "WgIface", NM_NETBIRD_KEY_INTERFACE_NAME, str, error))
    return NULL;

  if (!add_int (s_vpn, object, "WgPort", NM_NETBIRD_KEY_LISTEN_PORT, FALSE, error)
      || !add_int (s_vpn, object, "MTU", NM_NETBIRD_KEY_MTU, TRUE, error)
      || !add_bool (s_vpn, object, "RosenpassEnabled", NM_NETBIRD_KEY_ROSENPASS, error)
      || !add_bool (s_vpn, object, "RosenpassPermissive", NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE, error))
    return NULL;

  if (!get_string (object, "PreSharedKey", &str, error))
    return NULL;
  if (str && str[0] && !add_checked (s_vpn, "PreSharedKey", NM_NETBIRD_KEY_PRESHARED_KEY, str, error))
    return NULL;

  if (!get_string (object, "Name", &str, error))
    return NULL;
  if (str && str[0])
    {
      id = g_strdup (str);
    }
  else if (management_url)
    {
      g_autoptr (GUri) uri = g_uri_parse (management_url, G_URI_FLAGS_NONE, NULL);

      id = g_strdup_printf ("NetBird (%s)", g_uri_get_host (uri));
    }
  else
    {
      id = g_strdup (fallback_id && fallback_id[0] ? fallback_id : "NetBird");
    }
  g_object_set (nm_connection_get_setting_connection (connection),
                NM_SETTING_CONNECTION_ID, id, NULL);
  return g_steal_pointer (&connection);
}

/* A url.URL object as Go writes it, with the fields NetBird reads. */
static void
add_url_object (JsonBuilder *builder, const char *field, const char *value)
{
  g_autoptr (GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
  g_autofree char *host = NULL;
  const char *h;
  gboolean v6;

  g_assert (uri);  /* validated before */
  h = g_uri_get_host (uri);
  v6 = strchr (h, ':') != NULL;
  if (g_uri_get_port (uri) > 0)
    host = g_strdup_printf (v6 ? "[%s]:%d" : "%s:%d", h, g_uri_get_port (uri));
  else
    host = g_strdup_printf (v6 ? "[%s]" : "%s", h);

  json_builder_set_member_name (builder, field);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Scheme");
  json_builder_add_string_value (builder, g_uri_get_scheme (uri));
  json_builder_set_member_name (builder, "Host");
  json_builder_add_string_value (builder, host);
  json_builder_set_member_name (builder, "Path");
  json_builder_add_string_value (builder, g_uri_get_path (uri));
  json_builder_set_member_name (builder, "RawQuery");
  json_builder_add_string_value (builder, g_uri_get_query (uri) ? g_uri_get_query (uri) : "");
  json_builder_end_object (builder);
}

static const char *
data_or (NMSettingVpn *s_vpn, const char *key, const char *fallback)
{
  const char *value = nm_setting_vpn_get_data_item (s_vpn, key);

  return value ? value : fallback;
}

char *
nm_netbird_export_config_json (NMConnection *connection, GError **error)
{
  g_autoptr (JsonBuilder) builder = NULL;
  g_autoptr (JsonGenerator) generator = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  NMSettingVpn *s_vpn;
  const char *value;

  g_return_val_if_fail (NM_IS_CONNECTION (connection), NULL);

  s_vpn = exportable_vpn_setting (connection, error);
  if (!s_vpn)
    return NULL;

  /* Every field NetBird would otherwise fill with its own default gets the
   * value this connection uses, so the file means the same to both. */
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  if (nm_connection_get_id (connection))
    {
      json_builder_set_member_name (builder, "Name");
      json_builder_add_string_value (builder, nm_connection_get_id (connection));
    }
  add_url_object (builder, "ManagementURL",
                  data_or (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL, NM_NETBIRD_DEFAULT_MANAGEMENT_URL));
  add_url_object (builder, "AdminURL",
                  data_or (s_vpn, NM_NETBIRD_KEY_ADMIN_URL, NM_NETBIRD_DEFAULT_ADMIN_URL));
  json_builder_set_member_name (builder, "WgIface");
  json_builder_add_string_value (builder,
                                 data_or (s_vpn, NM_NETBIRD_KEY_INTERFACE_NAME, NM_NETBIRD_DEFAULT_INTERFACE_NAME));
  value = nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT);
  json_builder_set_member_name (builder, "WgPort");
  json_builder_add_int_value (builder, value ? g_ascii_strtoll (value, NULL, 10) : NM_NETBIRD_DEFAULT_LISTEN_PORT);
  value = nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MTU);
  json_builder_set_member_name (builder, "MTU");
  json_builder_add_int_value (builder, value ? g_ascii_strtoll (value, NULL, 10) : NM_NETBIRD_DEFAULT_MTU);
  json_builder_set_member_name (builder, "RosenpassEnabled");
  json_builder_add_boolean_value (builder,
                                  g_strcmp0 (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), "yes") == 0);
  json_builder_set_member_name (builder, "RosenpassPermissive");
  json_builder_add_boolean_value (builder,
                                  g_strcmp0 (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE), "yes") == 0);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, NULL);
  return g_strconcat (json, "\n", NULL);
}

/* ------------------------------------------------------------------------ */
/* Files */

NMConnection *
nm_netbird_import_file (const char *path, GError **error)
{
  g_autofree char *base = NULL;
  g_autoptr (GError) local = NULL;
  NMConnection *connection;
  char *contents = NULL;
  gsize len = 0;
  const char *p;
  char *dot;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_get_contents (path, &contents, &len, &local))
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                   _("cannot read the file: %s"), local->message);
      return NULL;
    }

  base = g_path_get_basename (path);
  dot = strrchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';

  for (p = contents; p < contents + len && g_ascii_isspace (*p); p++)
    ;
  if ((p < contents + len && *p == '{') || g_str_has_suffix (path, ".json"))
    connection = nm_netbird_import_config_json (contents, len, base, error);
  else
    connection = nm_netbird_import_keyfile (contents, len, base, error);
  wipe_free (contents, len);
  return connection;
}

gboolean
nm_netbird_export_file (const char *path, NMConnection *connection, GError **error)
{
  g_autofree char *data = NULL;

  g_return_val_if_fail (path != NULL, FALSE);

  if (g_str_has_suffix (path, ".json"))
    data = nm_netbird_export_config_json (connection, error);
  else
    data = nm_netbird_export_keyfile (connection, error);
  if (!data)
    return FALSE;
  return g_file_set_contents_full (path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

char *
nm_netbird_suggested_filename (NMConnection *connection)
{
  const char *id = connection ? nm_connection_get_id (connection) : NULL;
  g_autofree char *name = g_strdup (id && id[0] ? id : "NetBird");

  for (char *p = name; *p; p++)
    if (*p == '/' || g_ascii_iscntrl (*p))
      *p = '_';
  return g_strconcat (name, NM_NETBIRD_FILE_EXTENSION, NULL);
}
