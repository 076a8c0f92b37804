/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * netbird-devnet: the local NetBird control plane for the demo and tests
 * (management + signal on one gRPC port, a relay on another). Not a NetBird
 * replacement. Installed in libexecdir (it is a tool for scripts and tests,
 * not a user command).
 *
 * Usage: netbird-devnet --state-dir DIR [-v] COMMAND [OPTIONS]
 *
 *   init [--dns-domain D]          create the state (devnet-state.h) and print
 *                                  one reusable setup key on stdout
 *   add-setup-key [--uses N] [--expires-in S] [--name NAME]
 *                                  print a new setup key on stdout
 *   list-setup-keys                ID, prefix, name, uses, expiry, validity
 *   list-peers                     key, address, FQDN, host, version, times
 *   remove-peer KEY                remove a peer; a running server notices
 *                                  (GFileMonitor on DIR/peers) and pushes
 *                                  new maps at once
 *   add-route --peer KEY|FQDN --network CIDR [--metric N] [--masquerade]
 *             [--net-id ID] [--skip-auto-apply]
 *                                  route CIDR through that peer (every peer's
 *                                  map carries it; a running server pushes
 *                                  new maps at once, as for remove-peer);
 *                                  ID: NetBird's network ID (NetID, 1..40
 *                                  characters, no control characters;
 *                                  default: the canonical CIDR), what
 *                                  `netbird routes select` takes;
 *                                  --skip-auto-apply: NetBird's
 *                                  skipAutoApply (clients do not pick this
 *                                  exit node, 0.0.0.0/0 or ::/0, on their
 *                                  own). Adding CIDR through the same peer
 *                                  again replaces all of these.
 *   remove-route --network CIDR    remove every route of CIDR
 *   list-routes                    id, network, routing peer, metric,
 *                                  masquerade, net-id, skip-auto-apply
 *   set-turn-static USER           store USER:password (password read from
 *                                  stdin) for `serve --turn-static`
 *   serve --listen ADDR:PORT [--relay-listen ADDR:PORT]
 *         [--public-url http(s)://HOST:PORT]
 *         [--relay-public-url rel(s)://HOST:PORT]...
 *         [--turn HOST:PORT]... [--turn-static] [--turn-ttl S]
 *         [--relay-token-ttl S] [--mtu N] [--map-debounce-ms N]
 *         [--logout-deletes-peer]
 *         [--tls-cert FILE --tls-key FILE | --tls-self-signed]
 *
 * The admin commands need no running server: they change DIR under its lock
 * file. `serve` prints one line on stdout once both ports listen:
 *
 *   ready grpc=ADDR:PORT management-url=URL public-url=URL
 *         [relay=ADDR:PORT relay-url=URL relay-public-url=URL] [tls-cert=FILE]
 *
 * (port 0 asks for an ephemeral port; the line has the bound one;
 * management-url / relay-url are for dialling from this host, the public
 * ones what peers are told, from --public-url / --relay-public-url) and logs
 * one line per event on stderr. SIGTERM / SIGINT end it cleanly (exit 0).
 * With --tls-self-signed a fresh ECDSA P-256 certificate (SAN 127.0.0.1,
 * ::1, localhost and the public host) is made with GnuTLS at every start
 * and written to DIR/tls-cert.pem for clients to trust; its key stays in
 * memory. gRPC and the relay then use TLS (https://, rels://).
 *
 * Secrets (setup keys, keys, TURN passwords, relay tokens) are never logged
 * and never taken from argv or the environment.
 */
#define G_LOG_DOMAIN "nb-devnet"

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "devnet-state.h"
#include "drain.h"
#include "grpc-server.h"
#include "mgmt-service.h"
#include "nb-sodium.h"
#include "relay-server.h"
#include "signal-service.h"

static char *opt_state_dir;
static gboolean opt_verbose;

static int
fail (const char *what, const GError *error)
{
  g_printerr ("netbird-devnet: %s: %s\n", what, error->message);
  return 1;
}

static int
usage_error (GOptionContext *context, const char *message)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  g_printerr ("netbird-devnet: %s\n\n%s", message, help);
  return 2;
}

/* Parses the options of a subcommand; leaves the positional arguments in
 * @argc/@argv (argv[0] is the command). */
static gboolean
parse_command (const char *command, const char *parameter, const char *summary,
               const GOptionEntry *entries, int *argc, char ***argv, int *exit_code)
{
  g_autofree char *name = g_strdup_printf ("%s %s", command, parameter ? parameter : "");
  g_autoptr (GOptionContext) context = g_option_context_new (name);
  g_autoptr (GError) error = NULL;

  g_option_context_set_summary (context, summary);
  if (entries)
    g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      *exit_code = usage_error (context, error->message);
      return FALSE;
    }
  return TRUE;
}

static NbDevnetState *
open_state (int *exit_code)
{
  g_autoptr (GError) error = NULL;
  NbDevnetState *state = nb_devnet_state_open (opt_state_dir, &error);

  if (state == NULL)
    *exit_code = fail ("cannot open the state", error);
  return state;
}

static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = NULL;

  if (t == 0)
    return g_strdup ("-");
  dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("?");
}

