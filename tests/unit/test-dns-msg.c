/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/netbird/dns-msg.c: query parsing, response building. */
#include "config.h"

#include <string.h>

#include "dns-msg.h"

/* "peer-b.netbird.test" A IN, ID 0x1234, RD. */
static const guint8 query_a[] = {
  0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  6, 'p', 'e', 'e', 'r', '-', 'b', 7, 'n', 'e', 't', 'b', 'i', 'r', 'd', 4, 't', 'e', 's', 't', 0,
  0x00, 0x01, 0x00, 0x01,
};

/* The same with ARCOUNT 1: OPT, payload 4096, a COOKIE option as dig sends. */
static const guint8 query_a_edns[] = {
  0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
  6, 'p', 'e', 'e', 'r', '-', 'b', 7, 'n', 'e', 't', 'b', 'i', 'r', 'd', 4, 't', 'e', 's', 't', 0,
  0x00, 0x01, 0x00, 0x01,
  0, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
  0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
};

static GByteArray *
copy_of (const guint8 *data, gsize len)
{
  GByteArray *b = g_byte_array_new ();

  g_byte_array_append (b, data, len);
  return b;
}

static void
assert_refused (const guint8 *data, gsize len, gint code)
{
  g_autoptr(GError) error = NULL;
  NbDnsQuery q;

  g_assert_false (nb_dns_query_parse (data, len, &q, &error));
  g_assert_error (error, NB_DNS_ERROR, code);
  g_assert_false (q.has_question);
}

