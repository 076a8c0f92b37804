/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Why a session object: NetworkManager's Disconnect returns at once, but
 * taking the engine and the WireGuard device down takes a moment
 * (wireguard-go exits, NetworkManager deactivates its profile). A Connect
 * that follows at once must not find the old device in its way, so the old
 * session finishes its teardown while the new one waits for it, and every
 * asynchronous step holds a reference to its own session, never to "the
 * current one".
 */
#define G_LOG_DOMAIN "nm-netbird"

#include "config.h"

#include "nm-netbird-plugin.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "mgmt-client.h"
#include "nm-ip-config.h"
#include "nm-netbird-settings.h"
#include "status-dbus.h"
#include "wg-nm.h"
#include "wg-uapi.h"

/* ------------------------------------------------------------------------ */
/* Logging */

enum { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

static int log_threshold = LOG_INFO;

static int
log_level_parse (const char *level)
{
  if (g_strcmp0 (level, "error") == 0)
    return LOG_ERROR;
  if (g_strcmp0 (level, "warning") == 0)
    return LOG_WARNING;
  if (g_strcmp0 (level, "debug") == 0)
    return LOG_DEBUG;
  if (g_strcmp0 (level, "trace") == 0)
    return LOG_TRACE;
  return LOG_INFO;
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  int need;
  g_autofree char *line = NULL;

  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    need = LOG_ERROR;
  else if (level & G_LOG_LEVEL_WARNING)
    need = LOG_WARNING;
  else if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    need = LOG_INFO;
  else
    need = LOG_DEBUG;
  if (need > log_threshold)
    return G_LOG_WRITER_HANDLED;
  if (need == LOG_DEBUG && log_threshold < LOG_TRACE)
    {
      const char *domain = NULL;
      for (gsize i = 0; i < n_fields; i++)
        if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
          domain = fields[i].value;
      /* Ours are "nb-*" and "nm-netbird"; the rest only at trace. */
      if (domain == NULL || !(g_str_has_prefix (domain, "nb-") || g_str_has_prefix (domain, "nm-netbird")))
        return G_LOG_WRITER_HANDLED;
    }
  line = g_log_writer_format_fields (level, fields, n_fields, FALSE);
  fprintf (stderr, "%s\n", line);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
nb_nm_log_set_level (const char *level)
{
  log_threshold = log_level_parse (level);
}

void
nb_nm_log_install (const char *level)
{
  nb_nm_log_set_level (level);
  g_log_set_writer_func (log_writer, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Session */

typedef enum {
  BACKEND_AUTO,
  BACKEND_KERNEL,
  BACKEND_USERSPACE,
} BackendMode;

typedef struct _Session Session;

struct _NbNmPlugin {
  NMVpnServicePlugin parent_instance;

  NMClient *client;             /* NULL until initialised */
  gboolean client_failed;
  GCancellable *cancellable;
  GPtrArray *client_waiters;    /* Session * (referenced) waiting for the client */

  NMActiveConnection *primary;  /* watched for network changes */
  NMIPConfig *primary_ip4;
  NMIPConfig *primary_ip6;
  guint network_debounce_id;
  char *network_reason;
  NMState last_state;

  Session *session;             /* the connection, or NULL */
  Session *stopping;            /* a session being taken down */
  GPtrArray *shutdown_tasks;    /* GTask *: shutdown waiting for teardown */
};

struct _Session {
  NbNmPlugin *plugin;           /* borrowed: the plugin outlives sessions */

  char *uuid;
  char *id;
  char *management_url;
  char *interface_name;
  char *hostname;
  char *exit_node;               /* vpn.data exit-node (NULL: auto) */
  char *log_level;
  char *state_dir;
  char *setup_key;              /* secret: wiped */
  char *preshared_key;          /* secret: wiped; kept for the session (a
                                 * backend fallback starts the engine again) */
  guint listen_port;
  guint mtu;
  BackendMode mode;
  gboolean use_kernel;

  NbWgBackend *wg;
  gulong wg_died_id;
  NbEngine *engine;
  gulong engine_failed_id;
  gulong engine_map_id;
  NbStatusDbus *status;
  gulong refresh_id;
  GInetAddress *gateway;
  GVariant *sent_config;        /* what NetworkManager has, to skip repeats */
  GVariant *sent_ip4;
  GVariant *sent_ip6;
  GCancellable *cancellable;
  guint deadline_id;

  gboolean waiting_for_previous;
  gboolean started;
  gboolean configured;
  gboolean failed;
  gboolean stopping;
  gboolean stopped;
};

G_DEFINE_FINAL_TYPE (NbNmPlugin, nb_nm_plugin, NM_TYPE_VPN_SERVICE_PLUGIN)

static void
session_clear (Session *s)
{
  if (s->setup_key != NULL)
    {
      sodium_memzero (s->setup_key, strlen (s->setup_key));
      g_clear_pointer (&s->setup_key, g_free);
    }
  if (s->preshared_key != NULL)
    {
      sodium_memzero (s->preshared_key, strlen (s->preshared_key));
      g_clear_pointer (&s->preshared_key, g_free);
    }
  g_clear_handle_id (&s->deadline_id, g_source_remove);
  if (s->engine != NULL)
    {
      g_clear_signal_handler (&s->engine_failed_id, s->engine);
      g_clear_signal_handler (&s->engine_map_id, s->engine);
    }
  if (s->status != NULL)
    g_clear_signal_handler (&s->refresh_id, s->status);
  if (s->wg != NULL)
    g_clear_signal_handler (&s->wg_died_id, s->wg);
  g_clear_object (&s->status);
  g_clear_object (&s->engine);
  g_clear_object (&s->wg);
  g_clear_object (&s->gateway);
  g_clear_pointer (&s->sent_config, g_variant_unref);
  g_clear_pointer (&s->sent_ip4, g_variant_unref);
  g_clear_pointer (&s->sent_ip6, g_variant_unref);
  g_clear_object (&s->cancellable);
  g_free (s->uuid);
  g_free (s->id);
  g_free (s->management_url);
  g_free (s->interface_name);
  g_free (s->hostname);
  g_free (s->exit_node);
  g_free (s->log_level);
  g_free (s->state_dir);
}

static Session *
session_ref (Session *s)
{
  return g_rc_box_acquire (s);
}

static void
session_unref (Session *s)
{
  g_rc_box_release_full (s, (GDestroyNotify) session_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Session, session_unref)

char *
nb_nm_plugin_state_dir (const char *uuid)
{
  const char *base = g_getenv ("NM_NETBIRD_STATE_DIR");

  if (base == NULL || *base == '\0')
    base = NB_NM_PLUGIN_DEFAULT_STATE_DIR;
  return g_build_filename (base, uuid, NULL);
}

static char *
registered_path (const char *state_dir)
{
  return g_build_filename (state_dir, NB_NM_PLUGIN_REGISTERED_FILE, NULL);
}

static gboolean
is_registered (const char *state_dir)
{
  g_autofree char *marker = registered_path (state_dir);
  g_autofree char *key = g_build_filename (state_dir, NB_ENGINE_PRIVATE_KEY_FILE, NULL);

  return g_file_test (marker, G_FILE_TEST_IS_REGULAR) && g_file_test (key, G_FILE_TEST_IS_REGULAR);
}

/* ------------------------------------------------------------------------ */
/* Teardown */

static void session_start (Session *s);
static void session_start_backend (Session *s);

static void
teardown_done (Session *s)
{
  NbNmPlugin *self = s->plugin;
  g_autoptr (GPtrArray) waiters = NULL;

  s->stopped = TRUE;
  g_message ("connection %s is down", s->id);
  if (self->stopping == s)
    {
      self->stopping = NULL;
      session_unref (s);
    }
  /* A Connect that came in meanwhile starts now. */
  if (self->stopping == NULL && self->session != NULL && self->session->waiting_for_previous)
    {
      self->session->waiting_for_previous = FALSE;
      session_start (self->session);
    }
  if (self->stopping == NULL && self->session == NULL && self->shutdown_tasks != NULL)
    {
      waiters = g_steal_pointer (&self->shutdown_tasks);
      for (guint i = 0; i < waiters->len; i++)
        g_task_return_boolean (g_ptr_array_index (waiters, i), TRUE);
    }
}

static void
wg_stopped_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Session) s = data;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (NB_IS_WG_NM (source))
    ok = nb_wg_nm_stop_finish (NB_WG_NM (source), result, &error);
  else
    ok = nb_wg_uapi_stop_finish (NB_WG_UAPI (source), result, &error);
  if (!ok)
    g_warning ("stopping the WireGuard device %s: %s", s->interface_name, error->message);
  teardown_done (s);
}

/* Moves the plugin's session to "stopping" and takes it down. */
static void
session_stop (NbNmPlugin *self)
{
  Session *s = self->session;

  if (s == NULL)
    return;
  self->session = NULL;
  s->stopping = TRUE;
  g_cancellable_cancel (s->cancellable);
  g_clear_handle_id (&s->deadline_id, g_source_remove);

  if (s->waiting_for_previous)
    {
      /* Never started: nothing to take down. */
      s->stopped = TRUE;
      session_unref (s);
      return;
    }
  g_message ("taking connection %s down", s->id);
  if (s->engine != NULL)
    {
      g_clear_signal_handler (&s->engine_failed_id, s->engine);
      g_clear_signal_handler (&s->engine_map_id, s->engine);
      nb_engine_stop (s->engine);
    }
  if (s->status != NULL)
    g_clear_signal_handler (&s->refresh_id, s->status);
  g_clear_object (&s->status);     /* unexports the objects */
  if (s->wg != NULL)
    g_clear_signal_handler (&s->wg_died_id, s->wg);

  /* Two sessions in teardown at once (a Connect/Disconnect storm): the
   * older one finishes on its callback's reference; a waiting Connect
   * starts once the newest is down. */
  if (self->stopping != NULL)
    session_unref (self->stopping);
  self->stopping = s;   /* the plugin's reference moves here */

  if (NB_IS_WG_NM (s->wg))
    nb_wg_nm_stop_async (NB_WG_NM (s->wg), NULL, wg_stopped_cb, session_ref (s));
  else if (NB_IS_WG_UAPI (s->wg))
    nb_wg_uapi_stop_async (NB_WG_UAPI (s->wg), NULL, wg_stopped_cb, session_ref (s));
  else
    {
      g_autoptr (Session) keep = session_ref (s);
      teardown_done (s);
    }
}

/* Reports @error (the reason) to NetworkManager and disconnects. */
static void
session_fail (Session *s, const GError *error)
{
  NbNmPlugin *self = s->plugin;
  NMVpnPluginFailure reason = NM_VPN_PLUGIN_FAILURE_CONNECT_FAILED;

  if (s->failed || s->stopping)
    return;
  s->failed = TRUE;
  if (error->domain == NB_MGMT_CLIENT_ERROR
      && (error->code == NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED
          || error->code == NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY
          || error->code == NB_MGMT_CLIENT_ERROR_NOT_REGISTERED
          || error->code == NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED
          || error->code == NB_MGMT_CLIENT_ERROR_PEER_REMOVED))
    {
      g_autofree char *marker = registered_path (s->state_dir);
      reason = NM_VPN_PLUGIN_FAILURE_LOGIN_FAILED;
      /* The next attempt needs a setup key again. */
      if (error->code != NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED
          && error->code != NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY)
        g_unlink (marker);
    }
  if (s->configured)
    g_warning ("connection %s failed: %s", s->id, error->message);
  else
    g_warning ("connect failed: %s", error->message);
  if (self->session != s)
    return;
  /* nm_vpn_service_plugin_failure() disconnects, and a disconnect from
   * STARTING reports CONNECT_FAILED after our reason; NetworkManager keeps
   * the last one ("login failed" would become "unknown reason"). In
   * STOPPING that disconnect does nothing, so: our teardown, STOPPING, our
   * reason, STOPPED (the "state" property is writable). */
  session_stop (self);
  g_object_set (self, NM_VPN_SERVICE_PLUGIN_STATE, NM_VPN_SERVICE_STATE_STOPPING, NULL);
  nm_vpn_service_plugin_failure (NM_VPN_SERVICE_PLUGIN (self), reason);
  g_object_set (self, NM_VPN_SERVICE_PLUGIN_STATE, NM_VPN_SERVICE_STATE_STOPPED, NULL);
}

/* ------------------------------------------------------------------------ */
/* Configuration to NetworkManager */

static void
session_send_config (Session *s, const NbNetworkMap *map)
{
  NbNmPlugin *self = s->plugin;
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = {
    .tundev = s->interface_name,
    .mtu = s->mtu,
    .own_key = s->engine ? nb_engine_get_public_key (s->engine) : NULL,
    .gateway = s->gateway,
    .exit_net_id = s->engine ? nb_engine_get_exit_node (s->engine) : NULL,
  };
  GInetSocketAddress *dns = s->engine ? nb_engine_get_dns_address (s->engine) : NULL;

  /* NetworkManager takes DNS servers on port 53 only. */
  if (dns != NULL && g_inet_socket_address_get_port (dns) == 53)
    params.dns_server = g_inet_socket_address_get_address (dns);

  if (map == NULL || s->stopping)
    return;
  if (!nb_nm_ip_config_build (map, &params, &cfg, &error))
    {
      session_fail (s, error);
      return;
    }
  if (s->status != NULL)
    {
      g_autofree char *names = dns ? g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (dns)) : NULL;

      nb_status_dbus_set_exit_node (s->status, params.exit_net_id);
      nb_status_dbus_set_peer_names_server (s->status, names);
    }
  /* The engine reports every applied map; NetworkManager needs only
   * changes (a peer's new endpoint changes nothing here). */
  if (s->configured && s->sent_config != NULL && g_variant_equal (s->sent_config, cfg.config)
      && ((s->sent_ip4 == NULL && cfg.ip4 == NULL)
          || (s->sent_ip4 != NULL && cfg.ip4 != NULL && g_variant_equal (s->sent_ip4, cfg.ip4)))
      && ((s->sent_ip6 == NULL && cfg.ip6 == NULL)
          || (s->sent_ip6 != NULL && cfg.ip6 != NULL && g_variant_equal (s->sent_ip6, cfg.ip6))))
    return;
  if (cfg.n_exit_routes > 0)
    g_message ("%u exit-node route(s) not applied (not the exit node in use)", cfg.n_exit_routes);
  if (cfg.default4 || cfg.default6)
    g_message ("exit node %s: the tunnel becomes the default route (%s%s%s)", params.exit_net_id,
               cfg.default4 ? "IPv4" : "", cfg.default4 && cfg.default6 ? ", " : "",
               cfg.default6 ? "IPv6" : "");
  if (cfg.n_skipped_dns > 0)
    g_message ("%u nameserver(s) not passed to NetworkManager (port other than 53 or no address of that family)",
               cfg.n_skipped_dns);
  g_message ("%s %s: address %s%s%s, %u peer(s), %u route(s) from management",
             s->configured ? "updating" : "configuring", s->interface_name,
             map->own->address ? map->own->address : "-",
             map->own->address_v6 ? " " : "", map->own->address_v6 ? map->own->address_v6 : "",
             map->peers->len, map->routes->len);
  nm_vpn_service_plugin_set_config (NM_VPN_SERVICE_PLUGIN (self), cfg.config);
  if (cfg.ip4 != NULL)
    nm_vpn_service_plugin_set_ip4_config (NM_VPN_SERVICE_PLUGIN (self), cfg.ip4);
  if (cfg.ip6 != NULL)
    nm_vpn_service_plugin_set_ip6_config (NM_VPN_SERVICE_PLUGIN (self), cfg.ip6);
  s->configured = TRUE;
  g_clear_pointer (&s->sent_config, g_variant_unref);
  g_clear_pointer (&s->sent_ip4, g_variant_unref);
  g_clear_pointer (&s->sent_ip6, g_variant_unref);
  s->sent_config = g_variant_ref (cfg.config);
  s->sent_ip4 = cfg.ip4 ? g_variant_ref (cfg.ip4) : NULL;
  s->sent_ip6 = cfg.ip6 ? g_variant_ref (cfg.ip6) : NULL;
  if (s->status != NULL)
    nb_status_dbus_set_address (s->status, map->own->address);
}

static void
on_engine_network_map (NbEngine *engine, const NbNetworkMap *map, gpointer data)
{
  Session *s = data;

  if (s->started)
    session_send_config (s, map);
}

static void
on_engine_failed (NbEngine *engine, const GError *reason, gpointer data)
{
  session_fail (data, reason);
}

static void
on_wg_died (GObject *wg, const GError *reason, gpointer data)
{
  Session *s = data;
  session_fail (s, reason);
}

static void
on_refresh_requested (NbStatusDbus *status, gpointer data)
{
  Session *s = data;

  if (s->started && !s->stopping)
    {
      g_message ("Refresh requested over D-Bus: gathering ICE candidates again");
      nb_engine_network_changed (s->engine);
    }
}

static gboolean
deadline_cb (gpointer data)
{
  Session *s = data;
  g_autoptr (GError) error = NULL;
  const NbServiceState *mgmt;

  s->deadline_id = 0;
  mgmt = s->engine ? nb_status_recorder_get_management (nb_engine_get_status (s->engine)) : NULL;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "not connected within %u s (management %s%s%s)",
                       NB_NM_PLUGIN_CONNECT_TIMEOUT_MS / 1000, s->management_url,
                       mgmt && mgmt->error ? ": " : "", mgmt && mgmt->error ? mgmt->error : "");
  session_fail (s, error);
  return G_SOURCE_REMOVE;
}

static void
write_registered (Session *s)
{
  g_autofree char *marker = registered_path (s->state_dir);
  g_autoptr (GError) error = NULL;

  if (g_file_test (marker, G_FILE_TEST_IS_REGULAR))
    return;
  if (!g_file_set_contents_full (marker, "1\n", -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("cannot write %s: %s", marker, error->message);
}

static void
engine_started_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Session) s = data;
  g_autoptr (GError) error = NULL;

  if (!nb_engine_start_finish (NB_ENGINE (source), result, &error))
    {
      if (s->stopping)
        return;
      if (s->mode == BACKEND_AUTO && s->use_kernel && error->domain == NB_WG_ERROR)
        {
          /* The kernel has WireGuard but NetworkManager could not give us
           * the device: same fallback as without kernel WireGuard. */
          g_message ("wireguard-backend auto: kernel WireGuard unavailable: %s; using userspace wireguard-go",
                     error->message);
          g_clear_signal_handler (&s->engine_failed_id, s->engine);
          g_clear_signal_handler (&s->engine_map_id, s->engine);
          nb_engine_stop (s->engine);
          g_clear_object (&s->engine);
          if (s->status != NULL)
            g_clear_signal_handler (&s->refresh_id, s->status);
          g_clear_object (&s->status);
          g_clear_signal_handler (&s->wg_died_id, s->wg);
          nb_wg_nm_stop_async (NB_WG_NM (s->wg), NULL, NULL, NULL);
          g_clear_object (&s->wg);
          s->use_kernel = FALSE;
          session_start_backend (s);
          return;
        }
      session_fail (s, error);
      return;
    }
  if (s->stopping)
    return;
  if (s->setup_key != NULL)
    {
      sodium_memzero (s->setup_key, strlen (s->setup_key));
      g_clear_pointer (&s->setup_key, g_free);
    }
  s->started = TRUE;
  g_clear_handle_id (&s->deadline_id, g_source_remove);
  write_registered (s);
  g_message ("connected to NetBird management %s as %s", s->management_url, nb_engine_get_public_key (s->engine));
  if (s->status != NULL)
    nb_status_dbus_set_public_key (s->status, nb_engine_get_public_key (s->engine));
  session_send_config (s, nb_engine_get_network_map (s->engine));
}

static void
session_start_engine (Session *s)
{
  NbNmPlugin *self = s->plugin;
  g_autoptr (GError) error = NULL;
  NbEngineConfig config;
  GDBusConnection *bus;

  nb_engine_config_init (&config);
  config.management_url = g_strdup (s->management_url);
  config.state_dir = g_strdup (s->state_dir);
  config.hostname = g_strdup (s->hostname);
  config.exit_node = g_strdup (s->exit_node);
  config.listen_port = (guint16) s->listen_port;
  /* Our copy stays until the start succeeded: "auto" may start again
   * with wireguard-go. */
  config.setup_key = g_strdup (s->setup_key);
  config.preshared_key = g_strdup (s->preshared_key);
  s->engine = nb_engine_new (&config, s->wg, &error);
  nb_engine_config_clear (&config);
  if (s->engine == NULL)
    {
      session_fail (s, error);
      return;
    }
  s->engine_failed_id = g_signal_connect (s->engine, "failed", G_CALLBACK (on_engine_failed), s);
  s->engine_map_id = g_signal_connect (s->engine, "network-map", G_CALLBACK (on_engine_network_map), s);

  bus = nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self));
  if (bus != NULL)
    {
      s->status = nb_status_dbus_new (bus, NB_STATUS_DBUS_ROOT, nb_engine_get_status (s->engine));
      nb_status_dbus_set_interface (s->status, s->interface_name);
      nb_status_dbus_set_rosenpass (s->status, FALSE, FALSE);
      s->refresh_id = g_signal_connect (s->status, "refresh-requested", G_CALLBACK (on_refresh_requested), s);
    }
  nb_engine_start_async (s->engine, s->cancellable, engine_started_cb, session_ref (s));
}

