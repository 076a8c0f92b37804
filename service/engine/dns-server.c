/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The peer-name DNS responder, see dns-server.h.
 */
#define G_LOG_DOMAIN "nb-dns"

#include "config.h"

#include "dns-server.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dns-msg.h"
#include "network-map.h"

#ifndef IP_FREEBIND
#define IP_FREEBIND 15
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* Datagrams handled per wake-up before other sources get a turn. */
#define MAX_DATAGRAMS_PER_DISPATCH 64
#define RECEIVE_BUFFER_SIZE        65536

typedef struct {
  char *domain;           /* lower case, no trailing dot, never "" */
  guint n_labels;
  gboolean authoritative;
  GHashTable *names;      /* name -> GArray of NbDnsAnswer; empty: the name exists without records */
} Zone;

struct _NbDnsServer {
  GObject parent_instance;

  GSocket *socket;
  GSource *source;
  GInetSocketAddress *local_address;
  GPtrArray *zones;       /* Zone* */
  NbDnsServerCounters counters;
  guint8 *buffer;         /* RECEIVE_BUFFER_SIZE */
};

G_DEFINE_TYPE (NbDnsServer, nb_dns_server, G_TYPE_OBJECT)

/* ---- zones ------------------------------------------------------------- */

static void
zone_free (Zone *zone)
{
  g_free (zone->domain);
  g_hash_table_unref (zone->names);
  g_free (zone);
}

/* Lower case, one trailing dot removed. */
static char *
normalize_name (const char *name)
{
  char *out = g_ascii_strdown (name, -1);
  gsize len = strlen (out);

  if (len > 0 && out[len - 1] == '.')
    out[len - 1] = '\0';
  return out;
}

/* A plain domain name: labels of 1..63 bytes, no backslashes (our query
 * names escape odd bytes, so such a name could never be asked anyway). */
static gboolean
domain_valid (const char *name)
{
  g_auto(GStrv) labels = NULL;

  if (*name == '\0' || strlen (name) > NB_DNS_MAX_NAME_WIRE - 2 || strchr (name, '\\'))
    return FALSE;
  labels = g_strsplit (name, ".", -1);
  for (guint i = 0; labels[i]; i++)
    {
      gsize len = strlen (labels[i]);

      if (len == 0 || len > NB_DNS_MAX_LABEL)
        return FALSE;
    }
  return TRUE;
}

/* Whether @name (normalised, may hold escapes) is @domain or below it. */
static gboolean
name_in_domain (const char *name, const char *domain)
{
  gsize nlen = strlen (name);
  gsize dlen = strlen (domain);
  gsize dot, backslashes = 0;

  if (nlen == dlen)
    return strcmp (name, domain) == 0;
  if (nlen < dlen + 2 || strcmp (name + nlen - dlen, domain) != 0)
    return FALSE;
  dot = nlen - dlen - 1;
  if (name[dot] != '.')
    return FALSE;
  /* "\." is part of a label, "\\." ends one. */
  while (backslashes < dot && name[dot - 1 - backslashes] == '\\')
    backslashes++;
  return backslashes % 2 == 0;
}

static GArray *
zone_name_entry (Zone *zone, const char *name)
{
  GArray *entry = g_hash_table_lookup (zone->names, name);

  if (!entry)
    {
      entry = g_array_new (FALSE, FALSE, sizeof (NbDnsAnswer));
      g_hash_table_insert (zone->names, g_strdup (name), entry);
    }
  return entry;
}

/* Makes @name and every name between it and the apex exist (RFC 8020:
 * empty non-terminals are NODATA, not NXDOMAIN). */
static GArray *
zone_add_name (Zone *zone, const char *name)
{
  GArray *entry = zone_name_entry (zone, name);
  gsize dlen = strlen (zone->domain);

  for (const char *p = strchr (name, '.'); p && strlen (p + 1) >= dlen; p = strchr (p + 1, '.'))
    zone_name_entry (zone, p + 1);
  return entry;
}

