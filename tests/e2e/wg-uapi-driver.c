/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * wg-uapi-driver IFNAME COMMAND_FIFO: a long-lived test driver around one
 * NbWgUapi (service/wg/wg-uapi.c), run by tests/e2e/test-wg-uapi.sh inside
 * a test network namespace (`ip netns exec NS wg-uapi-driver ...`), so the
 * wireguard-go it spawns lives there too.
 *
 * It reads commands, one per line, from COMMAND_FIFO ("ID VERB ARGS...",
 * one at a time) and answers each on stdout with exactly one line,
 * "ID ok ..." or "ID error DOMAIN:CODE errno=N MESSAGE". Unsolicited events
 * are lines "event died MESSAGE". Everything else on stdout/stderr is log.
 *
 * Verbs:
 *   start                               spawn wireguard-go; "ok pid=N"
 *   device KEYFILE PORT                 private key (from a key file) + port
 *   port PORT                           listen port only (key unchanged)
 *   peer PUB EP|none KEEPALIVE CIDRS|none [replace]
 *                                       create/update a peer (CIDRS: a,b)
 *   remove PUB                          remove a peer
 *   stats                               "ok listen_port=N pub=B64 peers=N
 *                                        [peer=B64,endpoint=E,handshake=S,
 *                                        rx=N,tx=N,keepalive=N,ips=A;B ...]"
 *   burst PUB N KEEPALIVE CIDR EP1 EP2 [noget]
 *                                       N set_peer calls alternating EP1,
 *                                       EP2, ... each followed by a get
 *                                       (noget: only one get at the end),
 *                                       all issued at once without waiting;
 *                                       "ok applied=K/M final=EP elapsed_us=T"
 *                                       (K of the M gets saw the endpoint
 *                                       the set before them asked for)
 *   dup                                 a second NbWgUapi for the same
 *                                       interface must refuse to start
 *   dispose                             drop the NbWgUapi; "ok gone_ms=T"
 *                                       once its wireguard-go is reaped
 *   quit
 * Keys are base64 in commands and answers; a private key only ever comes
 * from a key file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include "wg-backend.h"
#include "wg-uapi.h"

typedef struct {
  GMainLoop *loop;
  char *ifname;
  NbWgUapi *uapi;
  GDataInputStream *commands;
  char *id;                  /* of the command being run */
  /* burst */
  guint burst_total;
  guint burst_pending;
  guint burst_applied;
  char *burst_final;
  char **burst_want;
  gint64 burst_t0;
  /* dispose */
  GPid dispose_pid;
  gint64 dispose_t0;
} Driver;

static void read_next (Driver *d);

static void
reply (Driver     *d,
       const char *format,
       ...) G_GNUC_PRINTF (2, 3);

static void
reply (Driver     *d,
       const char *format,
       ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  printf ("%s %s\n", d->id, text);
  fflush (stdout);
  g_clear_pointer (&d->id, g_free);
  read_next (d);
}

static void
reply_error (Driver       *d,
             const GError *error)
{
  reply (d, "error %s:%d errno=%d %s", g_quark_to_string (error->domain), error->code,
         nb_wg_error_get_uapi_errno (error), error->message);
}

static void
done_bool (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  Driver *d = data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    reply_error (d, error);
  else
    reply (d, "ok");
}

static void
started_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Driver *d = data;
  g_autoptr(GError) error = NULL;

  if (!nb_wg_uapi_start_finish (d->uapi, result, &error))
    reply_error (d, error);
  else
    reply (d, "ok pid=%d", (int) nb_wg_uapi_get_pid (d->uapi));
}

static void
died_cb (NbWgUapi     *uapi,
         const GError *reason,
         gpointer      data)
{
  printf ("event died %s\n", reason->message);
  fflush (stdout);
}