static void
uapi_started_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Session) s = data;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_uapi_start_finish (NB_WG_UAPI (source), result, &error))
    {
      if (!s->stopping)
        {
          g_prefix_error (&error, "wireguard-go for %s: ", s->interface_name);
          session_fail (s, error);
        }
      return;
    }
  if (s->stopping)
    return;
  g_debug ("wireguard-go %d serves %s", (int) nb_wg_uapi_get_pid (NB_WG_UAPI (source)), s->interface_name);
  session_start_engine (s);
}

static void
session_start_backend (Session *s)
{
  NbNmPlugin *self = s->plugin;
  g_autoptr (GError) error = NULL;

  if (s->use_kernel)
    {
      NbWgNm *wg = nb_wg_nm_new (self->client, s->interface_name, &error);
      g_autofree char *id = NULL;

      if (wg == NULL)
        {
          session_fail (s, error);
          return;
        }
      id = g_strdup_printf ("%s (NetBird WireGuard)", s->id);
      nb_wg_nm_set_connection_id (wg, id);
      nb_wg_nm_set_mtu (wg, s->mtu);
      s->wg = NB_WG_BACKEND (wg);
      s->wg_died_id = g_signal_connect (wg, "died", G_CALLBACK (on_wg_died), s);
      /* The engine's set_device activates the profile. */
      session_start_engine (s);
      return;
    }
  else
    {
      NbWgUapi *wg = nb_wg_uapi_new (s->interface_name, &error);
      const char *program = g_getenv ("NM_NETBIRD_WIREGUARD_GO");
      const char *uapi_dir = g_getenv ("NM_NETBIRD_UAPI_DIR");

      if (wg == NULL)
        {
          session_fail (s, error);
          return;
        }
      if (program != NULL && *program != '\0')
        nb_wg_uapi_set_program (wg, program);
      if (uapi_dir != NULL && *uapi_dir != '\0')
        nb_wg_uapi_set_socket_dir (wg, uapi_dir);
      if (log_threshold >= LOG_TRACE)
        nb_wg_uapi_set_log_level (wg, "verbose");
      s->wg = NB_WG_BACKEND (wg);
      s->wg_died_id = g_signal_connect (wg, "died", G_CALLBACK (on_wg_died), s);
      nb_wg_uapi_start_async (wg, s->cancellable, uapi_started_cb, session_ref (s));
    }
}

