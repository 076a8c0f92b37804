/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * devnet-turn-driver: for tests/e2e/test-devnet-turn.sh. Proves that the TURN
 * credentials netbird-devnet hands out work with a coturn in REST
 * (use-auth-secret) mode.
 *
 *   devnet-turn-driver broker ADDR PORT
 *       ice-driver's line broker (the candidate/credential exchange).
 *
 *   devnet-turn-driver peer --management URL --setup-key-file FILE
 *                           --name N --control ADDR:PORT [ice-driver options]
 *       Logs in to management with the setup key (NbMgmtClient, a fresh
 *       WireGuard key), prints
 *         LOGIN t= address=<overlay> turns=<n> turn=<uri> user=<user>
 *       (the time-limited user name, not a secret; the password is never
 *       printed), writes the first TURN server's user/password to a 0600
 *       temporary file and then runs ice-driver's peer in this process with
 *       that TURN server, --relay --force-relay --blacklist none (interface
 *       filter off) and the remaining options: the ICE worker and its output
 *       (CONNECTED, LOCAL, FAILED, ...) are ice-driver's; see ice-driver.c.
 *       Exits 3 when the login fails or hands out no TURN server.
 *
 * ice-driver's broker and peer (ice-driver-common.c) are linked into this
 * program rather than duplicated.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <sodium.h>
#include <unistd.h>

#include "ice-driver-common.h"
#include "mgmt-client.h"
#include "wg-key.h"

typedef struct {
  GMainLoop *loop;
  NbNetworkMap *map;
  GError *error;
} DtLogin;

static void
dt_login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  DtLogin *l = user_data;

  l->map = nb_mgmt_client_login_finish (NB_MGMT_CLIENT (source), res, &l->error);
  g_main_loop_quit (l->loop);
}

static char *
dt_read_setup_key (const char *path, GError **error)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;
  g_strstrip (contents);
  return contents;
}

/* Writes "user\npassword\n" to a new 0600 file; returns its path. */
static char *
dt_write_credentials (const NbTurnConfig *turn, GError **error)
{
  g_autofree char *data = g_strdup_printf ("%s\n%s\n", turn->user, turn->password);
  char *path = NULL;
  gsize len = strlen (data);
  gboolean ok;
  int fd;

  fd = g_file_open_tmp ("devnet-turn-XXXXXX", &path, error);   /* 0600 */
  if (fd < 0)
    {
      sodium_memzero (data, len);
      return NULL;
    }
  ok = write (fd, data, len) == (ssize_t) len;
  sodium_memzero (data, len);
  close (fd);
  if (!ok)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "write %s failed", path);
      g_unlink (path);
      g_free (path);
      return NULL;
    }
  return path;
}

static int
dt_peer (int argc, char **argv)
{
  g_autoptr (GPtrArray) rest = g_ptr_array_new ();
  g_autoptr (NbMgmtClient) client = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *setup_key = NULL;
  g_autofree char *cred_file = NULL;
  const char *management = NULL, *key_file = NULL, *peer_name = "peer";
  const NbTurnConfig *turn;
  NbWgKey priv;
  DtLogin l = { 0 };
  int rc;

  /* Take our options out; everything else goes to ice-driver peer. */
  g_ptr_array_add (rest, (char *) "ice-driver");
  g_ptr_array_add (rest, (char *) "peer");
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--management") && i + 1 < argc)
        management = argv[++i];
      else if (g_str_equal (argv[i], "--setup-key-file") && i + 1 < argc)
        key_file = argv[++i];
      else
        {
          if (g_str_equal (argv[i], "--name") && i + 1 < argc)
            peer_name = argv[i + 1];
          g_ptr_array_add (rest, argv[i]);
        }
    }
  if (management == NULL || key_file == NULL)
    {
      g_printerr ("devnet-turn-driver peer: --management and --setup-key-file are required\n");
      return 1;
    }

  setup_key = dt_read_setup_key (key_file, &error);
  if (setup_key == NULL)
    {
      g_printerr ("%s: setup key: %s\n", peer_name, error->message);
      return 3;
    }
  nb_wg_key_generate_private (&priv);
  client = nb_mgmt_client_new (management, &priv, &error);
  sodium_memzero (&priv, sizeof priv);
  if (client == NULL)
    {
      g_printerr ("%s: management: %s\n", peer_name, error->message);
      return 3;
    }
  nb_mgmt_client_set_setup_key (client, setup_key);
  sodium_memzero (setup_key, strlen (setup_key));
  nb_mgmt_client_set_hostname (client, peer_name);

  l.loop = g_main_loop_new (NULL, FALSE);
  nb_mgmt_client_login_async (client, NULL, dt_login_cb, &l);
  g_main_loop_run (l.loop);
  g_main_loop_unref (l.loop);
  if (l.map == NULL)
    {
      out ("LOGIN-FAILED t=%" G_GINT64_FORMAT " %s", now_ms (), l.error->message);
      g_clear_error (&l.error);
      return 3;
    }
  if (l.map->config == NULL || l.map->config->turns->len == 0)
    {
      out ("LOGIN t=%" G_GINT64_FORMAT " turns=0", now_ms ());
      nb_network_map_free (l.map);
      return 3;
    }
  turn = g_ptr_array_index (l.map->config->turns, 0);
  out ("LOGIN t=%" G_GINT64_FORMAT " address=%s turns=%u turn=%s user=%s", now_ms (),
       l.map->own ? l.map->own->address : "?", l.map->config->turns->len, turn->uri, turn->user);
  cred_file = dt_write_credentials (turn, &error);
  if (cred_file == NULL)
    {
      g_printerr ("%s: TURN credentials file: %s\n", peer_name, error->message);
      nb_network_map_free (l.map);
      return 3;
    }
  g_ptr_array_add (rest, (char *) "--relay");
  g_ptr_array_add (rest, (char *) "--force-relay");
  g_ptr_array_add (rest, (char *) "--blacklist");
  g_ptr_array_add (rest, (char *) "none");
  g_ptr_array_add (rest, (char *) "--turn");
  g_ptr_array_add (rest, g_strdup (turn->uri));   /* leaked: lives as long as the process */
  g_ptr_array_add (rest, (char *) "--turn-credentials");
  g_ptr_array_add (rest, cred_file);
  g_ptr_array_add (rest, NULL);
  nb_network_map_free (l.map);

  /* The login's sockets are done; a still-running client is harmless. */
  rc = ice_driver_run ((int) rest->len - 1, (char **) rest->pdata);
  g_unlink (cred_file);
  return rc;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "peer"))
    return dt_peer (argc - 1, argv + 1);
  if (argc >= 4 && g_str_equal (argv[1], "broker"))
    return ice_driver_run (argc, argv);
  g_printerr ("usage: devnet-turn-driver broker ADDR PORT | devnet-turn-driver peer --management URL "
              "--setup-key-file FILE --name N --control ADDR:PORT ...\n");
  return 1;
}
