/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/dns-server.c: a real NbDnsServer on 127.0.0.1, asked
 * over UDP by a GSocket client (and by dig when it is installed). */
#include "config.h"

#include <string.h>

#include "dns-msg.h"
#include "dns-server.h"
#include "loop-util.h"
#include "network-map.h"

#define WAIT_MS 5000

typedef struct {
  NbDnsServer *server;
  GSocket *client;
  GSocketAddress *server_address;
  guint16 next_id;
} Fixture;

typedef struct {
  guint16 id;
  guint16 flags;
  guint rcode;
  guint qdcount, ancount, nscount, arcount;
  char *qname_wire;          /* echoed question name, as text with case */
  GPtrArray *answers;        /* "A 100.64.0.7 300" */
} Reply;

static void
reply_free (Reply *r)
{
  g_free (r->qname_wire);
  g_ptr_array_unref (r->answers);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reply, reply_free)

/* ---- zones ------------------------------------------------------------- */

static NbDnsRecord *
record_new (const char *name, gint64 type, const char *rdata)
{
  NbDnsRecord *r = g_new0 (NbDnsRecord, 1);

  r->name = g_strdup (name);
  r->type = type;
  r->record_class = g_strdup ("IN");
  r->ttl = 300;
  r->rdata = g_strdup (rdata);
  return r;
}

static NbCustomZone *
zone_new (const char *domain, gboolean non_authoritative)
{
  NbCustomZone *z = g_new0 (NbCustomZone, 1);

  z->domain = g_strdup (domain);
  z->records = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_dns_record_free);
  z->non_authoritative = non_authoritative;
  return z;
}

static GPtrArray *
standard_zones (void)
{
  GPtrArray *zones = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_custom_zone_free);
  NbCustomZone *z = zone_new ("netbird.test.", FALSE);

  /* As NetBird's management sends them: no trailing dot on names. */
  g_ptr_array_add (z->records, record_new ("peer-b.netbird.test", 1, "100.64.0.7"));
  g_ptr_array_add (z->records, record_new ("peer-b.netbird.test", 28, "fd00::7"));
  /* Variations: trailing dot, upper case. */
  g_ptr_array_add (z->records, record_new ("Peer-C.NetBird.Test.", 1, "100.64.0.8"));
  /* Skipped records whose names still exist: CNAME, A with an IPv6 RData. */
  g_ptr_array_add (z->records, record_new ("peer-d.netbird.test", 5, "peer-b.netbird.test."));
  g_ptr_array_add (z->records, record_new ("peer-e.netbird.test", 1, "fd00::1"));
  /* Outside its zone: skipped. */
  g_ptr_array_add (z->records, record_new ("stray.example.org", 1, "192.0.2.1"));
  /* Makes b.netbird.test an empty non-terminal. */
  g_ptr_array_add (z->records, record_new ("a.b.netbird.test", 1, "100.64.0.9"));
  g_ptr_array_add (zones, z);

  z = zone_new ("Other.Example", TRUE);
  g_ptr_array_add (z->records, record_new ("host.other.example.", 1, "10.0.0.1"));
  g_ptr_array_add (zones, z);
  return zones;
}

/* ---- client ------------------------------------------------------------ */

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) listen = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GPtrArray) zones = standard_zones ();

  f->server = nb_dns_server_new (G_INET_SOCKET_ADDRESS (listen), &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->server);
  nb_dns_server_set_zones (f->server, zones);
  f->server_address = g_object_ref (G_SOCKET_ADDRESS (nb_dns_server_get_local_address (f->server)));
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (f->server_address)), !=, 0);

  f->client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (f->client, FALSE);
  g_assert_true (g_socket_bind (f->client, any, FALSE, &error));
  g_assert_no_error (error);
  f->next_id = 0x4000;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  nb_dns_server_stop (f->server);
  g_assert_null (nb_dns_server_get_local_address (f->server));
  g_clear_object (&f->server);
  g_clear_object (&f->client);
  g_clear_object (&f->server_address);
  drain_context ();
}

typedef struct {
  gboolean done;
  GBytes *data;
} Receive;