static void
gateway_resolved_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Session) s = data;
  g_autolist (GInetAddress) addrs = NULL;
  g_autoptr (GError) error = NULL;

  addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  if (addrs == NULL)
    {
      g_debug ("management host not resolved (%s); the overlay address stands in as gateway", error->message);
      return;
    }
  for (GList *l = addrs; l != NULL; l = l->next)
    if (s->gateway == NULL || (g_inet_address_get_family (s->gateway) != G_SOCKET_FAMILY_IPV4
                               && g_inet_address_get_family (l->data) == G_SOCKET_FAMILY_IPV4))
      g_set_object (&s->gateway, l->data);
}

/* The external gateway NetworkManager wants: management's address. */
static void
session_resolve_gateway (Session *s)
{
  g_autoptr (GUri) uri = g_uri_parse (s->management_url, G_URI_FLAGS_NONE, NULL);
  const char *host = uri ? g_uri_get_host (uri) : NULL;
  g_autoptr (GResolver) resolver = NULL;

  if (host == NULL || *host == '\0')
    return;
  s->gateway = g_inet_address_new_from_string (host);
  if (s->gateway != NULL)
    return;
  resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (resolver, host, s->cancellable, gateway_resolved_cb, session_ref (s));
}

static void
session_start (Session *s)
{
  NbNmPlugin *self = s->plugin;

  g_message ("connecting %s (management %s, interface %s)", s->id, s->management_url, s->interface_name);
  s->deadline_id = g_timeout_add (NB_NM_PLUGIN_CONNECT_TIMEOUT_MS, deadline_cb, s);
  session_resolve_gateway (s);
  if (s->use_kernel && self->client == NULL)
    {
      if (self->client_failed)
        {
          g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                          "no connection to NetworkManager for the kernel WireGuard device");
          session_fail (s, error);
          return;
        }
      g_ptr_array_add (self->client_waiters, session_ref (s));
      return;
    }
  session_start_backend (s);
}

