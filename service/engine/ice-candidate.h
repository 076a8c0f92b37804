/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ICE helpers for the ICE worker, free of agents and sockets so that they
 * can be tested on their own:
 *
 *   - ICE credentials as NetBird makes them (ufrag 16, pwd 32 characters of
 *     [a-zA-Z], from libsodium's generator);
 *   - STUN/TURN URIs as management sends them ("stun:host:port",
 *     "turn:host:port?transport=udp", RFC 7064/7065 syntax as pion parses
 *     it);
 *   - NetBird's interface deny list and the local addresses it leaves;
 *   - conversion between libnice's NiceCandidate and the candidate lines of
 *     signal-msg.h (NbSignalCandidate), with the checks a remote candidate
 *     must pass before it reaches the agent.
 *
 * Log domain "nb-ice".
 */
#pragma once

#include <gio/gio.h>
#include <agent.h>

#include "signal-msg.h"

G_BEGIN_DECLS

#define NB_ICE_UFRAG_LEN 16
#define NB_ICE_PWD_LEN   32

/* The longest remote ufrag/pwd we accept (RFC 8445 allows 256). */
#define NB_ICE_CREDENTIAL_MAX_LEN 256

#define NB_ICE_DEFAULT_STUN_PORT 3478
#define NB_ICE_DEFAULT_STUNS_PORT 5349

/*
 * NetBird's default interface deny list (profilemanager
 * DefaultInterfaceBlacklist): interface names starting with one of these
 * give no host candidates. NULL-terminated.
 */
extern const char *const nb_ice_default_interface_blacklist[];

/* Fills @ufrag (NB_ICE_UFRAG_LEN + 1 bytes) and @pwd (NB_ICE_PWD_LEN + 1
 * bytes) with fresh random credentials, NUL-terminated. */
void nb_ice_generate_credentials (char *ufrag, char *pwd);

/* TRUE when @s is 1..NB_ICE_CREDENTIAL_MAX_LEN ice-chars
 * ([A-Za-z0-9+/], RFC 8445 section 15.4): what we accept from a peer. */
gboolean nb_ice_credential_is_valid (const char *s);

typedef enum {
  NB_ICE_URI_STUN,
  NB_ICE_URI_STUNS,
  NB_ICE_URI_TURN,
  NB_ICE_URI_TURNS,
} NbIceUriScheme;

typedef enum {
  NB_ICE_URI_TRANSPORT_UDP,
  NB_ICE_URI_TRANSPORT_TCP,
} NbIceUriTransport;

/* A parsed STUN/TURN URI. */
typedef struct {
  NbIceUriScheme scheme;
  char *host;                  /* name or IP literal, without brackets */
  guint16 port;                /* the default of the scheme when absent */
  NbIceUriTransport transport; /* stun/turn: UDP unless ?transport=tcp;
                                * stuns/turns: TCP (TLS) */
} NbIceUri;

/* Parses "scheme:host[:port][?transport=udp|tcp]", scheme stun, stuns,
 * turn, turns (case-insensitive); IPv6 hosts in brackets. Errors:
 * NB_WORKER_ICE_ERROR_INVALID (worker-ice.h's domain), never containing
 * credentials (a URI has none). */
NbIceUri *nb_ice_uri_parse (const char *uri, GError **error);
void      nb_ice_uri_free (NbIceUri *uri);
/* Same host (case-insensitive) and port. */
gboolean  nb_ice_uri_same_server (const NbIceUri *a, const NbIceUri *b);

/* TRUE when NetBird would not gather on interface @name with @blacklist
 * (NULL: the default list). A non-empty list also filters names starting
 * with "lo" (NetBird hard-codes that); an empty list filters nothing (test
 * labs on loopback). */
gboolean nb_ice_interface_is_filtered (const char *name, const char *const *blacklist);

/* The local IP addresses (text form) that host candidates may be gathered
 * on: every address of an interface that is up and not filtered by
 * @blacklist, without IPv6 link-local addresses, and without IPv6 at all
 * when @ipv6 is FALSE. In interface order, without duplicates; at most
 * NICE_CANDIDATE_MAX_LOCAL_ADDRESSES. */
GPtrArray *nb_ice_local_addresses (const char *const *blacklist, gboolean ipv6);

/* NiceCandidateType <-> NbSignalCandidateType. */
NbSignalCandidateType nb_ice_candidate_type_from_nice (NiceCandidateType type);
NiceCandidateType     nb_ice_candidate_type_to_nice (NbSignalCandidateType type);
const char           *nb_ice_candidate_type_name (NiceCandidateType type);

/* "ip:port", or "[ip6]:port", of a NiceAddress. */
char *nb_ice_address_to_endpoint (const NiceAddress *addr);

/* Our local candidate as a candidate line (component 1, UDP). raddr/rport
 * are the base address for server-reflexive, peer-reflexive and relayed
 * candidates. NULL (with a debug log) for candidates that cannot be sent
 * (non-UDP, unknown type, invalid address). */
NbSignalCandidate *nb_ice_candidate_from_nice (const NiceCandidate *candidate);

/*
 * A remote candidate line as a NiceCandidate for @stream_id, component 1,
 * UDP, or NULL with @error:
 *   MALFORMED  a component other than 1, an address that is not an IP
 *              literal (mDNS names: NetBird disables them, libnice cannot
 *              resolve them), an unspecified, multicast or broadcast
 *              address, an unknown type;
 *   FILTERED   an IPv6 candidate when @ipv6 is FALSE, or an address inside
 *              one of @routed (GInetAddressMask*, may be NULL): networks we
 *              route through the tunnel would loop the tunnel into itself.
 * Errors are in the NB_WORKER_ICE_ERROR domain.
 */
NiceCandidate *nb_ice_candidate_to_nice (const NbSignalCandidate *candidate,
                                         guint                    stream_id,
                                         gboolean                 ipv6,
                                         GPtrArray               *routed,
                                         GError                 **error);

/* NetBird's extra server-reflexive candidate: for a remote srflx
 * candidate (from nb_ice_candidate_to_nice) whose port differs from its
 * related (base) port, the same address with the base port (a NetBird peer
 * shares that port with WireGuard, so this helps behind a port forward of
 * the WireGuard port). NULL when not applicable. */
NiceCandidate *nb_ice_extra_srflx_candidate (const NiceCandidate *candidate);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbIceUri, nb_ice_uri_free)

G_END_DECLS
