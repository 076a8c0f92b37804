/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signal bodies <-> wire bytes, see signal-msg.h.
 *
 * Facts from NetBird's client (shared/signal/client, client/internal/engine.go,
 * client/internal/peer): offers and answers carry "ufrag:pwd" split on ':'
 * into exactly two parts; a sessionId of a length other than 5 and a
 * relayServerIP of a length other than 4/16 are ignored with a warning; an
 * IPv4-mapped relay IP is sent and read as IPv4; candidates are pion's
 * Marshal() form without the "candidate:" prefix. NetBird itself does not
 * check remoteKey on receipt; we refuse a message not addressed to us (the
 * server routes on it, so only a broken or hostile server delivers one).
 */
#define G_LOG_DOMAIN "nb-signal-msg"

#include "config.h"

#include "signal-msg.h"

#include <string.h>

#include <gio/gio.h>
#include <sodium.h>

#include "signalexchange.pb-c.h"

G_DEFINE_QUARK (nb-signal-msg-error-quark, nb_signal_msg_error)

G_DEFINE_BOXED_TYPE (NbSignalMessage, nb_signal_message, nb_signal_message_copy, nb_signal_message_free)

#define FOUNDATION_MAX_LEN 32
#define COMPONENT_MAX      256

const char *
nb_signal_msg_type_to_string (NbSignalMsgType type)
{
  switch (type)
    {
    case NB_SIGNAL_MSG_OFFER:
      return "OFFER";
    case NB_SIGNAL_MSG_ANSWER:
      return "ANSWER";
    case NB_SIGNAL_MSG_CANDIDATE:
      return "CANDIDATE";
    case NB_SIGNAL_MSG_MODE:
      return "MODE";
    case NB_SIGNAL_MSG_GO_IDLE:
      return "GO_IDLE";
    case NB_SIGNAL_MSG_HEARTBEAT:
      return "HEARTBEAT";
    }
  return "UNKNOWN";
}

static gboolean
type_is_known (int type)
{
  switch (type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
    case NB_SIGNAL_MSG_CANDIDATE:
    case NB_SIGNAL_MSG_MODE:
    case NB_SIGNAL_MSG_GO_IDLE:
    case NB_SIGNAL_MSG_HEARTBEAT:
      return TRUE;
    default:
      return FALSE;
    }
}

static void
wipe_string (char *s)
{
  if (s)
    sodium_memzero (s, strlen (s));
}

/* ------------------------------------------------------------------------ */
/* Offer */

NbSignalOffer *
nb_signal_offer_new (void)
{
  return g_new0 (NbSignalOffer, 1);
}

NbSignalOffer *
nb_signal_offer_copy (const NbSignalOffer *offer)
{
  NbSignalOffer *copy;

  g_return_val_if_fail (offer != NULL, NULL);

  copy = g_new0 (NbSignalOffer, 1);
  copy->ufrag = g_strdup (offer->ufrag);
  copy->pwd = g_strdup (offer->pwd);
  copy->wg_listen_port = offer->wg_listen_port;
  copy->version = g_strdup (offer->version);
  copy->rosenpass_pub_key = offer->rosenpass_pub_key ? g_bytes_ref (offer->rosenpass_pub_key) : NULL;
  copy->rosenpass_addr = g_strdup (offer->rosenpass_addr);
  copy->relay_server_address = g_strdup (offer->relay_server_address);
  copy->relay_server_ip = g_strdup (offer->relay_server_ip);
  copy->has_session_id = offer->has_session_id;
  memcpy (copy->session_id, offer->session_id, sizeof copy->session_id);
  if (offer->features)
    {
      copy->features = g_array_sized_new (FALSE, FALSE, sizeof (guint32), offer->features->len);
      g_array_append_vals (copy->features, offer->features->data, offer->features->len);
    }
  return copy;
}

void
nb_signal_offer_free (NbSignalOffer *offer)
{
  if (offer == NULL)
    return;
  g_free (offer->ufrag);
  wipe_string (offer->pwd);
  g_free (offer->pwd);
  g_free (offer->version);
  g_clear_pointer (&offer->rosenpass_pub_key, g_bytes_unref);
  g_free (offer->rosenpass_addr);
  g_free (offer->relay_server_address);
  g_free (offer->relay_server_ip);
  g_clear_pointer (&offer->features, g_array_unref);
  g_free (offer);
}