static void
zone_add_record (Zone *zone, const NbDnsRecord *record)
{
  g_autofree char *name = NULL;
  g_autoptr(GInetAddress) address = NULL;
  GSocketFamily family;
  NbDnsAnswer answer = { 0 };
  GArray *entry;

  if (!record->name || !domain_valid ((name = normalize_name (record->name))) ||
      !name_in_domain (name, zone->domain))
    {
      g_debug ("zone %s: skipping record %s outside the zone", zone->domain, record->name);
      return;
    }
  entry = zone_add_name (zone, name);

  if (record->record_class && *record->record_class &&
      g_ascii_strcasecmp (record->record_class, "IN") != 0)
    {
      g_debug ("zone %s: skipping %s record of class %s", zone->domain, name, record->record_class);
      return;
    }
  if (record->type == NB_DNS_TYPE_A)
    family = G_SOCKET_FAMILY_IPV4;
  else if (record->type == NB_DNS_TYPE_AAAA)
    family = G_SOCKET_FAMILY_IPV6;
  else
    {
      g_debug ("zone %s: skipping %s record of type %" G_GINT64_FORMAT, zone->domain, name, record->type);
      return;
    }
  address = record->rdata ? g_inet_address_new_from_string (record->rdata) : NULL;
  if (!address || g_inet_address_get_family (address) != family)
    {
      g_debug ("zone %s: skipping %s record of type %" G_GINT64_FORMAT " with RData \"%s\"",
               zone->domain, name, record->type, record->rdata ? record->rdata : "");
      return;
    }
  answer.type = record->type;
  answer.ttl = (guint32) CLAMP (record->ttl, 0, G_MAXINT32);
  memcpy (answer.address, g_inet_address_to_bytes (address), g_inet_address_get_native_size (address));
  g_array_append_val (entry, answer);
}

static Zone *
zone_new (const NbCustomZone *custom)
{
  g_autofree char *domain = custom->domain ? normalize_name (custom->domain) : NULL;
  Zone *zone;

  if (!domain || !domain_valid (domain))
    {
      g_debug ("skipping zone with domain \"%s\"", custom->domain ? custom->domain : "");
      return NULL;
    }
  zone = g_new0 (Zone, 1);
  zone->domain = g_steal_pointer (&domain);
  zone->n_labels = 1;
  for (const char *p = zone->domain; *p; p++)
    zone->n_labels += *p == '.';
  zone->authoritative = !custom->non_authoritative;
  zone->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  zone_name_entry (zone, zone->domain);  /* the apex exists */
  for (guint i = 0; custom->records && i < custom->records->len; i++)
    zone_add_record (zone, g_ptr_array_index (custom->records, i));
  return zone;
}

void
nb_dns_server_set_zones (NbDnsServer     *self,
                         const GPtrArray *zones)
{
  g_autoptr(GPtrArray) fresh = g_ptr_array_new_with_free_func ((GDestroyNotify) zone_free);

  g_return_if_fail (NB_IS_DNS_SERVER (self));

  for (guint i = 0; zones && i < zones->len; i++)
    {
      Zone *zone = zone_new (g_ptr_array_index ((GPtrArray *) zones, i));

      if (zone)
        g_ptr_array_add (fresh, zone);
    }
  g_debug ("serving %u zone(s)", fresh->len);
  g_clear_pointer (&self->zones, g_ptr_array_unref);
  self->zones = g_steal_pointer (&fresh);
}

static Zone *
find_zone (NbDnsServer *self, const char *name)
{
  Zone *best = NULL;

  for (guint i = 0; i < self->zones->len; i++)
    {
      Zone *zone = g_ptr_array_index (self->zones, i);

      if (name_in_domain (name, zone->domain) &&
          (!best || strlen (zone->domain) > strlen (best->domain)))
        best = zone;
    }
  return best;
}

/* ---- answering --------------------------------------------------------- */

static guint
wire_label_count (const NbDnsQuery *q)
{
  guint n = 0;

  for (gsize p = 0; p < q->qname_wire_len && q->qname_wire[p] != 0; p += 1 + q->qname_wire[p])
    n++;
  return n;
}

static GBytes *
negative_response (const NbDnsQuery *q, guint rcode, const Zone *zone)
{
  /* The zone's labels are the last ones of the name; a domain that
   * matched through escapes could disagree: then no SOA. */
  if (zone->n_labels <= wire_label_count (q))
    return nb_dns_response_build_negative (q, rcode, zone->authoritative, zone->n_labels,
                                           NB_DNS_SERVER_NEGATIVE_TTL);
  return nb_dns_response_build (q, rcode, zone->authoritative, NULL, 0);
}