/* ------------------------------------------------------------------------ */
/* NetworkManager's events */

static gboolean
network_debounce_cb (gpointer data)
{
  NbNmPlugin *self = data;
  Session *s = self->session;

  self->network_debounce_id = 0;
  if (s != NULL && s->started && !s->stopping)
    {
      g_message ("network changed (%s): gathering ICE candidates again", self->network_reason);
      nb_engine_network_changed (s->engine);
    }
  g_clear_pointer (&self->network_reason, g_free);
  return G_SOURCE_REMOVE;
}

static void
network_changed (NbNmPlugin *self, const char *reason)
{
  if (self->network_reason == NULL)
    self->network_reason = g_strdup (reason);
  g_clear_handle_id (&self->network_debounce_id, g_source_remove);
  self->network_debounce_id = g_timeout_add (NB_NM_PLUGIN_NETWORK_DEBOUNCE_MS, network_debounce_cb, self);
}

static void
on_ip_config_changed (GObject *object, GParamSpec *pspec, gpointer data)
{
  network_changed (data, "addresses of the primary connection");
}

static void
watch_ip_config (NbNmPlugin *self, NMIPConfig **slot, NMIPConfig *config)
{
  if (*slot == config)
    return;
  if (*slot != NULL)
    g_signal_handlers_disconnect_by_data (*slot, self);
  g_set_object (slot, config);
  if (config != NULL)
    {
      g_signal_connect (config, "notify::" NM_IP_CONFIG_ADDRESSES, G_CALLBACK (on_ip_config_changed), self);
      g_signal_connect (config, "notify::" NM_IP_CONFIG_GATEWAY, G_CALLBACK (on_ip_config_changed), self);
    }
}