void
nb_signal_offer_add_feature (NbSignalOffer *offer, guint32 feature)
{
  g_return_if_fail (offer != NULL);

  if (offer->features == NULL)
    offer->features = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_array_append_val (offer->features, feature);
}

gboolean
nb_signal_offer_has_feature (const NbSignalOffer *offer, guint32 feature)
{
  g_return_val_if_fail (offer != NULL, FALSE);

  if (offer->features == NULL)
    return FALSE;
  for (guint i = 0; i < offer->features->len; i++)
    if (g_array_index (offer->features, guint32, i) == feature)
      return TRUE;
  return FALSE;
}

char *
nb_signal_offer_dup_session_id_hex (const NbSignalOffer *offer)
{
  GString *hex;

  g_return_val_if_fail (offer != NULL, NULL);

  if (!offer->has_session_id)
    return NULL;
  hex = g_string_sized_new (2 * NB_SIGNAL_SESSION_ID_LEN);
  for (guint i = 0; i < NB_SIGNAL_SESSION_ID_LEN; i++)
    g_string_append_printf (hex, "%02x", offer->session_id[i]);
  return g_string_free (hex, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Candidate */

const char *
nb_signal_candidate_type_to_string (NbSignalCandidateType type)
{
  switch (type)
    {
    case NB_SIGNAL_CANDIDATE_HOST:
      return "host";
    case NB_SIGNAL_CANDIDATE_SRFLX:
      return "srflx";
    case NB_SIGNAL_CANDIDATE_PRFLX:
      return "prflx";
    case NB_SIGNAL_CANDIDATE_RELAY:
      return "relay";
    }
  return NULL;
}

NbSignalCandidate *
nb_signal_candidate_new (void)
{
  return g_new0 (NbSignalCandidate, 1);
}

NbSignalCandidate *
nb_signal_candidate_copy (const NbSignalCandidate *candidate)
{
  NbSignalCandidate *copy;

  g_return_val_if_fail (candidate != NULL, NULL);

  copy = g_memdup2 (candidate, sizeof *candidate);
  copy->foundation = g_strdup (candidate->foundation);
  copy->address = g_strdup (candidate->address);
  copy->related_address = g_strdup (candidate->related_address);
  return copy;
}

void
nb_signal_candidate_free (NbSignalCandidate *candidate)
{
  if (candidate == NULL)
    return;
  g_free (candidate->foundation);
  g_free (candidate->address);
  g_free (candidate->related_address);
  g_free (candidate);
}

static gboolean
foundation_valid (const char *s)
{
  gsize len = s ? strlen (s) : 0;

  if (len == 0 || len > FOUNDATION_MAX_LEN)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/')
      return FALSE;
  return TRUE;
}

/* An IP literal (IPv6 possibly with a %zone) or a host name such as an mDNS
 * "<uuid>.local"; no spaces or control characters. */
static gboolean
address_valid (const char *s)
{
  gsize len = s ? strlen (s) : 0;

  if (len == 0 || len > 255)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && !strchr (".:-_%", *p))
      return FALSE;
  return TRUE;
}

/* Strict unsigned decimal (no sign, no spaces, no leading '+'). */
static gboolean
parse_uint (const char *s, guint64 max, guint64 *out)
{
  guint64 v;

  if (s == NULL || !g_ascii_isdigit (s[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned (s, 10, 0, max, &v, NULL))
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
candidate_malformed (GError **error, const char *what)
{
  g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_MALFORMED,
               "malformed ICE candidate: %s", what);
  return FALSE;
}

NbSignalCandidate *
nb_signal_candidate_parse (const char *text, GError **error)
{
  g_autoptr (NbSignalCandidate) cand = NULL;
  g_autoptr (GPtrArray) tok = g_ptr_array_new ();
  g_auto (GStrv) parts = NULL;
  guint64 v;
  const char *type;

  if (text == NULL || *text == '\0')
    {
      candidate_malformed (error, "empty");
      return NULL;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      candidate_malformed (error, "not UTF-8");
      return NULL;
    }
  while (*text == ' ')
    text++;
  if (g_ascii_strncasecmp (text, "candidate:", 10) == 0)
    text += 10;

  parts = g_strsplit_set (text, " \t\r\n", -1);
  for (char **p = parts; *p; p++)
    if (**p)
      g_ptr_array_add (tok, *p);

  if (tok->len < 8)
    {
      candidate_malformed (error, "too few fields");
      return NULL;
    }

  cand = nb_signal_candidate_new ();

  if (!foundation_valid (tok->pdata[0]))
    {
      candidate_malformed (error, "bad foundation");
      return NULL;
    }
  cand->foundation = g_strdup (tok->pdata[0]);

  if (!parse_uint (tok->pdata[1], COMPONENT_MAX, &v) || v == 0)
    {
      candidate_malformed (error, "bad component");
      return NULL;
    }
  cand->component = (guint16) v;

  if (g_ascii_strcasecmp (tok->pdata[2], "udp") != 0)
    {
      const char *transport = tok->pdata[2];
      gboolean word = TRUE;

      for (const char *p = transport; *p; p++)
        if (!g_ascii_isalnum (*p) && *p != '-')
          word = FALSE;
      if (!word || strlen (transport) > 16)
        {
          candidate_malformed (error, "bad transport");
          return NULL;
        }
      g_set_error_literal (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_UNSUPPORTED,
                           "ICE candidate is not UDP");
      return NULL;
    }

  if (!parse_uint (tok->pdata[3], G_MAXUINT32, &v))
    {
      candidate_malformed (error, "bad priority");
      return NULL;
    }
  cand->priority = (guint32) v;

  if (!address_valid (tok->pdata[4]))
    {
      candidate_malformed (error, "bad address");
      return NULL;
    }
  cand->address = g_strdup (tok->pdata[4]);

  if (!parse_uint (tok->pdata[5], G_MAXUINT16, &v) || v == 0)
    {
      candidate_malformed (error, "bad port");
      return NULL;
    }
  cand->port = (guint16) v;

  if (strcmp (tok->pdata[6], "typ") != 0)
    {
      candidate_malformed (error, "\"typ\" missing");
      return NULL;
    }
  type = tok->pdata[7];
  if (strcmp (type, "host") == 0)
    cand->type = NB_SIGNAL_CANDIDATE_HOST;
  else if (strcmp (type, "srflx") == 0)
    cand->type = NB_SIGNAL_CANDIDATE_SRFLX;
  else if (strcmp (type, "prflx") == 0)
    cand->type = NB_SIGNAL_CANDIDATE_PRFLX;
  else if (strcmp (type, "relay") == 0)
    cand->type = NB_SIGNAL_CANDIDATE_RELAY;
  else
    {
      candidate_malformed (error, "unknown candidate type");
      return NULL;
    }

  /* Name/value extension attributes; only raddr/rport matter. A dangling
   * name without a value at the very end is tolerated like any unknown
   * attribute. */
  for (guint i = 8; i + 1 < tok->len; i += 2)
    {
      const char *name = tok->pdata[i];
      const char *value = tok->pdata[i + 1];

      if (strcmp (name, "raddr") == 0)
        {
          if (!address_valid (value))
            {
              candidate_malformed (error, "bad raddr");
              return NULL;
            }
          g_free (cand->related_address);
          cand->related_address = g_strdup (value);
        }
      else if (strcmp (name, "rport") == 0)
        {
          if (!parse_uint (value, G_MAXUINT16, &v))
            {
              candidate_malformed (error, "bad rport");
              return NULL;
            }
          cand->related_port = (guint16) v;
        }
    }

  return g_steal_pointer (&cand);
}

char *
nb_signal_candidate_to_string (const NbSignalCandidate *c, GError **error)
{
  const char *type;
  GString *s;

  g_return_val_if_fail (c != NULL, NULL);

  type = nb_signal_candidate_type_to_string (c->type);
  if (!foundation_valid (c->foundation) || c->component == 0 || c->component > COMPONENT_MAX
      || !address_valid (c->address) || c->port == 0 || type == NULL
      || (c->related_address && !address_valid (c->related_address)))
    {
      g_set_error_literal (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID,
                           "ICE candidate has an invalid field");
      return NULL;
    }
  s = g_string_new (NULL);
  g_string_printf (s, "%s %u udp %u %s %u typ %s", c->foundation, c->component, c->priority,
                   c->address, c->port, type);
  if (c->related_address)
    g_string_append_printf (s, " raddr %s rport %u", c->related_address, c->related_port);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Message */

NbSignalMessage *
nb_signal_message_new (NbSignalMsgType type)
{
  NbSignalMessage *msg = g_new0 (NbSignalMessage, 1);

  msg->type = type;
  return msg;
}

NbSignalMessage *
nb_signal_message_new_offer (NbSignalMsgType type, NbSignalOffer *offer)
{
  NbSignalMessage *msg;

  g_return_val_if_fail (type == NB_SIGNAL_MSG_OFFER || type == NB_SIGNAL_MSG_ANSWER, NULL);
  g_return_val_if_fail (offer != NULL, NULL);

  msg = nb_signal_message_new (type);
  msg->offer = offer;
  return msg;
}

NbSignalMessage *
nb_signal_message_new_candidate (NbSignalCandidate *candidate)
{
  NbSignalMessage *msg;

  g_return_val_if_fail (candidate != NULL, NULL);

  msg = nb_signal_message_new (NB_SIGNAL_MSG_CANDIDATE);
  msg->candidate = candidate;
  return msg;
}

NbSignalMessage *
nb_signal_message_new_mode (gboolean has_direct, gboolean direct)
{
  NbSignalMessage *msg = nb_signal_message_new (NB_SIGNAL_MSG_MODE);

  msg->mode_has_direct = !!has_direct;
  msg->mode_direct = has_direct && direct;
  return msg;
}

NbSignalMessage *
nb_signal_message_copy (const NbSignalMessage *msg)
{
  NbSignalMessage *copy;

  g_return_val_if_fail (msg != NULL, NULL);

  copy = g_memdup2 (msg, sizeof *msg);
  copy->sender_key = g_strdup (msg->sender_key);
  copy->offer = msg->offer ? nb_signal_offer_copy (msg->offer) : NULL;
  copy->candidate = msg->candidate ? nb_signal_candidate_copy (msg->candidate) : NULL;
  return copy;
}

void
nb_signal_message_free (NbSignalMessage *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->sender_key);
  nb_signal_offer_free (msg->offer);
  nb_signal_candidate_free (msg->candidate);
  g_free (msg);
}

/* ------------------------------------------------------------------------ */
/* Body encoding */

static gboolean
invalid (GError **error, const char *what)
{
  g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID,
               "cannot encode signal message: %s", what);
  return FALSE;
}

static gboolean
utf8_or_null (const char *s)
{
  return s == NULL || g_utf8_validate (s, -1, NULL);
}

static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* IP text -> 4 or 16 bytes (IPv4-mapped IPv6 -> 4 bytes). */
static gboolean
ip_to_bytes (const char *text, guint8 out[16], gsize *out_len)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (text);
  const guint8 *bytes;
  gsize len;

  if (addr == NULL)
    return FALSE;
  bytes = g_inet_address_to_bytes (addr);
  len = g_inet_address_get_native_size (addr);
  if (len == 16 && memcmp (bytes, v4_mapped_prefix, 12) == 0)
    {
      bytes += 12;
      len = 4;
    }
  memcpy (out, bytes, len);
  *out_len = len;
  return TRUE;
}

/* 4/16 bytes -> IP text, unmapping IPv4-mapped IPv6; NULL for other sizes. */
static char *
ip_from_bytes (const guint8 *bytes, gsize len)
{
  g_autoptr (GInetAddress) addr = NULL;

  if (len == 16 && memcmp (bytes, v4_mapped_prefix, 12) == 0)
    {
      bytes += 12;
      len = 4;
    }
  if (len == 4)
    addr = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV4);
  else if (len == 16)
    addr = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
  else
    return NULL;
  return g_inet_address_to_string (addr);
}