static GBytes *
answer_query (NbDnsServer *self, const NbDnsQuery *q, guint *rcode)
{
  g_autoptr(GArray) answers = NULL;
  Zone *zone;
  GArray *entry;

  if (q->qclass != NB_DNS_CLASS_IN && q->qclass != NB_DNS_CLASS_ANY)
    {
      *rcode = NB_DNS_RCODE_REFUSED;
      return nb_dns_response_build (q, *rcode, FALSE, NULL, 0);
    }
  zone = find_zone (self, q->name);
  if (!zone)
    {
      *rcode = NB_DNS_RCODE_REFUSED;
      return nb_dns_response_build (q, *rcode, FALSE, NULL, 0);
    }
  entry = g_hash_table_lookup (zone->names, q->name);
  if (!entry)
    {
      *rcode = NB_DNS_RCODE_NXDOMAIN;
      return negative_response (q, *rcode, zone);
    }

  *rcode = NB_DNS_RCODE_NOERROR;
  answers = g_array_new (FALSE, FALSE, sizeof (NbDnsAnswer));
  for (guint i = 0; i < entry->len; i++)
    {
      const NbDnsAnswer *a = &g_array_index (entry, NbDnsAnswer, i);

      if (q->qtype == a->type || q->qtype == NB_DNS_TYPE_ANY)
        g_array_append_val (answers, *a);
    }
  if (answers->len == 0)
    return negative_response (q, *rcode, zone);
  return nb_dns_response_build (q, *rcode, zone->authoritative,
                                (const NbDnsAnswer *) answers->data, answers->len);
}

static void
handle_datagram (NbDnsServer *self, GSocketAddress *from, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = NULL;
  NbDnsQuery q;
  guint rcode;

  self->counters.queries++;
  if (nb_dns_query_parse (data, len, &q, &error))
    response = answer_query (self, &q, &rcode);
  else
    {
      g_debug ("query of %" G_GSIZE_FORMAT " bytes: %s", len, error->message);
      if (error->code == NB_DNS_ERROR_SHORT || error->code == NB_DNS_ERROR_NOT_QUERY)
        {
          self->counters.dropped++;
          return;
        }
      rcode = error->code == NB_DNS_ERROR_NOT_IMPLEMENTED ? NB_DNS_RCODE_NOTIMP : NB_DNS_RCODE_FORMERR;
      response = nb_dns_response_build (&q, rcode, FALSE, NULL, 0);
    }
  if (q.has_question)
    g_debug ("query %u %s type %u class %u: rcode %u", q.id, q.name, q.qtype, q.qclass, rcode);

  g_clear_error (&error);
  if (g_socket_send_to (self->socket, from, g_bytes_get_data (response, NULL),
                        g_bytes_get_size (response), NULL, &error) < 0)
    {
      g_debug ("sending a response: %s", error->message);
      self->counters.dropped++;
      return;
    }
  if (rcode == NB_DNS_RCODE_NOERROR || rcode == NB_DNS_RCODE_NXDOMAIN)
    self->counters.answered++;
  else
    self->counters.refused++;
}

static gboolean
socket_readable_cb (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  NbDnsServer *self = user_data;

  for (guint i = 0; i < MAX_DATAGRAMS_PER_DISPATCH && self->socket; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) from = NULL;
      gssize n = g_socket_receive_from (socket, &from, (char *) self->buffer, RECEIVE_BUFFER_SIZE,
                                        NULL, &error);

      if (n < 0)
        {
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_debug ("receiving: %s", error->message);
          break;
        }
      handle_datagram (self, from, self->buffer, n);
    }
  return G_SOURCE_CONTINUE;
}

/* ---- lifecycle --------------------------------------------------------- */

