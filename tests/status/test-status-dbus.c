/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/status-dbus: NbStatusDbus on a private dbus-daemon
 * (GTestDBus) seen by a second connection as any client would see it
 * (ObjectManager signals, PropertiesChanged, GetManagedObjects), and the
 * nm-netbird command reading it as a separate process. */
#include "config.h"

#include <string.h>

#ifdef HAVE_JSON_GLIB
#include <json-glib/json-glib.h>
#endif

#include "peer-status.h"
#include "status-dbus.h"

#define SEC ((gint64) G_USEC_PER_SEC)
#define T0 (1764000000 * SEC)
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define KEY_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define KEY_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="
#define ROOT NB_STATUS_DBUS_ROOT
#define PEER_IFACE NB_STATUS_DBUS_PEER_INTERFACE
#define DAEMON_IFACE NB_STATUS_DBUS_DAEMON_INTERFACE

typedef struct {
  GTestDBus *bus;
  GDBusConnection *service;     /* the exporter's connection */
  GDBusConnection *client;      /* the observer's */
  NbStatusRecorder *rec;
  NbStatusDbus *exporter;
  gint64 now;

  GPtrArray *log;               /* char *, what the client saw, in order */
  guint subscriptions[3];
  guint refreshes;
} Fixture;

static gint64
fake_now (gpointer data)
{
  return ((Fixture *) data)->now;
}

/* ------------------------------------------------------------------------ */
/* What the client sees, as text: "added PATH IFACE...", "removed PATH
 * IFACE...", "changed PATH IFACE PROP PROP..." (sorted names). */

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *params,
           gpointer         user_data)
{
  Fixture *f = user_data;
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  const char *name;

  if (g_strcmp0 (member, "PropertiesChanged") == 0)
    {
      g_autoptr (GVariant) changed = NULL;
      g_autoptr (GVariant) invalidated = NULL;
      const char *iface;

      g_variant_get (params, "(&s@a{sv}@as)", &iface, &changed, &invalidated);
      g_assert_cmpuint (g_variant_n_children (invalidated), ==, 0);
      g_string_append_printf (line, "changed %s %s", path, iface);
      g_variant_iter_init (&iter, changed);
      while (g_variant_iter_loop (&iter, "{&sv}", &name, NULL))
        g_ptr_array_add (names, g_strdup (name));
    }
  else if (g_strcmp0 (member, "InterfacesAdded") == 0)
    {
      g_autoptr (GVariant) ifaces = NULL;
      const char *object;

      g_variant_get (params, "(&o@a{sa{sv}})", &object, &ifaces);
      g_string_append_printf (line, "added %s", object);
      g_variant_iter_init (&iter, ifaces);
      while (g_variant_iter_loop (&iter, "{&s@a{sv}}", &name, NULL))
        if (!g_str_has_prefix (name, "org.freedesktop.DBus."))
          g_ptr_array_add (names, g_strdup (name));
    }
  else if (g_strcmp0 (member, "InterfacesRemoved") == 0)
    {
      g_autoptr (GVariant) ifaces = NULL;
      const char *object;

      g_variant_get (params, "(&o@as)", &object, &ifaces);
      g_string_append_printf (line, "removed %s", object);
      g_variant_iter_init (&iter, ifaces);
      while (g_variant_iter_loop (&iter, "&s", &name))
        if (!g_str_has_prefix (name, "org.freedesktop.DBus."))
          g_ptr_array_add (names, g_strdup (name));
    }
  else
    {
      return;
    }
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (line, " %s", (char *) g_ptr_array_index (names, i));
  g_ptr_array_add (f->log, g_string_free (g_steal_pointer (&line), FALSE));
}

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until the client has seen @n signals in all. */
static void
wait_for_log (Fixture *f, guint n)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (10, timeout_cb, &timed_out);

  while (f->log->len < n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  if (f->log->len < n)
    {
      for (guint i = 0; i < f->log->len; i++)
        g_test_message ("seen: %s", (char *) g_ptr_array_index (f->log, i));
      g_error ("timed out waiting for signal %u", n);
    }
}

static void
assert_log (Fixture *f, guint index, const char *expected)
{
  wait_for_log (f, index + 1);
  g_assert_cmpstr (g_ptr_array_index (f->log, index), ==, expected);
}

static void
flush (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* ------------------------------------------------------------------------ */

static GDBusConnection *
connect_to (GTestDBus *bus)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *c;

  c = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                              G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                              G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                              NULL, NULL, &error);
  g_assert_no_error (error);
  return c;
}

static void
on_refresh (NbStatusDbus *exporter, gpointer user_data)
{
  ((Fixture *) user_data)->refreshes++;
}

static void
setup (Fixture *f, gconstpointer data)
{
  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  f->service = connect_to (f->bus);
  f->client = connect_to (f->bus);
  f->rec = nb_status_recorder_new ();
  f->now = T0;
  nb_status_recorder_set_clock (f->rec, fake_now, f);
  f->log = g_ptr_array_new_with_free_func (g_free);

  f->subscriptions[0] =
    g_dbus_connection_signal_subscribe (f->client, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, f, NULL);
  f->subscriptions[1] =
    g_dbus_connection_signal_subscribe (f->client, NULL, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                        ROOT, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, f, NULL);
  f->subscriptions[2] =
    g_dbus_connection_signal_subscribe (f->client, NULL, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                        ROOT, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, f, NULL);
}