/* Serializes @msg into a fresh buffer (wiped and freed by the caller with
 * secret_buffer_free()); the Body holds the ICE password. */
typedef struct {
  guint8 *data;
  gsize len;
} SecretBuffer;

static void
secret_buffer_clear (SecretBuffer *buf)
{
  if (buf->data)
    {
      sodium_memzero (buf->data, buf->len);
      g_free (buf->data);
    }
  buf->data = NULL;
  buf->len = 0;
}

static gboolean
encode_body (const NbSignalMessage *msg, SecretBuffer *out, GError **error)
{
  Signalexchange__Body body;
  Signalexchange__RosenpassConfig rosenpass;
  Signalexchange__Mode mode;
  g_autofree char *payload = NULL;
  g_autofree uint32_t *features = NULL;
  guint8 relay_ip[16];
  gsize relay_ip_len = 0;
  const guint8 *session = NULL;

  g_return_val_if_fail (msg != NULL, FALSE);

  signalexchange__body__init (&body);
  if (!type_is_known (msg->type))
    return invalid (error, "unknown type");
  body.type = (Signalexchange__Body__Type) msg->type;

  switch (msg->type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
      {
        const NbSignalOffer *o = msg->offer;

        if (o == NULL)
          return invalid (error, "offer/answer without contents");
        if ((o->ufrag && strchr (o->ufrag, ':')) || (o->pwd && strchr (o->pwd, ':')))
          return invalid (error, "ICE ufrag/pwd contains ':'");
        if (!utf8_or_null (o->ufrag) || !utf8_or_null (o->pwd) || !utf8_or_null (o->version)
            || !utf8_or_null (o->rosenpass_addr) || !utf8_or_null (o->relay_server_address))
          return invalid (error, "string is not UTF-8");
        payload = g_strdup_printf ("%s:%s", o->ufrag ? o->ufrag : "", o->pwd ? o->pwd : "");
        body.payload = payload;
        body.wglistenport = o->wg_listen_port;
        body.netbirdversion = o->version ? o->version : (char *) "";

        signalexchange__rosenpass_config__init (&rosenpass);
        if (o->rosenpass_pub_key)
          {
            gsize len;

            rosenpass.rosenpasspubkey.data = (guint8 *) g_bytes_get_data (o->rosenpass_pub_key, &len);
            rosenpass.rosenpasspubkey.len = len;
          }
        rosenpass.rosenpassserveraddr = o->rosenpass_addr ? o->rosenpass_addr : (char *) "";
        body.rosenpassconfig = &rosenpass;

        if (o->relay_server_address && *o->relay_server_address)
          {
            body._relay_server_address_case = SIGNALEXCHANGE__BODY___RELAY_SERVER_ADDRESS_RELAY_SERVER_ADDRESS;
            body.relayserveraddress = o->relay_server_address;
          }
        if (o->relay_server_ip)
          {
            if (!ip_to_bytes (o->relay_server_ip, relay_ip, &relay_ip_len))
              return invalid (error, "relay server IP is not an IP address");
            body._relay_server_ip_case = SIGNALEXCHANGE__BODY___RELAY_SERVER_IP_RELAY_SERVER_IP;
            body.relayserverip.data = relay_ip;
            body.relayserverip.len = relay_ip_len;
          }
        if (o->has_session_id)
          session = o->session_id;
        if (o->features && o->features->len)
          {
            features = g_memdup2 (o->features->data, o->features->len * sizeof (guint32));
            body.featuressupported = features;
            body.n_featuressupported = o->features->len;
          }
        break;
      }
    case NB_SIGNAL_MSG_CANDIDATE:
      if (msg->candidate == NULL)
        return invalid (error, "candidate message without a candidate");
      payload = nb_signal_candidate_to_string (msg->candidate, error);
      if (payload == NULL)
        return FALSE;
      body.payload = payload;
      break;
    case NB_SIGNAL_MSG_MODE:
      signalexchange__mode__init (&mode);
      if (msg->mode_has_direct)
        {
          mode._direct_case = SIGNALEXCHANGE__MODE___DIRECT_DIRECT;
          mode.direct = !!msg->mode_direct;
        }
      body.mode = &mode;
      break;
    case NB_SIGNAL_MSG_GO_IDLE:
    case NB_SIGNAL_MSG_HEARTBEAT:
      break;
    }

  if (msg->type != NB_SIGNAL_MSG_OFFER && msg->type != NB_SIGNAL_MSG_ANSWER && msg->has_session_id)
    session = msg->session_id;
  if (session)
    {
      body._session_id_case = SIGNALEXCHANGE__BODY___SESSION_ID_SESSION_ID;
      body.sessionid.data = (guint8 *) session;
      body.sessionid.len = NB_SIGNAL_SESSION_ID_LEN;
    }

  out->len = signalexchange__body__get_packed_size (&body);
  out->data = g_malloc (MAX (out->len, 1));
  signalexchange__body__pack (&body, out->data);
  if (payload)
    wipe_string (payload);
  return TRUE;
}

