/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbDnsServer: the peer-name responder. NetBird's client answers the names
 * of the map's custom zones (DNSConfig.CustomZones: one zone per account
 * domain, an A/AAAA record per peer) from a resolver on the peer's overlay
 * address, port 53; this is ours. Knows nothing of NetworkManager.
 *
 * One UDP socket (IP_FREEBIND / IPV6_FREEBIND, so it can bind before the
 * overlay address is on the interface; SO_REUSEADDR, so that it can bind
 * its address beside a DNS server on the wildcard address, like dnsmasq,
 * that sets it too: the kernel gives the specific bind the datagrams;
 * no SO_REUSEPORT),
 * served from the thread-default main context of the thread that created
 * the server. Only UDP: the answers are a few records, far below 512 bytes.
 *
 * Answers (dns-msg.h does the wire format):
 *   - the zone of a name is the longest zone domain that equals the name or
 *     is a suffix of it on a label boundary, case-insensitively; a trailing
 *     dot on zone domains and record names is ignored;
 *   - names outside every zone: REFUSED (the OS asks its next server);
 *   - class other than IN or ANY: REFUSED;
 *   - A (1) and AAAA (28) records whose RData is an address literal of that
 *     family are served; other records (types, bad RData, names outside
 *     their zone, class other than "IN") are skipped with a g_debug, but
 *     their names still exist (NODATA, not NXDOMAIN);
 *   - QTYPE A, AAAA, or ANY (both): the matching records, NOERROR; a name
 *     with no record of that type: NOERROR without answers (NODATA), a name
 *     without any record: NXDOMAIN; both with the zone's SOA (TTL
 *     NB_DNS_SERVER_NEGATIVE_TTL) so that resolvers cache them briefly;
 *   - AA is set unless the zone is non_authoritative;
 *   - non-QUERY opcodes: NOTIMP; unparsable queries with a readable header:
 *     FORMERR; shorter datagrams and responses (QR = 1): dropped.
 * Responses over 512 bytes (or the EDNS payload size) are truncated, TC.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NB_DNS_SERVER_NEGATIVE_TTL 60

/**
 * NbDnsServerCounters:
 * @queries: datagrams received.
 * @answered: responses sent with NOERROR or NXDOMAIN.
 * @refused: responses sent with REFUSED, NOTIMP or FORMERR.
 * @dropped: datagrams that got no response (too short, responses, send
 *   failures).
 */
typedef struct {
  guint64 queries;
  guint64 answered;
  guint64 refused;
  guint64 dropped;
} NbDnsServerCounters;

#define NB_TYPE_DNS_SERVER (nb_dns_server_get_type ())
G_DECLARE_FINAL_TYPE (NbDnsServer, nb_dns_server, NB, DNS_SERVER, GObject)

/* Binds @listen (port 0: any free port) and starts serving (no zones yet:
 * everything is REFUSED). */
NbDnsServer *nb_dns_server_new (GInetSocketAddress *listen,
                                GError            **error);

/* The bound address (with the real port); NULL once stopped. */
GInetSocketAddress *nb_dns_server_get_local_address (NbDnsServer *self);

/* Replaces the zones (NbCustomZone* from network-map.h; copied, @zones
 * may be NULL for none). */
void nb_dns_server_set_zones (NbDnsServer     *self,
                              const GPtrArray *zones);

void nb_dns_server_get_counters (NbDnsServer         *self,
                                 NbDnsServerCounters *out);

/* Closes the socket; idempotent (dispose does it too). */
void nb_dns_server_stop (NbDnsServer *self);

G_END_DECLS