static char *
format_stats (const NbWgStats *stats)
{
  GString *out = g_string_new (NULL);
  g_autofree char *pub = nb_wg_key_to_base64 (&stats->public_key);
  guint i, j;

  g_string_append_printf (out, "listen_port=%u pub=%s peers=%u", stats->listen_port,
                          stats->has_private_key ? pub : "none", stats->peers->len);
  for (i = 0; i < stats->peers->len; i++)
    {
      const NbWgPeerStats *peer = g_ptr_array_index (stats->peers, i);
      g_autofree char *key = nb_wg_key_to_base64 (&peer->public_key);
      g_autofree char *ep = peer->endpoint ? nb_wg_endpoint_to_string (peer->endpoint) : NULL;

      g_string_append_printf (out, " peer=%s,endpoint=%s,handshake=%" G_GINT64_FORMAT
                              ",rx=%" G_GUINT64_FORMAT ",tx=%" G_GUINT64_FORMAT
                              ",keepalive=%u,psk=%d,ips=",
                              key, ep ? ep : "none", peer->last_handshake_us / G_USEC_PER_SEC,
                              peer->rx_bytes, peer->tx_bytes, peer->persistent_keepalive_s,
                              peer->has_preshared_key);
      for (j = 0; j < peer->allowed_ips->len; j++)
        g_string_append_printf (out, "%s%s", j ? ";" : "",
                                (const char *) g_ptr_array_index (peer->allowed_ips, j));
    }
  return g_string_free (out, FALSE);
}

static void
stats_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  Driver *d = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = NULL;
  g_autofree char *text = NULL;

  /* Through the interface, as the engine will call it. */
  stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  if (stats == NULL)
    {
      reply_error (d, error);
      return;
    }
  text = format_stats (stats);
  reply (d, "ok %s", text);
}

static gboolean
parse_peer (const char     *pub,
            const char     *ep,
            const char     *keepalive,
            NbWgPeerConfig *peer,
            GError        **error)
{
  guint64 ka;

  if (!nb_wg_key_from_base64 (pub, &peer->public_key, error))
    return FALSE;
  if (g_strcmp0 (ep, "none") != 0)
    {
      peer->endpoint = nb_wg_endpoint_parse (ep, error);
      if (peer->endpoint == NULL)
        return FALSE;
    }
  if (!g_ascii_string_to_unsigned (keepalive, 10, 0, 65535, &ka, error))
    return FALSE;
  peer->persistent_keepalive_s = (guint16) ka;
  return TRUE;
}

/* burst: each get checks that the set before it is what the device has. */
typedef struct {
  Driver *d;
  guint index;
} BurstItem;

static void
burst_step_done (Driver *d)
{
  if (--d->burst_pending > 0)
    return;
  reply (d, "ok applied=%u/%u final=%s elapsed_us=%" G_GINT64_FORMAT,
         d->burst_applied, d->burst_total, d->burst_final ? d->burst_final : "none",
         g_get_monotonic_time () - d->burst_t0);
  g_clear_pointer (&d->burst_final, g_free);
  g_clear_pointer (&d->burst_want, g_strfreev);
}

static void
burst_set_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  BurstItem *item = data;
  Driver *d = item->d;
  g_autoptr(GError) error = NULL;

  if (!nb_wg_uapi_set_peer_finish (NB_WG_UAPI (source), result, &error))
    g_printerr ("burst: set %u failed: %s\n", item->index, error->message);
  g_free (item);
  burst_step_done (d);
}

static void
burst_get_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  BurstItem *item = data;
  Driver *d = item->d;
  g_autoptr(GError) error = NULL;
  g_autoptr(NbWgStats) stats = nb_wg_uapi_get_stats_finish (NB_WG_UAPI (source), result, &error);

  if (stats == NULL)
    g_printerr ("burst: get %u failed: %s\n", item->index, error->message);
  else if (stats->peers->len == 1)
    {
      const NbWgPeerStats *peer = g_ptr_array_index (stats->peers, 0);
      g_autofree char *ep = peer->endpoint ? nb_wg_endpoint_to_string (peer->endpoint) : NULL;

      if (g_strcmp0 (ep, d->burst_want[item->index % 2]) == 0)
        d->burst_applied++;
      else
        g_printerr ("burst: after set %u the device has endpoint %s, not %s\n",
                    item->index, ep ? ep : "none", d->burst_want[item->index % 2]);
      g_free (d->burst_final);
      d->burst_final = g_steal_pointer (&ep);
    }
  g_free (item);
  burst_step_done (d);
}