GBytes *
nb_signal_message_encode_body (const NbSignalMessage *msg, GError **error)
{
  SecretBuffer buf = { 0 };
  GBytes *bytes;

  g_return_val_if_fail (msg != NULL, NULL);

  if (!encode_body (msg, &buf, error))
    return NULL;
  bytes = g_bytes_new (buf.data, buf.len);
  secret_buffer_clear (&buf);
  return bytes;
}

/* ------------------------------------------------------------------------ */
/* Body decoding */

static gboolean
malformed (GError **error, const char *what)
{
  g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_MALFORMED,
               "malformed signal message: %s", what);
  return FALSE;
}

static gboolean
decode_offer (const Signalexchange__Body *body, NbSignalOffer **out, GError **error)
{
  g_autoptr (NbSignalOffer) o = nb_signal_offer_new ();
  const char *payload = body->payload ? body->payload : "";
  const char *colon = strchr (payload, ':');

  if (colon == NULL || strchr (colon + 1, ':') != NULL)
    return malformed (error, "offer/answer payload is not \"ufrag:pwd\"");
  if (body->wglistenport > G_MAXUINT16)
    return malformed (error, "WireGuard listen port out of range");

  o->ufrag = g_strndup (payload, colon - payload);
  o->pwd = g_strdup (colon + 1);
  o->wg_listen_port = (guint16) body->wglistenport;
  o->version = g_strdup (body->netbirdversion ? body->netbirdversion : "");

  if (body->rosenpassconfig)
    {
      const Signalexchange__RosenpassConfig *rp = body->rosenpassconfig;

      if (rp->rosenpasspubkey.len > 0)
        o->rosenpass_pub_key = g_bytes_new (rp->rosenpasspubkey.data, rp->rosenpasspubkey.len);
      if (rp->rosenpassserveraddr && *rp->rosenpassserveraddr)
        o->rosenpass_addr = g_strdup (rp->rosenpassserveraddr);
    }

  if (body->_relay_server_address_case == SIGNALEXCHANGE__BODY___RELAY_SERVER_ADDRESS_RELAY_SERVER_ADDRESS
      && body->relayserveraddress && *body->relayserveraddress)
    o->relay_server_address = g_strdup (body->relayserveraddress);

  if (body->_relay_server_ip_case == SIGNALEXCHANGE__BODY___RELAY_SERVER_IP_RELAY_SERVER_IP
      && body->relayserverip.len > 0)
    {
      o->relay_server_ip = ip_from_bytes (body->relayserverip.data, body->relayserverip.len);
      if (o->relay_server_ip == NULL)
        g_debug ("ignoring relayServerIP of %" G_GSIZE_FORMAT " bytes", body->relayserverip.len);
    }

  if (body->_session_id_case == SIGNALEXCHANGE__BODY___SESSION_ID_SESSION_ID)
    {
      if (body->sessionid.len == NB_SIGNAL_SESSION_ID_LEN)
        {
          o->has_session_id = TRUE;
          memcpy (o->session_id, body->sessionid.data, NB_SIGNAL_SESSION_ID_LEN);
        }
      else
        g_debug ("ignoring sessionId of %" G_GSIZE_FORMAT " bytes", body->sessionid.len);
    }

  for (gsize i = 0; i < body->n_featuressupported; i++)
    nb_signal_offer_add_feature (o, body->featuressupported[i]);

  *out = g_steal_pointer (&o);
  return TRUE;
}

