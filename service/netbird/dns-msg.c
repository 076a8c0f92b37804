/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS messages, see dns-msg.h.
 */
#define G_LOG_DOMAIN "nb-dns"

#include "config.h"

#include "dns-msg.h"

#include <string.h>

G_DEFINE_QUARK (nb-dns-error-quark, nb_dns_error)

#define RR_FIXED_LEN       10   /* type, class, TTL, RDLENGTH */
#define QUESTION_OFFSET    NB_DNS_HEADER_LEN
#define SOA_REFRESH        3600
#define SOA_RETRY          600
#define SOA_EXPIRE         86400

static guint16
get16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

/* Appends the presentation form of one label byte. */
static void
append_label_byte (GString *text, guint8 c)
{
  if (c == '.' || c == '\\')
    {
      g_string_append_c (text, '\\');
      g_string_append_c (text, (char) c);
    }
  else if (c > 0x20 && c < 0x7f)
    g_string_append_c (text, g_ascii_tolower ((char) c));
  else
    g_string_append_printf (text, "\\%03u", c);
}

/*
 * Reads the name at *@offset. On success *@offset is past the name as it
 * is stored there (past the first pointer, if any). @wire (may be NULL)
 * gets the uncompressed name, @text (may be NULL) its presentation form.
 */
static gboolean
read_name (const guint8 *data,
           gsize         len,
           gsize        *offset,
           guint8       *wire,
           gsize        *wire_len,
           GString      *text,
           GError      **error)
{
  gsize pos = *offset;
  gsize end = 0;
  gboolean jumped = FALSE;
  gsize total = 0;

  for (;;)
    {
      guint8 n;

      if (pos >= len)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "name runs past the message");
          return FALSE;
        }
      n = data[pos];
      if ((n & 0xC0) == 0xC0)
        {
          gsize target;

          if (pos + 1 >= len)
            {
              g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "truncated compression pointer");
              return FALSE;
            }
          target = ((gsize) (n & 0x3F) << 8) | data[pos + 1];
          /* Strictly backwards, so every jump shrinks pos: no loops. */
          if (target >= pos || target < NB_DNS_HEADER_LEN)
            {
              g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED,
                           "compression pointer at %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
                           " does not point backwards into the message body", pos, target);
              return FALSE;
            }
          if (!jumped)
            end = pos + 2;
          jumped = TRUE;
          pos = target;
          continue;
        }
      if (n & 0xC0)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "label type 0x%02x not supported", n & 0xC0);
          return FALSE;
        }
      /* n <= 63 here. The length byte counts towards the 255. */
      if (total + 1 + n > NB_DNS_MAX_NAME_WIRE)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "name longer than %d bytes",
                       NB_DNS_MAX_NAME_WIRE);
          return FALSE;
        }
      if (n == 0)
        {
          if (wire)
            wire[total] = 0;
          total++;
          pos++;
          break;
        }
      if (pos + 1 + n > len)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "label runs past the message");
          return FALSE;
        }
      if (wire)
        memcpy (wire + total, data + pos, 1 + n);
      if (text)
        {
          if (total > 0)
            g_string_append_c (text, '.');
          for (guint i = 0; i < n; i++)
            append_label_byte (text, data[pos + 1 + i]);
        }
      total += 1 + n;
      pos += 1 + n;
    }

  if (wire_len)
    *wire_len = total;
  *offset = jumped ? end : pos;
  return TRUE;
}

gboolean
nb_dns_query_parse (const guint8 *data,
                    gsize         len,
                    NbDnsQuery   *out,
                    GError      **error)
{
  g_autoptr(GString) text = NULL;
  guint16 flags, qdcount, ancount, nscount, arcount;
  gsize pos = QUESTION_OFFSET;
  guint n_records;

  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (len < NB_DNS_HEADER_LEN)
    {
      g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_SHORT, "message of %" G_GSIZE_FORMAT " bytes has no header", len);
      return FALSE;
    }
  out->id = get16 (data);
  flags = get16 (data + 2);
  out->opcode = (flags >> 11) & 0x0F;
  out->rd = (flags & NB_DNS_FLAG_RD) != 0;
  qdcount = get16 (data + 4);
  ancount = get16 (data + 6);
  nscount = get16 (data + 8);
  arcount = get16 (data + 10);

  if (flags & NB_DNS_FLAG_QR)
    {
      g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_NOT_QUERY, "message is a response");
      return FALSE;
    }
  if (out->opcode != NB_DNS_OPCODE_QUERY)
    {
      g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_NOT_IMPLEMENTED, "opcode %u not implemented", out->opcode);
      return FALSE;
    }
  if (qdcount != 1)
    {
      g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "%u questions, want 1", qdcount);
      return FALSE;
    }

  text = g_string_sized_new (64);
  if (!read_name (data, len, &pos, out->qname_wire, &out->qname_wire_len, text, error))
    return FALSE;
  if (pos + 4 > len)
    {
      g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "truncated question");
      return FALSE;
    }
  g_assert (text->len <= NB_DNS_MAX_NAME_TEXT);
  memcpy (out->name, text->str, text->len + 1);
  out->qtype = get16 (data + pos);
  out->qclass = get16 (data + pos + 2);
  pos += 4;

  /* Answer and authority records (none in a normal query) are skipped;
   * the additional ones are looked at for OPT. */
  n_records = (guint) ancount + nscount + arcount;
  for (guint i = 0; i < n_records; i++)
    {
      gboolean root_name = pos < len && data[pos] == 0;
      guint16 type, rdlength;

      if (!read_name (data, len, &pos, NULL, NULL, NULL, error))
        return FALSE;
      if (pos + RR_FIXED_LEN > len)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "truncated record %u", i);
          return FALSE;
        }
      type = get16 (data + pos);
      rdlength = get16 (data + pos + 8);
      if (pos + RR_FIXED_LEN + rdlength > len)
        {
          g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "RDATA of record %u runs past the message", i);
          return FALSE;
        }
      if (type == NB_DNS_TYPE_OPT)
        {
          /* RFC 6891 6.1.1: only in the additional section, only once, owner root. */
          if (i < (guint) ancount + nscount || !root_name || out->has_edns)
            {
              g_set_error (error, NB_DNS_ERROR, NB_DNS_ERROR_MALFORMED, "misplaced or repeated OPT record");
              return FALSE;
            }
          out->has_edns = TRUE;
          out->edns_udp_size = get16 (data + pos + 2);
        }
      pos += RR_FIXED_LEN + rdlength;
    }

  out->has_question = TRUE;
  return TRUE;
}