static gboolean
client_readable_cb (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Receive *rx = user_data;
  guint8 buf[65536];
  gssize n = g_socket_receive (socket, (char *) buf, sizeof buf, NULL, NULL);

  if (n < 0)
    return G_SOURCE_CONTINUE;
  rx->data = g_bytes_new (buf, n);
  rx->done = TRUE;
  return G_SOURCE_REMOVE;
}

static void
send_raw (Fixture *f, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_socket_send_to (f->client, f->server_address, (const char *) data, len, NULL, &error),
                   ==, (gssize) len);
  g_assert_no_error (error);
}

/* Sends @query and waits for one datagram back. */
static GBytes *
exchange (Fixture *f, GBytes *query)
{
  Receive rx = { 0 };
  g_autoptr(GSource) source = g_socket_create_source (f->client, G_IO_IN, NULL);

  g_source_set_callback (source, G_SOURCE_FUNC (client_readable_cb), &rx, NULL);
  g_source_attach (source, NULL);
  send_raw (f, g_bytes_get_data (query, NULL), g_bytes_get_size (query));
  if (!run_until (&rx.done, WAIT_MS))
    g_error ("no DNS reply within %d ms", WAIT_MS);
  g_source_destroy (source);
  return rx.data;
}

static guint16
get16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

/* Parses what our server writes: the question, then answers owned by a
 * pointer to it. */
static Reply *
parse_reply (GBytes *bytes, guint16 want_id)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (bytes, &len);
  Reply *r = g_new0 (Reply, 1);
  gsize pos = 12;
  g_autoptr(GString) qname = g_string_new (NULL);

  r->answers = g_ptr_array_new_with_free_func (g_free);
  g_assert_cmpuint (len, >=, 12);
  r->id = get16 (d);
  r->flags = get16 (d + 2);
  r->rcode = r->flags & 0x0F;
  r->qdcount = get16 (d + 4);
  r->ancount = get16 (d + 6);
  r->nscount = get16 (d + 8);
  r->arcount = get16 (d + 10);
  g_assert_cmpuint (r->id, ==, want_id);
  g_assert_true (r->flags & NB_DNS_FLAG_QR);
  g_assert_false (r->flags & NB_DNS_FLAG_RA);
  if (r->qdcount)
    {
      g_assert_cmpuint (r->qdcount, ==, 1);
      while (d[pos])
        {
          g_assert_cmpuint (pos + 1 + d[pos], <, len);
          if (qname->len)
            g_string_append_c (qname, '.');
          g_string_append_len (qname, (const char *) d + pos + 1, d[pos]);
          pos += 1 + d[pos];
        }
      pos += 1 + 4;
      r->qname_wire = g_string_free (g_steal_pointer (&qname), FALSE);
    }
  for (guint i = 0; i < r->ancount; i++)
    {
      guint16 type, rdlen;
      guint32 ttl;
      g_autoptr(GInetAddress) addr = NULL;
      g_autofree char *text = NULL;

      g_assert_cmpuint (pos + 12, <=, len);
      g_assert_cmpuint (get16 (d + pos), ==, 0xC00C);
      type = get16 (d + pos + 2);
      g_assert_cmpuint (get16 (d + pos + 4), ==, NB_DNS_CLASS_IN);
      ttl = ((guint32) get16 (d + pos + 6) << 16) | get16 (d + pos + 8);
      rdlen = get16 (d + pos + 10);
      pos += 12;
      g_assert_cmpuint (pos + rdlen, <=, len);
      g_assert_cmpuint (rdlen, ==, type == NB_DNS_TYPE_A ? 4 : 16);
      addr = g_inet_address_new_from_bytes (d + pos, type == NB_DNS_TYPE_A ? G_SOCKET_FAMILY_IPV4
                                                                           : G_SOCKET_FAMILY_IPV6);
      text = g_inet_address_to_string (addr);
      g_ptr_array_add (r->answers, g_strdup_printf ("%s %s %u", type == NB_DNS_TYPE_A ? "A" : "AAAA",
                                                    text, ttl));
      pos += rdlen;
    }
  return r;
}

static Reply *
ask_full (Fixture *f, const char *name, guint16 qtype, guint16 qclass, guint16 edns)
{
  guint16 id = f->next_id++;
  g_autoptr(GBytes) query = nb_dns_query_build (id, name, qtype, qclass, edns);
  g_autoptr(GBytes) response = NULL;

  g_assert_nonnull (query);
  response = exchange (f, query);
  return parse_reply (response, id);
}