static gboolean
body_strings_valid (const Signalexchange__Body *body)
{
  if (!utf8_or_null (body->payload) || !utf8_or_null (body->netbirdversion))
    return FALSE;
  if (body->rosenpassconfig && !utf8_or_null (body->rosenpassconfig->rosenpassserveraddr))
    return FALSE;
  if (body->_relay_server_address_case == SIGNALEXCHANGE__BODY___RELAY_SERVER_ADDRESS_RELAY_SERVER_ADDRESS
      && !utf8_or_null (body->relayserveraddress))
    return FALSE;
  return TRUE;
}

NbSignalMessage *
nb_signal_message_decode_body (const guint8 *data, gsize len, GError **error)
{
  g_autoptr (NbSignalMessage) msg = NULL;
  Signalexchange__Body *body;
  gboolean ok = TRUE;
  int type;

  body = signalexchange__body__unpack (NULL, len, data);
  if (body == NULL || !body_strings_valid (body))
    {
      if (body)
        signalexchange__body__free_unpacked (body, NULL);
      g_set_error_literal (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF,
                           "signal message body is not a valid Body protobuf");
      return NULL;
    }

  type = (int) body->type;
  if (!type_is_known (type))
    {
      g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE,
                   "unknown signal message type %d", type);
      signalexchange__body__free_unpacked (body, NULL);
      return NULL;
    }

  msg = nb_signal_message_new ((NbSignalMsgType) type);
  switch (msg->type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
      ok = decode_offer (body, &msg->offer, error);
      break;
    case NB_SIGNAL_MSG_CANDIDATE:
      msg->candidate = nb_signal_candidate_parse (body->payload, error);
      ok = msg->candidate != NULL;
      break;
    case NB_SIGNAL_MSG_MODE:
      if (body->mode && body->mode->_direct_case == SIGNALEXCHANGE__MODE___DIRECT_DIRECT)
        {
          msg->mode_has_direct = TRUE;
          msg->mode_direct = !!body->mode->direct;
        }
      break;
    case NB_SIGNAL_MSG_GO_IDLE:
    case NB_SIGNAL_MSG_HEARTBEAT:
      break;
    }

  if (ok && msg->type != NB_SIGNAL_MSG_OFFER && msg->type != NB_SIGNAL_MSG_ANSWER
      && body->_session_id_case == SIGNALEXCHANGE__BODY___SESSION_ID_SESSION_ID
      && body->sessionid.len == NB_SIGNAL_SESSION_ID_LEN)
    {
      msg->has_session_id = TRUE;
      memcpy (msg->session_id, body->sessionid.data, NB_SIGNAL_SESSION_ID_LEN);
    }

  /* The unpacked payload may hold an ICE password. */
  wipe_string (body->payload);
  signalexchange__body__free_unpacked (body, NULL);
  return ok ? g_steal_pointer (&msg) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Sealing and opening */

