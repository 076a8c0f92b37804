/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * DNS queries (dns-msg.h): nb_dns_query_parse() on one UDP datagram.
 *
 * A parsed query must have a bounded name; the responses built for it
 * (answers, negative with SOA, header-only errors) must fit the client's
 * size, and with QR cleared parse again as the same question: every
 * pointer and record the builder writes is one the parser accepts.
 */
#include "config.h"

#include "fuzz-common.h"
#include "dns-msg.h"

#include <string.h>

static void
check_reparse (const NbDnsQuery *q, GBytes *response)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (response, &len);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  g_autoptr(GError) error = NULL;
  NbDnsQuery again;

  g_assert_cmpuint (len, <=, nb_dns_query_max_response_size (q));
  g_assert_cmpuint (len, >=, NB_DNS_HEADER_LEN);
  g_assert_cmpuint ((data[0] << 8) | data[1], ==, q->id);
  g_assert_true (data[2] & 0x80);
  copy[2] &= 0x7f;
  g_assert_true (nb_dns_query_parse (copy, len, &again, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (again.name, ==, q->name);
  g_assert_cmpmem (again.qname_wire, again.qname_wire_len, q->qname_wire, q->qname_wire_len);
  g_assert_cmpuint (again.qtype, ==, q->qtype);
  g_assert_cmpuint (again.qclass, ==, q->qclass);
  g_assert_true (again.has_edns == q->has_edns);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  NbDnsQuery q;

  if (!nb_dns_query_parse (data, size, &q, &error))
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NB_DNS_ERROR);
      g_assert_false (q.has_question);
      if (error->code != NB_DNS_ERROR_SHORT && error->code != NB_DNS_ERROR_NOT_QUERY)
        {
          g_autoptr(GBytes) r = nb_dns_response_build (&q, NB_DNS_RCODE_FORMERR, FALSE, NULL, 0);
          /* An OPT seen before the error comes back. */
          g_assert_cmpuint (g_bytes_get_size (r), ==, NB_DNS_HEADER_LEN + (q.has_edns ? 11 : 0));
        }
      return 0;
    }

  g_assert_true (q.has_question);
  g_assert_cmpuint (q.qname_wire_len, >=, 1);
  g_assert_cmpuint (q.qname_wire_len, <=, NB_DNS_MAX_NAME_WIRE);
  g_assert_cmpuint (strlen (q.name), <=, NB_DNS_MAX_NAME_TEXT);
  for (const char *p = q.name; *p; p++)
    g_assert_false (g_ascii_isupper (*p));

  {
    NbDnsAnswer answers[64];
    guint labels = 0;

    for (guint i = 0; i < G_N_ELEMENTS (answers); i++)
      answers[i] = (NbDnsAnswer) { .type = i % 2 ? NB_DNS_TYPE_AAAA : NB_DNS_TYPE_A, .ttl = i,
                                   .address = { 100, 64, 0, i } };
    for (guint n = 0; n <= G_N_ELEMENTS (answers); n += 21)
      {
        g_autoptr(GBytes) r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, answers, n);
        check_reparse (&q, r);
      }
    for (gsize p = 0; q.qname_wire[p] != 0; p += 1 + q.qname_wire[p])
      labels++;
    for (guint z = 0; z <= labels; z++)
      {
        g_autoptr(GBytes) r = nb_dns_response_build_negative (&q, NB_DNS_RCODE_NXDOMAIN, TRUE, z, 60);
        check_reparse (&q, r);
      }
  }
  return 0;
}