/* ------------------------------------------------------------------------ */
/* Admin commands */

static int
cmd_init (int argc, char **argv)
{
  g_autofree char *dns_domain = NULL;
  const GOptionEntry entries[] = {
    { "dns-domain", 0, 0, G_OPTION_ARG_STRING, &dns_domain, "DNS domain of the peers (netbird.test)", "DOMAIN" },
    { NULL }
  };
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *setup_key = NULL;
  g_autofree char *pub = NULL;
  int code = 0;

  if (!parse_command ("init", NULL, "Creates the state directory and prints a reusable setup key.", entries,
                      &argc, &argv, &code))
    return code;
  state = nb_devnet_state_create (opt_state_dir, dns_domain, &setup_key, &error);
  if (state == NULL)
    return fail ("init", error);
  pub = nb_wg_key_to_base64 (nb_devnet_state_get_server_public_key (state));
  g_printerr ("netbird-devnet: initialised %s (server key %s, DNS domain %s)\n",
              nb_devnet_state_get_dir (state), pub, nb_devnet_state_get_dns_domain (state));
  printf ("%s\n", setup_key);
  fflush (stdout);
  sodium_memzero (setup_key, strlen (setup_key));
  return 0;
}

static int
cmd_add_setup_key (int argc, char **argv)
{
  gint uses = 0;
  gint64 expires_in = 0;
  g_autofree char *name = NULL;
  const GOptionEntry entries[] = {
    { "uses", 0, 0, G_OPTION_ARG_INT, &uses, "How many peers may register with it (0: unlimited)", "N" },
    { "expires-in", 0, 0, G_OPTION_ARG_INT64, &expires_in, "Seconds until it expires (0: never)", "S" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "A name for listings", "NAME" },
    { NULL }
  };
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;
  int code = 0;

  if (!parse_command ("add-setup-key", NULL, "Adds a setup key and prints it.", entries, &argc, &argv, &code))
    return code;
  if (uses < 0 || expires_in < 0)
    {
      g_printerr ("netbird-devnet: --uses and --expires-in must not be negative\n");
      return 2;
    }
  state = open_state (&code);
  if (state == NULL)
    return code;
  key = nb_devnet_state_add_setup_key (state, name, (guint) uses, expires_in, &error);
  if (key == NULL)
    return fail ("add-setup-key", error);
  printf ("%s\n", key);
  fflush (stdout);
  sodium_memzero (key, strlen (key));
  return 0;
}

static int
cmd_list_setup_keys (int argc, char **argv)
{
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  int code = 0;

  if (!parse_command ("list-setup-keys", NULL, "Lists the setup keys (never the keys themselves).", NULL,
                      &argc, &argv, &code))
    return code;
  state = open_state (&code);
  if (state == NULL)
    return code;
  keys = nb_devnet_state_list_setup_keys (state, &error);
  if (keys == NULL)
    return fail ("list-setup-keys", error);
  printf ("# id\tprefix\tname\tused\tlimit\texpires\tvalid\n");
  for (guint i = 0; i < keys->len; i++)
    {
      const NbDevnetSetupKey *k = keys->pdata[i];
      g_autofree char *expires = format_time (k->expires);

      printf ("%s\t%s****\t%s\t%u\t%u\t%s\t%s\n", k->id, k->prefix, k->name, k->used, k->usage_limit, expires,
              nb_devnet_setup_key_is_valid (k, now) ? "yes" : "no");
    }
  return 0;
}