static GBytes *
seal (const NbSignalMessage *msg,
      const guint8          *nonce,
      const NbWgKey         *our_private,
      const char            *our_key,
      const char            *remote_key,
      GError               **error)
{
  g_auto (NbWgKey) remote = NB_WG_KEY_INIT;
  g_autoptr (GBytes) sealed = NULL;
  g_autoptr (GError) local = NULL;
  Signalexchange__EncryptedMessage em;
  SecretBuffer body = { 0 };
  NbWgKey ours;
  guint8 *wire;
  gsize len;

  g_return_val_if_fail (msg != NULL, NULL);
  g_return_val_if_fail (our_private != NULL, NULL);

  if (our_key == NULL || !nb_wg_key_from_base64 (our_key, &ours, NULL))
    {
      invalid (error, "our key is not a WireGuard public key");
      return NULL;
    }
  if (remote_key == NULL || !nb_wg_key_from_base64 (remote_key, &remote, NULL))
    {
      invalid (error, "remote key is not a WireGuard public key");
      return NULL;
    }
  if (!encode_body (msg, &body, error))
    return NULL;

  if (nonce)
    sealed = nb_box_seal_with_nonce (body.data, body.len, nonce, &remote, our_private, &local);
  else
    sealed = nb_box_seal (body.data, body.len, &remote, our_private, &local);
  secret_buffer_clear (&body);
  if (sealed == NULL)
    {
      g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID,
                   "cannot seal signal message for %s: %s", remote_key, local->message);
      return NULL;
    }

  signalexchange__encrypted_message__init (&em);
  em.key = (char *) our_key;
  em.remotekey = (char *) remote_key;
  em.body.data = (guint8 *) g_bytes_get_data (sealed, &em.body.len);
  len = signalexchange__encrypted_message__get_packed_size (&em);
  wire = g_malloc (MAX (len, 1));
  signalexchange__encrypted_message__pack (&em, wire);
  return g_bytes_new_take (wire, len);
}