static void
start_exporter (Fixture *f)
{
  f->exporter = nb_status_dbus_new (f->service, ROOT, f->rec);
  g_signal_connect (f->exporter, "refresh-requested", G_CALLBACK (on_refresh), f);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (f->subscriptions); i++)
    g_dbus_connection_signal_unsubscribe (f->client, f->subscriptions[i]);
  g_clear_object (&f->exporter);
  g_clear_object (&f->rec);
  flush ();
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_clear_object (&f->service);
  g_clear_object (&f->client);
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
  g_ptr_array_unref (f->log);
}

typedef struct {
  gboolean done;
  GVariant *reply;
  GError *error;
} Call;

static void
call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *c = user_data;

  c->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &c->error);
  c->done = TRUE;
}

/* A method call from the client; the main loop runs meanwhile, since the
 * exporter answers from it (a sync call would deadlock). */
static GVariant *
call (Fixture *f, const char *path, const char *iface, const char *method, GVariant *params, GError **error)
{
  Call c = { 0 };

  g_dbus_connection_call (f->client, g_dbus_connection_get_unique_name (f->service), path, iface, method,
                          params, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, call_done, &c);
  while (!c.done)
    g_main_context_iteration (NULL, TRUE);
  if (c.error != NULL)
    g_propagate_error (error, c.error);
  return c.reply;
}

/* Properties.GetAll of @path's @iface. */
static GVariant *
get_all (Fixture *f, const char *path, const char *iface)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call (f, path, "org.freedesktop.DBus.Properties", "GetAll",
                                     g_variant_new ("(s)", iface), &error);
  GVariant *props;

  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &props);
  return props;
}

static void
assert_prop_str (GVariant *props, const char *name, const char *expected)
{
  const char *value = NULL;

  if (!g_variant_lookup (props, name, "&s", &value))
    g_error ("no property %s", name);
  g_assert_cmpstr (value, ==, expected);
}

static void
assert_prop_x (GVariant *props, const char *name, gint64 expected)
{
  gint64 value = -1;

  if (!g_variant_lookup (props, name, "x", &value))
    g_error ("no property %s", name);
  g_assert_cmpint (value, ==, expected);
}

static void
assert_prop_t (GVariant *props, const char *name, guint64 expected)
{
  guint64 value = 0;

  if (!g_variant_lookup (props, name, "t", &value))
    g_error ("no property %s", name);
  g_assert_cmpuint (value, ==, expected);
}

static void
assert_prop_u (GVariant *props, const char *name, guint32 expected)
{
  guint32 value = 0;

  if (!g_variant_lookup (props, name, "u", &value))
    g_error ("no property %s", name);
  g_assert_cmpuint (value, ==, expected);
}

/* An "as" property, joined with ",". */
static void
assert_prop_strv (GVariant *props, const char *name, const char *expected)
{
  g_autofree const char **value = NULL;
  g_autofree char *joined = NULL;

  if (!g_variant_lookup (props, name, "^a&s", &value))
    g_error ("no property %s", name);
  joined = g_strjoinv (",", (char **) value);
  g_assert_cmpstr (joined, ==, expected);
}

static void
assert_prop_b (GVariant *props, const char *name, gboolean expected)
{
  gboolean value = !expected;

  if (!g_variant_lookup (props, name, "b", &value))
    g_error ("no property %s", name);
  g_assert_cmpint (!!value, ==, !!expected);
}

/* ------------------------------------------------------------------------ */

/* Peers and servers known before the exporter starts are all there at once,
 * numbered in the recorder's order (by overlay IP). */