gsize
nb_dns_query_max_response_size (const NbDnsQuery *q)
{
  g_return_val_if_fail (q != NULL, NB_DNS_MAX_UDP_SIZE);

  if (!q->has_edns)
    return NB_DNS_MAX_UDP_SIZE;
  return CLAMP (q->edns_udp_size, NB_DNS_MAX_UDP_SIZE, NB_DNS_EDNS_UDP_SIZE);
}

/* ---- building ---------------------------------------------------------- */

static void
put16 (GByteArray *b, guint16 v)
{
  guint8 bytes[2] = { v >> 8, v & 0xFF };

  g_byte_array_append (b, bytes, 2);
}

static void
put32 (GByteArray *b, guint32 v)
{
  guint8 bytes[4] = { v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF };

  g_byte_array_append (b, bytes, 4);
}

static void
set16 (GByteArray *b, gsize offset, guint16 v)
{
  b->data[offset] = v >> 8;
  b->data[offset + 1] = v & 0xFF;
}

static gsize
answer_rdata_len (guint16 type)
{
  return type == NB_DNS_TYPE_A ? 4 : 16;
}

/* The header and the question; counts 0 but QDCOUNT. */
static GByteArray *
start_response (const NbDnsQuery *q, guint rcode, gboolean authoritative)
{
  GByteArray *b = g_byte_array_sized_new (NB_DNS_MAX_UDP_SIZE);
  guint16 flags = NB_DNS_FLAG_QR | ((q->opcode & 0x0F) << 11) | (rcode & 0x0F);

  if (authoritative)
    flags |= NB_DNS_FLAG_AA;
  if (q->rd)
    flags |= NB_DNS_FLAG_RD;
  put16 (b, q->id);
  put16 (b, flags);
  put16 (b, q->has_question ? 1 : 0);
  put16 (b, 0);
  put16 (b, 0);
  put16 (b, 0);
  if (q->has_question)
    {
      g_byte_array_append (b, q->qname_wire, q->qname_wire_len);
      put16 (b, q->qtype);
      put16 (b, q->qclass);
    }
  return b;
}

#define OPT_LEN 11  /* root, type, class, TTL, RDLENGTH 0 */

static void
put_opt (GByteArray *b)
{
  guint8 root = 0;

  g_byte_array_append (b, &root, 1);
  put16 (b, NB_DNS_TYPE_OPT);
  put16 (b, NB_DNS_EDNS_UDP_SIZE);
  put32 (b, 0);  /* extended RCODE 0, version 0, no DO */
  put16 (b, 0);
}

static GBytes *
finish_response (GByteArray *b, const NbDnsQuery *q)
{
  if (q->has_edns)
    {
      put_opt (b);
      set16 (b, 10, 1);
    }
  return g_byte_array_free_to_bytes (b);
}