static Reply *
ask (Fixture *f, const char *name, guint16 qtype)
{
  return ask_full (f, name, qtype, NB_DNS_CLASS_IN, 0);
}

static void
assert_answers (Reply *r, const char *const *want)
{
  g_autofree char *got = NULL;
  g_autofree char *expected = g_strjoinv (", ", (char **) want);

  g_ptr_array_add (r->answers, NULL);
  got = g_strjoinv (", ", (char **) r->answers->pdata);
  g_ptr_array_remove_index (r->answers, r->answers->len - 1);
  g_assert_cmpstr (got, ==, expected);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_a_aaaa_any (Fixture *f, gconstpointer data)
{
  g_autoptr(Reply) a = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) aaaa = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_AAAA);
  g_autoptr(Reply) any = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_ANY);
  g_autoptr(Reply) edns = ask_full (f, "peer-b.netbird.test", NB_DNS_TYPE_A, NB_DNS_CLASS_IN, 1232);
  g_autoptr(Reply) class_any = ask_full (f, "peer-b.netbird.test", NB_DNS_TYPE_A, NB_DNS_CLASS_ANY, 0);
  NbDnsServerCounters c;

  g_assert_cmpuint (a->rcode, ==, NB_DNS_RCODE_NOERROR);
  g_assert_true (a->flags & NB_DNS_FLAG_AA);
  g_assert_true (a->flags & NB_DNS_FLAG_RD);
  g_assert_false (a->flags & NB_DNS_FLAG_TC);
  g_assert_cmpstr (a->qname_wire, ==, "peer-b.netbird.test");
  g_assert_cmpuint (a->nscount, ==, 0);
  g_assert_cmpuint (a->arcount, ==, 0);
  assert_answers (a, (const char *[]) { "A 100.64.0.7 300", NULL });

  g_assert_cmpuint (aaaa->rcode, ==, NB_DNS_RCODE_NOERROR);
  assert_answers (aaaa, (const char *[]) { "AAAA fd00::7 300", NULL });

  g_assert_cmpuint (any->rcode, ==, NB_DNS_RCODE_NOERROR);
  assert_answers (any, (const char *[]) { "A 100.64.0.7 300", "AAAA fd00::7 300", NULL });

  /* EDNS: the OPT comes back. */
  g_assert_cmpuint (edns->arcount, ==, 1);
  assert_answers (edns, (const char *[]) { "A 100.64.0.7 300", NULL });

  assert_answers (class_any, (const char *[]) { "A 100.64.0.7 300", NULL });

  nb_dns_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.queries, ==, 5);
  g_assert_cmpuint (c.answered, ==, 5);
  g_assert_cmpuint (c.refused, ==, 0);
  g_assert_cmpuint (c.dropped, ==, 0);
}