static void
test_initial_objects (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GVariant) peer = NULL;
  g_autoptr (GVariant) daemon = NULL;
  g_autoptr (GVariant) relays = NULL;
  const char *url, *err;
  gboolean connected;

  nb_status_recorder_add_peer (f->rec, KEY_A, "peer-a.netbird.cloud", "100.64.0.9");
  nb_status_recorder_add_peer (f->rec, KEY_B, NULL, "100.64.0.2");
  nb_status_recorder_set_peer_networks (f->rec, KEY_B, (const char *const []) { "10.2.0.0/16", "10.1.0.0/24", NULL });
  nb_status_recorder_set_management (f->rec, "https://mgmt.example:443", TRUE, NULL);
  nb_status_recorder_set_signal (f->rec, "https://signal.example:443", FALSE, "connection refused");
  nb_status_recorder_set_relay (f->rec, "rels://relay.example:443", TRUE, NULL);
  nb_status_recorder_set_local (f->rec, "me.netbird.cloud", "100.64.0.1/16", "Kernel", 51820);
  start_exporter (f);
  g_assert_cmpstr (nb_status_dbus_get_peer_path (f->exporter, KEY_B), ==, ROOT "/peers/1");
  g_assert_cmpstr (nb_status_dbus_get_peer_path (f->exporter, KEY_A), ==, ROOT "/peers/2");
  g_assert_null (nb_status_dbus_get_peer_path (f->exporter, KEY_C));

  reply = call (f, ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, &error);
  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 3);

  peer = g_variant_lookup_value (objects, ROOT "/peers/2", G_VARIANT_TYPE ("a{sa{sv}}"));
  g_assert_nonnull (peer);
  {
    g_autoptr (GVariant) props = g_variant_lookup_value (peer, PEER_IFACE, G_VARIANT_TYPE_VARDICT);

    g_assert_nonnull (props);
    g_assert_cmpuint (g_variant_n_children (props), ==, 19);
    assert_prop_str (props, "PublicKey", KEY_A);
    assert_prop_str (props, "Fqdn", "peer-a.netbird.cloud");
    assert_prop_str (props, "Ip", "100.64.0.9");
    assert_prop_str (props, "Status", "Idle");
    assert_prop_str (props, "ConnectionType", "-");
    assert_prop_str (props, "IceStatus", "Disconnected");
    assert_prop_str (props, "RelayStatus", "Disconnected");
    assert_prop_str (props, "LocalCandidateType", "");
    assert_prop_str (props, "RemoteCandidateType", "");
    assert_prop_str (props, "LocalEndpoint", "");
    assert_prop_str (props, "RemoteEndpoint", "");
    assert_prop_str (props, "RelayServer", "");
    assert_prop_x (props, "LastHandshake", 0);
    assert_prop_t (props, "RxBytes", 0);
    assert_prop_t (props, "TxBytes", 0);
    assert_prop_x (props, "LatencyUs", 0);
    assert_prop_b (props, "RosenpassEnabled", FALSE);
    assert_prop_x (props, "LastChange", T0);
    assert_prop_strv (props, "Networks", "");
  }
  g_clear_pointer (&peer, g_variant_unref);
  peer = g_variant_lookup_value (objects, ROOT "/peers/1", G_VARIANT_TYPE ("a{sa{sv}}"));
  g_assert_nonnull (peer);
  {
    g_autoptr (GVariant) props = g_variant_lookup_value (peer, PEER_IFACE, G_VARIANT_TYPE_VARDICT);

    assert_prop_str (props, "PublicKey", KEY_B);
    assert_prop_str (props, "Fqdn", "");
    assert_prop_strv (props, "Networks", "10.1.0.0/24,10.2.0.0/16");
  }

  daemon = get_all (f, ROOT "/daemon", DAEMON_IFACE);
  g_assert_cmpuint (g_variant_n_children (daemon), ==, 17);
  assert_prop_str (daemon, "ManagementUrl", "https://mgmt.example:443");
  assert_prop_b (daemon, "ManagementConnected", TRUE);
  assert_prop_str (daemon, "ManagementError", "");
  assert_prop_str (daemon, "SignalUrl", "https://signal.example:443");
  assert_prop_b (daemon, "SignalConnected", FALSE);
  assert_prop_str (daemon, "SignalError", "connection refused");
  assert_prop_str (daemon, "PublicKey", "");
  assert_prop_str (daemon, "Address", "100.64.0.1/16");
  assert_prop_str (daemon, "Fqdn", "me.netbird.cloud");
  assert_prop_str (daemon, "Interface", "");
  assert_prop_str (daemon, "InterfaceType", "Kernel");
  assert_prop_u (daemon, "WireguardPort", 51820);
  assert_prop_b (daemon, "RosenpassEnabled", FALSE);
  assert_prop_b (daemon, "RosenpassPermissive", FALSE);
  assert_prop_str (daemon, "ExitNode", "");
  assert_prop_str (daemon, "PeerNamesServer", "");
  relays = g_variant_lookup_value (daemon, "Relays", G_VARIANT_TYPE ("a(sbs)"));
  g_assert_nonnull (relays);
  g_assert_cmpuint (g_variant_n_children (relays), ==, 1);
  g_variant_get_child (relays, 0, "(&sb&s)", &url, &connected, &err);
  g_assert_cmpstr (url, ==, "rels://relay.example:443");
  g_assert_true (connected);
  g_assert_cmpstr (err, ==, "");

  /* The recorder's pending "peer-added" events find them already there. */
  flush ();
  g_assert_cmpuint (f->log->len, ==, 0);
}

/* A peer comes, connects P2P, loses its direct path to the relay, goes and
 * comes back: each step is one signal naming exactly what changed. */
