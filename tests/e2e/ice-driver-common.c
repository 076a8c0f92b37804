/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ice-driver's broker and peer (see ice-driver.c for what they do and
 * print), apart from its main so that devnet-turn-driver can run the same
 * peer after its own management login instead of carrying a copy.
 */
#include "config.h"

#include "ice-driver-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <sodium.h>

#include "network-map.h"
#include "worker-ice.h"

static GMainLoop *loop;
static int exit_code;

gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

void
out (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static gboolean
on_term (gpointer data)
{
  out ("TERM t=%" G_GINT64_FORMAT, now_ms ());
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* Broker */

typedef struct {
  GSocketConnection *conn[2];
  GDataInputStream *in[2];
  GPtrArray *pending[2];   /* lines for side i that arrived before it connected */
  guint n;
  guint closed;
} Broker;

static void broker_read (Broker *b, guint side);

static void
broker_write (Broker *b, guint side, const char *line)
{
  GOutputStream *os;
  g_autoptr (GError) error = NULL;
  g_autofree char *data = g_strconcat (line, "\n", NULL);

  if (b->conn[side] == NULL)
    {
      g_ptr_array_add (b->pending[side], g_strdup (line));
      return;
    }
  os = g_io_stream_get_output_stream (G_IO_STREAM (b->conn[side]));
  if (!g_output_stream_write_all (os, data, strlen (data), NULL, NULL, &error))
    g_printerr ("broker: write to side %u: %s\n", side, error->message);
}

static void
broker_line_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Broker *b = user_data;
  guint side = G_DATA_INPUT_STREAM (source) == b->in[0] ? 0 : 1;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res,
                                                                NULL, &error);

  if (line == NULL)
    {
      out ("BROKER side %u closed%s%s", side, error ? ": " : "", error ? error->message : "");
      if (++b->closed == 2)
        g_main_loop_quit (loop);
      return;
    }
  broker_write (b, 1 - side, line);
  broker_read (b, side);
}

static void
broker_read (Broker *b, guint side)
{
  g_data_input_stream_read_line_async (b->in[side], G_PRIORITY_DEFAULT, NULL, broker_line_cb, b);
}

static gboolean
broker_incoming (GSocketService *service, GSocketConnection *conn, GObject *src, gpointer user_data)
{
  Broker *b = user_data;
  guint side;

  if (b->n >= 2)
    {
      g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
      return TRUE;
    }
  side = b->n++;
  b->conn[side] = g_object_ref (conn);
  b->in[side] = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  g_data_input_stream_set_newline_type (b->in[side], G_DATA_STREAM_NEWLINE_TYPE_LF);
  out ("BROKER side %u connected", side);
  for (guint i = 0; i < b->pending[side]->len; i++)
    broker_write (b, side, g_ptr_array_index (b->pending[side], i));
  g_ptr_array_set_size (b->pending[side], 0);
  broker_read (b, side);
  return TRUE;
}

static int
run_broker (const char *addr, const char *port_text)
{
  g_autoptr (GSocketService) service = g_socket_service_new ();
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new_from_string (addr, atoi (port_text));
  g_autoptr (GError) error = NULL;
  Broker b = { 0 };

  if (sa == NULL)
    {
      g_printerr ("broker: bad address %s:%s\n", addr, port_text);
      return 1;
    }
  b.pending[0] = g_ptr_array_new_with_free_func (g_free);
  b.pending[1] = g_ptr_array_new_with_free_func (g_free);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), sa, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error))
    {
      g_printerr ("broker: listen: %s\n", error->message);
      return 1;
    }
  g_signal_connect (service, "incoming", G_CALLBACK (broker_incoming), &b);
  g_socket_service_start (service);
  out ("BROKER listening on %s:%s", addr, port_text);
  g_main_loop_run (loop);
  g_socket_service_stop (service);
  for (guint i = 0; i < 2; i++)
    {
      g_clear_object (&b.in[i]);
      g_clear_object (&b.conn[i]);
      g_ptr_array_unref (b.pending[i]);
    }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Peer */

static const char *name = "peer";
static char *control;
static gboolean controlling, relay, force_relay;
static char **stun_uris;
static char *turn_uri, *turn_credentials, *blacklist_opt, *routed_opt;
static gint check_timeout_ms, ping_ms = 200, timeout_s = 60;

static NbWorkerIce *worker;
static GSocketConnection *ctl;
static GDataInputStream *ctl_in;
static gint64 start_ms;
static guint ping_id;
static guint64 ping_seq, echoes, rx;
static gboolean ended;