static void
test_parse_a (void)
{
  g_autoptr(GError) error = NULL;
  NbDnsQuery q;

  g_assert_true (nb_dns_query_parse (query_a, sizeof query_a, &q, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (q.id, ==, 0x1234);
  g_assert_cmpuint (q.opcode, ==, 0);
  g_assert_true (q.rd);
  g_assert_true (q.has_question);
  g_assert_cmpstr (q.name, ==, "peer-b.netbird.test");
  g_assert_cmpuint (q.qtype, ==, NB_DNS_TYPE_A);
  g_assert_cmpuint (q.qclass, ==, NB_DNS_CLASS_IN);
  g_assert_false (q.has_edns);
  g_assert_cmpmem (q.qname_wire, q.qname_wire_len, query_a + 12, 21);
  g_assert_cmpuint (nb_dns_query_max_response_size (&q), ==, 512);
}

static void
test_parse_edns (void)
{
  g_autoptr(GError) error = NULL;
  NbDnsQuery q;

  g_assert_true (nb_dns_query_parse (query_a_edns, sizeof query_a_edns, &q, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (q.name, ==, "peer-b.netbird.test");
  g_assert_true (q.has_edns);
  g_assert_cmpuint (q.edns_udp_size, ==, 4096);
  g_assert_cmpuint (nb_dns_query_max_response_size (&q), ==, NB_DNS_EDNS_UDP_SIZE);

  /* Two OPT records: FORMERR (RFC 6891 6.1.1). */
  {
    g_autoptr(GByteArray) b = copy_of (query_a_edns, sizeof query_a_edns);
    g_byte_array_append (b, query_a_edns + 37, sizeof query_a_edns - 37);
    b->data[11] = 2;
    assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
  }
  /* OPT with a truncated RDATA. */
  assert_refused (query_a_edns, sizeof query_a_edns - 1, NB_DNS_ERROR_MALFORMED);
  /* A payload size under 512 counts as 512. */
  {
    g_autoptr(GByteArray) b = copy_of (query_a_edns, sizeof query_a_edns);
    b->data[40] = 0x00;
    b->data[41] = 0x10;
    g_assert_true (nb_dns_query_parse (b->data, b->len, &q, NULL));
    g_assert_cmpuint (nb_dns_query_max_response_size (&q), ==, 512);
  }
}

static void
test_parse_case_and_escapes (void)
{
  static const guint8 mixed[] = {
    0xab, 0xcd, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    6, 'P', 'e', 'E', 'r', '-', 'B', 7, 'N', 'E', 'T', 'B', 'I', 'R', 'D', 4, 'T', 'e', 's', 't', 0,
    0x00, 0x1c, 0x00, 0x01,
  };
  static const guint8 odd[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    5, 'a', '.', 'b', '\\', 0x07, 4, 't', 'e', 's', 't', 0,
    0x00, 0x01, 0x00, 0x01,
  };
  static const guint8 root[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0, 0x00, 0x02, 0x00, 0x01,
  };
  NbDnsQuery q;

  g_assert_true (nb_dns_query_parse (mixed, sizeof mixed, &q, NULL));
  g_assert_cmpstr (q.name, ==, "peer-b.netbird.test");
  g_assert_cmpuint (q.qtype, ==, NB_DNS_TYPE_AAAA);
  g_assert_false (q.rd);
  /* The wire copy keeps the case as sent, for the echo. */
  g_assert_cmpmem (q.qname_wire, q.qname_wire_len, mixed + 12, 21);

  g_assert_true (nb_dns_query_parse (odd, sizeof odd, &q, NULL));
  g_assert_cmpstr (q.name, ==, "a\\.b\\\\\\007.test");

  g_assert_true (nb_dns_query_parse (root, sizeof root, &q, NULL));
  g_assert_cmpstr (q.name, ==, "");
  g_assert_cmpuint (q.qname_wire_len, ==, 1);
}

/*
 * With one question, which comes first, a pointer in the question name can
 * only point back into the name itself (which then repeats until the
 * length limit) or into the header (refused). Compression shows up in the
 * records after the question: an owner that points into the question.
 */
static void
test_parse_compression (void)
{
  /* "x.y" + pointer to "y": x.y.y.y... until over 255 bytes. */
  static const guint8 self_ref[] = {
    0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'x', 1, 'y', 0xC0, 14,
    0x00, 0x01, 0x00, 0x01,
  };
  /* An answer record "peer-c" + pointer to "netbird.test" at 19, and an
   * OPT after it. */
  static const guint8 with_answer[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    6, 'p', 'e', 'e', 'r', '-', 'b', 7, 'n', 'e', 't', 'b', 'i', 'r', 'd', 4, 't', 'e', 's', 't', 0,
    0x00, 0x01, 0x00, 0x01,
    6, 'p', 'e', 'e', 'r', '-', 'c', 0xC0, 19,
    0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 100, 64, 0, 9,
    0, 0x00, 0x29, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  /* "a" + a pointer into the header (where 00 01 at 4 reads as a name). */
  static const guint8 into_header[] = {
    0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'a', 0xC0, 0x04,
    0x00, 0x01, 0x00, 0x01,
  };
  /* "Test" + pointer to 12: Test.Test.Test... */
  static const guint8 tail_ptr[] = {
    0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    4, 'T', 'e', 's', 't', 0xC0, 12,
    0x00, 0x01, 0x00, 0x01,
  };
  g_autoptr(GByteArray) changed = NULL;
  g_autoptr(GError) error = NULL;
  NbDnsQuery q;

  assert_refused (self_ref, sizeof self_ref, NB_DNS_ERROR_MALFORMED);
  assert_refused (into_header, sizeof into_header, NB_DNS_ERROR_MALFORMED);
  assert_refused (tail_ptr, sizeof tail_ptr, NB_DNS_ERROR_MALFORMED);

  g_assert_true (nb_dns_query_parse (with_answer, sizeof with_answer, &q, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (q.name, ==, "peer-b.netbird.test");
  g_assert_true (q.has_edns);
  g_assert_cmpuint (q.edns_udp_size, ==, 512);

  /* The answer's pointer made forward (to the OPT's root at 60): refused. */
  changed = copy_of (with_answer, sizeof with_answer);
  changed->data[45] = 60;
  assert_refused (changed->data, changed->len, NB_DNS_ERROR_MALFORMED);

  /* ANCOUNT 2, ARCOUNT 0: the OPT would be an answer: refused. */
  changed->data[45] = 19;
  changed->data[7] = 2;
  changed->data[11] = 0;
  assert_refused (changed->data, changed->len, NB_DNS_ERROR_MALFORMED);
}

static void
test_parse_pointer_rules (void)
{
  /* Forward pointer: question "a" + pointer to offset 30 (after it). */
  static const guint8 forward[] = {
    0x00, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'a', 0xC0, 30,
    0x00, 0x01, 0x00, 0x01,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 't', 'e', 's', 't', 0,
  };
  /* Pointer to itself. */
  static const guint8 loop[] = {
    0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'a', 0xC0, 14,
    0x00, 0x01, 0x00, 0x01,
  };
  /* Two pointers pointing at each other: 14 -> 16 is forward. */
  static const guint8 mutual[] = {
    0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'a', 0xC0, 16, 0xC0, 14,
    0x00, 0x01, 0x00, 0x01,
  };
  /* Truncated pointer. */
  static const guint8 half[] = {
    0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    1, 'a', 0xC0,
  };
  /* Extended label type 0x40. */
  static const guint8 ext_label[] = {
    0x00, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x41, 'a', 0,
    0x00, 0x01, 0x00, 0x01,
  };

  assert_refused (forward, sizeof forward, NB_DNS_ERROR_MALFORMED);
  assert_refused (loop, sizeof loop, NB_DNS_ERROR_MALFORMED);
  assert_refused (mutual, sizeof mutual, NB_DNS_ERROR_MALFORMED);
  assert_refused (half, sizeof half, NB_DNS_ERROR_MALFORMED);
  assert_refused (ext_label, sizeof ext_label, NB_DNS_ERROR_MALFORMED);
}

static void
test_parse_malformed (void)
{
  NbDnsQuery q;

  /* Truncated header: every length below 12. */
  for (gsize len = 0; len < 12; len++)
    assert_refused (query_a, len, NB_DNS_ERROR_SHORT);

  /* Truncated question: every cut inside it. */
  for (gsize len = 12; len < sizeof query_a; len++)
    assert_refused (query_a, len, NB_DNS_ERROR_MALFORMED);

  /* QDCOUNT 0 and 2. */
  {
    g_autoptr(GByteArray) b = copy_of (query_a, sizeof query_a);
    b->data[5] = 0;
    assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
    b->data[5] = 2;
    assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
    g_byte_array_append (b, query_a + 12, sizeof query_a - 12);
    assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
  }

  /* Response bit set. */
  {
    g_autoptr(GByteArray) b = copy_of (query_a, sizeof query_a);
    b->data[2] |= 0x80;
    assert_refused (b->data, b->len, NB_DNS_ERROR_NOT_QUERY);
  }

  /* Opcode 5 (UPDATE): not implemented, header readable. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) b = copy_of (query_a, sizeof query_a);
    b->data[2] = (5 << 3) | 0x01;
    g_assert_false (nb_dns_query_parse (b->data, b->len, &q, &error));
    g_assert_error (error, NB_DNS_ERROR, NB_DNS_ERROR_NOT_IMPLEMENTED);
    g_assert_cmpuint (q.id, ==, 0x1234);
    g_assert_cmpuint (q.opcode, ==, 5);
    g_assert_true (q.rd);
  }

  /* Label of 64 bytes (0x40 is an extended label type: refused too), and
   * one of 63 that is fine. */
  {
    g_autoptr(GByteArray) b = copy_of (query_a, 12);
    guint8 label[64];

    memset (label, 'a', sizeof label);
    label[0] = 63;
    g_byte_array_append (b, label, 64);
    g_byte_array_append (b, (const guint8 *) "\0\0\1\0\1", 5);
    g_assert_true (nb_dns_query_parse (b->data, b->len, &q, NULL));
    g_assert_cmpuint (strlen (q.name), ==, 63);
    b->data[12] = 64;
    assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
  }

  /* Names of 255 bytes (fine) and 257 (refused): 4 x 63-byte labels = 256
   * wire bytes with the root; 3 x 63 + 61 = 254 + 1. */
  {
    for (guint last = 61; last <= 62; last++)
      {
        g_autoptr(GByteArray) b = copy_of (query_a, 12);
        guint8 label[64];
        g_autoptr(GError) error = NULL;

        memset (label, 'b', sizeof label);
        for (guint i = 0; i < 4; i++)
          {
            label[0] = i < 3 ? 63 : last;
            g_byte_array_append (b, label, 1 + label[0]);
          }
        g_byte_array_append (b, (const guint8 *) "\0\0\1\0\1", 5);
        if (last == 61)
          {
            g_assert_true (nb_dns_query_parse (b->data, b->len, &q, &error));
            g_assert_no_error (error);
            g_assert_cmpuint (q.qname_wire_len, ==, 255);
            g_assert_cmpuint (strlen (q.name), ==, 253);
          }
        else
          assert_refused (b->data, b->len, NB_DNS_ERROR_MALFORMED);
      }
  }
}

static void
test_response_a (void)
{
  NbDnsQuery q;
  NbDnsAnswer a = { .type = NB_DNS_TYPE_A, .ttl = 300, .address = { 100, 64, 0, 7 } };
  NbDnsAnswer aaaa = { .type = NB_DNS_TYPE_AAAA, .ttl = 0x80000000u,
                       .address = { 0xfd, 0x00, [15] = 0x07 } };
  NbDnsAnswer both[2];
  g_autoptr(GBytes) r = NULL;
  const guint8 *d;
  gsize len;

  g_assert_true (nb_dns_query_parse (query_a, sizeof query_a, &q, NULL));
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, &a, 1);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, sizeof query_a + 16);
  g_assert_cmpuint (d[0], ==, 0x12);
  g_assert_cmpuint (d[1], ==, 0x34);
  g_assert_cmpuint (d[2], ==, 0x85);  /* QR, opcode 0, AA, RD */
  g_assert_cmpuint (d[3], ==, 0x00);  /* RA 0, rcode 0 */
  g_assert_cmpmem (d + 4, 8, "\0\1\0\1\0\0\0\0", 8);
  g_assert_cmpmem (d + 12, sizeof query_a - 12, query_a + 12, sizeof query_a - 12);
  d += sizeof query_a;
  g_assert_cmpmem (d, 16, "\xc0\x0c\0\1\0\1\0\0\x01\x2c\0\4\x64\x40\0\7", 16);
  g_clear_pointer (&r, g_bytes_unref);

  /* Not authoritative, no RD, AAAA: TTL capped at 2^31-1. */
  q.rd = FALSE;
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, FALSE, &aaaa, 1);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, sizeof query_a + 28);
  g_assert_cmpuint (d[2], ==, 0x80);
  d += sizeof query_a;
  g_assert_cmpmem (d, 12, "\xc0\x0c\0\x1c\0\1\x7f\xff\xff\xff\0\x10", 12);
  g_assert_cmpmem (d + 12, 16, aaaa.address, 16);
  g_clear_pointer (&r, g_bytes_unref);

  /* Two answers: ANCOUNT 2. */
  both[0] = a;
  both[1] = aaaa;
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, both, 2);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, sizeof query_a + 16 + 28);
  g_assert_cmpuint (d[7], ==, 2);
}

static void
test_response_edns_and_errors (void)
{
  NbDnsQuery q;
  NbDnsAnswer a = { .type = NB_DNS_TYPE_A, .ttl = 300, .address = { 100, 64, 0, 7 } };
  g_autoptr(GBytes) r = NULL;
  const guint8 *d;
  gsize len;

  g_assert_true (nb_dns_query_parse (query_a_edns, sizeof query_a_edns, &q, NULL));
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, &a, 1);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, 37 + 16 + 11);
  g_assert_cmpuint (d[3], ==, 0x00);   /* AD/CD from the query are not copied */
  g_assert_cmpmem (d + 4, 8, "\0\1\0\1\0\0\0\1", 8);
  g_assert_cmpmem (d + 37 + 16, 11, "\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
  g_clear_pointer (&r, g_bytes_unref);

  /* NXDOMAIN, no SOA. */
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NXDOMAIN, TRUE, NULL, 0);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, 37 + 11);
  g_assert_cmpuint (d[2], ==, 0x85);
  g_assert_cmpuint (d[3], ==, 0x03);
  g_assert_cmpmem (d + 4, 8, "\0\1\0\0\0\0\0\1", 8);
  g_clear_pointer (&r, g_bytes_unref);

  /* NOTIMP for a header-only parse (opcode 2, STATUS). */
  {
    g_autoptr(GByteArray) b = copy_of (query_a, sizeof query_a);
    b->data[2] = (2 << 3);
    g_assert_false (nb_dns_query_parse (b->data, b->len, &q, NULL));
    r = nb_dns_response_build (&q, NB_DNS_RCODE_NOTIMP, FALSE, NULL, 0);
    d = g_bytes_get_data (r, &len);
    g_assert_cmpuint (len, ==, 12);
    g_assert_cmpmem (d, 12, "\x12\x34\x90\x04\0\0\0\0\0\0\0\0", 12);
  }
}