static gboolean
set_int_option (GSocket *socket, int level, int option, const char *what, GError **error)
{
  int one = 1;

  if (setsockopt (g_socket_get_fd (socket), level, option, &one, sizeof one) < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "setting %s: %s", what,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

NbDnsServer *
nb_dns_server_new (GInetSocketAddress *listen,
                   GError            **error)
{
  g_autoptr(NbDnsServer) self = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GMainContext) context = NULL;
  g_autofree char *listen_text = NULL;
  struct sockaddr_storage native;
  gsize native_len;
  GSocketFamily family;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (listen), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  family = g_socket_address_get_family (G_SOCKET_ADDRESS (listen));
  listen_text = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (listen));
  socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (!socket)
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  /* Not g_socket_bind(): with reuse it also sets SO_REUSEPORT on UDP,
   * which would let a second server share (and steal) our queries. */
  if (!set_int_option (socket, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", error))
    return NULL;
  if (family == G_SOCKET_FAMILY_IPV6)
    {
      if (!set_int_option (socket, IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", error))
        return NULL;
    }
  else if (!set_int_option (socket, IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", error))
    return NULL;

  native_len = g_socket_address_get_native_size (G_SOCKET_ADDRESS (listen));
  if (!g_socket_address_to_native (G_SOCKET_ADDRESS (listen), &native, sizeof native, error))
    return NULL;
  if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, native_len) < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "binding DNS server to %s: %s",
                   listen_text, g_strerror (errsv));
      return NULL;
    }

  self = g_object_new (NB_TYPE_DNS_SERVER, NULL);
  self->local_address = G_INET_SOCKET_ADDRESS (g_socket_get_local_address (socket, error));
  if (!self->local_address)
    return NULL;
  self->socket = g_steal_pointer (&socket);
  self->source = g_socket_create_source (self->socket, G_IO_IN, NULL);
  g_source_set_callback (self->source, G_SOURCE_FUNC (socket_readable_cb), self, NULL);
  g_source_set_name (self->source, "nb-dns-server");
  context = g_main_context_ref_thread_default ();
  g_source_attach (self->source, context);
  g_debug ("DNS server on %s (port %u)", listen_text,
           g_inet_socket_address_get_port (self->local_address));
  return g_steal_pointer (&self);
}

GInetSocketAddress *
nb_dns_server_get_local_address (NbDnsServer *self)
{
  g_return_val_if_fail (NB_IS_DNS_SERVER (self), NULL);

  return self->socket ? self->local_address : NULL;
}

void
nb_dns_server_get_counters (NbDnsServer         *self,
                            NbDnsServerCounters *out)
{
  g_return_if_fail (NB_IS_DNS_SERVER (self));
  g_return_if_fail (out != NULL);

  *out = self->counters;
}

void
nb_dns_server_stop (NbDnsServer *self)
{
  g_return_if_fail (NB_IS_DNS_SERVER (self));

  if (self->source)
    {
      g_source_destroy (self->source);
      g_clear_pointer (&self->source, g_source_unref);
    }
  if (self->socket)
    {
      g_socket_close (self->socket, NULL);
      g_clear_object (&self->socket);
      g_debug ("DNS server stopped (%" G_GUINT64_FORMAT " queries, %" G_GUINT64_FORMAT
               " answered, %" G_GUINT64_FORMAT " refused, %" G_GUINT64_FORMAT " dropped)",
               self->counters.queries, self->counters.answered, self->counters.refused,
               self->counters.dropped);
    }
}

static void
nb_dns_server_dispose (GObject *object)
{
  NbDnsServer *self = NB_DNS_SERVER (object);

  nb_dns_server_stop (self);
  G_OBJECT_CLASS (nb_dns_server_parent_class)->dispose (object);
}

static void
nb_dns_server_finalize (GObject *object)
{
  NbDnsServer *self = NB_DNS_SERVER (object);

  g_clear_object (&self->local_address);
  g_clear_pointer (&self->zones, g_ptr_array_unref);
  g_free (self->buffer);
  G_OBJECT_CLASS (nb_dns_server_parent_class)->finalize (object);
}

static void
nb_dns_server_init (NbDnsServer *self)
{
  self->zones = g_ptr_array_new_with_free_func ((GDestroyNotify) zone_free);
  self->buffer = g_malloc (RECEIVE_BUFFER_SIZE);
}

static void
nb_dns_server_class_init (NbDnsServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_dns_server_dispose;
  object_class->finalize = nb_dns_server_finalize;
}