static void
test_peer_lifecycle (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) props = NULL;
  const char *p1 = ROOT "/peers/1";
  guint n = 0;

  start_exporter (f);

  nb_status_recorder_add_peer (f->rec, KEY_A, "peer-a.netbird.cloud", "100.64.0.2");
  assert_log (f, n++, "added " ROOT "/peers/1 " PEER_IFACE);
  g_assert_cmpstr (nb_status_dbus_get_peer_path (f->exporter, KEY_A), ==, p1);

  /* Connecting, then P2P over host candidates, in one main-loop turn: one
   * PropertiesChanged. */
  f->now = T0 + 1 * SEC;
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);
  f->now = T0 + 2 * SEC;
  nb_status_recorder_update_ice (f->rec, KEY_A, NB_PEER_PATH_CONNECTED, "host", "srflx",
                                 "10.0.0.1:51820", "203.0.113.7:51820");
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_P2P);
  assert_log (f, n++,
              "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
              " ConnectionType IceStatus LastChange LocalCandidateType LocalEndpoint"
              " RemoteCandidateType RemoteEndpoint Status");
  props = get_all (f, p1, PEER_IFACE);
  assert_prop_str (props, "Status", "Connected");
  assert_prop_str (props, "ConnectionType", "P2P");
  assert_prop_str (props, "IceStatus", "Connected");
  assert_prop_str (props, "LocalCandidateType", "host");
  assert_prop_str (props, "RemoteCandidateType", "srflx");
  assert_prop_str (props, "LocalEndpoint", "10.0.0.1:51820");
  assert_prop_str (props, "RemoteEndpoint", "203.0.113.7:51820");
  assert_prop_x (props, "LastChange", T0 + 2 * SEC);
  g_clear_pointer (&props, g_variant_unref);

  /* Traffic: no LastChange. */
  nb_status_recorder_update_wg_stats (f->rec, KEY_A, T0 + 2 * SEC, 1500, 200);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
                      " LastHandshake RxBytes TxBytes");

  /* The relay comes up beside ICE, then the direct path is cut. */
  f->now = T0 + 3 * SEC;
  nb_status_recorder_update_relay (f->rec, KEY_A, NB_PEER_PATH_CONNECTED, "rels://relay.example:443");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
                      " LastChange RelayServer RelayStatus");
  f->now = T0 + 10 * SEC;
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_RELAYED);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
                      " ConnectionType LastChange");
  props = get_all (f, p1, PEER_IFACE);
  assert_prop_str (props, "ConnectionType", "Relayed");
  assert_prop_str (props, "Status", "Connected");
  assert_prop_x (props, "LastChange", T0 + 10 * SEC);
  g_clear_pointer (&props, g_variant_unref);
  f->now = T0 + 11 * SEC;
  nb_status_recorder_update_ice (f->rec, KEY_A, NB_PEER_PATH_DISCONNECTED, NULL, NULL, NULL, NULL);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
                      " IceStatus LastChange LocalCandidateType LocalEndpoint"
                      " RemoteCandidateType RemoteEndpoint");
  props = get_all (f, p1, PEER_IFACE);
  assert_prop_str (props, "IceStatus", "Disconnected");
  assert_prop_str (props, "LocalEndpoint", "");
  g_clear_pointer (&props, g_variant_unref);

  /* No change, no signal: the next signal is the latency alone (and
   * Rosenpass, a connection field). */
  f->now = T0 + 12 * SEC;
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_RELAYED);
  flush ();
  nb_status_recorder_update_latency (f->rec, KEY_A, 1234);
  nb_status_recorder_update_rosenpass (f->rec, KEY_A, TRUE);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE
                      " LastChange LatencyUs RosenpassEnabled");
  nb_status_recorder_update_identity (f->rec, KEY_A, "a.netbird.cloud", "100.64.0.2");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE " Fqdn");
  /* Routed networks: no LastChange. */
  f->now = T0 + 13 * SEC;
  nb_status_recorder_set_peer_networks (f->rec, KEY_A, (const char *const []) { "10.1.0.0/24", NULL });
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/1 " PEER_IFACE " Networks");
  props = get_all (f, p1, PEER_IFACE);
  assert_prop_strv (props, "Networks", "10.1.0.0/24");
  assert_prop_x (props, "LastChange", T0 + 12 * SEC);
  g_clear_pointer (&props, g_variant_unref);

  /* Another peer takes the next number; a peer that leaves and comes back
   * keeps its own. */
  nb_status_recorder_add_peer (f->rec, KEY_B, NULL, "100.64.0.3");
  assert_log (f, n++, "added " ROOT "/peers/2 " PEER_IFACE);
  nb_status_recorder_remove_peer (f->rec, KEY_A);
  assert_log (f, n++, "removed " ROOT "/peers/1 " PEER_IFACE);
  g_assert_null (nb_status_dbus_get_peer_path (f->exporter, KEY_A));
  f->now = T0 + 20 * SEC;
  nb_status_recorder_add_peer (f->rec, KEY_A, NULL, "100.64.0.2");
  assert_log (f, n++, "added " ROOT "/peers/1 " PEER_IFACE);
  props = get_all (f, p1, PEER_IFACE);
  assert_prop_str (props, "Status", "Idle");
  assert_prop_str (props, "ConnectionType", "-");
  assert_prop_str (props, "Fqdn", "");
  assert_prop_x (props, "LastChange", T0 + 20 * SEC);
  g_clear_pointer (&props, g_variant_unref);

  /* Added and removed within one turn: never seen. */
  nb_status_recorder_add_peer (f->rec, KEY_C, NULL, "100.64.0.4");
  nb_status_recorder_remove_peer (f->rec, KEY_C);
  nb_status_recorder_update_latency (f->rec, KEY_B, 5);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/peers/2 " PEER_IFACE " LatencyUs");
  g_assert_cmpuint (f->log->len, ==, n);
}