static int
cmd_list_peers (int argc, char **argv)
{
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GPtrArray) peers = NULL;
  int code = 0;

  if (!parse_command ("list-peers", NULL, "Lists the registered peers.", NULL, &argc, &argv, &code))
    return code;
  state = open_state (&code);
  if (state == NULL)
    return code;
  peers = nb_devnet_state_list_peers (state);
  printf ("# serial %" G_GUINT64_FORMAT "\n", nb_devnet_state_get_serial (state));
  printf ("# key\taddress\tfqdn\thostname\tversion\tregistered\tlast-login\n");
  for (guint i = 0; i < peers->len; i++)
    {
      const NbDevnetPeer *p = peers->pdata[i];
      g_autofree char *ip = nb_devnet_peer_ip_string (p);
      g_autofree char *created = format_time (p->created);
      g_autofree char *login = format_time (p->last_login);

      printf ("%s\t%s/%d\t%s.%s\t%s\t%s\t%s\t%s\n", p->key, ip, NB_DEVNET_NETWORK_PREFIX, p->dns_label,
              nb_devnet_state_get_dns_domain (state), p->meta->hostname, p->meta->netbird_version, created, login);
    }
  return 0;
}

static int
cmd_remove_peer (int argc, char **argv)
{
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  int code = 0;

  if (!parse_command ("remove-peer", "KEY", "Removes a peer from the network.", NULL, &argc, &argv, &code))
    return code;
  if (argc != 2)
    {
      g_printerr ("netbird-devnet: remove-peer needs exactly one peer key\n");
      return 2;
    }
  state = open_state (&code);
  if (state == NULL)
    return code;
  if (!nb_devnet_state_remove_peer (state, argv[1], &error))
    return fail ("remove-peer", error);
  g_printerr ("netbird-devnet: removed %s (serial %" G_GUINT64_FORMAT ")\n", argv[1],
              nb_devnet_state_get_serial (state));
  return 0;
}

static int
cmd_add_route (int argc, char **argv)
{
  g_autofree char *peer_name = NULL;
  g_autofree char *network = NULL;
  gint64 metric = NB_DEVNET_ROUTE_DEFAULT_METRIC;
  gboolean masquerade = FALSE;
  g_autofree char *net_id = NULL;
  gboolean skip_auto_apply = FALSE;
  const GOptionEntry entries[] = {
    { "peer", 0, 0, G_OPTION_ARG_STRING, &peer_name, "The routing peer: key, DNS label or FQDN", "PEER" },
    { "network", 0, 0, G_OPTION_ARG_STRING, &network, "The routed network", "CIDR" },
    { "metric", 0, 0, G_OPTION_ARG_INT64, &metric, "Lower wins among routing peers of a network (9999)", "N" },
    { "masquerade", 0, 0, G_OPTION_ARG_NONE, &masquerade, "The routing peer masquerades routed traffic", NULL },
    /* FILENAME: the bytes as given, whatever the locale; the NetID check
     * wants UTF-8 (what NetBird's string field carries). */
    { "net-id", 0, 0, G_OPTION_ARG_FILENAME, &net_id, "NetBird's network ID (default: the network)", "ID" },
    { "skip-auto-apply", 0, 0, G_OPTION_ARG_NONE, &skip_auto_apply,
      "Clients do not select this exit node on their own", NULL },
    { NULL }
  };
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  const NbDevnetPeer *peer;
  const NbDevnetRoute *route;
  int code = 0;

  if (!parse_command ("add-route", NULL, "Routes a network through a peer.", entries, &argc, &argv, &code))
    return code;
  if (peer_name == NULL || network == NULL || argc != 1)
    {
      g_printerr ("netbird-devnet: add-route needs --peer and --network\n");
      return 2;
    }
  if (metric < 0)
    {
      g_printerr ("netbird-devnet: --metric must not be negative\n");
      return 2;
    }
  if (net_id != NULL && !nb_devnet_route_net_id_is_valid (net_id, &error))
    {
      g_printerr ("netbird-devnet: add-route: %s\n", error->message);
      return 2;
    }
  state = open_state (&code);
  if (state == NULL)
    return code;
  peer = nb_devnet_state_find_peer (state, peer_name);
  if (peer == NULL)
    {
      g_printerr ("netbird-devnet: add-route: no peer \"%s\"\n", peer_name);
      return 1;
    }
  route = nb_devnet_state_add_route (state, peer->key, network, metric, masquerade, net_id, skip_auto_apply,
                                     &error);
  if (route == NULL)
    return fail ("add-route", error);
  g_printerr ("netbird-devnet: route %s: %s via %s (serial %" G_GUINT64_FORMAT ")\n", route->id, route->network,
              route->peer, nb_devnet_state_get_serial (state));
  printf ("%s\n", route->id);
  return 0;
}