static gboolean
ctl_send (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static gboolean
ctl_send (const char *fmt, ...)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *data = NULL;
  va_list ap;

  va_start (ap, fmt);
  line = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  data = g_strconcat (line, "\n", NULL);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (ctl)), data,
                                  strlen (data), NULL, NULL, &error))
    {
      g_printerr ("%s: control write: %s\n", name, error->message);
      return FALSE;
    }
  return TRUE;
}

static void
pair_fields (const NbIcePairInfo *p, GString *s)
{
  g_string_append_printf (s, "local=%s %s remote=%s %s class=%s priority=%u local_socket=",
                          nb_signal_candidate_type_to_string (p->local_type), p->local_endpoint,
                          nb_signal_candidate_type_to_string (p->remote_type), p->remote_endpoint,
                          nb_ice_conn_class_to_string (p->conn_class), p->priority);
  if (p->local_socket != NULL)
    {
      GInetAddress *ia = g_inet_socket_address_get_address (p->local_socket);
      g_autofree char *ip = g_inet_address_to_string (ia);

      g_string_append_printf (s, g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6 ? "[%s]:%u" : "%s:%u",
                              ip, g_inet_socket_address_get_port (p->local_socket));
    }
  else
    g_string_append (s, "none");
}

static gboolean
send_ping (gpointer data)
{
  g_autofree char *msg = g_strdup_printf ("ping %s %" G_GUINT64_FORMAT, name, ++ping_seq);
  g_autoptr (GError) error = NULL;

  if (!nb_worker_ice_send (worker, msg, strlen (msg), &error))
    g_printerr ("%s: send: %s\n", name, error->message);
  return G_SOURCE_CONTINUE;
}

static void
on_data (NbWorkerIce *w, const guint8 *data, gsize len, gpointer user_data)
{
  g_autofree char *text = g_strndup ((const char *) data, len);

  if (g_str_has_prefix (text, "ping "))
    {
      g_autofree char *reply = g_strdup_printf ("pong %s", text + 5);

      if (rx++ == 0)
        out ("RX-FIRST t=%" G_GINT64_FORMAT " %s", now_ms (), text);
      nb_worker_ice_send (w, reply, strlen (reply), NULL);
    }
  else if (g_str_has_prefix (text, "pong "))
    {
      if (echoes++ == 0)
        out ("ECHO-FIRST t=%" G_GINT64_FORMAT " %s", now_ms (), text);
      if (echoes % 10 == 0)
        out ("ECHOES n=%" G_GUINT64_FORMAT " t=%" G_GINT64_FORMAT, echoes, now_ms ());
    }
}

static void
on_local_candidate (NbWorkerIce *w, NbSignalCandidate *c, gpointer user_data)
{
  g_autofree char *line = nb_signal_candidate_to_string (c, NULL);

  if (line == NULL)
    return;
  out ("LOCAL %s", line);
  ctl_send ("CAND %s", line);
}

static void
on_gathering_done (NbWorkerIce *w, gpointer user_data)
{
  out ("GATHERED t=%" G_GINT64_FORMAT, now_ms ());
}

static void
on_connected (NbWorkerIce *w, NbIcePairInfo *p, gpointer user_data)
{
  g_autoptr (GString) s = g_string_new (NULL);

  g_string_append_printf (s, "CONNECTED t=%" G_GINT64_FORMAT " start_ms=%" G_GINT64_FORMAT
                          " connect_ms=%u ", now_ms (), now_ms () - start_ms, p->connect_ms);
  pair_fields (p, s);
  out ("%s", s->str);
  if (ping_id == 0)
    ping_id = g_timeout_add (ping_ms, send_ping, NULL);
  send_ping (NULL);
}

static void
on_pair_changed (NbWorkerIce *w, NbIcePairInfo *p, gpointer user_data)
{
  g_autoptr (GString) s = g_string_new (NULL);

  g_string_append_printf (s, "PAIR-CHANGED t=%" G_GINT64_FORMAT " ", now_ms ());
  pair_fields (p, s);
  out ("%s", s->str);
}

