/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS messages (RFC 1035), byte for byte, without any transport: parsing a
 * query and building the answer of a small authoritative responder (the
 * peer names of NetBird's custom zones, see engine/dns-server.h).
 *
 * Parsing (nb_dns_query_parse) accepts a standard query: QR = 0, exactly one
 * question, any number of answer/authority records (skipped; a query has
 * none) and additional records of which at most one may be an EDNS OPT
 * (RFC 6891; only its UDP payload size is kept). The question name may use
 * compression pointers; a pointer must point backwards, past the header, so
 * that every jump shrinks the offset and no loop is possible. The name is
 * limited to 255 bytes in wire form and labels to 63 bytes (extended label
 * types 0x40/0x80 are refused). Bytes after the last record are ignored.
 *
 * The parsed name (NbDnsQuery.name) is in presentation form: labels joined
 * by '.', no trailing dot (the root is ""), ASCII letters lower-cased.
 * Bytes that have a meaning in that form or are not printable are escaped
 * as RFC 1035 master files do ("\." "\\" "\DDD"), so a label that contains
 * a dot never reads like two labels.
 *
 * Errors (NB_DNS_ERROR) tell a server what to do:
 *   SHORT            fewer than 12 bytes: no header to answer, drop;
 *   NOT_QUERY        QR = 1 (a response): never answer it, drop;
 *   NOT_IMPLEMENTED  opcode other than QUERY: answer NOTIMP;
 *   MALFORMED        anything else: answer FORMERR.
 * For every code but SHORT the header fields of the NbDnsQuery (id, opcode,
 * rd) are filled in, so nb_dns_response_build() can answer with
 * has_question FALSE (a header-only response, QDCOUNT 0; plus an OPT if
 * one was read before the error).
 *
 * Building (nb_dns_response_build*) copies ID, opcode and RD, sets QR,
 * leaves RA = 0 (no recursion here), echoes the question as it was sent
 * (case preserved: resolvers that randomise case, "0x20", compare it) and
 * writes answers for the question name (a compression pointer to offset 12)
 * of type A (4-byte RDATA) or AAAA (16 bytes), class IN. A query with EDNS
 * gets an OPT record back (RFC 6891 requires it; payload size
 * NB_DNS_EDNS_UDP_SIZE, no options). The response is limited to 512 bytes,
 * or to the query's EDNS payload size (at least 512, at most
 * NB_DNS_EDNS_UDP_SIZE); answers that do not fit are left out and TC is set.
 *
 * nb_dns_response_build() writes no authority section: a negative answer
 * (NXDOMAIN, NODATA) without SOA is valid, resolvers just do not cache it.
 * nb_dns_response_build_negative() adds a minimal SOA of the zone (whose
 * apex is the question name's last @zone_labels labels), so resolvers cache
 * the negative answer for the SOA's TTL / MINIMUM.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NB_DNS_HEADER_LEN        12
#define NB_DNS_MAX_NAME_WIRE     255   /* RFC 1035 2.3.4, length bytes included */
#define NB_DNS_MAX_LABEL         63
/* Presentation form of the longest name, every byte escaped ("\DDD"). */
#define NB_DNS_MAX_NAME_TEXT     (4 * NB_DNS_MAX_NAME_WIRE)
#define NB_DNS_MAX_UDP_SIZE      512   /* without EDNS */
#define NB_DNS_EDNS_UDP_SIZE     1232  /* what we advertise; the DNS flag day 2020 value */

#define NB_DNS_TYPE_A            1
#define NB_DNS_TYPE_SOA          6
#define NB_DNS_TYPE_AAAA         28
#define NB_DNS_TYPE_OPT          41
#define NB_DNS_TYPE_ANY          255

#define NB_DNS_CLASS_IN          1
#define NB_DNS_CLASS_ANY         255

#define NB_DNS_OPCODE_QUERY      0

/* Header flag bits (the 16-bit word after the ID). */
#define NB_DNS_FLAG_QR           0x8000
#define NB_DNS_FLAG_AA           0x0400
#define NB_DNS_FLAG_TC           0x0200
#define NB_DNS_FLAG_RD           0x0100
#define NB_DNS_FLAG_RA           0x0080

typedef enum {
  NB_DNS_RCODE_NOERROR = 0,
  NB_DNS_RCODE_FORMERR = 1,
  NB_DNS_RCODE_SERVFAIL = 2,
  NB_DNS_RCODE_NXDOMAIN = 3,
  NB_DNS_RCODE_NOTIMP = 4,
  NB_DNS_RCODE_REFUSED = 5,
} NbDnsRcode;

#define NB_DNS_ERROR (nb_dns_error_quark ())
GQuark nb_dns_error_quark (void);

typedef enum {
  NB_DNS_ERROR_SHORT,
  NB_DNS_ERROR_NOT_QUERY,
  NB_DNS_ERROR_NOT_IMPLEMENTED,
  NB_DNS_ERROR_MALFORMED,
} NbDnsError;

/**
 * NbDnsQuery:
 * @id, @opcode, @rd: from the header (valid unless the error was SHORT).
 * @has_question: the question was parsed; the fields below are valid.
 * @name: presentation form, see above.
 * @qname_wire, @qname_wire_len: the name uncompressed, case as sent.
 * @has_edns, @edns_udp_size: an OPT record was present and its CLASS.
 */
typedef struct {
  guint16 id;
  guint8 opcode;
  gboolean rd;
  gboolean has_question;
  char name[NB_DNS_MAX_NAME_TEXT + 1];
  guint8 qname_wire[NB_DNS_MAX_NAME_WIRE];
  gsize qname_wire_len;
  guint16 qtype;
  guint16 qclass;
  gboolean has_edns;
  guint16 edns_udp_size;
} NbDnsQuery;

/**
 * NbDnsAnswer:
 * One A (@address[0..3]) or AAAA (@address[0..15]) record for the
 * question name.
 */
typedef struct {
  guint16 type;
  guint32 ttl;
  guint8 address[16];
} NbDnsAnswer;

gboolean nb_dns_query_parse (const guint8 *data,
                             gsize         len,
                             NbDnsQuery   *out,
                             GError      **error);

/* The largest response the client of @q accepts over UDP. */
gsize nb_dns_query_max_response_size (const NbDnsQuery *q);

GBytes *nb_dns_response_build (const NbDnsQuery  *q,
                               guint              rcode,
                               gboolean           authoritative,
                               const NbDnsAnswer *answers,
                               guint              n_answers);

/* NXDOMAIN or NODATA (NOERROR, no answers) with the zone's SOA in the
 * authority section: owner and MNAME the zone apex (the last @zone_labels
 * labels of the question name; at most its label count), RNAME
 * "hostmaster.<apex>", serial 1, refresh/retry/expire fixed, TTL and
 * MINIMUM @negative_ttl. Needs q->has_question. */
GBytes *nb_dns_response_build_negative (const NbDnsQuery *q,
                                        guint             rcode,
                                        gboolean          authoritative,
                                        guint             zone_labels,
                                        guint32           negative_ttl);

/* Writes a query (RD set, one question, an OPT record with
 * @edns_udp_size unless it is 0): for tests and tools. @name is dotted
 * text, a trailing dot optional, no escapes; NULL if it is not a valid
 * name. */
GBytes *nb_dns_query_build (guint16     id,
                            const char *name,
                            guint16     qtype,
                            guint16     qclass,
                            guint16     edns_udp_size);

G_END_DECLS