static int
cmd_remove_route (int argc, char **argv)
{
  g_autofree char *network = NULL;
  const GOptionEntry entries[] = {
    { "network", 0, 0, G_OPTION_ARG_STRING, &network, "The routed network", "CIDR" },
    { NULL }
  };
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  int code = 0;

  if (!parse_command ("remove-route", NULL, "Removes every route of a network.", entries, &argc, &argv, &code))
    return code;
  if (network == NULL || argc != 1)
    {
      g_printerr ("netbird-devnet: remove-route needs --network\n");
      return 2;
    }
  state = open_state (&code);
  if (state == NULL)
    return code;
  if (!nb_devnet_state_remove_routes (state, network, &n, &error))
    return fail ("remove-route", error);
  g_printerr ("netbird-devnet: removed %u route(s) of %s (serial %" G_GUINT64_FORMAT ")\n", n, network,
              nb_devnet_state_get_serial (state));
  return 0;
}

static int
cmd_list_routes (int argc, char **argv)
{
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GPtrArray) routes = NULL;
  int code = 0;

  if (!parse_command ("list-routes", NULL, "Lists the routes.", NULL, &argc, &argv, &code))
    return code;
  state = open_state (&code);
  if (state == NULL)
    return code;
  routes = nb_devnet_state_list_routes (state);
  printf ("# id\tnetwork\tpeer\tmetric\tmasquerade\tnet-id\tskip-auto-apply\n");
  for (guint i = 0; i < routes->len; i++)
    {
      const NbDevnetRoute *r = routes->pdata[i];

      printf ("%s\t%s\t%s\t%" G_GINT64_FORMAT "\t%s\t%s\t%s\n", r->id, r->network, r->peer, r->metric,
              r->masquerade ? "yes" : "no", r->net_id, r->skip_auto_apply ? "yes" : "no");
    }
  return 0;
}

static int
cmd_set_turn_static (int argc, char **argv)
{
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GError) error = NULL;
  char password[512];
  gsize len;
  int code = 0;
  gboolean ok;

  if (!parse_command ("set-turn-static", "USER",
                      "Stores a static TURN user; the password is read from the first line of stdin.", NULL,
                      &argc, &argv, &code))
    return code;
  if (argc != 2)
    {
      g_printerr ("netbird-devnet: set-turn-static needs the user name\n");
      return 2;
    }
  state = open_state (&code);
  if (state == NULL)
    return code;
  if (fgets (password, sizeof password, stdin) == NULL)
    {
      g_printerr ("netbird-devnet: no password on stdin\n");
      return 1;
    }
  len = strcspn (password, "\r\n");
  password[len] = '\0';
  ok = nb_devnet_state_set_turn_static (state, argv[1], password, &error);
  sodium_memzero (password, sizeof password);
  if (!ok)
    return fail ("set-turn-static", error);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* TLS */

/* Adds @host to the SAN list as an IP address or DNS name. */
static int
add_san (gnutls_x509_crt_t crt, const char *host)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (host);

  if (addr != NULL)
    return gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, g_inet_address_to_bytes (addr),
                                                 g_inet_address_get_native_size (addr), GNUTLS_FSAN_APPEND);
  return gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, host, strlen (host), GNUTLS_FSAN_APPEND);
}

/* A self-signed certificate and key made in memory; the certificate PEM
 * goes to @cert_path. */