static gboolean
quit_when_released (gpointer data)
{
  if (nb_worker_ice_closing_agents () > 0)
    return G_SOURCE_CONTINUE;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
end (const char *what, const char *reason)
{
  out ("%s t=%" G_GINT64_FORMAT " reason=%s", what, now_ms (), reason);
  ended = TRUE;
  if (ping_id)
    g_source_remove (ping_id);
  ping_id = 0;
  g_timeout_add (50, quit_when_released, NULL);
}

static void
on_disconnected (NbWorkerIce *w, const char *reason, gpointer user_data)
{
  end ("DISCONNECTED", reason);
}

static void
on_failed (NbWorkerIce *w, const char *reason, gpointer user_data)
{
  end ("FAILED", reason);
}

static void ctl_read (void);

static void
ctl_line_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res,
                                                                NULL, &error);

  if (line == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        out ("CONTROL closed%s%s", error ? ": " : "", error ? error->message : "");
      return;
    }
  if (g_str_has_prefix (line, "CRED "))
    {
      g_auto (GStrv) parts = g_strsplit (line + 5, " ", 2);
      g_autoptr (GError) e = NULL;

      if (g_strv_length (parts) != 2
          || !nb_worker_ice_set_remote_credentials (worker, parts[0], parts[1], &e))
        out ("CRED-REFUSED %s", e ? e->message : "bad line");
      else
        out ("CHECKS t=%" G_GINT64_FORMAT, now_ms ());
    }
  else if (g_str_has_prefix (line, "CAND "))
    {
      g_autoptr (GError) e = NULL;

      if (nb_worker_ice_add_remote_candidate_string (worker, line + 5, &e))
        out ("REMOTE %s", line + 5);
      else
        out ("DROP %s: %s", line + 5, e->message);
    }
  ctl_read ();
}

static void
ctl_read (void)
{
  g_data_input_stream_read_line_async (ctl_in, G_PRIORITY_DEFAULT, NULL, ctl_line_cb, NULL);
}

static gboolean
start_worker (void)
{
  g_autoptr (GPtrArray) stuns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_host_config_free);
  g_autoptr (GPtrArray) turns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_turn_config_free);
  g_auto (GStrv) blacklist = NULL;
  g_auto (GStrv) routed = NULL;
  NbWorkerIceConfig config = { 0 };
  g_autoptr (GError) error = NULL;
  const char *ufrag, *pwd;

  for (char **s = stun_uris; s && *s; s++)
    g_ptr_array_add (stuns, nb_host_config_new (*s, NB_HOST_PROTOCOL_UDP));
  if (turn_uri != NULL)
    {
      NbTurnConfig *turn = g_new0 (NbTurnConfig, 1);
      g_autofree char *contents = NULL;
      g_auto (GStrv) lines = NULL;

      if (turn_credentials == NULL || !g_file_get_contents (turn_credentials, &contents, NULL, &error))
        {
          g_printerr ("%s: TURN credentials: %s\n", name, error ? error->message : "no file given");
          nb_turn_config_free (turn);
          return FALSE;
        }
      lines = g_strsplit (contents, "\n", 3);
      sodium_memzero (contents, strlen (contents));
      if (g_strv_length (lines) < 2)
        {
          g_printerr ("%s: TURN credentials file needs two lines\n", name);
          nb_turn_config_free (turn);
          return FALSE;
        }
      turn->uri = g_strdup (turn_uri);
      turn->protocol = NB_HOST_PROTOCOL_UDP;
      turn->user = g_strdup (lines[0]);
      turn->password = g_strdup (lines[1]);
      sodium_memzero (lines[1], strlen (lines[1]));
      g_ptr_array_add (turns, turn);
    }
  config.controlling = controlling;
  config.stuns = stuns;
  config.turns = turns;
  config.relay = relay;
  config.force_relay = force_relay;
  config.check_timeout_ms = check_timeout_ms;
  if (blacklist_opt != NULL && !g_str_equal (blacklist_opt, "default"))
    {
      blacklist = g_str_equal (blacklist_opt, "none") ? g_new0 (char *, 1)
                                                      : g_strsplit (blacklist_opt, ",", -1);
      config.interface_blacklist = (const char *const *) blacklist;
    }
  if (routed_opt != NULL)
    {
      routed = g_strsplit (routed_opt, ",", -1);
      config.routed_networks = (const char *const *) routed;
    }
  worker = nb_worker_ice_new (&config, &error);
  if (worker == NULL)
    {
      g_printerr ("%s: %s\n", name, error->message);
      return FALSE;
    }
  g_signal_connect (worker, "local-candidate", G_CALLBACK (on_local_candidate), NULL);
  g_signal_connect (worker, "gathering-done", G_CALLBACK (on_gathering_done), NULL);
  g_signal_connect (worker, "connected", G_CALLBACK (on_connected), NULL);
  g_signal_connect (worker, "selected-pair-changed", G_CALLBACK (on_pair_changed), NULL);
  g_signal_connect (worker, "disconnected", G_CALLBACK (on_disconnected), NULL);
  g_signal_connect (worker, "failed", G_CALLBACK (on_failed), NULL);
  nb_worker_ice_set_receive_func (worker, on_data, NULL, NULL);

  nb_worker_ice_get_local_credentials (worker, &ufrag, &pwd);
  if (!ctl_send ("CRED %s %s", ufrag, pwd))
    return FALSE;
  start_ms = now_ms ();
  if (!nb_worker_ice_start (worker, NULL, NULL, &error))
    {
      g_printerr ("%s: start: %s\n", name, error->message);
      return FALSE;
    }
  out ("STARTED t=%" G_GINT64_FORMAT " role=%s", start_ms, controlling ? "controlling" : "controlled");
  ctl_read ();
  return TRUE;
}

