/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The signal exchange of netbird-devnet (`signalexchange.SignalExchange` on
 * an NbGrpcServer), behaving like NetBird's signal server:
 *
 * - ConnectStream (bidi) needs request metadata `x-wiretrustee-peer-id`
 *   (else FAILED_PRECONDITION "missing connection header: ..."). The stream
 *   is registered under that key and answered with the response header
 *   `x-wiretrustee-peer-registered: 1` at once. A newer stream for the same
 *   key replaces the older one, which ends with UNKNOWN "peer registered
 *   again" (what NetBird's Go error turns into). The stream stays open until
 *   the client cancels or half-closes (then it ends with OK).
 * - EncryptedMessages are routed by `remoteKey` to the registered stream of
 *   that key, byte for byte: bodies are never opened. A message for a key
 *   without a stream is dropped. Messages the client writes on its stream
 *   are routed the same way (older NetBird servers did so; current clients
 *   send with Send). A message that is not an EncryptedMessage is logged and
 *   dropped; the stream stays.
 * - Send (unary) routes the same way and answers an empty EncryptedMessage;
 *   a request that does not parse fails with INTERNAL (what grpc-go does
 *   with an unparsable request).
 * - A stream whose send queue exceeds 4 MiB (a client that stopped reading)
 *   loses the messages routed to it until it drains (logged).
 *
 * Logs (domain nb-devnet-signal): stream connected / replaced / closed at
 * message level, routing at debug level. Bodies are never logged.
 */
#pragma once

#include <gio/gio.h>

#include "grpc-server.h"

G_BEGIN_DECLS

#define NB_DEVNET_SIGNAL_HEADER_ID         "x-wiretrustee-peer-id"
#define NB_DEVNET_SIGNAL_HEADER_REGISTERED "x-wiretrustee-peer-registered"

#define NB_TYPE_DEVNET_SIGNAL (nb_devnet_signal_get_type ())
G_DECLARE_FINAL_TYPE (NbDevnetSignal, nb_devnet_signal, NB, DEVNET_SIGNAL, GObject)

/*
 * Signals:
 *   "peer-connected"    (const char *key)
 *   "peer-disconnected" (const char *key)
 */

NbDevnetSignal *nb_devnet_signal_new (void);

/* Registers /signalexchange.SignalExchange/{Send,ConnectStream} on @server
 * (which keeps a reference to @self through the handlers). */
void  nb_devnet_signal_attach (NbDevnetSignal *self,
                               NbGrpcServer   *server);

/* Number of registered streams. */
guint nb_devnet_signal_get_n_peers (NbDevnetSignal *self);
/* Messages routed / dropped (unknown destination, malformed, queue full). */
guint64 nb_devnet_signal_get_n_forwarded (NbDevnetSignal *self);
guint64 nb_devnet_signal_get_n_dropped (NbDevnetSignal *self);

/* Ends every stream with UNAVAILABLE. */
void  nb_devnet_signal_stop (NbDevnetSignal *self);

G_END_DECLS