static void
on_primary_ip_configs (GObject *object, GParamSpec *pspec, gpointer data)
{
  NbNmPlugin *self = data;
  NMActiveConnection *ac = NM_ACTIVE_CONNECTION (object);

  watch_ip_config (self, &self->primary_ip4, nm_active_connection_get_ip4_config (ac));
  watch_ip_config (self, &self->primary_ip6, nm_active_connection_get_ip6_config (ac));
  network_changed (self, "IP configuration of the primary connection");
}

static void
watch_primary (NbNmPlugin *self)
{
  NMActiveConnection *primary = nm_client_get_primary_connection (self->client);

  if (primary == self->primary)
    return;
  if (self->primary != NULL)
    g_signal_handlers_disconnect_by_data (self->primary, self);
  watch_ip_config (self, &self->primary_ip4, NULL);
  watch_ip_config (self, &self->primary_ip6, NULL);
  g_set_object (&self->primary, primary);
  if (primary != NULL)
    {
      g_signal_connect (primary, "notify::" NM_ACTIVE_CONNECTION_IP4_CONFIG, G_CALLBACK (on_primary_ip_configs), self);
      g_signal_connect (primary, "notify::" NM_ACTIVE_CONNECTION_IP6_CONFIG, G_CALLBACK (on_primary_ip_configs), self);
      watch_ip_config (self, &self->primary_ip4, nm_active_connection_get_ip4_config (primary));
      watch_ip_config (self, &self->primary_ip6, nm_active_connection_get_ip6_config (primary));
    }
}