static gint64 connect_deadline;
static void try_connect (void);

static gboolean
retry_connect (gpointer data)
{
  try_connect ();
  return G_SOURCE_REMOVE;
}

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;

  ctl = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  if (ctl == NULL)
    {
      if (g_get_monotonic_time () > connect_deadline)
        {
          g_printerr ("%s: cannot reach the broker %s: %s\n", name, control, error->message);
          exit_code = 1;
          g_main_loop_quit (loop);
          return;
        }
      g_timeout_add (100, retry_connect, NULL);
      return;
    }
  /* The connect timeout must not apply to the long reads that follow. */
  g_socket_set_timeout (g_socket_connection_get_socket (ctl), 0);
  ctl_in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (ctl)));
  g_data_input_stream_set_newline_type (ctl_in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  out ("CONTROL connected t=%" G_GINT64_FORMAT, now_ms ());
  if (!start_worker ())
    {
      exit_code = 1;
      g_main_loop_quit (loop);
    }
}

static void
try_connect (void)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();

  g_socket_client_set_timeout (client, 2);
  g_socket_client_connect_to_host_async (client, control, 0, NULL, connected_cb, NULL);
}

static gboolean
on_overall_timeout (gpointer data)
{
  out ("TIMEOUT t=%" G_GINT64_FORMAT, now_ms ());
  exit_code = 2;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_release_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static int
run_peer (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "peer name", "NAME" },
    { "control", 0, 0, G_OPTION_ARG_STRING, &control, "broker address", "ADDR:PORT" },
    { "controlling", 0, 0, G_OPTION_ARG_NONE, &controlling, "controlling agent", NULL },
    { "stun", 0, 0, G_OPTION_ARG_STRING_ARRAY, &stun_uris, "STUN URI", "URI" },
    { "turn", 0, 0, G_OPTION_ARG_STRING, &turn_uri, "TURN URI", "URI" },
    { "turn-credentials", 0, 0, G_OPTION_ARG_FILENAME, &turn_credentials, "user/password file", "FILE" },
    { "relay", 0, 0, G_OPTION_ARG_NONE, &relay, "gather relay candidates", NULL },
    { "force-relay", 0, 0, G_OPTION_ARG_NONE, &force_relay, "relay candidates only", NULL },
    { "blacklist", 0, 0, G_OPTION_ARG_STRING, &blacklist_opt, "interface deny list", "default|none|LIST" },
    { "routed", 0, 0, G_OPTION_ARG_STRING, &routed_opt, "routed networks", "CIDR,..." },
    { "check-timeout-ms", 0, 0, G_OPTION_ARG_INT, &check_timeout_ms, "check timeout", "MS" },
    { "ping-ms", 0, 0, G_OPTION_ARG_INT, &ping_ms, "ping interval", "MS" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "give up after", "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- one ICE peer");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || control == NULL)
    {
      g_printerr ("ice-driver peer: %s\n", error ? error->message : "--control is required");
      return 1;
    }
  connect_deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_timeout_add_seconds (timeout_s, on_overall_timeout, NULL);
  try_connect ();
  g_main_loop_run (loop);

  if (worker != NULL)
    {
      nb_worker_ice_close (worker);
      g_clear_object (&worker);
    }
  if (ping_id)
    g_source_remove (ping_id);
  if (ctl != NULL)
    g_io_stream_close (G_IO_STREAM (ctl), NULL, NULL);
  g_clear_object (&ctl_in);
  g_clear_object (&ctl);
  /* Let libnice release the TURN allocations (bounded). */
  {
    gboolean late = FALSE;
    guint id = g_timeout_add_seconds (3, on_release_deadline, &late);

    while (nb_worker_ice_closing_agents () > 0 && !late)
      g_main_context_iteration (NULL, TRUE);
    if (!late)
      g_source_remove (id);
  }
  out ("EXIT %d ended=%d", exit_code, ended);
  return exit_code;
}

int
ice_driver_run (int argc, char **argv)
{
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_term, NULL);
  g_unix_signal_add (SIGINT, on_term, NULL);
  if (argc >= 4 && g_str_equal (argv[1], "broker"))
    return run_broker (argv[2], argv[3]);
  if (argc >= 2 && g_str_equal (argv[1], "peer"))
    return run_peer (argc - 1, argv + 1);
  g_printerr ("usage: ice-driver broker ADDR PORT | ice-driver peer --name N --control ADDR:PORT ...\n");
  return 1;
}