GBytes *
nb_signal_message_seal (const NbSignalMessage *msg,
                        const NbWgKey         *our_private,
                        const char            *our_key,
                        const char            *remote_key,
                        GError               **error)
{
  return seal (msg, NULL, our_private, our_key, remote_key, error);
}

GBytes *
nb_signal_message_seal_with_nonce (const NbSignalMessage *msg,
                                   const guint8           nonce[NB_BOX_NONCE_LEN],
                                   const NbWgKey         *our_private,
                                   const char            *our_key,
                                   const char            *remote_key,
                                   GError               **error)
{
  g_return_val_if_fail (nonce != NULL, NULL);
  return seal (msg, nonce, our_private, our_key, remote_key, error);
}

NbSignalMessage *
nb_signal_message_open (const guint8  *data,
                        gsize          len,
                        const NbWgKey *our_private,
                        const char    *our_key,
                        GError       **error)
{
  Signalexchange__EncryptedMessage *em;
  g_auto (NbWgKey) sender = NB_WG_KEY_INIT;
  g_autoptr (GBytes) plain = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (NbSignalMessage) msg = NULL;
  g_autofree char *sender_key = NULL;
  const guint8 *pt;
  gsize pt_len;

  g_return_val_if_fail (our_private != NULL, NULL);
  g_return_val_if_fail (our_key != NULL, NULL);

  em = signalexchange__encrypted_message__unpack (NULL, len, data);
  if (em == NULL || !utf8_or_null (em->key) || !utf8_or_null (em->remotekey))
    {
      if (em)
        signalexchange__encrypted_message__free_unpacked (em, NULL);
      g_set_error_literal (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF,
                           "not a valid EncryptedMessage protobuf");
      return NULL;
    }

  if (em->key == NULL || !nb_wg_key_from_base64 (em->key, &sender, NULL))
    {
      signalexchange__encrypted_message__free_unpacked (em, NULL);
      g_set_error_literal (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_BAD_SENDER_KEY,
                           "signal message sender key is not a WireGuard public key");
      return NULL;
    }
  sender_key = g_strdup (em->key);

  if (em->remotekey == NULL || strcmp (em->remotekey, our_key) != 0)
    {
      signalexchange__encrypted_message__free_unpacked (em, NULL);
      g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_NOT_FOR_US,
                   "signal message from %s is addressed to another peer", sender_key);
      return NULL;
    }

  plain = nb_box_open (em->body.data, em->body.len, &sender, our_private, &local);
  signalexchange__encrypted_message__free_unpacked (em, NULL);
  if (plain == NULL)
    {
      g_set_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_OPEN_FAILED,
                   "signal message from %s does not open: %s", sender_key, local->message);
      return NULL;
    }

  pt = g_bytes_get_data (plain, &pt_len);
  msg = nb_signal_message_decode_body (pt, pt_len, &local);
  if (msg == NULL)
    {
      g_set_error (error, NB_SIGNAL_MSG_ERROR, local->code, "from %s: %s", sender_key,
                   local->message);
      return NULL;
    }
  msg->sender_key = g_steal_pointer (&sender_key);
  return g_steal_pointer (&msg);
}