static GTlsCertificate *
make_self_signed (const char *public_host, const char *cert_path, GError **error)
{
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t cert_pem = { NULL, 0 };
  gnutls_datum_t key_pem = { NULL, 0 };
  guint8 serial[16];
  time_t now = time (NULL);
  const char *cn = "netbird-devnet";
  GTlsCertificate *result = NULL;
  int rc;

  rc = gnutls_x509_privkey_init (&key);
  if (rc >= 0)
    rc = gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0);
  if (rc >= 0)
    rc = gnutls_x509_crt_init (&crt);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_version (crt, 3);
  if (rc >= 0)
    {
      randombytes_buf (serial, sizeof serial);
      serial[0] &= 0x7f;
      rc = gnutls_x509_crt_set_serial (crt, serial, sizeof serial);
    }
  if (rc >= 0)
    rc = gnutls_x509_crt_set_activation_time (crt, now - 3600);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_expiration_time (crt, now + 365 * 24 * 3600);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn));
  if (rc >= 0)
    rc = gnutls_x509_crt_set_key (crt, key);
  if (rc >= 0)
    rc = add_san (crt, "127.0.0.1");
  if (rc >= 0)
    rc = add_san (crt, "::1");
  if (rc >= 0)
    rc = add_san (crt, "localhost");
  if (rc >= 0 && public_host && strcmp (public_host, "127.0.0.1") != 0 && strcmp (public_host, "localhost") != 0
      && strcmp (public_host, "::1") != 0)
    rc = add_san (crt, public_host);
  /* Its own CA, so that clients can trust it directly. */
  if (rc >= 0)
    rc = gnutls_x509_crt_set_basic_constraints (crt, 1, -1);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
  if (rc >= 0)
    rc = gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0);
  if (rc >= 0)
    rc = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &cert_pem);
  if (rc >= 0)
    rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &key_pem);
  if (rc < 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot make a certificate: %s", gnutls_strerror (rc));
  else
    {
      g_autofree char *pem = g_strndup ((const char *) cert_pem.data, cert_pem.size);
      g_autofree char *both = g_strconcat (pem, "\n", (const char *) key_pem.data, NULL);
      g_autoptr (GError) local = NULL;

      result = g_tls_certificate_new_from_pem (both, -1, error);
      sodium_memzero (both, strlen (both));
      if (result != NULL && !g_file_set_contents_full (cert_path, pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s: %s", cert_path, local->message);
          g_clear_object (&result);
        }
    }
  if (key_pem.data)
    {
      sodium_memzero (key_pem.data, key_pem.size);
      gnutls_free (key_pem.data);
    }
  if (cert_pem.data)
    gnutls_free (cert_pem.data);
  if (crt)
    gnutls_x509_crt_deinit (crt);
  if (key)
    gnutls_x509_privkey_deinit (key);
  return result;
}

/* ------------------------------------------------------------------------ */
/* serve */

/* "ADDR:PORT" / "[ADDR6]:PORT" with an IP literal. */
static gboolean
parse_listen (const char *text, char **out_addr, guint16 *out_port, GError **error)
{
  g_autofree char *addr = NULL;
  const char *port_text;
  g_autoptr (GInetAddress) inet = NULL;
  guint64 port;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL || end[1] != ':')
        goto bad;
      addr = g_strndup (text + 1, end - text - 1);
      port_text = end + 2;
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon == NULL)
        goto bad;
      addr = g_strndup (text, colon - text);
      port_text = colon + 1;
    }
  inet = g_inet_address_new_from_string (addr);
  if (inet == NULL || !g_ascii_string_to_unsigned (port_text, 10, 0, 65535, &port, NULL))
    goto bad;
  *out_addr = g_steal_pointer (&addr);
  *out_port = (guint16) port;
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "\"%s\" is not IP:PORT", text);
  return FALSE;
}

/* An address to put in URLs for a listening address. */
static char *
url_host (const char *listen_addr)
{
  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (listen_addr);

  if (inet && g_inet_address_get_is_any (inet))
    return g_strdup (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6 ? "[::1]" : "127.0.0.1");
  if (inet && g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]", listen_addr);
  return g_strdup (listen_addr);
}