static void
test_response_negative_soa (void)
{
  NbDnsQuery q;
  g_autoptr(GBytes) r = NULL;
  const guint8 *d;
  gsize len;
  static const guint8 soa[] = {
    0xc0, 12 + 7,           /* owner: netbird.test */
    0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 60,
    0x00, 2 + 13 + 20,
    0xc0, 12 + 7,           /* MNAME */
    10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 0xc0, 12 + 7,
    0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x02, 0x58, 0, 1, 0x51, 0x80, 0, 0, 0, 60,
  };

  g_assert_true (nb_dns_query_parse (query_a, sizeof query_a, &q, NULL));
  r = nb_dns_response_build_negative (&q, NB_DNS_RCODE_NXDOMAIN, TRUE, 2, 60);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, sizeof query_a + sizeof soa);
  g_assert_cmpuint (d[2], ==, 0x85);
  g_assert_cmpuint (d[3], ==, 0x03);
  g_assert_cmpmem (d + 4, 8, "\0\1\0\0\0\1\0\0", 8);
  g_assert_cmpmem (d + sizeof query_a, sizeof soa, soa, sizeof soa);
  g_clear_pointer (&r, g_bytes_unref);

  /* Zone apex = the whole name (3 labels): pointer to 12. */
  r = nb_dns_response_build_negative (&q, NB_DNS_RCODE_NOERROR, FALSE, 3, 60);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (d[3], ==, 0x00);
  g_assert_cmpuint (d[sizeof query_a + 1], ==, 12);
}