static void
on_primary_connection (NMClient *client, GParamSpec *pspec, gpointer data)
{
  NbNmPlugin *self = data;

  watch_primary (self);
  network_changed (self, "primary connection");
}

static void
on_nm_state (NMClient *client, GParamSpec *pspec, gpointer data)
{
  NbNmPlugin *self = data;
  NMState state = nm_client_get_state (client);

  /* Waking up or coming back online after being offline. */
  if (state >= NM_STATE_CONNECTED_LOCAL && self->last_state < NM_STATE_CONNECTED_LOCAL)
    network_changed (self, "NetworkManager connected");
  self->last_state = state;
}

static void
client_ready_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  NbNmPlugin *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) waiters = NULL;
  NMClient *client;

  client = nm_client_new_finish (result, &error);
  if (client == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_warning ("no NetworkManager client: %s (network changes are not followed, no kernel WireGuard)",
                 error->message);
      self->client_failed = TRUE;
    }
  else
    {
      self->client = client;
      self->last_state = nm_client_get_state (client);
      g_signal_connect (client, "notify::" NM_CLIENT_PRIMARY_CONNECTION, G_CALLBACK (on_primary_connection), self);
      g_signal_connect (client, "notify::" NM_CLIENT_STATE, G_CALLBACK (on_nm_state), self);
      watch_primary (self);
    }

  waiters = g_steal_pointer (&self->client_waiters);
  self->client_waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) session_unref);
  for (guint i = 0; i < waiters->len; i++)
    {
      Session *s = g_ptr_array_index (waiters, i);
      if (s->stopping)
        continue;
      if (self->client == NULL)
        {
          g_autoptr (GError) e = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                                              "no connection to NetworkManager for the kernel WireGuard device: %s",
                                              error->message);
          session_fail (s, e);
        }
      else
        session_start_backend (s);
    }
}

/* ------------------------------------------------------------------------ */
/* NMVpnServicePlugin */