static void
test_negative (Fixture *f, gconstpointer data)
{
  g_autoptr(Reply) nx = ask (f, "nope.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) nx_below = ask (f, "x.peer-b.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) nodata = ask (f, "peer-c.netbird.test", NB_DNS_TYPE_AAAA);
  g_autoptr(Reply) nodata_mx = ask (f, "peer-b.netbird.test", 15);
  g_autoptr(Reply) skipped_cname = ask (f, "peer-d.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) skipped_bad = ask (f, "peer-e.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) ent = ask (f, "b.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) apex = ask (f, "netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) deep = ask (f, "a.b.netbird.test", NB_DNS_TYPE_A);

  g_assert_cmpuint (nx->rcode, ==, NB_DNS_RCODE_NXDOMAIN);
  g_assert_true (nx->flags & NB_DNS_FLAG_AA);
  g_assert_cmpuint (nx->ancount, ==, 0);
  g_assert_cmpuint (nx->nscount, ==, 1);  /* the SOA */
  g_assert_cmpuint (nx_below->rcode, ==, NB_DNS_RCODE_NXDOMAIN);

  for (Reply **r = (Reply *[]) { nodata, nodata_mx, skipped_cname, skipped_bad, ent, apex, NULL }; *r; r++)
    {
      g_assert_cmpuint ((*r)->rcode, ==, NB_DNS_RCODE_NOERROR);
      g_assert_cmpuint ((*r)->ancount, ==, 0);
      g_assert_cmpuint ((*r)->nscount, ==, 1);
      g_assert_true ((*r)->flags & NB_DNS_FLAG_AA);
    }
  assert_answers (deep, (const char *[]) { "A 100.64.0.9 300", NULL });
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(Reply) outside = ask (f, "example.com", NB_DNS_TYPE_A);
  g_autoptr(Reply) not_boundary = ask (f, "xnetbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) parent = ask (f, "test", NB_DNS_TYPE_A);
  g_autoptr(Reply) stray = ask (f, "stray.example.org", NB_DNS_TYPE_A);
  g_autoptr(Reply) chaos = ask_full (f, "peer-b.netbird.test", NB_DNS_TYPE_A, 3, 0);
  g_autoptr(Reply) root = ask (f, ".", 2);
  NbDnsServerCounters c;

  for (Reply **r = (Reply *[]) { outside, not_boundary, parent, stray, chaos, root, NULL }; *r; r++)
    {
      g_assert_cmpuint ((*r)->rcode, ==, NB_DNS_RCODE_REFUSED);
      g_assert_cmpuint ((*r)->ancount, ==, 0);
      g_assert_cmpuint ((*r)->nscount, ==, 0);
      g_assert_false ((*r)->flags & NB_DNS_FLAG_AA);
      g_assert_cmpuint ((*r)->qdcount, ==, 1);
    }
  nb_dns_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.refused, ==, 6);
  g_assert_cmpuint (c.answered, ==, 0);
}

static void
test_case_and_dots (Fixture *f, gconstpointer data)
{
  g_autoptr(Reply) upper = ask (f, "PEER-B.NetBird.TEST", NB_DNS_TYPE_A);
  g_autoptr(Reply) dotted = ask (f, "peer-b.netbird.test.", NB_DNS_TYPE_A);
  g_autoptr(Reply) c = ask (f, "peer-c.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) other = ask (f, "HOST.other.example", NB_DNS_TYPE_A);
  g_autoptr(Reply) other_nx = ask (f, "nope.other.example", NB_DNS_TYPE_A);

  assert_answers (upper, (const char *[]) { "A 100.64.0.7 300", NULL });
  /* The question comes back as sent (0x20 randomisation). */
  g_assert_cmpstr (upper->qname_wire, ==, "PEER-B.NetBird.TEST");
  assert_answers (dotted, (const char *[]) { "A 100.64.0.7 300", NULL });
  assert_answers (c, (const char *[]) { "A 100.64.0.8 300", NULL });
  /* A non-authoritative zone: answers without AA. */
  assert_answers (other, (const char *[]) { "A 10.0.0.1 300", NULL });
  g_assert_false (other->flags & NB_DNS_FLAG_AA);
  g_assert_cmpuint (other_nx->rcode, ==, NB_DNS_RCODE_NXDOMAIN);
  g_assert_false (other_nx->flags & NB_DNS_FLAG_AA);
}

static void
test_set_zones_live (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) zones = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_custom_zone_free);
  NbCustomZone *z = zone_new ("netbird.test", FALSE);
  g_autoptr(Reply) before = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_A);
  g_autoptr(Reply) gone = NULL;
  g_autoptr(Reply) added = NULL;
  g_autoptr(Reply) other_gone = NULL;
  g_autoptr(Reply) none = NULL;

  assert_answers (before, (const char *[]) { "A 100.64.0.7 300", NULL });

  g_ptr_array_add (z->records, record_new ("peer-z.netbird.test", 1, "100.64.0.99"));
  g_ptr_array_add (zones, z);
  nb_dns_server_set_zones (f->server, zones);
  /* Copied: freeing ours changes nothing. */
  g_clear_pointer (&zones, g_ptr_array_unref);

  gone = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_A);
  added = ask (f, "peer-z.netbird.test", NB_DNS_TYPE_A);
  other_gone = ask (f, "host.other.example", NB_DNS_TYPE_A);
  g_assert_cmpuint (gone->rcode, ==, NB_DNS_RCODE_NXDOMAIN);
  assert_answers (added, (const char *[]) { "A 100.64.0.99 300", NULL });
  g_assert_cmpuint (other_gone->rcode, ==, NB_DNS_RCODE_REFUSED);

  nb_dns_server_set_zones (f->server, NULL);
  none = ask (f, "peer-z.netbird.test", NB_DNS_TYPE_A);
  g_assert_cmpuint (none->rcode, ==, NB_DNS_RCODE_REFUSED);
}