/* Servers and our own fields on the daemon object; Refresh. */
static void
test_daemon (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) relays = NULL;
  g_autoptr (GError) error = NULL;
  const char *d = ROOT "/daemon";
  guint n = 0;

  start_exporter (f);

  nb_status_recorder_set_management (f->rec, "https://mgmt.example:443", FALSE, "connecting");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " ManagementError ManagementUrl");
  nb_status_recorder_set_management (f->rec, "https://mgmt.example:443", TRUE, NULL);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " ManagementConnected ManagementError");
  nb_status_recorder_set_signal (f->rec, "https://signal.example:443", TRUE, NULL);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " SignalConnected SignalUrl");
  nb_status_recorder_set_relay (f->rec, "rels://r1.example:443", TRUE, NULL);
  nb_status_recorder_set_relay (f->rec, "rels://r2.example:443", FALSE, "timeout");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE " Relays");
  props = get_all (f, d, DAEMON_IFACE);
  relays = g_variant_lookup_value (props, "Relays", G_VARIANT_TYPE ("a(sbs)"));
  {
    g_autofree char *text = g_variant_print (relays, FALSE);

    g_assert_cmpstr (text, ==, "[('rels://r1.example:443', true, ''), ('rels://r2.example:443', false, 'timeout')]");
  }
  g_clear_pointer (&props, g_variant_unref);
  g_clear_pointer (&relays, g_variant_unref);
  nb_status_recorder_remove_relay (f->rec, "rels://r1.example:443");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE " Relays");

  nb_status_dbus_set_public_key (f->exporter, KEY_C);
  nb_status_dbus_set_address (f->exporter, "100.64.0.1/16");
  nb_status_dbus_set_interface (f->exporter, "nb0");
  nb_status_dbus_set_rosenpass (f->exporter, TRUE, FALSE);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " Address Interface PublicKey RosenpassEnabled");
  nb_status_dbus_set_interface (f->exporter, "nb0");
  nb_status_dbus_set_rosenpass (f->exporter, TRUE, TRUE);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " RosenpassPermissive");
  props = get_all (f, d, DAEMON_IFACE);
  assert_prop_str (props, "PublicKey", KEY_C);
  assert_prop_str (props, "Address", "100.64.0.1/16");
  assert_prop_str (props, "Interface", "nb0");
  assert_prop_b (props, "RosenpassEnabled", TRUE);
  assert_prop_b (props, "RosenpassPermissive", TRUE);
  assert_prop_b (props, "ManagementConnected", TRUE);
  assert_prop_str (props, "ManagementError", "");
  assert_prop_str (props, "ExitNode", "");
  assert_prop_str (props, "PeerNamesServer", "");
  g_clear_pointer (&props, g_variant_unref);
  nb_status_dbus_set_exit_node (f->exporter, "exit-de");
  nb_status_dbus_set_peer_names_server (f->exporter, "100.64.0.1:53");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " ExitNode PeerNamesServer");
  props = get_all (f, d, DAEMON_IFACE);
  assert_prop_str (props, "ExitNode", "exit-de");
  assert_prop_str (props, "PeerNamesServer", "100.64.0.1:53");
  nb_status_dbus_set_exit_node (f->exporter, NULL);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE " ExitNode");
  g_clear_pointer (&props, g_variant_unref);

  /* The recorder's own side; the address set above stays the same. */
  nb_status_recorder_set_local (f->rec, "me.netbird.cloud", "100.64.0.1/16", "Userspace", 51820);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE
                      " Fqdn InterfaceType WireguardPort");
  nb_status_recorder_set_local (f->rec, "me.netbird.cloud", "100.64.0.7/16", "Userspace", 51820);
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE " Address");
  props = get_all (f, d, DAEMON_IFACE);
  assert_prop_str (props, "Fqdn", "me.netbird.cloud");
  assert_prop_str (props, "Address", "100.64.0.7/16");
  assert_prop_str (props, "InterfaceType", "Userspace");
  assert_prop_u (props, "WireguardPort", 51820);
  /* And nb_status_dbus_set_address() the other way. */
  nb_status_dbus_set_address (f->exporter, "100.64.0.8/16");
  assert_log (f, n++, "changed /org/freedesktop/NetworkManager/netbird/daemon " DAEMON_IFACE " Address");
  g_assert_cmpstr (nb_status_recorder_get_local (f->rec)->address, ==, "100.64.0.8/16");
  g_assert_cmpstr (nb_status_recorder_get_local (f->rec)->fqdn, ==, "me.netbird.cloud");

  g_assert_cmpuint (f->refreshes, ==, 0);
  reply = call (f, d, DAEMON_IFACE, "Refresh", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->refreshes, ==, 1);
  g_clear_pointer (&reply, g_variant_unref);

  /* Not writable. */
  reply = call (f, d, "org.freedesktop.DBus.Properties", "Set",
                g_variant_new ("(ssv)", DAEMON_IFACE, "Interface", g_variant_new_string ("x")), &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_clear_error (&error);
  reply = call (f, ROOT "/peers/1", PEER_IFACE, "Refresh", NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_assert_cmpuint (f->refreshes, ==, 1);
}

/* ------------------------------------------------------------------------ */
/* nm-netbird */

typedef struct {
  gboolean done;
  int status;
  char *out;
  char *err;
} Run;

static void
run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *r = user_data;
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &r->out, &r->err, &error);
  g_assert_no_error (error);
  r->status = g_subprocess_get_if_exited (G_SUBPROCESS (source)) ? g_subprocess_get_exit_status (G_SUBPROCESS (source))
                                                                 : -1;
  r->done = TRUE;
}