static gboolean
quit_cb (gpointer data)
{
  g_message ("signal received: shutting down");
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

static int
cmd_serve (int argc, char **argv)
{
  g_autofree char *listen = NULL;
  g_autofree char *relay_listen = NULL;
  g_autofree char *public_url = NULL;
  g_auto (GStrv) relay_public_urls = NULL;
  g_auto (GStrv) turn_hosts = NULL;
  gboolean turn_static = FALSE;
  gint turn_ttl = 0;
  gint relay_ttl = 0;
  gint mtu = 1280;
  gint debounce = 0;
  gboolean logout_deletes = FALSE;
  g_autofree char *tls_cert_file = NULL;
  g_autofree char *tls_key_file = NULL;
  gboolean tls_self_signed = FALSE;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, "gRPC (management + signal) address", "ADDR:PORT" },
    { "relay-listen", 0, 0, G_OPTION_ARG_STRING, &relay_listen, "Relay address (no relay without it)", "ADDR:PORT" },
    { "public-url", 0, 0, G_OPTION_ARG_STRING, &public_url, "URL peers reach the gRPC port at (signal HostConfig)",
      "http(s)://HOST:PORT" },
    { "relay-public-url", 0, 0, G_OPTION_ARG_STRING_ARRAY, &relay_public_urls,
      "Relay URL for peers (repeatable; the first is our relay's instance URL)", "rel(s)://HOST:PORT" },
    { "turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn_hosts, "coturn server for STUN and TURN (repeatable)",
      "HOST:PORT" },
    { "turn-static", 0, 0, G_OPTION_ARG_NONE, &turn_static, "Static TURN credentials from DIR/turn.static", NULL },
    { "turn-ttl", 0, 0, G_OPTION_ARG_INT, &turn_ttl, "Lifetime of TURN credentials (43200)", "S" },
    { "relay-token-ttl", 0, 0, G_OPTION_ARG_INT, &relay_ttl, "Lifetime of relay tokens (43200)", "S" },
    { "mtu", 0, 0, G_OPTION_ARG_INT, &mtu, "PeerConfig.mtu (1280; 0: not sent)", "N" },
    { "map-debounce-ms", 0, 0, G_OPTION_ARG_INT, &debounce, "Delay before pushing a changed map (0)", "N" },
    { "logout-deletes-peer", 0, 0, G_OPTION_ARG_NONE, &logout_deletes, "Logout removes the peer, as NetBird", NULL },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert_file, "TLS certificate (PEM)", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key_file, "TLS private key (PEM)", "FILE" },
    { "tls-self-signed", 0, 0, G_OPTION_ARG_NONE, &tls_self_signed,
      "Make a certificate at start (written to DIR/tls-cert.pem)", NULL },
    { NULL }
  };
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (GTlsCertificate) certificate = NULL;
  g_autoptr (NbGrpcServer) server = NULL;
  g_autoptr (NbDevnetSignal) signal_service = NULL;
  g_autoptr (NbDevnetMgmt) mgmt = NULL;
  g_autoptr (NbRelayServer) relay = NULL;
  g_autoptr (NbDevnetMgmtConfig) config = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *listen_addr = NULL;
  g_autofree char *relay_addr = NULL;
  g_autofree char *grpc_host = NULL;
  g_autofree char *public_host = NULL;
  g_autoptr (GPtrArray) relay_urls = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) ready = g_string_new ("ready");
  guint16 listen_port = 0;
  guint16 relay_port = 0;
  gboolean tls;
  guint sigterm_id, sigint_id;
  int code = 0;

  if (!parse_command ("serve", NULL, "Runs management, signal and relay.", entries, &argc, &argv, &code))
    return code;
  if (listen == NULL)
    {
      g_printerr ("netbird-devnet: serve needs --listen ADDR:PORT\n");
      return 2;
    }
  if ((tls_cert_file == NULL) != (tls_key_file == NULL) || (tls_cert_file && tls_self_signed))
    {
      g_printerr ("netbird-devnet: use --tls-cert with --tls-key, or --tls-self-signed\n");
      return 2;
    }
  if (turn_ttl < 0 || relay_ttl < 0 || mtu < 0 || debounce < 0)
    {
      g_printerr ("netbird-devnet: --turn-ttl, --relay-token-ttl, --mtu and --map-debounce-ms must not be negative\n");
      return 2;
    }
  if (!parse_listen (listen, &listen_addr, &listen_port, &error)
      || (relay_listen && !parse_listen (relay_listen, &relay_addr, &relay_port, &error)))
    return fail ("serve", error);
  tls = tls_cert_file != NULL || tls_self_signed;
  if (public_url != NULL)
    {
      g_autoptr (GUri) uri = g_uri_parse (public_url, G_URI_FLAGS_NONE, &error);

      if (uri == NULL)
        return fail ("--public-url", error);
      if (g_strcmp0 (g_uri_get_scheme (uri), tls ? "https" : "http") != 0 || g_uri_get_host (uri) == NULL)
        {
          g_printerr ("netbird-devnet: --public-url must be %s://HOST:PORT\n", tls ? "https" : "http");
          return 2;
        }
      public_host = g_strdup (g_uri_get_host (uri));
      /* The URL's port is what peers dial (a proxy may sit in front). */
      {
        int port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : (tls ? 443 : 80);
        gboolean v6 = strchr (public_host, ':') != NULL;

        grpc_host = g_strdup_printf ("%s%s%s:%d", v6 ? "[" : "", public_host, v6 ? "]" : "", port);
      }
    }

  state = open_state (&code);
  if (state == NULL)
    return code;
  if (!nb_devnet_state_watch (state, &error))
    return fail ("serve", error);

  if (tls_self_signed)
    {
      g_autofree char *cert_path = g_build_filename (nb_devnet_state_get_dir (state), "tls-cert.pem", NULL);

      certificate = make_self_signed (public_host, cert_path, &error);
      if (certificate == NULL)
        return fail ("--tls-self-signed", error);
    }
  else if (tls_cert_file)
    {
      certificate = g_tls_certificate_new_from_files (tls_cert_file, tls_key_file, &error);
      if (certificate == NULL)
        return fail ("--tls-cert/--tls-key", error);
    }

  /* gRPC: signal and management on one server. */
  server = nb_grpc_server_new (certificate);
  signal_service = nb_devnet_signal_new ();
  nb_devnet_signal_attach (signal_service, server);
  if (!nb_grpc_server_listen (server, listen_addr, listen_port, &error))
    return fail ("cannot listen", error);
  if (grpc_host == NULL)
    {
      g_autofree char *host = url_host (listen_addr);

      grpc_host = g_strdup_printf ("%s:%u", host, nb_grpc_server_get_port (server));
    }

  /* Relay. */
  if (relay_listen)
    {
      GBytes *secret = nb_devnet_state_get_relay_secret (state);
      guint8 key[crypto_hash_sha256_BYTES];
      gsize len;
      const guint8 *data = g_bytes_get_data (secret, &len);

      crypto_hash_sha256 (key, data, len);
      relay = nb_relay_server_new (key, sizeof key, certificate);
      sodium_memzero (key, sizeof key);
      if (relay_public_urls && relay_public_urls[0])
        nb_relay_server_set_instance_url (relay, relay_public_urls[0]);
      if (!nb_relay_server_listen (relay, relay_addr, relay_port, &error))
        return fail ("cannot listen for the relay", error);
      if (!(relay_public_urls && relay_public_urls[0]))
        {
          g_autofree char *host = url_host (relay_addr);

          g_ptr_array_add (relay_urls, g_strdup_printf ("%s://%s:%u", tls ? "rels" : "rel", host,
                                                        nb_relay_server_get_port (relay)));
          nb_relay_server_set_instance_url (relay, relay_urls->pdata[0]);
        }
    }
  for (guint i = 0; relay_public_urls && relay_public_urls[i]; i++)
    g_ptr_array_add (relay_urls, g_strdup (relay_public_urls[i]));
  g_ptr_array_add (relay_urls, NULL);

  config = nb_devnet_mgmt_config_new ();
  config->signal_uri = g_strdup (grpc_host);
  config->signal_tls = tls;
  config->turn_hosts = g_strdupv (turn_hosts);
  config->turn_credentials = turn_static ? NB_DEVNET_TURN_CREDENTIALS_STATIC : NB_DEVNET_TURN_CREDENTIALS_SECRET;
  config->turn_ttl_s = (guint) turn_ttl;
  config->relay_urls = g_strdupv ((char **) relay_urls->pdata);
  config->relay_ttl_s = (guint) relay_ttl;
  config->mtu = mtu;
  config->map_debounce_ms = (guint) debounce;
  config->logout_deletes_peer = logout_deletes;
  mgmt = nb_devnet_mgmt_new (state, config, &error);
  if (mgmt == NULL)
    return fail ("serve", error);
  nb_devnet_mgmt_attach (mgmt, server);

  {
    g_autofree char *host = url_host (listen_addr);
    const char *scheme = tls ? "https" : "http";

    /* Where to dial from this host, then what peers are told. */
    g_string_append_printf (ready, " grpc=%s:%u management-url=%s://%s:%u public-url=%s://%s", host,
                            nb_grpc_server_get_port (server), scheme, host, nb_grpc_server_get_port (server),
                            scheme, grpc_host);
  }
  if (relay)
    {
      g_autofree char *host = url_host (relay_addr);

      g_string_append_printf (ready, " relay=%s:%u relay-url=%s://%s:%u relay-public-url=%s", host,
                              nb_relay_server_get_port (relay), tls ? "rels" : "rel", host,
                              nb_relay_server_get_port (relay), nb_relay_server_get_instance_url (relay));
    }
  if (tls_self_signed)
    g_string_append_printf (ready, " tls-cert=%s/tls-cert.pem", nb_devnet_state_get_dir (state));
  g_message ("serving %u peer(s), serial %" G_GUINT64_FORMAT ": management+signal on %s://%s%s%s",
             nb_devnet_state_get_n_peers (state), nb_devnet_state_get_serial (state), tls ? "https" : "http",
             grpc_host, relay ? ", relay " : "", relay ? nb_relay_server_get_instance_url (relay) : "");
  printf ("%s\n", ready->str);
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  sigterm_id = g_unix_signal_add (SIGTERM, quit_cb, loop);
  sigint_id = g_unix_signal_add (SIGINT, quit_cb, loop);
  g_main_loop_run (loop);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);

  nb_devnet_mgmt_stop (mgmt);
  nb_devnet_signal_stop (signal_service);
  nb_grpc_server_stop (server);
  if (relay)
    nb_relay_server_stop (relay);
  /* Lets the last writes (GOAWAY, CLOSE) go out. */
  nb_main_context_drain (50);
  g_message ("stopped");
  return 0;
}