static void
run_burst (Driver  *d,
           char   **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetSocketAddress) ep0 = NULL;
  g_autoptr(GInetSocketAddress) ep1 = NULL;
  GInetSocketAddress *ep[2];
  const char *ips[] = { argv[4], NULL };
  NbWgPeerConfig peer = { 0 };
  gboolean noget;
  guint64 n;
  guint i;

  if (!g_ascii_string_to_unsigned (argv[2], 10, 1, 1000, &n, &error)
      || !parse_peer (argv[1], "none", argv[3], &peer, &error)
      || (ep0 = nb_wg_endpoint_parse (argv[5], &error)) == NULL
      || (ep1 = nb_wg_endpoint_parse (argv[6], &error)) == NULL)
    {
      reply_error (d, error);
      return;
    }
  ep[0] = ep0;
  ep[1] = ep1;
  d->burst_want = g_new0 (char *, 3);
  d->burst_want[0] = nb_wg_endpoint_to_string (ep[0]);
  d->burst_want[1] = nb_wg_endpoint_to_string (ep[1]);
  noget = argv[7] != NULL && strcmp (argv[7], "noget") == 0;
  d->burst_total = noget ? 1 : n;
  d->burst_applied = 0;
  d->burst_pending = n + d->burst_total;
  d->burst_t0 = g_get_monotonic_time ();
  peer.allowed_ips = ips;
  /* All issued now, none awaited: the backend queues them. */
  for (i = 0; i < n; i++)
    {
      BurstItem *set_item = g_new0 (BurstItem, 1);
      BurstItem *get_item = g_new0 (BurstItem, 1);

      peer.endpoint = ep[i % 2];
      set_item->d = get_item->d = d;
      set_item->index = get_item->index = i;
      nb_wg_uapi_set_peer_async (d->uapi, &peer, NULL, burst_set_cb, set_item);
      if (!noget || i == n - 1)
        nb_wg_uapi_get_stats_async (d->uapi, NULL, burst_get_cb, get_item);
      else
        g_free (get_item);
    }
}

static void
dup_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      data)
{
  Driver *d = data;
  g_autoptr(GError) error = NULL;

  if (nb_wg_uapi_start_finish (NB_WG_UAPI (source), result, &error))
    reply (d, "error unexpected: a second wireguard-go started for %s", d->ifname);
  else if (g_error_matches (error, NB_WG_ERROR, NB_WG_ERROR_EXISTS))
    reply (d, "ok refused: %s", error->message);
  else
    reply_error (d, error);
  g_object_unref (source);
}

static gboolean
dispose_poll_cb (gpointer data)
{
  Driver *d = data;

  if (kill (d->dispose_pid, 0) == 0 || errno != ESRCH)
    {
      if (g_get_monotonic_time () - d->dispose_t0 < 15 * G_USEC_PER_SEC)
        return G_SOURCE_CONTINUE;
      reply (d, "error wireguard-go pid %d still exists 15 s after dispose", (int) d->dispose_pid);
      return G_SOURCE_REMOVE;
    }
  reply (d, "ok gone_ms=%" G_GINT64_FORMAT, (g_get_monotonic_time () - d->dispose_t0) / 1000);
  return G_SOURCE_REMOVE;
}

