/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The relay part of the local control plane (demo and tests): a small
 * NetBird-compatible relay server on a libsoup SoupServer. Not a replacement
 * for NetBird's relay; it speaks the same WebSocket protocol (relay-msg.h):
 *
 * - WebSocket on path /relay, plain or TLS (a GTlsCertificate passed in);
 * - the first message must be AUTH with a token signed by the shared secret
 *   (HMAC-SHA256, not expired); anything else, or no AUTH within the auth
 *   timeout (10 s), closes the connection without an answer;
 * - AUTH is answered with the instance URL (default `rel://ADDR:PORT`, or
 *   `rels://` with TLS);
 * - TRANSPORT is forwarded to the named peer with the ID replaced by the
 *   sender's; messages for peers not connected here are dropped;
 * - a health check goes to every peer every 25 s; a peer that has not
 *   answered for interval + 20 s is dropped;
 * - SUBSCRIBE_PEER_STATE is answered with PEERS_ONLINE for the peers already
 *   here; later a peer coming online is reported once per subscription and a
 *   peer going offline every time, until UNSUBSCRIBE_PEER_STATE;
 * - a peer authenticating again with the same ID replaces the old connection.
 *
 * A protocol violation (wrong version, unknown or wrong-direction type, text
 * message, message above 8820 bytes) closes that connection; nothing a client
 * sends can crash the server. Tokens and the secret are never logged.
 *
 * Signals (all emitted from the main context that runs the server):
 *   "peer-connected"        (NbRelayServer *, const char *peer_id)
 *   "peer-disconnected"     (NbRelayServer *, const char *peer_id, const char *reason)
 *   "connection-rejected"   (NbRelayServer *, const char *reason)
 *   "connection-closed"     (NbRelayServer *)   any WebSocket is gone
 *   "transport-dropped"     (NbRelayServer *, const char *destination_peer_id)
 *   "health-check-answered" (NbRelayServer *, const char *peer_id)
 * Peer IDs in signals are in log form (`sha-` + base64).
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "relay-msg.h"

G_BEGIN_DECLS

#define NB_RELAY_SERVER_DEFAULT_HEALTH_INTERVAL_MS 25000
#define NB_RELAY_SERVER_DEFAULT_HEALTH_TIMEOUT_MS  20000
#define NB_RELAY_SERVER_DEFAULT_AUTH_TIMEOUT_MS    10000

#define NB_TYPE_RELAY_SERVER (nb_relay_server_get_type ())
G_DECLARE_FINAL_TYPE (NbRelayServer, nb_relay_server, NB, RELAY_SERVER, GObject)

/* @secret: the relay secret the tokens are signed with (copied).
 * @tls_certificate: serve wss:// with it (NULL: plain ws://). */
NbRelayServer *nb_relay_server_new (const guint8    *secret,
                                    gsize            secret_len,
                                    GTlsCertificate *tls_certificate);

/* Before listening: the URL to announce in auth responses. */
void        nb_relay_server_set_instance_url (NbRelayServer *self,
                                              const char    *instance_url);
void        nb_relay_server_set_health_check_interval (NbRelayServer *self,
                                                       guint          interval_ms);
void        nb_relay_server_set_health_check_timeout (NbRelayServer *self,
                                                      guint          timeout_ms);
void        nb_relay_server_set_auth_timeout (NbRelayServer *self,
                                              guint          timeout_ms);

/* Listen on @address (an IP literal) and @port (0: ephemeral). */
gboolean    nb_relay_server_listen (NbRelayServer *self,
                                    const char    *address,
                                    guint16        port,
                                    GError       **error);
/* Serve /relay on a SoupServer owned by someone else. */
void        nb_relay_server_add_to_soup_server (NbRelayServer *self,
                                                SoupServer    *server);
/* CLOSE to every authenticated peer, close every connection, stop
 * listening. The object can be dropped right after. */
void        nb_relay_server_stop (NbRelayServer *self);

guint16     nb_relay_server_get_port (NbRelayServer *self);
/* The URL clients dial, `rel(s)://ADDR:PORT` (after listen). */
const char *nb_relay_server_get_url (NbRelayServer *self);
/* The URL sent in auth responses (defaults to the dial URL). */
const char *nb_relay_server_get_instance_url (NbRelayServer *self);
guint       nb_relay_server_get_n_peers (NbRelayServer *self);
guint       nb_relay_server_get_n_connections (NbRelayServer *self);
gboolean    nb_relay_server_has_peer (NbRelayServer       *self,
                                      const NbRelayPeerId *id);

G_END_DECLS