/* ------------------------------------------------------------------------ */

static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *help;
} commands[] = {
  { "init", cmd_init, "create the state and print a setup key" },
  { "add-setup-key", cmd_add_setup_key, "add a setup key and print it" },
  { "list-setup-keys", cmd_list_setup_keys, "list setup keys (without the keys)" },
  { "list-peers", cmd_list_peers, "list registered peers" },
  { "remove-peer", cmd_remove_peer, "remove a peer (a running server pushes new maps)" },
  { "add-route", cmd_add_route, "route a network through a peer (a running server pushes new maps)" },
  { "remove-route", cmd_remove_route, "remove the routes of a network" },
  { "list-routes", cmd_list_routes, "list routes" },
  { "set-turn-static", cmd_set_turn_static, "store a static TURN user (password from stdin)" },
  { "serve", cmd_serve, "run management, signal and relay" },
};

int
main (int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_state_dir, "State directory (required)", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Debug logging", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("COMMAND [OPTIONS]");
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) description = g_string_new ("Commands:\n");
  int code;

  /* stdout is for scripts (keys, the ready line); every log goes to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);
  nb_sodium_init ();

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (description, "  %-16s %s\n", commands[i].name, commands[i].help);
  g_string_append (description, "\n`netbird-devnet --state-dir DIR COMMAND --help` shows a command's options.\n");
  g_option_context_set_summary (context, "The local NetBird control plane (management, signal, relay) for "
                                         "the demo and tests. Not a NetBird replacement.");
  g_option_context_set_description (context, description->str);
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_strict_posix (context, TRUE); /* stop at the command */
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);
  if (argc < 2)
    return usage_error (context, "no command given");
  if (opt_state_dir == NULL)
    return usage_error (context, "--state-dir is required");
  if (opt_verbose)
    g_log_set_debug_enabled (TRUE);

  code = -1;
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      {
        /* The command's own argv: argv[0] = the command name. */
        code = commands[i].run (argc - 1, argv + 1);
        break;
      }
  if (code < 0)
    {
      g_autofree char *msg = g_strdup_printf ("unknown command \"%s\"", argv[1]);

      code = usage_error (context, msg);
    }
  g_free (opt_state_dir);
  return code;
}