static void
test_response_truncation (void)
{
  NbDnsQuery q;
  NbDnsAnswer answers[40];
  g_autoptr(GBytes) r = NULL;
  const guint8 *d;
  gsize len;

  for (guint i = 0; i < G_N_ELEMENTS (answers); i++)
    answers[i] = (NbDnsAnswer) { .type = NB_DNS_TYPE_AAAA, .ttl = 1, .address = { 0xfd, [15] = i } };

  /* Without EDNS: 512 bytes; 37 + n * 28 <= 512 -> 16 answers. */
  g_assert_true (nb_dns_query_parse (query_a, sizeof query_a, &q, NULL));
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, answers, G_N_ELEMENTS (answers));
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, <=, 512);
  g_assert_cmpuint (len, ==, 37 + 16 * 28);
  g_assert_cmpuint (d[2] & 0x02, ==, 0x02);  /* TC */
  g_assert_cmpuint (d[7], ==, 16);
  g_clear_pointer (&r, g_bytes_unref);

  /* Fits: no TC. */
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, answers, 16);
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (d[2] & 0x02, ==, 0);

  /* With EDNS 4096: up to 1232 bytes, all 40 fit (37 + 1120 + 11). */
  g_clear_pointer (&r, g_bytes_unref);
  g_assert_true (nb_dns_query_parse (query_a_edns, sizeof query_a_edns, &q, NULL));
  r = nb_dns_response_build (&q, NB_DNS_RCODE_NOERROR, TRUE, answers, G_N_ELEMENTS (answers));
  d = g_bytes_get_data (r, &len);
  g_assert_cmpuint (len, ==, 37 + 40 * 28 + 11);
  g_assert_cmpuint (d[2] & 0x02, ==, 0);
}