/* Runs nm-netbird ARGS with the test bus as its system bus, serving the
 * exporter meanwhile. */
static void
run_nm_netbird (Fixture *f, Run *r, gint64 now, const char * const *args)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *now_text = g_strdup_printf ("%" G_GINT64_FORMAT, now);
  gboolean timed_out = FALSE;
  guint id;

  g_ptr_array_add (argv, (char *) NM_NETBIRD_PATH);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (f->bus), TRUE);
  g_subprocess_launcher_setenv (launcher, "NM_NETBIRD_STATUS_NOW", now_text, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  memset (r, 0, sizeof *r);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, run_done, r);
  id = g_timeout_add_seconds (20, timeout_cb, &timed_out);
  while (!r->done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);
}

static void
run_clear (Run *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

static void
own_name (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint32 result = 0;

  reply = g_dbus_connection_call_sync (f->service, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", NB_STATUS_DBUS_NAME, 0u), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &result);
  g_assert_cmpuint (result, ==, 1);
}

/* A recorder with peers in every state the text shows differently. */
static void
fill_recorder (Fixture *f)
{
  f->now = T0 - 3725 * SEC;
  nb_status_recorder_add_peer (f->rec, KEY_A, "peer-a.netbird.cloud", "100.64.0.2");
  nb_status_recorder_update_ice (f->rec, KEY_A, NB_PEER_PATH_CONNECTED, "host", "srflx",
                                 "10.0.0.1:51820", "203.0.113.7:51820");
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_P2P);
  nb_status_recorder_update_wg_stats (f->rec, KEY_A, T0 - 3 * SEC, 1536, 200);
  nb_status_recorder_update_latency (f->rec, KEY_A, 1234);
  nb_status_recorder_update_rosenpass (f->rec, KEY_A, TRUE);
  nb_status_recorder_set_peer_networks (f->rec, KEY_A, (const char *const []) { "10.1.0.0/24", NULL });

  f->now = T0 - 42 * SEC;
  nb_status_recorder_add_peer (f->rec, KEY_B, "peer-b.netbird.cloud", "100.64.0.10");
  nb_status_recorder_update_relay (f->rec, KEY_B, NB_PEER_PATH_CONNECTED, "rels://relay.example:443");
  nb_status_recorder_update_connection (f->rec, KEY_B, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_RELAYED);
  nb_status_recorder_update_wg_stats (f->rec, KEY_B, T0 - 100 * SEC, 5 * 1024 * 1024 + 17, 99999);
  nb_status_recorder_update_latency (f->rec, KEY_B, 25 * 1000 + 300);
  nb_status_recorder_set_peer_networks (f->rec, KEY_B, (const char *const []) {
                                          "192.168.7.0/24", "0.0.0.0/0", NULL });

  f->now = T0 - 2 * 86400 * SEC;
  nb_status_recorder_add_peer (f->rec, KEY_C, NULL, "100.64.0.3");
  nb_status_recorder_update_connection (f->rec, KEY_C, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);

  nb_status_recorder_set_management (f->rec, "https://mgmt.example:443", TRUE, NULL);
  nb_status_recorder_set_signal (f->rec, "https://signal.example:443", FALSE, "stream closed \"x\"");
  nb_status_recorder_set_relay (f->rec, "rels://relay.example:443", TRUE, NULL);
  nb_status_recorder_set_relay (f->rec, "rels://relay2.example:443", FALSE, "dial: timeout");
  f->now = T0;
}

/* -d prints what the service's own formatter prints for its recorder. */
static void
test_nm_netbird_detail (Fixture *f, gconstpointer data)
{
  const char *detail_args[] = { "status", "-d", NULL };
  const char *long_args[] = { "status", "--detail", NULL };
  const char *short_args[] = { "status", NULL };
  g_autofree char *expected = NULL;
  Run r;

  fill_recorder (f);
  /* The engine's part of our side, then the plugin's address. */
  nb_status_recorder_set_local (f->rec, "me.netbird.cloud", NULL, "Userspace", 51820);
  start_exporter (f);
  nb_status_dbus_set_address (f->exporter, "100.64.0.1/16");
  nb_status_dbus_set_interface (f->exporter, "nb0");
  nb_status_dbus_set_rosenpass (f->exporter, TRUE, TRUE);
  own_name (f);
  flush ();

  expected = nb_status_recorder_format_detail (f->rec, T0);
  g_test_message ("nm-netbird status -d:\n%s", expected);
  /* The test is worth something only if the text shows the states. */
  g_assert_nonnull (strstr (expected, "  Networks: 10.1.0.0/24\n"));
  g_assert_nonnull (strstr (expected, "  Networks: 0.0.0.0/0, 192.168.7.0/24\n"));
  g_assert_nonnull (strstr (expected, "  Networks: -\n"));
  g_assert_true (g_str_has_suffix (expected,
                                   "Management: Connected to https://mgmt.example:443\n"
                                   "Signal: Disconnected, reason: stream closed \"x\"\n"
                                   "Relays: \n"
                                   "  [rels://relay.example:443] is Available\n"
                                   "  [rels://relay2.example:443] is Unavailable, reason: dial: timeout\n"
                                   "FQDN: me.netbird.cloud\n"
                                   "NetBird IP: 100.64.0.1/16\n"
                                   "Interface type: Userspace\n"
                                   "Wireguard port: 51820\n"
                                   "Quantum resistance: true (permissive)\n"
                                   "Networks: 0.0.0.0/0, 10.1.0.0/24, 192.168.7.0/24\n"
                                   "Peers count: 2/3 Connected\n"));
  g_assert_nonnull (strstr (expected, "Connection type: P2P"));
  g_assert_nonnull (strstr (expected, "Connection type: Relayed"));
  g_assert_nonnull (strstr (expected, "Last connection update: 1 hour, 2 minutes ago"));
  g_assert_nonnull (strstr (expected, "Quantum resistance: true"));
  g_assert_nonnull (strstr (expected, "Quantum resistance: false (remote didn't enable quantum resistance)"));

  run_nm_netbird (f, &r, T0, detail_args);
  g_assert_cmpstr (r.err, ==, "");
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, expected);
  run_clear (&r);
  run_nm_netbird (f, &r, T0, long_args);
  g_assert_cmpstr (r.out, ==, expected);
  run_clear (&r);

  /* Later, relayed after the direct path was cut: the same again. */
  f->now = T0 + 5 * SEC;
  nb_status_recorder_update_connection (f->rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_RELAYED);
  nb_status_recorder_update_ice (f->rec, KEY_A, NB_PEER_PATH_DISCONNECTED, NULL, NULL, NULL, NULL);
  nb_status_recorder_remove_peer (f->rec, KEY_C);
  flush ();
  g_free (expected);
  expected = nb_status_recorder_format_detail (f->rec, T0 + 65 * SEC);
  g_assert_nonnull (strstr (expected, "Last connection update: 1 minute ago"));
  run_nm_netbird (f, &r, T0 + 65 * SEC, detail_args);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, expected);
  run_clear (&r);

  run_nm_netbird (f, &r, T0, short_args);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==,
                   "Management: Connected\n"
                   "Signal: Disconnected, reason: stream closed \"x\"\n"
                   "Relays: 1/2 Available\n"
                   "FQDN: me.netbird.cloud\n"
                   "NetBird IP: 100.64.0.1/16\n"
                   "Interface type: Userspace\n"
                   "Wireguard port: 51820\n"
                   "Quantum resistance: true (permissive)\n"
                   "Networks: 0.0.0.0/0, 10.1.0.0/24, 192.168.7.0/24\n"
                   "Peers count: 2/2 Connected\n");
  run_clear (&r);
  /* Our lines beyond NetBird's layout, only when they say something. */
  nb_status_dbus_set_exit_node (f->exporter, "exit-de");
  nb_status_dbus_set_peer_names_server (f->exporter, "100.64.0.1:53");
  flush ();
  run_nm_netbird (f, &r, T0, short_args);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\nNetworks: 0.0.0.0/0, 10.1.0.0/24, 192.168.7.0/24\n"
                                   "Exit node: exit-de\nPeer names: answered on 100.64.0.1:53\n"
                                   "Peers count: 2/2 Connected\n"));
  run_clear (&r);
}