static gboolean
dropped_at_least (gpointer data)
{
  gpointer *args = data;
  NbDnsServerCounters c;

  nb_dns_server_get_counters (args[0], &c);
  return c.dropped >= GPOINTER_TO_UINT (args[1]);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const guint8 short_one[] = { 0x12, 0x34, 0x01 };
  static const guint8 empty[] = { 0 };
  g_autoptr(GBytes) good = nb_dns_query_build (0x7777, "peer-b.netbird.test", NB_DNS_TYPE_A, NB_DNS_CLASS_IN, 0);
  g_autoptr(GByteArray) response = g_byte_array_new ();
  g_autoptr(GByteArray) formerr = g_byte_array_new ();
  g_autoptr(GByteArray) notimp = g_byte_array_new ();
  g_autoptr(GBytes) formerr_bytes = NULL;
  g_autoptr(GBytes) notimp_bytes = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(Reply) r = NULL;
  g_autoptr(Reply) after = NULL;
  gpointer args[2] = { f->server, GUINT_TO_POINTER (3) };
  NbDnsServerCounters c;

  /* No reply: too short, empty, a response. */
  send_raw (f, short_one, sizeof short_one);
  send_raw (f, empty, 0);
  g_byte_array_append (response, g_bytes_get_data (good, NULL), g_bytes_get_size (good));
  response->data[2] |= 0x80;
  send_raw (f, response->data, response->len);
  g_assert_true (run_until_cond (dropped_at_least, args, WAIT_MS));

  /* FORMERR: header fine, a label running past the end. */
  g_byte_array_append (formerr, g_bytes_get_data (good, NULL), 14);
  formerr->data[12] = 60;
  formerr_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&formerr));
  reply = exchange (f, formerr_bytes);
  r = parse_reply (reply, 0x7777);
  g_assert_cmpuint (r->rcode, ==, NB_DNS_RCODE_FORMERR);
  g_assert_cmpuint (r->qdcount, ==, 0);
  g_clear_pointer (&r, reply_free);
  g_clear_pointer (&reply, g_bytes_unref);

  /* NOTIMP: opcode 4 (NOTIFY). */
  g_byte_array_append (notimp, g_bytes_get_data (good, NULL), g_bytes_get_size (good));
  notimp->data[2] = (4 << 3);
  notimp_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&notimp));
  reply = exchange (f, notimp_bytes);
  r = parse_reply (reply, 0x7777);
  g_assert_cmpuint (r->rcode, ==, NB_DNS_RCODE_NOTIMP);
  g_assert_cmpuint ((r->flags >> 11) & 0x0F, ==, 4);

  /* Random datagrams (deterministic), then a real query still works. */
  {
    g_autoptr(GRand) rand = g_rand_new_with_seed (53);

    for (guint i = 0; i < 200; i++)
      {
        guint8 buf[64];
        gsize len = g_rand_int_range (rand, 0, sizeof buf);

        for (gsize j = 0; j < len; j++)
          buf[j] = g_rand_int_range (rand, 0, 256);
        if (len > 2)
          buf[2] |= 0x80;  /* "responses" or short: all dropped, no replies to drain */
        send_raw (f, buf, len);
      }
  }
  args[1] = GUINT_TO_POINTER (3 + 200);
  g_assert_true (run_until_cond (dropped_at_least, args, WAIT_MS));
  after = ask (f, "peer-b.netbird.test", NB_DNS_TYPE_A);
  assert_answers (after, (const char *[]) { "A 100.64.0.7 300", NULL });

  nb_dns_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.queries, ==, 3 + 2 + 200 + 1);
  g_assert_cmpuint (c.dropped, ==, 3 + 200);
  g_assert_cmpuint (c.refused, ==, 2);
  g_assert_cmpuint (c.answered, ==, 1);
}

typedef struct {
  gboolean done;
  char *out;
  GError *error;
} DigRun;

static void
dig_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DigRun *run = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, NULL, &run->error);
  run->done = TRUE;
}