static void
run_command (Driver *d,
             char   *line)
{
  g_auto(GStrv) argv = g_strsplit (line, " ", -1);
  guint argc = g_strv_length (argv);
  g_autoptr(GError) error = NULL;
  const char *verb;

  if (argc < 2)
    {
      g_printerr ("bad command line\n");
      read_next (d);
      return;
    }
  d->id = g_strdup (argv[0]);
  verb = argv[1];

  if (d->uapi == NULL && strcmp (verb, "quit") != 0)
    {
      reply (d, "error the NbWgUapi was disposed");
      return;
    }

  if (strcmp (verb, "start") == 0 && argc == 2)
    nb_wg_uapi_start_async (d->uapi, NULL, started_cb, d);
  else if (strcmp (verb, "device") == 0 && argc == 4)
    {
      g_auto(NbWgKey) priv = NB_WG_KEY_INIT;
      guint64 port;

      if (!nb_wg_key_load_private_file (argv[2], &priv, &error)
          || !g_ascii_string_to_unsigned (argv[3], 10, 0, 65535, &port, &error))
        {
          reply_error (d, error);
          return;
        }
      nb_wg_backend_set_device_async (NB_WG_BACKEND (d->uapi), &priv, (int) port, NULL,
                                      done_bool, d);
    }
  else if (strcmp (verb, "port") == 0 && argc == 3)
    {
      guint64 port;

      if (!g_ascii_string_to_unsigned (argv[2], 10, 0, 65535, &port, &error))
        {
          reply_error (d, error);
          return;
        }
      nb_wg_uapi_set_device_async (d->uapi, NULL, (int) port, NULL, done_bool, d);
    }
  else if (strcmp (verb, "peer") == 0 && (argc == 6 || argc == 7))
    {
      g_autoptr(GInetSocketAddress) ep = NULL;
      g_auto(GStrv) ips = NULL;
      NbWgPeerConfig peer = { 0 };

      if (!parse_peer (argv[2], argv[3], argv[4], &peer, &error))
        {
          reply_error (d, error);
          return;
        }
      ep = peer.endpoint;
      if (strcmp (argv[5], "none") != 0)
        ips = g_strsplit (argv[5], ",", -1);
      peer.allowed_ips = (const char * const *) ips;
      peer.replace_allowed_ips = argc == 7 && strcmp (argv[6], "replace") == 0;
      nb_wg_backend_set_peer_async (NB_WG_BACKEND (d->uapi), &peer, NULL, done_bool, d);
    }
  else if (strcmp (verb, "remove") == 0 && argc == 3)
    {
      NbWgKey pub = NB_WG_KEY_INIT;

      if (!nb_wg_key_from_base64 (argv[2], &pub, &error))
        {
          reply_error (d, error);
          return;
        }
      nb_wg_backend_remove_peer_async (NB_WG_BACKEND (d->uapi), &pub, NULL, done_bool, d);
    }
  else if (strcmp (verb, "stats") == 0 && argc == 2)
    nb_wg_backend_get_stats_async (NB_WG_BACKEND (d->uapi), NULL, stats_cb, d);
  else if (strcmp (verb, "burst") == 0 && (argc == 8 || argc == 9))
    run_burst (d, argv + 1);
  else if (strcmp (verb, "dup") == 0 && argc == 2)
    {
      NbWgUapi *other = nb_wg_uapi_new (d->ifname, &error);

      if (other == NULL)
        {
          reply_error (d, error);
          return;
        }
      nb_wg_uapi_start_async (other, NULL, dup_cb, d);
    }
  else if (strcmp (verb, "dispose") == 0 && argc == 2)
    {
      d->dispose_pid = nb_wg_uapi_get_pid (d->uapi);
      d->dispose_t0 = g_get_monotonic_time ();
      g_clear_object (&d->uapi);
      if (d->dispose_pid == 0)
        reply (d, "ok gone_ms=0 (no process)");
      else
        g_timeout_add (20, dispose_poll_cb, d);
    }
  else if (strcmp (verb, "quit") == 0)
    {
      printf ("%s ok\n", d->id);
      fflush (stdout);
      g_clear_pointer (&d->id, g_free);
      g_main_loop_quit (d->loop);
    }
  else
    reply (d, "error unknown command");
}

static void
line_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Driver *d = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (d->commands, result, NULL, &error);

  if (line == NULL)
    {
      g_printerr ("command input ended: %s\n", error ? error->message : "EOF");
      g_main_loop_quit (d->loop);
      return;
    }
  g_strstrip (line);
  if (line[0] == '\0')
    {
      read_next (d);
      return;
    }
  run_command (d, line);
}

static void
read_next (Driver *d)
{
  g_data_input_stream_read_line_async (d->commands, G_PRIORITY_DEFAULT, NULL, line_cb, d);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) raw = NULL;
  Driver d = { 0 };
  int fd;

  if (argc != 3)
    {
      g_printerr ("usage: %s IFNAME COMMAND_FIFO\n", argv[0]);
      return 2;
    }
  d.ifname = argv[1];
  d.uapi = nb_wg_uapi_new (d.ifname, &error);
  if (d.uapi == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  nb_wg_uapi_set_log_level (d.uapi, g_getenv ("NB_WG_LOG_LEVEL") ? g_getenv ("NB_WG_LOG_LEVEL") : "verbose");
  g_signal_connect (d.uapi, "died", G_CALLBACK (died_cb), &d);

  /* O_RDWR: never blocks on open and never sees EOF when the test's
   * writer closes and reopens. */
  fd = open (argv[2], O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      g_printerr ("%s: %s\n", argv[2], g_strerror (errno));
      return 1;
    }
  raw = g_unix_input_stream_new (fd, TRUE);
  d.commands = g_data_input_stream_new (raw);
  d.loop = g_main_loop_new (NULL, FALSE);
  printf ("ready %s\n", d.ifname);
  fflush (stdout);
  read_next (&d);
  g_main_loop_run (d.loop);

  g_clear_object (&d.uapi);
  g_clear_object (&d.commands);
  g_main_loop_unref (d.loop);
  return 0;
}