static void
test_query_build_roundtrip (void)
{
  g_autoptr(GBytes) b = nb_dns_query_build (0x1234, "peer-b.netbird.test.", NB_DNS_TYPE_A, NB_DNS_CLASS_IN, 0);
  g_autoptr(GBytes) e = nb_dns_query_build (0x1234, "peer-b.netbird.test", NB_DNS_TYPE_A, NB_DNS_CLASS_IN, 4096);
  g_autoptr(GBytes) bad = nb_dns_query_build (1, "a..b", NB_DNS_TYPE_A, NB_DNS_CLASS_IN, 0);

  g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), query_a, sizeof query_a);
  /* query_a_edns has AD set and a cookie; compare the rest. */
  g_assert_cmpuint (g_bytes_get_size (e), ==, sizeof query_a + 11);
  g_assert_null (bad);
}

/* Random and cut buffers: never a crash, errors always set. */
static void
test_fuzz (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261125);
  const guint8 *seeds[] = { query_a, query_a_edns };
  const gsize seed_lens[] = { sizeof query_a, sizeof query_a_edns };

  for (guint round = 0; round < 20000; round++)
    {
      guint8 buf[96];
      gsize len;
      NbDnsQuery q;
      g_autoptr(GError) error = NULL;
      gboolean ok;

      if (round % 2)
        {
          guint s = g_rand_int_range (rand, 0, 2);

          len = MIN (seed_lens[s], sizeof buf);
          memcpy (buf, seeds[s], len);
          for (guint flips = g_rand_int_range (rand, 1, 4); flips > 0; flips--)
            buf[g_rand_int_range (rand, 0, len)] = g_rand_int_range (rand, 0, 256);
          len = g_rand_int_range (rand, 0, len + 1);
        }
      else
        {
          len = g_rand_int_range (rand, 0, sizeof buf + 1);
          for (gsize i = 0; i < len; i++)
            buf[i] = g_rand_int_range (rand, 0, 256);
          if (len > 5 && round % 4 == 0)
            {
              buf[2] &= 0x07;  /* a query, opcode 0 */
              buf[4] = 0;
              buf[5] = 1;
            }
        }
      /* Exact-size copy so that ASan/valgrind see over-reads. */
      {
        g_autofree guint8 *exact = g_memdup2 (buf, len);
        ok = nb_dns_query_parse (exact, len, &q, &error);
      }
      g_assert_true (ok == (error == NULL));
      if (ok)
        {
          g_autoptr(GBytes) r = nb_dns_response_build (&q, NB_DNS_RCODE_NXDOMAIN, TRUE, NULL, 0);
          g_assert_true (q.has_question);
          g_assert_cmpuint (q.qname_wire_len, <=, NB_DNS_MAX_NAME_WIRE);
          g_assert_cmpuint (strlen (q.name), <=, NB_DNS_MAX_NAME_TEXT);
          g_assert_cmpuint (g_bytes_get_size (r), <=, 512);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dns-msg/parse/a", test_parse_a);
  g_test_add_func ("/dns-msg/parse/edns", test_parse_edns);
  g_test_add_func ("/dns-msg/parse/case-and-escapes", test_parse_case_and_escapes);
  g_test_add_func ("/dns-msg/parse/compression", test_parse_compression);
  g_test_add_func ("/dns-msg/parse/pointer-rules", test_parse_pointer_rules);
  g_test_add_func ("/dns-msg/parse/malformed", test_parse_malformed);
  g_test_add_func ("/dns-msg/response/a-aaaa", test_response_a);
  g_test_add_func ("/dns-msg/response/edns-and-errors", test_response_edns_and_errors);
  g_test_add_func ("/dns-msg/response/negative-soa", test_response_negative_soa);
  g_test_add_func ("/dns-msg/response/truncation", test_response_truncation);
  g_test_add_func ("/dns-msg/query-build", test_query_build_roundtrip);
  g_test_add_func ("/dns-msg/fuzz", test_fuzz);
  return g_test_run ();
}