static void
test_nm_netbird_json (Fixture *f, gconstpointer data)
{
  const char *json_args[] = { "status", "--json", NULL };
  Run r;

  fill_recorder (f);
  nb_status_recorder_set_local (f->rec, "me.netbird.cloud", "100.64.0.1/16", "Kernel", 51820);
  start_exporter (f);
  nb_status_dbus_set_public_key (f->exporter, KEY_C);
  nb_status_dbus_set_interface (f->exporter, "nb0");
  own_name (f);
  flush ();

  run_nm_netbird (f, &r, T0, json_args);
  g_assert_cmpstr (r.err, ==, "");
  g_assert_cmpint (r.status, ==, 0);
#ifdef HAVE_JSON_GLIB
  {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) error = NULL;
    JsonObject *root, *peers, *peer, *signal;
    JsonArray *details, *networks;

    json_parser_load_from_data (parser, r.out, -1, &error);
    g_assert_no_error (error);
    root = json_node_get_object (json_parser_get_root (parser));
    peers = json_object_get_object_member (root, "peers");
    g_assert_cmpint (json_object_get_int_member (peers, "total"), ==, 3);
    g_assert_cmpint (json_object_get_int_member (peers, "connected"), ==, 2);
    details = json_object_get_array_member (peers, "details");
    g_assert_cmpuint (json_array_get_length (details), ==, 3);
    peer = json_array_get_object_element (details, 0); /* by IP: .2, .3, .10 */
    g_assert_cmpstr (json_object_get_string_member (peer, "publicKey"), ==, KEY_A);
    g_assert_cmpstr (json_object_get_string_member (peer, "connectionType"), ==, "P2P");
    g_assert_cmpint (json_object_get_int_member (peer, "transferReceived"), ==, 1536);
    g_assert_cmpint (json_object_get_int_member (peer, "latency"), ==, 1234000);
    g_assert_cmpstr (json_object_get_string_member (peer, "lastWireguardHandshake"), ==, "2025-11-24T15:59:57Z");
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (peer, "iceCandidateEndpoint"),
                                                    "remote"), ==, "203.0.113.7:51820");
    networks = json_object_get_array_member (peer, "networks");
    g_assert_cmpuint (json_array_get_length (networks), ==, 1);
    g_assert_cmpstr (json_array_get_string_element (networks, 0), ==, "10.1.0.0/24");
    peer = json_array_get_object_element (details, 1);
    g_assert_cmpstr (json_object_get_string_member (peer, "publicKey"), ==, KEY_C);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (peer, "networks")), ==, 0);
    peer = json_array_get_object_element (details, 2);
    networks = json_object_get_array_member (peer, "networks");
    g_assert_cmpuint (json_array_get_length (networks), ==, 2);
    g_assert_cmpstr (json_array_get_string_element (networks, 0), ==, "0.0.0.0/0");
    g_assert_cmpstr (json_array_get_string_element (networks, 1), ==, "192.168.7.0/24");
    peer = json_array_get_object_element (details, 1);
    g_assert_cmpstr (json_object_get_string_member (peer, "lastWireguardHandshake"), ==, "0001-01-01T00:00:00Z");
    signal = json_object_get_object_member (root, "signal");
    g_assert_false (json_object_get_boolean_member (signal, "connected"));
    g_assert_cmpstr (json_object_get_string_member (signal, "error"), ==, "stream closed \"x\"");
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "relays"), "available"), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (root, "publicKey"), ==, KEY_C);
    g_assert_cmpstr (json_object_get_string_member (root, "exitNode"), ==, "");
    g_assert_cmpstr (json_object_get_string_member (root, "peerNamesServer"), ==, "");
    g_assert_cmpstr (json_object_get_string_member (root, "netbirdIp"), ==, "100.64.0.1/16");
    g_assert_cmpstr (json_object_get_string_member (root, "fqdn"), ==, "me.netbird.cloud");
    g_assert_cmpstr (json_object_get_string_member (root, "interface"), ==, "nb0");
    g_assert_true (json_object_get_boolean_member (root, "usesKernelInterface"));
    g_assert_cmpint (json_object_get_int_member (root, "wireguardPort"), ==, 51820);
    networks = json_object_get_array_member (root, "networks");
    g_assert_cmpuint (json_array_get_length (networks), ==, 3);
    g_assert_cmpstr (json_array_get_string_element (networks, 0), ==, "0.0.0.0/0");
    g_assert_cmpstr (json_array_get_string_element (networks, 2), ==, "192.168.7.0/24");
  }