GBytes *
nb_dns_response_build (const NbDnsQuery  *q,
                       guint              rcode,
                       gboolean           authoritative,
                       const NbDnsAnswer *answers,
                       guint              n_answers)
{
  GByteArray *b;
  gsize limit;
  guint written = 0;

  g_return_val_if_fail (q != NULL, NULL);
  g_return_val_if_fail (rcode <= 15, NULL);
  g_return_val_if_fail (answers != NULL || n_answers == 0, NULL);
  g_return_val_if_fail (q->has_question || n_answers == 0, NULL);

  b = start_response (q, rcode, authoritative);
  limit = nb_dns_query_max_response_size (q) - (q->has_edns ? OPT_LEN : 0);
  for (guint i = 0; i < n_answers; i++)
    {
      const NbDnsAnswer *a = &answers[i];
      gsize rdlen;

      if (a->type != NB_DNS_TYPE_A && a->type != NB_DNS_TYPE_AAAA)
        {
          g_critical ("%s: answer of type %u is neither A nor AAAA", G_STRFUNC, a->type);
          continue;
        }
      rdlen = answer_rdata_len (a->type);
      if (b->len + 2 + RR_FIXED_LEN + rdlen > limit)
        {
          /* RFC 2181 9: TC when the answer did not fit. */
          set16 (b, 2, get16 (b->data + 2) | NB_DNS_FLAG_TC);
          break;
        }
      put16 (b, 0xC000 | QUESTION_OFFSET);
      put16 (b, a->type);
      put16 (b, NB_DNS_CLASS_IN);
      put32 (b, MIN (a->ttl, (guint32) G_MAXINT32));  /* RFC 2181 8 */
      put16 (b, rdlen);
      g_byte_array_append (b, a->address, rdlen);
      written++;
    }
  set16 (b, 6, written);
  return finish_response (b, q);
}

GBytes *
nb_dns_response_build_negative (const NbDnsQuery *q,
                                guint             rcode,
                                gboolean          authoritative,
                                guint             zone_labels,
                                guint32           negative_ttl)
{
  GByteArray *b;
  gsize n_labels = 0;
  gsize apex = 0;
  gsize rdlength_at;
  static const guint8 hostmaster[] = { 10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r' };

  g_return_val_if_fail (q != NULL && q->has_question, NULL);
  g_return_val_if_fail (rcode <= 15, NULL);

  for (gsize p = 0; p < q->qname_wire_len && q->qname_wire[p] != 0; p += 1 + q->qname_wire[p])
    n_labels++;
  g_return_val_if_fail (zone_labels <= n_labels, NULL);
  /* The apex: skip the first n_labels - zone_labels labels. */
  for (gsize i = 0; i < n_labels - zone_labels; i++)
    apex += 1 + q->qname_wire[apex];

  b = start_response (q, rcode, authoritative);
  if (b->len + 2 + RR_FIXED_LEN + 2 + sizeof hostmaster + 2 + 20
      <= nb_dns_query_max_response_size (q) - (q->has_edns ? OPT_LEN : 0))
    {
      negative_ttl = MIN (negative_ttl, (guint32) G_MAXINT32);
      put16 (b, 0xC000 | (QUESTION_OFFSET + apex));   /* owner */
      put16 (b, NB_DNS_TYPE_SOA);
      put16 (b, NB_DNS_CLASS_IN);
      put32 (b, negative_ttl);
      rdlength_at = b->len;
      put16 (b, 0);
      put16 (b, 0xC000 | (QUESTION_OFFSET + apex));   /* MNAME */
      g_byte_array_append (b, hostmaster, sizeof hostmaster);  /* RNAME */
      put16 (b, 0xC000 | (QUESTION_OFFSET + apex));
      put32 (b, 1);             /* serial */
      put32 (b, SOA_REFRESH);
      put32 (b, SOA_RETRY);
      put32 (b, SOA_EXPIRE);
      put32 (b, negative_ttl);  /* MINIMUM: the negative TTL (RFC 2308) */
      set16 (b, rdlength_at, b->len - rdlength_at - 2);
      set16 (b, 8, 1);
    }
  return finish_response (b, q);
}

GBytes *
nb_dns_query_build (guint16     id,
                    const char *name,
                    guint16     qtype,
                    guint16     qclass,
                    guint16     edns_udp_size)
{
  g_autoptr(GByteArray) b = g_byte_array_new ();
  g_auto(GStrv) labels = NULL;
  gsize wire_len = 1;
  guint8 zero = 0;

  g_return_val_if_fail (name != NULL, NULL);

  put16 (b, id);
  put16 (b, NB_DNS_FLAG_RD);
  put16 (b, 1);
  put16 (b, 0);
  put16 (b, 0);
  put16 (b, edns_udp_size ? 1 : 0);
  if (*name && strcmp (name, ".") != 0)
    {
      gsize n = strlen (name);
      g_autofree char *trimmed = g_strndup (name, name[n - 1] == '.' ? n - 1 : n);

      labels = g_strsplit (trimmed, ".", -1);
      for (guint i = 0; labels[i]; i++)
        {
          gsize l = strlen (labels[i]);
          guint8 lb = l;

          if (l == 0 || l > NB_DNS_MAX_LABEL)
            return NULL;
          wire_len += 1 + l;
          if (wire_len > NB_DNS_MAX_NAME_WIRE)
            return NULL;
          g_byte_array_append (b, &lb, 1);
          g_byte_array_append (b, (const guint8 *) labels[i], l);
        }
    }
  g_byte_array_append (b, &zero, 1);
  put16 (b, qtype);
  put16 (b, qclass);
  if (edns_udp_size)
    {
      g_byte_array_append (b, &zero, 1);
      put16 (b, NB_DNS_TYPE_OPT);
      put16 (b, edns_udp_size);
      put32 (b, 0);
      put16 (b, 0);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&b));
}
