/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the client does with parts of management responses, before
 * network-map.c exists: every string that reaches one of our parsers goes
 * through it here. NULL arguments are fine (absent sub-messages).
 */
#pragma once

#include <glib.h>

#include "management.pb-c.h"

G_BEGIN_DECLS

/* Relay URLs -> WebSocket URLs, relay token -> auth payload, STUN/TURN and
 * signal URIs read. */
void fuzz_mgmt_netbird_config (const Management__NetbirdConfig *config);
/* The peer's WireGuard key parsed, its allowed IPs read. */
void fuzz_mgmt_remote_peer (const Management__RemotePeerConfig *peer);

G_END_DECLS
