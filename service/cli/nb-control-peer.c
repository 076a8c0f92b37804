/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb-control-peer: one NetBird peer's control plane, and nothing else - a
 * debugging and test tool (not installed). It logs in to management, follows
 * the network map, registers with signal and, on request, runs one
 * offer/answer/candidate exchange with another peer and an echo through the
 * relay. The engine CLI grows from it.
 *
 * Usage: nb-control-peer --management URL --state-dir DIR [OPTIONS]
 *
 *   --management URL       http(s)://host:port of management
 *   --state-dir DIR        DIR/wg-private.key is our identity: created (0600)
 *                          on the first run, reused afterwards
 *   --setup-key-file FILE  the setup key (registration), read from FILE;
 *                          without it the peer must already be registered
 *   --hostname NAME        hostname sent to management (default: ours)
 *   --signal URL           signal server instead of management's
 *                          (http(s)://host:port)
 *   --relay URL            relay server instead of management's first one
 *                          (rel(s)://host:port; the token stays management's)
 *   --tls-ca FILE          trust these CA certificates (PEM) for https:// and
 *                          rels:// instead of the system's
 *   --peer KEY             the peer to exchange with (default: the first
 *                          other peer of the network map)
 *   --exchange             offer/answer/candidates with that peer
 *   --relay-echo N         then N numbered payloads through the relay, each
 *                          echoed back by the other side (implies
 *                          --exchange; both sides need the same options)
 *   --wg-port N            WireGuard port announced in offers (51820)
 *   --timeout S            give up after S seconds (60)
 *   -v, --verbose          debug logging (stderr)
 *
 * The exchange follows NetBird's roles: the controller is the side whose key
 * string is greater (nb_wg_key_string_compare). It sends an OFFER (random ICE
 * ufrag/pwd, a session ID, our WireGuard port, version, the relay instance
 * URL), again after 250 ms, 500 ms, then every second until an ANSWER
 * arrives; the other side answers every offer and sends its CANDIDATE (a
 * host candidate) with each answer; the controller sends its CANDIDATE on
 * the first answer. Each side checks what it received: the sender is the
 * chosen peer (anything else - forged, for someone else, from unknown keys -
 * is counted and dropped), ufrag and pwd have ICE lengths, repeated
 * offers/answers/candidates are identical, the candidate carries the
 * session ID of its sender's offer/answer and, with --relay-echo, both are
 * on the same relay.
 *
 * The relay echo opens a virtual connection to the peer over our relay
 * connection (management's relay and token) and sends N payloads
 * ("P" + magic + number + random bytes of varying length) with at most 16
 * in flight; the other side returns each as "E" with the same bytes. Lost
 * payloads (the peer was not on the relay yet) are sent again after 250 ms.
 * Every echo must match what was sent byte for byte. A side whose N echoes
 * all came back says so ("D") until it exits; each side exits once it and
 * its peer are done (after 500 ms more to serve late retransmissions).
 *
 * stdout: one JSON object per line and event ({"event": NAME, "t_ms": ms
 * since start, ...}): identity, logged-in, map, signal-ready,
 * signal-disconnected/-reconnected, management-disconnected/-reconnected,
 * config-changed, relay-connected/-disconnected, peer-selected,
 * offer-sent/-received, answer-sent/-received, candidate-sent/-received,
 * exchange-done, relay-echo-start, relay-echo-done, relay-echo-peer-done,
 * signal-stats, done, error. No secret is ever printed: ICE passwords appear
 * as `pwd_digest` (first 8 bytes of BLAKE2b, hex) so that both sides can be
 * compared. Logs go to stderr.
 *
 * Exit status: 0 when everything requested succeeded (last line "done"), 1
 * after an "error" line (failure or timeout), 2 for bad usage.
 */
#define G_LOG_DOMAIN "nb-control-peer"

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "drain.h"
#include "json-out.h"
#include "mgmt-client.h"
#include "nb-sodium.h"
#include "network-map.h"
#include "relay-client.h"
#include "signal-client.h"
#include "signal-msg.h"
#include "wg-key.h"

#define KEY_FILE_NAME        "wg-private.key"
#define OFFER_INTERVAL_MS    1000
#define ECHO_TICK_MS         250
#define ECHO_WINDOW          16
#define ECHO_LINGER_MS       500
#define ECHO_HEADER_LEN      10
#define ECHO_MAGIC           "ncp"
#define UFRAG_LEN            16
#define PWD_LEN              32
#define MAX_SETUP_KEY_FILE   4096

/* ------------------------------------------------------------------------ */
/* Options */

static char *opt_management;
static char *opt_state_dir;
static char *opt_setup_key_file;
static char *opt_hostname;
static char *opt_signal;
static char *opt_relay;
static char *opt_tls_ca;
static char *opt_peer;
static gboolean opt_exchange;
static gint opt_relay_echo;
static gint opt_wg_port = 51820;
static gint opt_timeout = 60;
static gboolean opt_verbose;

static const GOptionEntry option_entries[] = {
  { "management", 0, 0, G_OPTION_ARG_STRING, &opt_management, "Management URL (required)", "URL" },
  { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_state_dir, "State directory (required)", "DIR" },
  { "setup-key-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_setup_key_file, "File holding the setup key", "FILE" },
  { "hostname", 0, 0, G_OPTION_ARG_STRING, &opt_hostname, "Hostname sent to management", "NAME" },
  { "signal", 0, 0, G_OPTION_ARG_STRING, &opt_signal, "Signal URL instead of management's", "URL" },
  { "relay", 0, 0, G_OPTION_ARG_STRING, &opt_relay, "Relay URL instead of management's", "URL" },
  { "tls-ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_tls_ca, "CA certificates (PEM) to trust", "FILE" },
  { "peer", 0, 0, G_OPTION_ARG_STRING, &opt_peer, "Key of the peer to exchange with", "KEY" },
  { "exchange", 0, 0, G_OPTION_ARG_NONE, &opt_exchange, "Offer/answer/candidates with the peer", NULL },
  { "relay-echo", 0, 0, G_OPTION_ARG_INT, &opt_relay_echo, "Echo N payloads through the relay", "N" },
  { "wg-port", 0, 0, G_OPTION_ARG_INT, &opt_wg_port, "WireGuard port announced (51820)", "N" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "Give up after S seconds (60)", "S" },
  { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Debug logging on stderr", NULL },
  { NULL }
};

/* ------------------------------------------------------------------------ */
/* State */

typedef struct {
  GBytes *payload;    /* kind 'P' */
  gint64 first_us;
  gint64 last_us;
  guint transmissions;
  gboolean echoed;
} Ping;

typedef struct {
  GMainLoop *loop;
  gboolean finished;
  int exit_code;
  guint timeout_id;

  NbWgKey private_key;
  char *public_key;
  GTlsDatabase *tls_database;

  NbMgmtClient *mgmt;
  gboolean logged_in;
  gboolean have_map;
  char *signal_url;

  NbSignalClient *signal;
  gboolean signal_ready;
  guint pending_sends;
  guint64 ignored;       /* opened, but not from the chosen peer / unexpected */

  NbRelayClient *relay;
  char *relay_url;
  char *relay_instance;

  /* The exchange */
  char *remote_key;
  gboolean controller;
  char *ufrag;
  char *pwd;             /* ICE password: never printed */
  guint8 session_id[NB_SIGNAL_SESSION_ID_LEN];
  char *candidate;       /* our candidate line */
  gboolean exchange_started;
  guint offer_timer;
  guint offers_sent;
  guint answers_sent;
  guint answers_delivered;
  gboolean candidate_sent;
  gboolean candidate_sending;
  NbSignalOffer *remote_offer;    /* their OFFER (we answer) or ANSWER */
  NbSignalMessage *pending_offer; /* an offer that came before we were ready */
  char *remote_candidate;
  gboolean remote_candidate_has_session;
  guint8 remote_candidate_session[NB_SIGNAL_SESSION_ID_LEN];
  gboolean exchange_done;

  /* The relay echo */
  NbRelayConn *conn;
  gboolean echo_started;
  Ping *pings;
  guint next_ping;
  guint in_flight;
  guint n_echoed;
  guint retransmissions;
  GHashTable *served;    /* seq numbers of the peer's payloads we echoed */
  guint64 served_total;
  guint64 bad_payloads;
  double rtt_sum_ms;
  double rtt_max_ms;
  double rtt_min_ms;
  gint64 echo_start_us;
  guint echo_timer;
  gboolean echo_done;
  gboolean peer_done;
  guint linger_id;
  gboolean linger_done;
} Peer;

static void maybe_finish (Peer *p);
static void maybe_start_exchange (Peer *p);
static void maybe_start_echo (Peer *p);
static void handle_offer (Peer *p, const NbSignalMessage *msg);

/* Ends the run: @message (nullable) becomes the error line. */
static void G_GNUC_PRINTF (3, 4)
finish (Peer *p, int code, const char *format, ...)
{
  GString *s;

  if (p->finished)
    return;
  p->finished = TRUE;
  p->exit_code = code;
  if (format)
    {
      va_list ap;
      g_autofree char *message = NULL;

      va_start (ap, format);
      message = g_strdup_vprintf (format, ap);
      va_end (ap);
      s = ev_begin ("error");
      ev_str (s, "message", message);
      ev_end (s);
    }
  if (p->signal)
    {
      s = ev_begin ("signal-stats");
      ev_int (s, "dropped", (gint64) nb_signal_client_get_dropped_count (p->signal));
      ev_int (s, "ignored", (gint64) p->ignored);
      ev_end (s);
    }
  if (code == 0)
    ev_end (ev_begin ("done"));
  g_main_loop_quit (p->loop);
}

static const char *
missing_step (Peer *p)
{
  if (!p->logged_in)
    return "the login";
  if (!p->have_map)
    return "the network map";
  if (!p->signal_ready)
    return "signal registration";
  if (opt_relay_echo > 0 && p->relay_instance == NULL)
    return "the relay connection";
  if (opt_exchange && p->remote_key == NULL)
    return "another peer in the network map";
  if (opt_exchange && !p->exchange_done)
    {
      if (p->remote_offer == NULL)
        return p->controller ? "the answer" : "the offer";
      if (p->remote_candidate == NULL)
        return "the peer's candidate";
      return "our candidate to be sent";
    }
  if (opt_relay_echo > 0 && !p->echo_done)
    return "the relay echoes";
  if (opt_relay_echo > 0 && !p->peer_done)
    return "the peer to finish its relay echo";
  return "pending sends";
}

static gboolean
timeout_cb (gpointer data)
{
  Peer *p = data;

  p->timeout_id = 0;
  if (opt_relay_echo > 0 && p->echo_started && !p->echo_done)
    finish (p, 1, "timed out after %d s waiting for %s (%u of %d echoed)", opt_timeout, missing_step (p),
            p->n_echoed, opt_relay_echo);
  else
    finish (p, 1, "timed out after %d s waiting for %s", opt_timeout, missing_step (p));
  return G_SOURCE_REMOVE;
}

static gboolean
quit_signal_cb (gpointer data)
{
  finish (data, 1, "interrupted");
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Identity and setup key */

static gboolean
load_identity (Peer *p, GError **error)
{
  g_autofree char *path = g_build_filename (opt_state_dir, KEY_FILE_NAME, NULL);
  g_autoptr (GError) local = NULL;
  gboolean created = FALSE;
  NbWgKey pub = NB_WG_KEY_INIT;
  GString *s;

  if (g_mkdir_with_parents (opt_state_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create %s: %s", opt_state_dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (!nb_wg_key_load_private_file (path, &p->private_key, &local))
    {
      if (!g_error_matches (local, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_NOT_FOUND))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", path);
          return FALSE;
        }
      nb_wg_key_generate_private (&p->private_key);
      if (!nb_wg_key_save_private_file (path, &p->private_key, error))
        return FALSE;
      created = TRUE;
    }
  nb_wg_key_derive_public (&p->private_key, &pub);
  p->public_key = nb_wg_key_to_base64 (&pub);
  s = ev_begin ("identity");
  ev_str (s, "key", p->public_key);
  ev_bool (s, "created", created);
  ev_end (s);
  return TRUE;
}

/* Reads the setup key into a buffer the caller wipes. */
static char *
read_setup_key (const char *path, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *contents = NULL;
  gsize len = 0;
  char *key;

  if (!g_file_get_contents (path, &contents, &len, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read the setup key file: %s", local->message);
      return NULL;
    }
  if (len > MAX_SETUP_KEY_FILE)
    {
      sodium_memzero (contents, len);
      g_free (contents);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the setup key file %s is too large", path);
      return NULL;
    }
  key = g_strdup (g_strstrip (contents));
  sodium_memzero (contents, len);
  g_free (contents);
  if (*key == '\0')
    {
      g_free (key);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the setup key file %s is empty", path);
      return NULL;
    }
  return key;
}

/* ------------------------------------------------------------------------ */
/* Random ICE credentials and candidate */

static char *
random_letters (guint n)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  char *s = g_malloc (n + 1);

  for (guint i = 0; i < n; i++)
    s[i] = alphabet[randombytes_uniform (sizeof alphabet - 1)];
  s[n] = '\0';
  return s;
}

/* Lets both sides compare ICE passwords without printing them. */
static char *
pwd_digest (const char *pwd)
{
  guint8 digest[8];

  crypto_generichash (digest, sizeof digest, (const guint8 *) (pwd ? pwd : ""), pwd ? strlen (pwd) : 0, NULL, 0);
  return g_strdup_printf ("%02x%02x%02x%02x%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3],
                          digest[4], digest[5], digest[6], digest[7]);
}

static char *
session_hex (gboolean has, const guint8 *id)
{
  if (!has)
    return NULL;
  return g_strdup_printf ("%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3], id[4]);
}

static gboolean
make_credentials (Peer *p, GError **error)
{
  g_autoptr (NbSignalCandidate) c = nb_signal_candidate_new ();

  p->ufrag = random_letters (UFRAG_LEN);
  p->pwd = random_letters (PWD_LEN);
  randombytes_buf (p->session_id, sizeof p->session_id);
  c->foundation = g_strdup_printf ("%u", randombytes_uniform (G_MAXINT32));
  c->component = 1;
  c->priority = 2130706431;
  c->address = g_strdup ("127.0.0.1");
  c->port = (guint16) (49152 + randombytes_uniform (16384));
  c->type = NB_SIGNAL_CANDIDATE_HOST;
  p->candidate = nb_signal_candidate_to_string (c, error);
  return p->candidate != NULL;
}

/* ------------------------------------------------------------------------ */
/* Signal: sending */

typedef struct {
  Peer *peer;
  NbSignalMsgType type;
  guint attempt;
} SendCtx;

static void
print_offer (const char *event, const char *key_name, const char *key, const NbSignalOffer *o, guint n)
{
  GString *s = ev_begin (event);
  g_autofree char *digest = pwd_digest (o->pwd);
  g_autofree char *session = session_hex (o->has_session_id, o->session_id);

  ev_str (s, key_name, key);
  ev_str (s, "ufrag", o->ufrag);
  ev_str (s, "pwd_digest", digest);
  ev_int (s, "wg_port", o->wg_listen_port);
  ev_str (s, "version", o->version);
  ev_str (s, "relay", o->relay_server_address);
  ev_str (s, "session", session);
  ev_int (s, "n", n);
  ev_end (s);
}

static NbSignalOffer *
our_offer (Peer *p)
{
  NbSignalOffer *o = nb_signal_offer_new ();

  o->ufrag = g_strdup (p->ufrag);
  o->pwd = g_strdup (p->pwd);
  o->wg_listen_port = (guint16) opt_wg_port;
  o->version = g_strdup (PACKAGE_VERSION);
  o->relay_server_address = g_strdup (p->relay_instance);
  o->has_session_id = TRUE;
  memcpy (o->session_id, p->session_id, sizeof p->session_id);
  return o;
}

static void check_exchange_done (Peer *p);

static void
send_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  SendCtx *ctx = data;
  Peer *p = ctx->peer;
  g_autoptr (GError) error = NULL;
  gboolean ok = nb_signal_client_send_finish (NULL, result, &error);
  NbSignalMsgType type = ctx->type;
  guint attempt = ctx->attempt;

  g_free (ctx);
  p->pending_sends--;
  if (p->finished)
    return;
  if (!ok)
    {
      /* A lost offer is sent again by the timer (or on reconnect). */
      if (type == NB_SIGNAL_MSG_OFFER)
        {
          GString *s = ev_begin ("offer-failed");

          ev_str (s, "reason", error->message);
          ev_end (s);
          return;
        }
      finish (p, 1, "sending the %s to %s failed: %s", nb_signal_msg_type_to_string (type), p->remote_key,
              error->message);
      return;
    }
  switch (type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
      {
        g_autoptr (NbSignalOffer) o = our_offer (p);

        print_offer (type == NB_SIGNAL_MSG_OFFER ? "offer-sent" : "answer-sent", "to", p->remote_key, o, attempt);
        if (type == NB_SIGNAL_MSG_ANSWER)
          p->answers_delivered++;
        break;
      }
    case NB_SIGNAL_MSG_CANDIDATE:
      {
        GString *s = ev_begin ("candidate-sent");
        g_autofree char *session = session_hex (TRUE, p->session_id);

        ev_str (s, "to", p->remote_key);
        ev_str (s, "candidate", p->candidate);
        ev_str (s, "session", session);
        ev_end (s);
        p->candidate_sent = TRUE;
        p->candidate_sending = FALSE;
        break;
      }
    default:
      break;
    }
  check_exchange_done (p);
  maybe_finish (p);
}

static void
send_message (Peer *p, NbSignalMessage *msg, guint attempt)
{
  SendCtx *ctx = g_new0 (SendCtx, 1);

  ctx->peer = p;
  ctx->type = msg->type;
  ctx->attempt = attempt;
  p->pending_sends++;
  nb_signal_client_send_async (p->signal, p->remote_key, msg, NULL, send_done_cb, ctx);
}

static void
send_offer_or_answer (Peer *p, NbSignalMsgType type, guint attempt)
{
  g_autoptr (NbSignalMessage) msg = nb_signal_message_new_offer (type, our_offer (p));

  send_message (p, msg, attempt);
}

static void
send_candidate (Peer *p)
{
  g_autoptr (GError) error = NULL;
  NbSignalCandidate *c = nb_signal_candidate_parse (p->candidate, &error);
  g_autoptr (NbSignalMessage) msg = NULL;

  if (c == NULL)
    {
      finish (p, 1, "our candidate does not parse: %s", error->message);
      return;
    }
  msg = nb_signal_message_new_candidate (c);
  msg->has_session_id = TRUE;
  memcpy (msg->session_id, p->session_id, sizeof p->session_id);
  p->candidate_sending = TRUE;
  send_message (p, msg, 1);
}

/* Re-offers until answered: 250 ms, 500 ms, then every second (the peer
 * may not have registered with signal, or seen us in its map, yet). */
static guint
offer_interval (guint offers_sent)
{
  return offers_sent >= 3 ? OFFER_INTERVAL_MS : OFFER_INTERVAL_MS >> (3 - MAX (offers_sent, 1));
}

static gboolean
offer_timer_cb (gpointer data)
{
  Peer *p = data;

  p->offer_timer = 0;
  if (p->remote_offer != NULL || p->finished)
    return G_SOURCE_REMOVE;
  if (nb_signal_client_is_connected (p->signal))
    send_offer_or_answer (p, NB_SIGNAL_MSG_OFFER, ++p->offers_sent);
  p->offer_timer = g_timeout_add (offer_interval (p->offers_sent), offer_timer_cb, p);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* Signal: receiving and checking */

/* ICE (RFC 8445): ufrag at least 4, pwd at least 22 characters. */
static gboolean
check_offer (Peer *p, const NbSignalMessage *msg)
{
  const NbSignalOffer *o = msg->offer;
  const char *what = nb_signal_msg_type_to_string (msg->type);

  if (o == NULL || strlen (o->ufrag) < 4 || strlen (o->pwd) < 22)
    {
      finish (p, 1, "%s from %s has no usable ICE credentials", what, msg->sender_key);
      return FALSE;
    }
  if (o->wg_listen_port == 0)
    {
      finish (p, 1, "%s from %s has no WireGuard port", what, msg->sender_key);
      return FALSE;
    }
  if (o->version[0] == '\0')
    {
      finish (p, 1, "%s from %s has no version", what, msg->sender_key);
      return FALSE;
    }
  if (!o->has_session_id)
    {
      finish (p, 1, "%s from %s has no session ID", what, msg->sender_key);
      return FALSE;
    }
  if (opt_relay_echo > 0 && g_strcmp0 (o->relay_server_address, p->relay_instance) != 0)
    {
      finish (p, 1, "%s from %s names relay %s, we are on %s (foreign relays are not supported here)", what,
              msg->sender_key, o->relay_server_address ? o->relay_server_address : "(none)", p->relay_instance);
      return FALSE;
    }
  if (p->remote_offer != NULL
      && (strcmp (p->remote_offer->ufrag, o->ufrag) != 0 || strcmp (p->remote_offer->pwd, o->pwd) != 0
          || memcmp (p->remote_offer->session_id, o->session_id, NB_SIGNAL_SESSION_ID_LEN) != 0))
    {
      finish (p, 1, "%s from %s differs from its first one (new ICE session)", what, msg->sender_key);
      return FALSE;
    }
  return TRUE;
}

static void
check_exchange_done (Peer *p)
{
  GString *s;

  if (p->exchange_done || p->finished || p->remote_offer == NULL || p->remote_candidate == NULL
      || !p->candidate_sent || (!p->controller && p->answers_delivered == 0))
    return;
  if (!p->remote_candidate_has_session
      || memcmp (p->remote_candidate_session, p->remote_offer->session_id, NB_SIGNAL_SESSION_ID_LEN) != 0)
    {
      finish (p, 1, "the candidate of %s does not carry the session ID of its %s", p->remote_key,
              p->controller ? "answer" : "offer");
      return;
    }
  p->exchange_done = TRUE;
  s = ev_begin ("exchange-done");
  ev_str (s, "peer", p->remote_key);
  ev_str (s, "role", p->controller ? "controller" : "controlled");
  ev_str (s, "local_ufrag", p->ufrag);
  ev_str (s, "remote_ufrag", p->remote_offer->ufrag);
  ev_end (s);
  maybe_start_echo (p);
}

static void
handle_offer (Peer *p, const NbSignalMessage *msg)
{
  if (!check_offer (p, msg))
    return;
  if (p->remote_offer == NULL)
    p->remote_offer = nb_signal_offer_copy (msg->offer);
  print_offer ("offer-received", "from", msg->sender_key, msg->offer, p->answers_sent + 1);
  send_offer_or_answer (p, NB_SIGNAL_MSG_ANSWER, ++p->answers_sent);
  /* A candidate with every answer: a re-offer after a lost one recovers. */
  send_candidate (p);
}

static void
handle_answer (Peer *p, const NbSignalMessage *msg)
{
  gboolean first = p->remote_offer == NULL;

  if (!check_offer (p, msg))
    return;
  if (!first)
    return; /* an answer to a repeated offer: identical, nothing to do */
  p->remote_offer = nb_signal_offer_copy (msg->offer);
  print_offer ("answer-received", "from", msg->sender_key, msg->offer, 1);
  g_clear_handle_id (&p->offer_timer, g_source_remove);
  send_candidate (p);
}

static void
handle_candidate (Peer *p, const NbSignalMessage *msg)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = nb_signal_candidate_to_string (msg->candidate, &error);
  g_autofree char *session = session_hex (msg->has_session_id, msg->session_id);
  GString *s;

  if (line == NULL)
    {
      finish (p, 1, "unusable candidate from %s: %s", msg->sender_key, error->message);
      return;
    }
  if (p->remote_candidate != NULL)
    {
      if (strcmp (p->remote_candidate, line) != 0 || p->remote_candidate_has_session != msg->has_session_id
          || memcmp (p->remote_candidate_session, msg->session_id, NB_SIGNAL_SESSION_ID_LEN) != 0)
        finish (p, 1, "%s sent a different candidate", msg->sender_key);
      return;
    }
  p->remote_candidate = g_steal_pointer (&line);
  p->remote_candidate_has_session = msg->has_session_id;
  memcpy (p->remote_candidate_session, msg->session_id, NB_SIGNAL_SESSION_ID_LEN);
  s = ev_begin ("candidate-received");
  ev_str (s, "from", msg->sender_key);
  ev_str (s, "candidate", p->remote_candidate);
  ev_str (s, "session", session);
  ev_end (s);
  check_exchange_done (p);
}

static gboolean
ready_to_exchange (Peer *p)
{
  return opt_exchange && p->remote_key != NULL && p->signal_ready && p->candidate != NULL
         && (opt_relay_echo == 0 || p->relay_instance != NULL);
}

static void
on_signal_message (NbSignalClient *client, const NbSignalMessage *msg, gpointer data)
{
  Peer *p = data;

  if (p->finished)
    return;
  if (!opt_exchange || p->remote_key == NULL || g_strcmp0 (msg->sender_key, p->remote_key) != 0)
    {
      /* Not the peer we talk to (unknown key, not in the map yet): NetBird
       * drops these too. The controller re-offers, so nothing is lost. */
      g_debug ("ignoring %s from %s", nb_signal_msg_type_to_string (msg->type), msg->sender_key);
      p->ignored++;
      return;
    }
  switch (msg->type)
    {
    case NB_SIGNAL_MSG_OFFER:
      if (p->controller)
        {
          finish (p, 1, "%s sent an OFFER, but we are the controller", msg->sender_key);
          return;
        }
      if (!ready_to_exchange (p))
        {
          /* E.g. the relay is not connected yet: answer once it is. */
          g_clear_pointer (&p->pending_offer, nb_signal_message_free);
          p->pending_offer = nb_signal_message_copy (msg);
          return;
        }
      handle_offer (p, msg);
      break;
    case NB_SIGNAL_MSG_ANSWER:
      if (!p->controller)
        {
          finish (p, 1, "%s sent an ANSWER, but it is the controller", msg->sender_key);
          return;
        }
      if (p->offers_sent == 0)
        {
          p->ignored++; /* not an answer to anything we sent */
          return;
        }
      handle_answer (p, msg);
      break;
    case NB_SIGNAL_MSG_CANDIDATE:
      handle_candidate (p, msg);
      break;
    default:
      p->ignored++;
      break;
    }
}

static void
maybe_start_exchange (Peer *p)
{
  if (p->finished || !ready_to_exchange (p))
    return;
  if (p->controller)
    {
      if (p->exchange_started)
        return;
      p->exchange_started = TRUE;
      send_offer_or_answer (p, NB_SIGNAL_MSG_OFFER, ++p->offers_sent);
      p->offer_timer = g_timeout_add (offer_interval (p->offers_sent), offer_timer_cb, p);
    }
  else
    {
      p->exchange_started = TRUE;
      if (p->pending_offer)
        {
          g_autoptr (NbSignalMessage) msg = g_steal_pointer (&p->pending_offer);

          handle_offer (p, msg);
        }
    }
}

static void
on_signal_ready (NbSignalClient *client, gpointer data)
{
  Peer *p = data;
  GString *s = ev_begin ("signal-ready");

  ev_str (s, "url", p->signal_url);
  ev_end (s);
  p->signal_ready = TRUE;
  maybe_start_exchange (p);
  maybe_finish (p);
}

static void
on_signal_reconnected (NbSignalClient *client, gpointer data)
{
  Peer *p = data;

  ev_end (ev_begin ("signal-reconnected"));
  /* NetBird's guard re-offers when signal comes back. */
  if (p->controller && p->exchange_started && p->remote_offer == NULL && !p->finished)
    send_offer_or_answer (p, NB_SIGNAL_MSG_OFFER, ++p->offers_sent);
}

static void
on_signal_disconnected (NbSignalClient *client, const GError *reason, gpointer data)
{
  GString *s = ev_begin ("signal-disconnected");

  ev_str (s, "reason", reason ? reason->message : NULL);
  ev_end (s);
}

/* ------------------------------------------------------------------------ */
/* Relay echo */

static GBytes *
make_ping (guint seq)
{
  gsize len = 32 + (seq * 131u) % 1024;
  guint8 *buf = g_malloc (ECHO_HEADER_LEN + len);

  buf[0] = 'P';
  memcpy (buf + 1, ECHO_MAGIC, 3);
  buf[4] = (guint8) (seq >> 24);
  buf[5] = (guint8) (seq >> 16);
  buf[6] = (guint8) (seq >> 8);
  buf[7] = (guint8) seq;
  buf[8] = (guint8) (len >> 8);
  buf[9] = (guint8) len;
  randombytes_buf (buf + ECHO_HEADER_LEN, len);
  return g_bytes_new_take (buf, ECHO_HEADER_LEN + len);
}

/* Kind and number of a well-formed echo payload. */
static gboolean
parse_payload (GBytes *payload, char *out_kind, guint32 *out_seq)
{
  gsize len;
  const guint8 *b = g_bytes_get_data (payload, &len);

  if (len < ECHO_HEADER_LEN || memcmp (b + 1, ECHO_MAGIC, 3) != 0
      || ((gsize) b[8] << 8 | b[9]) != len - ECHO_HEADER_LEN)
    return FALSE;
  *out_kind = (char) b[0];
  *out_seq = (guint32) b[4] << 24 | (guint32) b[5] << 16 | (guint32) b[6] << 8 | b[7];
  return TRUE;
}

static void
relay_send (Peer *p, GBytes *payload)
{
  g_autoptr (GError) error = NULL;

  if (p->conn == NULL || !nb_relay_conn_is_open (p->conn))
    return; /* the retransmission timer tries again */
  if (!nb_relay_conn_send (p->conn, payload, &error))
    g_debug ("relay send failed: %s", error->message);
}

static void
send_done_marker (Peer *p)
{
  guint8 buf[ECHO_HEADER_LEN] = { 'D', 'n', 'c', 'p' };
  g_autoptr (GBytes) payload = NULL;
  guint32 n = (guint32) opt_relay_echo;

  buf[4] = (guint8) (n >> 24);
  buf[5] = (guint8) (n >> 16);
  buf[6] = (guint8) (n >> 8);
  buf[7] = (guint8) n;
  payload = g_bytes_new (buf, sizeof buf);
  relay_send (p, payload);
}

static void
transmit_ping (Peer *p, guint seq)
{
  Ping *ping = &p->pings[seq];
  gint64 now = g_get_monotonic_time ();

  if (ping->transmissions == 0)
    ping->first_us = now;
  else
    p->retransmissions++;
  ping->transmissions++;
  ping->last_us = now;
  relay_send (p, ping->payload);
}

static void
fill_window (Peer *p)
{
  while (p->in_flight < ECHO_WINDOW && p->next_ping < (guint) opt_relay_echo)
    {
      transmit_ping (p, p->next_ping++);
      p->in_flight++;
    }
}

static gboolean
linger_cb (gpointer data)
{
  Peer *p = data;

  p->linger_id = 0;
  p->linger_done = TRUE;
  maybe_finish (p);
  return G_SOURCE_REMOVE;
}

static void
check_echo_complete (Peer *p)
{
  if (p->echo_done && p->peer_done && p->linger_id == 0 && !p->linger_done)
    p->linger_id = g_timeout_add (ECHO_LINGER_MS, linger_cb, p);
}

static gboolean
echo_tick_cb (gpointer data)
{
  Peer *p = data;
  gint64 now = g_get_monotonic_time ();

  if (p->echo_done)
    {
      send_done_marker (p);
      return G_SOURCE_CONTINUE;
    }
  for (guint i = 0; i < p->next_ping; i++)
    if (!p->pings[i].echoed && now - p->pings[i].last_us >= ECHO_TICK_MS * 1000)
      transmit_ping (p, i);
  return G_SOURCE_CONTINUE;
}

static void
on_echo_payload (Peer *p, guint32 seq, GBytes *payload)
{
  Ping *ping;
  gsize len, sent_len;
  const guint8 *got = g_bytes_get_data (payload, &len);
  const guint8 *sent;
  double rtt;

  if (seq >= (guint32) opt_relay_echo || seq >= p->next_ping)
    {
      finish (p, 1, "echo of payload %u that was never sent", seq);
      return;
    }
  ping = &p->pings[seq];
  sent = g_bytes_get_data (ping->payload, &sent_len);
  if (len != sent_len || memcmp (got + 1, sent + 1, len - 1) != 0)
    {
      finish (p, 1, "echo of payload %u came back altered (%zu bytes, sent %zu)", seq, len, sent_len);
      return;
    }
  if (ping->echoed)
    return; /* echo of a retransmission */
  ping->echoed = TRUE;
  p->in_flight--;
  p->n_echoed++;
  rtt = (g_get_monotonic_time () - ping->last_us) / 1000.0;
  p->rtt_sum_ms += rtt;
  p->rtt_max_ms = MAX (p->rtt_max_ms, rtt);
  p->rtt_min_ms = p->n_echoed == 1 ? rtt : MIN (p->rtt_min_ms, rtt);
  if (p->n_echoed < (guint) opt_relay_echo)
    {
      fill_window (p);
      return;
    }
  {
    GString *s = ev_begin ("relay-echo-done");

    ev_str (s, "peer", p->remote_key);
    ev_int (s, "count", p->n_echoed);
    ev_double (s, "rtt_ms_avg", p->rtt_sum_ms / p->n_echoed);
    ev_double (s, "rtt_ms_min", p->rtt_min_ms);
    ev_double (s, "rtt_ms_max", p->rtt_max_ms);
    ev_double (s, "elapsed_ms", (g_get_monotonic_time () - p->echo_start_us) / 1000.0);
    ev_int (s, "retransmissions", p->retransmissions);
    ev_end (s);
  }
  p->echo_done = TRUE;
  send_done_marker (p);
  check_echo_complete (p);
}

static void
on_relay_conn_message (NbRelayConn *conn, GBytes *payload, gpointer data)
{
  Peer *p = data;
  char kind = 0;
  guint32 seq = 0;

  if (p->finished)
    return;
  if (!parse_payload (payload, &kind, &seq))
    {
      p->bad_payloads++;
      g_debug ("malformed relay payload (%zu bytes) from the peer", g_bytes_get_size (payload));
      return;
    }
  switch (kind)
    {
    case 'P':
      {
        gsize len = 0;
        const guint8 *bytes = g_bytes_get_data (payload, &len);
        guint8 *copy = g_memdup2 (bytes, len);
        g_autoptr (GBytes) echo = NULL;

        copy[0] = 'E';
        echo = g_bytes_new_take (copy, len);
        relay_send (p, echo);
        p->served_total++;
        g_hash_table_add (p->served, GUINT_TO_POINTER (seq + 1));
        break;
      }
    case 'E':
      on_echo_payload (p, seq, payload);
      break;
    case 'D':
      if (!p->peer_done)
        {
          GString *s = ev_begin ("relay-echo-peer-done");

          p->peer_done = TRUE;
          ev_str (s, "peer", p->remote_key);
          ev_int (s, "count", seq);
          ev_int (s, "served", g_hash_table_size (p->served));
          ev_int (s, "served_total", (gint64) p->served_total);
          ev_end (s);
          check_echo_complete (p);
        }
      break;
    default:
      p->bad_payloads++;
      break;
    }
}

static void open_relay_conn (Peer *p);

static void
on_relay_conn_closed (NbRelayConn *conn, const GError *reason, gpointer data)
{
  Peer *p = data;
  GString *s = ev_begin ("relay-conn-closed");

  ev_str (s, "reason", reason ? reason->message : NULL);
  ev_end (s);
  if (p->conn == conn)
    {
      g_signal_handlers_disconnect_by_data (p->conn, p);
      g_clear_object (&p->conn);
    }
  /* Reopened on the next "connected"; retransmissions cover the gap. */
  if (nb_relay_client_is_connected (p->relay))
    open_relay_conn (p);
}

static void
open_relay_conn (Peer *p)
{
  g_autoptr (GError) error = NULL;

  if (p->conn != NULL || p->finished)
    return;
  p->conn = nb_relay_client_open_conn (p->relay, p->remote_key, &error);
  if (p->conn == NULL)
    {
      finish (p, 1, "cannot open a relay connection to %s: %s", p->remote_key, error->message);
      return;
    }
  g_signal_connect (p->conn, "message", G_CALLBACK (on_relay_conn_message), p);
  g_signal_connect (p->conn, "closed", G_CALLBACK (on_relay_conn_closed), p);
}

static void
maybe_start_echo (Peer *p)
{
  GString *s;

  if (opt_relay_echo <= 0 || p->echo_started || !p->exchange_done || p->finished
      || !nb_relay_client_is_connected (p->relay))
    return;
  p->echo_started = TRUE;
  p->pings = g_new0 (Ping, opt_relay_echo);
  for (guint i = 0; i < (guint) opt_relay_echo; i++)
    p->pings[i].payload = make_ping (i);
  open_relay_conn (p);
  if (p->finished)
    return;
  s = ev_begin ("relay-echo-start");
  ev_str (s, "peer", p->remote_key);
  ev_str (s, "relay", p->relay_instance);
  ev_int (s, "count", opt_relay_echo);
  ev_end (s);
  p->echo_start_us = g_get_monotonic_time ();
  p->echo_timer = g_timeout_add (ECHO_TICK_MS, echo_tick_cb, p);
  fill_window (p);
}

static void
on_relay_connected (NbRelayClient *relay, const char *instance_url, gpointer data)
{
  Peer *p = data;
  GString *s = ev_begin ("relay-connected");

  ev_str (s, "url", p->relay_url);
  ev_str (s, "instance_url", instance_url);
  ev_end (s);
  g_free (p->relay_instance);
  p->relay_instance = g_strdup (instance_url);
  if (p->echo_started)
    open_relay_conn (p);
  maybe_start_exchange (p);
  maybe_start_echo (p);
}

static void
on_relay_disconnected (NbRelayClient *relay, const GError *reason, gpointer data)
{
  GString *s = ev_begin ("relay-disconnected");

  ev_str (s, "reason", reason ? reason->message : NULL);
  ev_end (s);
}

/* ------------------------------------------------------------------------ */
/* Management */

static gboolean
set_relay_token (Peer *p, const NbRelayConfig *relay)
{
  g_autoptr (GError) error = NULL;

  if (!nb_relay_client_set_token (p->relay, relay->token_payload, relay->token_signature, &error))
    {
      finish (p, 1, "management's relay token is unusable: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

static void
on_network_map (NbMgmtClient *mgmt, const NbNetworkMap *map, gpointer data)
{
  Peer *p = data;
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  GString *s;

  for (guint i = 0; i < map->peers->len; i++)
    g_ptr_array_add (keys, ((NbRemotePeer *) map->peers->pdata[i])->key);
  s = ev_begin ("map");
  ev_int (s, "serial", (gint64) map->serial);
  ev_str (s, "address", map->own ? map->own->address : NULL);
  ev_strv (s, "peers", (const char *const *) keys->pdata, keys->len);
  ev_end (s);
  p->have_map = TRUE;

  if (opt_exchange)
    {
      if (p->remote_key == NULL)
        {
          const NbRemotePeer *chosen = NULL;

          if (opt_peer)
            chosen = nb_network_map_find_peer (map, opt_peer);
          else if (map->peers->len > 0)
            chosen = map->peers->pdata[0];
          if (chosen)
            {
              p->remote_key = g_strdup (chosen->key);
              p->controller = nb_wg_key_string_compare (p->public_key, p->remote_key) > 0;
              s = ev_begin ("peer-selected");
              ev_str (s, "peer", p->remote_key);
              ev_str (s, "role", p->controller ? "controller" : "controlled");
              ev_str (s, "fqdn", chosen->fqdn);
              ev_end (s);
              maybe_start_exchange (p);
            }
        }
      else if (nb_network_map_find_peer (map, p->remote_key) == NULL && !p->finished
               && !(p->exchange_done && (opt_relay_echo == 0 || (p->echo_done && p->peer_done))))
        {
          finish (p, 1, "peer %s left the network map", p->remote_key);
          return;
        }
    }
  maybe_finish (p);
}

static void
on_config_changed (NbMgmtClient *mgmt, const NbNetbirdConfig *config, gpointer data)
{
  Peer *p = data;
  GString *s = ev_begin ("config-changed");

  ev_bool (s, "relay", config && config->relay != NULL);
  ev_end (s);
  if (p->relay && config && config->relay)
    set_relay_token (p, config->relay);
}

static void
on_mgmt_disconnected (NbMgmtClient *mgmt, const GError *reason, gpointer data)
{
  GString *s = ev_begin ("management-disconnected");

  ev_str (s, "reason", reason ? reason->message : NULL);
  ev_end (s);
}

static void
on_mgmt_reconnected (NbMgmtClient *mgmt, gpointer data)
{
  ev_end (ev_begin ("management-reconnected"));
}

static void
on_mgmt_gone (NbMgmtClient *mgmt, const GError *reason, gpointer data)
{
  finish (data, 1, "management ended our session: %s", reason ? reason->message : "(no reason)");
}

static gboolean
start_signal (Peer *p, const NbNetbirdConfig *config)
{
  g_autoptr (GError) error = NULL;

  if (opt_signal)
    p->signal_url = g_strdup (opt_signal);
  else if (config && config->signal)
    p->signal_url = nb_host_config_to_url (config->signal);
  else
    {
      finish (p, 1, "management names no signal server (use --signal)");
      return FALSE;
    }
  p->signal = nb_signal_client_new (p->signal_url, &p->private_key, &error);
  if (p->signal == NULL)
    {
      finish (p, 1, "signal: %s", error->message);
      return FALSE;
    }
  if (p->tls_database)
    nb_signal_client_set_tls_database (p->signal, p->tls_database);
  g_signal_connect (p->signal, "ready", G_CALLBACK (on_signal_ready), p);
  g_signal_connect (p->signal, "reconnected", G_CALLBACK (on_signal_reconnected), p);
  g_signal_connect (p->signal, "disconnected", G_CALLBACK (on_signal_disconnected), p);
  g_signal_connect (p->signal, "message", G_CALLBACK (on_signal_message), p);
  nb_signal_client_start (p->signal);
  return TRUE;
}

static gboolean
start_relay (Peer *p, const NbNetbirdConfig *config)
{
  g_autoptr (GError) error = NULL;

  if (config == NULL || config->relay == NULL || (config->relay->urls[0] == NULL && opt_relay == NULL))
    {
      finish (p, 1, "management hands out no relay (needed for --relay-echo)");
      return FALSE;
    }
  p->relay_url = g_strdup (opt_relay ? opt_relay : config->relay->urls[0]);
  p->relay = nb_relay_client_new (p->relay_url, p->public_key, &error);
  if (p->relay == NULL)
    {
      finish (p, 1, "relay: %s", error->message);
      return FALSE;
    }
  if (p->tls_database)
    nb_relay_client_set_tls_database (p->relay, p->tls_database);
  nb_relay_client_set_backoff (p->relay, 500, 5000);
  g_signal_connect (p->relay, "connected", G_CALLBACK (on_relay_connected), p);
  g_signal_connect (p->relay, "disconnected", G_CALLBACK (on_relay_disconnected), p);
  if (!set_relay_token (p, config->relay))
    return FALSE;
  if (!nb_relay_client_start (p->relay, &error))
    {
      finish (p, 1, "relay: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

static void
login_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Peer *p = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbNetworkMap) login = nb_mgmt_client_login_finish (NB_MGMT_CLIENT (source), result, &error);
  GString *s;

  if (p->finished)
    return;
  if (login == NULL)
    {
      finish (p, 1, "login failed: %s", error->message);
      return;
    }
  p->logged_in = TRUE;
  s = ev_begin ("logged-in");
  ev_str (s, "key", p->public_key);
  ev_str (s, "address", login->own ? login->own->address : NULL);
  ev_str (s, "fqdn", login->own ? login->own->fqdn : NULL);
  ev_str (s, "signal", login->config && login->config->signal ? login->config->signal->uri : NULL);
  if (login->config && login->config->relay)
    ev_strv (s, "relays", (const char *const *) login->config->relay->urls,
             g_strv_length (login->config->relay->urls));
  ev_end (s);

  g_signal_connect (p->mgmt, "network-map", G_CALLBACK (on_network_map), p);
  g_signal_connect (p->mgmt, "config-changed", G_CALLBACK (on_config_changed), p);
  g_signal_connect (p->mgmt, "disconnected", G_CALLBACK (on_mgmt_disconnected), p);
  g_signal_connect (p->mgmt, "reconnected", G_CALLBACK (on_mgmt_reconnected), p);
  g_signal_connect (p->mgmt, "login-expired", G_CALLBACK (on_mgmt_gone), p);
  g_signal_connect (p->mgmt, "peer-removed", G_CALLBACK (on_mgmt_gone), p);
  nb_mgmt_client_start_sync (p->mgmt);

  if (!start_signal (p, login->config))
    return;
  if (opt_relay_echo > 0 && !start_relay (p, login->config))
    return;
}

/* ------------------------------------------------------------------------ */

static void
maybe_finish (Peer *p)
{
  if (p->finished || !p->logged_in || !p->have_map || !p->signal_ready || p->pending_sends > 0)
    return;
  if (opt_exchange && !p->exchange_done)
    return;
  if (opt_relay_echo > 0 && !(p->echo_done && p->peer_done && p->linger_done))
    return;
  finish (p, 0, NULL);
}

static int
usage_error (GOptionContext *context, const char *message)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
  GString *s = ev_begin ("error");

  ev_str (s, "message", message);
  ev_end (s);
  g_printerr ("nb-control-peer: %s\n\n%s", message, help);
  return 2;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- one NetBird peer's control plane (debugging)");
  g_autoptr (GError) error = NULL;
  Peer peer = { 0 };
  Peer *p = &peer;
  guint sigterm_id, sigint_id;
  int code;

  json_out_init ();
  g_log_writer_default_set_use_stderr (TRUE);
  nb_sodium_init ();

  g_option_context_set_summary (context,
                                "Logs in to NetBird management, follows the network map, registers with signal\n"
                                "and optionally exchanges offers/answers/candidates and relay payloads with\n"
                                "another peer. Prints one JSON object per line and event on stdout.");
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);
  if (argc > 1)
    return usage_error (context, "unexpected arguments");
  if (opt_management == NULL || opt_state_dir == NULL)
    return usage_error (context, "--management and --state-dir are required");
  if (opt_relay_echo < 0 || opt_relay_echo > 1000000)
    return usage_error (context, "--relay-echo must be between 0 and 1000000");
  if (opt_wg_port < 1 || opt_wg_port > 65535)
    return usage_error (context, "--wg-port must be between 1 and 65535");
  if (opt_timeout < 1)
    return usage_error (context, "--timeout must be positive");
  if (opt_peer && !nb_wg_key_from_base64 (opt_peer, &(NbWgKey) NB_WG_KEY_INIT, NULL))
    return usage_error (context, "--peer must be a WireGuard public key (base64)");
  if (opt_relay_echo > 0)
    opt_exchange = TRUE;
  if (opt_verbose)
    g_log_set_debug_enabled (TRUE);

  p->loop = g_main_loop_new (NULL, FALSE);
  p->served = g_hash_table_new (NULL, NULL);

  if (opt_tls_ca)
    {
      p->tls_database = g_tls_file_database_new (opt_tls_ca, &error);
      if (p->tls_database == NULL)
        finish (p, 1, "--tls-ca: %s", error->message);
    }
  if (!p->finished && !load_identity (p, &error))
    finish (p, 1, "identity: %s", error->message);
  if (!p->finished && !make_credentials (p, &error))
    finish (p, 1, "%s", error->message);
  if (!p->finished)
    {
      p->mgmt = nb_mgmt_client_new (opt_management, &p->private_key, &error);
      if (p->mgmt == NULL)
        finish (p, 1, "management: %s", error->message);
    }
  if (!p->finished && opt_setup_key_file)
    {
      char *setup_key = read_setup_key (opt_setup_key_file, &error);

      if (setup_key == NULL)
        finish (p, 1, "%s", error->message);
      else
        {
          nb_mgmt_client_set_setup_key (p->mgmt, setup_key);
          sodium_memzero (setup_key, strlen (setup_key));
          g_free (setup_key);
        }
    }

  if (!p->finished)
    {
      if (opt_hostname)
        nb_mgmt_client_set_hostname (p->mgmt, opt_hostname);
      if (p->tls_database)
        nb_mgmt_client_set_tls_database (p->mgmt, p->tls_database);
      p->timeout_id = g_timeout_add_seconds ((guint) opt_timeout, timeout_cb, p);
      sigterm_id = g_unix_signal_add (SIGTERM, quit_signal_cb, p);
      sigint_id = g_unix_signal_add (SIGINT, quit_signal_cb, p);
      nb_mgmt_client_login_async (p->mgmt, NULL, login_cb, p);
      g_main_loop_run (p->loop);
      g_source_remove (sigterm_id);
      g_source_remove (sigint_id);
    }
  code = p->exit_code;

  /* Tear down: stop everything, let the last writes go out. */
  g_clear_handle_id (&p->timeout_id, g_source_remove);
  g_clear_handle_id (&p->offer_timer, g_source_remove);
  g_clear_handle_id (&p->echo_timer, g_source_remove);
  g_clear_handle_id (&p->linger_id, g_source_remove);
  if (p->conn)
    {
      g_signal_handlers_disconnect_by_data (p->conn, p);
      nb_relay_conn_close (p->conn);
      g_clear_object (&p->conn);
    }
  if (p->relay)
    {
      g_signal_handlers_disconnect_by_data (p->relay, p);
      nb_relay_client_stop (p->relay);
    }
  if (p->signal)
    {
      g_signal_handlers_disconnect_by_data (p->signal, p);
      nb_signal_client_stop (p->signal);
    }
  if (p->mgmt)
    {
      g_signal_handlers_disconnect_by_data (p->mgmt, p);
      nb_mgmt_client_stop (p->mgmt);
    }
  /* Lets the last writes (relay CLOSE, stream resets) go out. */
  nb_main_context_drain (50);
  /* Pending sends complete (STOPPED) from idle callbacks that use @p. */
  for (guint i = 0; i < 100 && p->pending_sends > 0; i++)
    nb_main_context_drain (20);
  if (p->pending_sends > 0)
    {
      g_warning ("%u signal sends did not complete", p->pending_sends);
      return code ? code : 1; /* their callbacks still point at @p */
    }

  g_clear_object (&p->relay);
  g_clear_object (&p->signal);
  g_clear_object (&p->mgmt);
  g_clear_object (&p->tls_database);
  if (p->pings)
    {
      for (guint i = 0; i < (guint) opt_relay_echo; i++)
        g_clear_pointer (&p->pings[i].payload, g_bytes_unref);
      g_free (p->pings);
    }
  g_hash_table_unref (p->served);
  g_clear_pointer (&p->remote_offer, nb_signal_offer_free);
  g_clear_pointer (&p->pending_offer, nb_signal_message_free);
  if (p->pwd)
    sodium_memzero (p->pwd, strlen (p->pwd));
  g_free (p->pwd);
  g_free (p->ufrag);
  g_free (p->candidate);
  g_free (p->remote_candidate);
  g_free (p->remote_key);
  g_free (p->public_key);
  g_free (p->signal_url);
  g_free (p->relay_url);
  g_free (p->relay_instance);
  nb_wg_key_clear (&p->private_key);
  g_main_loop_unref (p->loop);

  g_free (opt_management);
  g_free (opt_state_dir);
  g_free (opt_setup_key_file);
  g_free (opt_hostname);
  g_free (opt_signal);
  g_free (opt_relay);
  g_free (opt_tls_ca);
  g_free (opt_peer);
  return code;
}