static const char *
data_item (NMSettingVpn *s_vpn, const char *key, const char *fallback)
{
  const char *v = nm_setting_vpn_get_data_item (s_vpn, key);
  return v != NULL && *v != '\0' ? v : fallback;
}

static gboolean
uuid_is_safe (const char *uuid)
{
  if (uuid == NULL || *uuid == '\0' || strlen (uuid) > 64)
    return FALSE;
  for (const char *p = uuid; *p; p++)
    if (!g_ascii_isxdigit (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

static gboolean
secret_not_required (NMSettingVpn *s_vpn, const char *key)
{
  NMSettingSecretFlags flags = NM_SETTING_SECRET_FLAG_NONE;

  nm_setting_get_secret_flags (NM_SETTING (s_vpn), key, &flags, NULL);
  return (flags & NM_SETTING_SECRET_FLAG_NOT_REQUIRED) != 0;
}

static gboolean
plugin_need_secrets (NMVpnServicePlugin *plugin, NMConnection *connection,
                     const char **setting_name, GError **error)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autofree char *state_dir = NULL;
  const char *key;

  if (s_vpn == NULL)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                           "the connection has no VPN setting");
      return FALSE;
    }
  if (!uuid_is_safe (nm_connection_get_uuid (connection)))
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                           "the connection has no usable UUID");
      return FALSE;
    }
  state_dir = nb_nm_plugin_state_dir (nm_connection_get_uuid (connection));
  if (is_registered (state_dir))
    return FALSE;
  key = nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY);
  if (key != NULL && *key != '\0')
    return FALSE;
  if (secret_not_required (s_vpn, NM_NETBIRD_KEY_SETUP_KEY))
    return FALSE;
  *setting_name = NM_SETTING_VPN_SETTING_NAME;
  return TRUE;
}

static gboolean
plugin_connect (NMVpnServicePlugin *plugin, NMConnection *connection, GError **error)
{
  NbNmPlugin *self = NB_NM_PLUGIN (plugin);
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autoptr (GError) local = NULL;
  g_autoptr (Session) s = NULL;
  const char *backend, *v, *key;
  guint64 n;

  if (s_vpn == NULL)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                           "the connection has no VPN setting");
      return FALSE;
    }
  if (!nm_netbird_validate_data (s_vpn, &local) || !nm_netbird_validate_secrets (s_vpn, &local))
    {
      g_warning ("connect refused: %s", local->message);
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS, "%s", local->message);
      return FALSE;
    }
  if (!uuid_is_safe (nm_connection_get_uuid (connection)))
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                           "the connection has no usable UUID");
      return FALSE;
    }
  if (g_strcmp0 (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), "yes") == 0)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                   "%s: Rosenpass is not supported by this NetBird client; set it to \"no\"",
                   NM_NETBIRD_KEY_ROSENPASS);
      g_warning ("connect refused: %s", (*error)->message);
      return FALSE;
    }
  s = g_rc_box_new0 (Session);
  s->plugin = self;
  s->cancellable = g_cancellable_new ();
  s->uuid = g_strdup (nm_connection_get_uuid (connection));
  s->id = g_strdup (nm_connection_get_id (connection));
  if (s->id == NULL)
    s->id = g_strdup (s->uuid);
  s->management_url = g_strdup (data_item (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL, NM_NETBIRD_DEFAULT_MANAGEMENT_URL));
  s->interface_name = g_strdup (data_item (s_vpn, NM_NETBIRD_KEY_INTERFACE_NAME, NM_NETBIRD_DEFAULT_INTERFACE_NAME));
  s->hostname = g_strdup (data_item (s_vpn, NM_NETBIRD_KEY_HOSTNAME, NULL));
  s->exit_node = g_strdup (data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE, NULL));
  s->log_level = g_strdup (data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL, "info"));
  v = data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT, NULL);
  s->listen_port = v && g_ascii_string_to_unsigned (v, 10, 0, 65535, &n, NULL) ? (guint) n : NM_NETBIRD_DEFAULT_LISTEN_PORT;
  v = data_item (s_vpn, NM_NETBIRD_KEY_MTU, NULL);
  s->mtu = v && g_ascii_string_to_unsigned (v, 10, NM_NETBIRD_MTU_MIN, NM_NETBIRD_MTU_MAX, &n, NULL)
           ? (guint) n : NM_NETBIRD_DEFAULT_MTU;
  backend = data_item (s_vpn, NM_NETBIRD_KEY_WIREGUARD_BACKEND, "auto");
  s->mode = g_str_equal (backend, "kernel") ? BACKEND_KERNEL
            : g_str_equal (backend, "userspace") ? BACKEND_USERSPACE : BACKEND_AUTO;
  s->state_dir = nb_nm_plugin_state_dir (s->uuid);

  nb_nm_log_set_level (s->log_level);
  if (s->listen_port == 0)
    g_message ("%s 0: the engine uses %u", NM_NETBIRD_KEY_LISTEN_PORT, NB_ENGINE_DEFAULT_LISTEN_PORT);

  key = nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_PRESHARED_KEY);
  if (key != NULL && *key != '\0')
    s->preshared_key = g_strdup (key);
  key = nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY);
  if (key != NULL && *key != '\0')
    s->setup_key = g_strdup (key);
  else if (!is_registered (s->state_dir))
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                   "%s: this peer is not registered with NetBird yet; a setup key is needed",
                   NM_NETBIRD_KEY_SETUP_KEY);
      g_warning ("connect refused: %s", (*error)->message);
      return FALSE;
    }

  /* The backend is chosen now, so that "kernel" without kernel WireGuard
   * fails Connect itself, with the reason. */
  if (s->mode == BACKEND_USERSPACE)
    {
      s->use_kernel = FALSE;
      g_message ("wireguard-backend userspace: using userspace wireguard-go");
    }
  else if (g_strcmp0 (g_getenv ("NM_NETBIRD_KERNEL_PROBE"), "skip") != 0 && !nb_wg_nm_kernel_available (&local))
    {
      if (s->mode == BACKEND_KERNEL)
        {
          g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                       "wireguard-backend kernel: kernel WireGuard unavailable: %s", local->message);
          g_warning ("connect refused: %s", (*error)->message);
          return FALSE;
        }
      g_message ("wireguard-backend auto: kernel WireGuard unavailable: %s; using userspace wireguard-go",
                 local->message);
      s->use_kernel = FALSE;
    }
  else
    {
      s->use_kernel = TRUE;
      g_message ("wireguard-backend %s: using kernel WireGuard through NetworkManager",
                 s->mode == BACKEND_KERNEL ? "kernel" : "auto");
    }

  if (self->session != NULL)
    session_stop (self);
  self->session = session_ref (s);
  if (self->stopping != NULL && !self->stopping->stopped)
    {
      g_message ("waiting for the previous connection to go down");
      s->waiting_for_previous = TRUE;
      return TRUE;
    }
  session_start (s);
  return TRUE;
}

