/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWgProxy: the local UDP hop between WireGuard and one remote peer's
 * transports (NetBird's wgproxy, client/iface/wgproxy), for a WireGuard that
 * cannot share its UDP port with libnice.
 *
 * The proxy owns one UDP socket bound to the loopback address of
 * @wg_address's family, port 0. The engine makes that socket's address the
 * peer's WireGuard endpoint (nb_wg_proxy_get_local_address()), so every
 * datagram WireGuard sends to the peer arrives at the proxy, and the proxy
 * hands it to the active transport (the ICE worker's selected pair or the
 * relay connection) through the transport's send function. Datagrams from
 * the peer come in through nb_wg_proxy_deliver() (whatever transport they
 * came on) and leave the proxy socket for @wg_address, WireGuard's listen
 * socket; WireGuard sees them from the proxy address, so it keeps the
 * endpoint as it is.
 *
 * Because one socket serves every transport, switching the transport
 * (relay -> ICE, ICE -> relay) changes neither WireGuard's endpoint nor the
 * session: nb_wg_proxy_set_transport() takes effect for the next datagram,
 * and datagrams of the path being left are still delivered while they
 * arrive (make-before-break).
 *
 * The first handshake. WireGuard sends a handshake initiation (message
 * type 1, 148 bytes) as soon as it has something to send; while there is no
 * transport, the proxy keeps the newest initiation (and at most
 * NB_WG_PROXY_PENDING_MAX other datagrams, oldest dropped first) and sends
 * them the moment a transport is set, instead of losing them and leaving
 * WireGuard to retry 5 s later. nb_wg_proxy_replay_handshake() sends the
 * newest initiation seen again on the current transport (the engine calls
 * it after a switch, when no handshake response has been seen since the
 * initiation).
 *
 * Lost responses. A repeated initiation does not help when only WireGuard's
 * response (type 2, 92 bytes) was lost: WireGuard drops an initiation whose
 * TAI64N timestamp it has seen as a replay, and the peer waits 5 s for its
 * own retry. So the proxy remembers the last response WireGuard sent to the
 * peer together with the initiation it answers (the last one delivered
 * from the peer whose sender index the response names); when that same
 * initiation (byte-identical) is delivered again, it is not passed to
 * WireGuard and the remembered response goes out again on the current
 * transport (stats: responses_replayed). The peer still holds the state of
 * its initiation, so the response is valid; if it already got one, the
 * duplicate is dropped by its WireGuard.
 *
 * Round trip. When a handshake response delivered from the peer answers
 * (receiver index = sender index) the newest initiation WireGuard sent, the
 * time since that initiation last went to a transport is the handshake's
 * round trip (the path both ways plus the remote WireGuard's processing):
 * stats.last_handshake_rtt_us, measured once per initiation (a repeated
 * response does not count again). An initiation replayed on a new
 * transport counts from the replay: the earlier copy was most likely lost
 * on the path that was left. Only handshakes WireGuard initiates are
 * measured; for the ones it answers it sees only its own processing.
 *
 * Batching: WireGuard's datagrams are read with recvmmsg() (up to
 * NB_WG_PROXY_BATCH per wake-up) and passed to the transport as one batch;
 * delivered datagrams are queued and written with sendmmsg() from a
 * high-priority idle source (or as soon as NB_WG_PROXY_BATCH are queued),
 * so a burst costs one system call per batch each way.
 *
 * Datagrams to the proxy socket from any address other than @wg_address
 * are dropped (counted), so nothing but the local WireGuard can inject
 * into the peer's transport.
 *
 * One thread: the thread-default main context of the creator. Log domain
 * "nb-wgproxy".
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NB_WG_PROXY_BATCH        64
#define NB_WG_PROXY_PENDING_MAX  16
#define NB_WG_PROXY_MAX_DATAGRAM 65535

/* Sends @n_datagrams datagrams (@datagrams[i], @lengths[i] bytes) to the
 * remote peer. Returns how many were taken, counted from the first (the
 * rest are counted as dropped); a transport that cannot send now returns 0.
 * The buffers are the proxy's and valid only during the call: a transport
 * that sends later copies. The function may call back into the proxy
 * (set_transport, deliver, close); a transport replaced from inside its own
 * call is destroyed after the call returns. */
typedef guint (*NbWgProxySendFunc) (const guint8 *const *datagrams,
                                    const gsize         *lengths,
                                    guint                n_datagrams,
                                    gpointer             user_data);

typedef struct {
  guint64 to_peer_datagrams;     /* taken by a transport */
  guint64 to_peer_bytes;
  guint64 from_peer_datagrams;   /* written to WireGuard */
  guint64 from_peer_bytes;
  guint64 dropped_no_transport;  /* pending queue overflow */
  guint64 dropped_transport;     /* the transport did not take them */
  guint64 dropped_foreign;       /* datagrams to the proxy not from WireGuard */
  guint64 dropped_write;         /* writes to WireGuard that failed, and
                                  * delivered datagrams dropped because
                                  * 1024 were already waiting for WireGuard
                                  * to read (oldest first) */
  guint64 handshakes_replayed;   /* pending initiations sent when a
                                  * transport came, plus replay calls */
  gint64  last_initiation_us;    /* monotonic time of the newest
                                  * initiation from WireGuard; 0: none */
  gint64  last_response_us;      /* monotonic time of the newest handshake
                                  * response (type 2) from the peer */
  guint64 responses_replayed;    /* repeated initiations from the peer
                                  * answered with the remembered response
                                  * (see "Lost responses") */
  gint64  last_handshake_rtt_us; /* round trip of the newest handshake
                                  * WireGuard initiated through the proxy
                                  * (see "Round trip"); 0: none yet */
} NbWgProxyStats;

#define NB_TYPE_WG_PROXY (nb_wg_proxy_get_type ())
G_DECLARE_FINAL_TYPE (NbWgProxy, nb_wg_proxy, NB, WG_PROXY, GObject)

/* @wg_address: WireGuard's listen socket (loopback address and port; a
 * wildcard address is taken as loopback). Binds the proxy socket. */
NbWgProxy *nb_wg_proxy_new (GInetSocketAddress *wg_address,
                            GError            **error);

/* The proxy socket's address: the peer's WireGuard endpoint. Owned by the
 * proxy (transfer none), valid for its lifetime, also after close. */
GInetSocketAddress *nb_wg_proxy_get_local_address (NbWgProxy *self);

/* Sets the transport for datagrams from WireGuard (NULL: none; they are
 * kept as pending, see above). Replaces (and destroys) the previous one.
 * Pending datagrams go out on the new transport at once. */
void nb_wg_proxy_set_transport (NbWgProxy         *self,
                                NbWgProxySendFunc  func,
                                gpointer           user_data,
                                GDestroyNotify     destroy);
gboolean nb_wg_proxy_has_transport (NbWgProxy *self);

/* A datagram from the peer, for WireGuard (copied). Queued (at most 1024,
 * oldest dropped) and written from a high-priority idle source, at once
 * when NB_WG_PROXY_BATCH are queued. Dropped after close. A repeat of the
 * initiation WireGuard last answered is not queued: the remembered
 * response goes to the peer instead (see "Lost responses"). */
void nb_wg_proxy_deliver (NbWgProxy    *self,
                          const guint8 *data,
                          gsize         length);

/* Sends the newest handshake initiation again on the current transport;
 * FALSE when there is none, no transport, or the transport did not take
 * it. */
gboolean nb_wg_proxy_replay_handshake (NbWgProxy *self);

/* Stops reading and writing, drops queued datagrams, closes the socket.
 * Idempotent; finalizing closes too. */
void nb_wg_proxy_close (NbWgProxy *self);

void nb_wg_proxy_get_stats (NbWgProxy *self, NbWgProxyStats *out);

G_END_DECLS