/* dig runs as a child while our main loop serves it. */
static char *
dig (Fixture *f, const char *const *query_args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *port = g_strdup_printf ("%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (f->server_address)));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  DigRun run = { 0 };

  g_ptr_array_add (argv, (char *) "dig");
  g_ptr_array_add (argv, (char *) "@127.0.0.1");
  g_ptr_array_add (argv, (char *) "-p");
  g_ptr_array_add (argv, port);
  g_ptr_array_add (argv, (char *) "+time=3");
  g_ptr_array_add (argv, (char *) "+tries=1");
  for (guint i = 0; query_args[i]; i++)
    g_ptr_array_add (argv, (char *) query_args[i]);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, dig_done_cb, &run);
  if (!run_until (&run.done, 10000))
    g_error ("dig did not finish");
  g_assert_no_error (run.error);
  return run.out;
}

static void
test_dig (Fixture *f, gconstpointer data)
{
  g_autofree char *dig_path = g_find_program_in_path ("dig");
  g_autofree char *a = NULL;
  g_autofree char *aaaa = NULL;
  g_autofree char *upper = NULL;
  g_autofree char *nx = NULL;
  g_autofree char *refused = NULL;
  g_autofree char *noedns = NULL;

  if (!dig_path)
    {
      g_test_skip ("dig (bind9-dnsutils) is not installed");
      return;
    }
  a = dig (f, (const char *[]) { "peer-b.netbird.test", "A", "+short", NULL });
  g_assert_cmpstr (a, ==, "100.64.0.7\n");
  aaaa = dig (f, (const char *[]) { "peer-b.netbird.test", "AAAA", "+short", NULL });
  g_assert_cmpstr (aaaa, ==, "fd00::7\n");
  upper = dig (f, (const char *[]) { "Peer-C.NETBIRD.test.", "A", "+short", "+noedns", NULL });
  g_assert_cmpstr (upper, ==, "100.64.0.8\n");
  noedns = dig (f, (const char *[]) { "host.other.example", "+noall", "+answer", "+noedns", NULL });
  g_assert_nonnull (strstr (noedns, "host.other.example."));
  g_assert_nonnull (strstr (noedns, "10.0.0.1"));
  nx = dig (f, (const char *[]) { "nope.netbird.test", "A", "+noall", "+comments", NULL });
  g_assert_nonnull (strstr (nx, "status: NXDOMAIN"));
  g_assert_nonnull (strstr (nx, "flags: qr aa rd;"));
  /* dig warns "recursion requested but not available" (RA 0): expected. */
  g_assert_null (strstr (nx, "FORMERR"));
  refused = dig (f, (const char *[]) { "example.com", "A", "+noall", "+comments", NULL });
  g_assert_nonnull (strstr (refused, "status: REFUSED"));
}

static void
test_bind_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) listen = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocket) plain = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_autoptr(GSocketAddress) taken = NULL;
  g_autoptr(NbDnsServer) second = NULL;
  g_autoptr(NbDnsServer) freebind = NULL;
  g_autoptr(GInetAddress) absent = g_inet_address_new_from_string ("192.0.2.53");
  g_autoptr(GSocketAddress) absent_addr = g_inet_socket_address_new (absent, 0);

  g_assert_no_error (error);
  /* A port held by a socket without SO_REUSEADDR: EADDRINUSE. */
  g_assert_true (g_socket_bind (plain, listen, FALSE, &error));
  taken = g_socket_get_local_address (plain, &error);
  g_assert_no_error (error);
  second = nb_dns_server_new (G_INET_SOCKET_ADDRESS (taken), &error);
  g_assert_null (second);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);

  /* An address that no interface has: IP_FREEBIND binds anyway. */
  freebind = nb_dns_server_new (G_INET_SOCKET_ADDRESS (absent_addr), &error);
  g_assert_no_error (error);
  g_assert_nonnull (freebind);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add ("/dns-server/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("a-aaaa-any", test_a_aaaa_any);
  ADD ("negative", test_negative);
  ADD ("refused", test_refused);
  ADD ("case-and-dots", test_case_and_dots);
  ADD ("set-zones-live", test_set_zones_live);
  ADD ("garbage", test_garbage);
  ADD ("dig", test_dig);
#undef ADD
  g_test_add_func ("/dns-server/bind", test_bind_errors);
  return g_test_run ();
}