static gboolean
plugin_disconnect (NMVpnServicePlugin *plugin, GError **error)
{
  NbNmPlugin *self = NB_NM_PLUGIN (plugin);

  session_stop (self);
  return TRUE;
}

/* ------------------------------------------------------------------------ */

void
nb_nm_plugin_shutdown_async (NbNmPlugin *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);

  session_stop (self);
  if (self->stopping == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->shutdown_tasks == NULL)
    self->shutdown_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (self->shutdown_tasks, g_steal_pointer (&task));
}

void
nb_nm_plugin_shutdown_finish (NbNmPlugin *self, GAsyncResult *result)
{
  g_task_propagate_boolean (G_TASK (result), NULL);
}

NbNmPlugin *
nb_nm_plugin_new (const char *bus_name, gboolean watch_peer, GError **error)
{
  NbNmPlugin *self;

  self = g_initable_new (NB_TYPE_NM_PLUGIN, NULL, error,
                         NM_VPN_SERVICE_PLUGIN_DBUS_SERVICE_NAME, bus_name,
                         NM_VPN_SERVICE_PLUGIN_DBUS_WATCH_PEER, watch_peer,
                         NULL);
  if (self == NULL)
    return NULL;
  nm_client_new_async (self->cancellable, client_ready_cb, self);
  return self;
}

static void
nb_nm_plugin_dispose (GObject *object)
{
  NbNmPlugin *self = NB_NM_PLUGIN (object);

  g_cancellable_cancel (self->cancellable);
  session_stop (self);
  if (self->stopping != NULL)
    {
      /* Still going down: it finishes on its own references. */
      Session *s = g_steal_pointer (&self->stopping);
      session_unref (s);
    }
  g_clear_handle_id (&self->network_debounce_id, g_source_remove);
  g_clear_pointer (&self->network_reason, g_free);
  if (self->primary != NULL)
    g_signal_handlers_disconnect_by_data (self->primary, self);
  if (self->primary_ip4 != NULL)
    g_signal_handlers_disconnect_by_data (self->primary_ip4, self);
  if (self->primary_ip6 != NULL)
    g_signal_handlers_disconnect_by_data (self->primary_ip6, self);
  g_clear_object (&self->primary);
  g_clear_object (&self->primary_ip4);
  g_clear_object (&self->primary_ip6);
  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  g_clear_object (&self->client);
  g_clear_pointer (&self->client_waiters, g_ptr_array_unref);
  g_clear_pointer (&self->shutdown_tasks, g_ptr_array_unref);
  G_OBJECT_CLASS (nb_nm_plugin_parent_class)->dispose (object);
}

static void
nb_nm_plugin_finalize (GObject *object)
{
  NbNmPlugin *self = NB_NM_PLUGIN (object);

  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (nb_nm_plugin_parent_class)->finalize (object);
}

static void
nb_nm_plugin_class_init (NbNmPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  NMVpnServicePluginClass *plugin_class = NM_VPN_SERVICE_PLUGIN_CLASS (klass);

  object_class->dispose = nb_nm_plugin_dispose;
  object_class->finalize = nb_nm_plugin_finalize;
  plugin_class->connect = plugin_connect;
  plugin_class->need_secrets = plugin_need_secrets;
  plugin_class->disconnect = plugin_disconnect;
}

static void
nb_nm_plugin_init (NbNmPlugin *self)
{
  self->cancellable = g_cancellable_new ();
  self->client_waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) session_unref);
  self->last_state = NM_STATE_UNKNOWN;
}