#else
  g_assert_nonnull (strstr (r.out, "\"publicKey\": \"" KEY_A "\""));
  g_assert_nonnull (strstr (r.out, "\"networks\": [\"0.0.0.0/0\", \"10.1.0.0/24\", \"192.168.7.0/24\"]"));
#endif
  run_clear (&r);
}

/* Nobody owns the name (the exporter alone does not make a service). */
static void
test_nm_netbird_not_running (Fixture *f, gconstpointer data)
{
  const char *args[] = { "status", "-d", NULL };
  const char *bad_args[] = { "stats", NULL };
  Run r;

  fill_recorder (f);
  start_exporter (f);
  run_nm_netbird (f, &r, T0, args);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_cmpstr (r.err, ==,
                   "nm-netbird: the NetBird VPN service is not running "
                   "(no org.freedesktop.NetworkManager.netbird on the system bus)\n");
  run_clear (&r);

  run_nm_netbird (f, &r, T0, bad_args);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpstr (r.out, ==, "");
  run_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Neither the host's session bus nor its system bus. */
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");

  g_test_add ("/status-dbus/initial-objects", Fixture, NULL, setup, test_initial_objects, teardown);
  g_test_add ("/status-dbus/peer-lifecycle", Fixture, NULL, setup, test_peer_lifecycle, teardown);
  g_test_add ("/status-dbus/daemon", Fixture, NULL, setup, test_daemon, teardown);
  g_test_add ("/status-dbus/nm-netbird/detail", Fixture, NULL, setup, test_nm_netbird_detail, teardown);
  g_test_add ("/status-dbus/nm-netbird/json", Fixture, NULL, setup, test_nm_netbird_json, teardown);
  g_test_add ("/status-dbus/nm-netbird/not-running", Fixture, NULL, setup, test_nm_netbird_not_running, teardown);
  return g_test_run ();
}
