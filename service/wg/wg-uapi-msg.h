/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The WireGuard cross-platform userspace API (UAPI) as wireguard-go speaks
 * it on /run/wireguard/<ifname>.sock: a transport-free codec.
 *
 * A request is `get=1\n\n`, or `set=1\n` followed by key=value lines and an
 * empty line. Keys are hex (64 lowercase digits); the device keys come
 * first, then one section per peer, each starting with `public_key=`.
 * The answer is zero or more key=value lines (for get) and `errno=N\n\n`;
 * wireguard-go sends N negative (-22 for EINVAL), 0 on success.
 *
 * Requests are built in an NbWgUapiBuf, a byte buffer that wipes every
 * byte it ever held when it grows or is freed: a set request may carry the
 * private key or a preshared key, and a get answer always carries the
 * private key. The parser copies keys only into wiped stack buffers, keeps
 * no secret (it derives the device's public key and notes whether a peer
 * has a preshared key) and never logs what it reads.
 */
#pragma once

#include <glib.h>

#include "wg-backend.h"

G_BEGIN_DECLS

/* Answers larger than this are refused (about 10000 peers with a few
 * allowed IPs each). */
#define NB_WG_UAPI_MAX_RESPONSE (8u * 1024 * 1024)

typedef struct {
  char  *data;   /* NUL-terminated after len (for convenience) */
  gsize  len;
  gsize  alloc;
} NbWgUapiBuf;

NbWgUapiBuf *nb_wg_uapi_buf_new     (gsize        reserve);
/* Appends; growing copies into a new block and wipes the old one. */
void         nb_wg_uapi_buf_append  (NbWgUapiBuf *buf,
                                     const char  *data,
                                     gsize        len);
/* Makes room for at least @extra more bytes; returns where they go. Use
 * with nb_wg_uapi_buf_commit() to receive straight into the buffer. */
char        *nb_wg_uapi_buf_reserve (NbWgUapiBuf *buf,
                                     gsize        extra);
void         nb_wg_uapi_buf_commit  (NbWgUapiBuf *buf,
                                     gsize        n);
/* Wipes all bytes (not only len) and frees. */
void         nb_wg_uapi_buf_free    (NbWgUapiBuf *buf);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbWgUapiBuf, nb_wg_uapi_buf_free)

/* ---- requests ---------------------------------------------------------------- */

/* `get=1\n\n` */
NbWgUapiBuf *nb_wg_uapi_format_get         (void);

/* `set=1\n[private_key=HEX\n][listen_port=N\n]\n`. @private_key NULL:
 * unchanged. @listen_port: 0-65535 or NB_WG_LISTEN_PORT_UNCHANGED. */
NbWgUapiBuf *nb_wg_uapi_format_set_device  (const NbWgKey        *private_key,
                                            int                   listen_port,
                                            GError              **error);

/* One peer section:
 *   set=1
 *   public_key=HEX
 *   [update_only=true]
 *   [preshared_key=HEX]
 *   [endpoint=ADDR:PORT]
 *   persistent_keepalive_interval=N
 *   [replace_allowed_ips=true]
 *   allowed_ip=CIDR   (each, canonical form)
 *   (empty line)
 * NULL + NB_WG_ERROR_INVALID_ARGUMENT for a bad allowed IP or an endpoint
 * with port 0; nothing is half-built then. */
NbWgUapiBuf *nb_wg_uapi_format_set_peer    (const NbWgPeerConfig *peer,
                                            GError              **error);

/* `set=1\npublic_key=HEX\nremove=true\n\n` */
NbWgUapiBuf *nb_wg_uapi_format_remove_peer (const NbWgKey        *public_key);

/* ---- answers ------------------------------------------------------------------ */

/* The length of the complete answer at the start of @data (up to and
 * including the empty line that ends it), or 0 while it is incomplete. */
gsize        nb_wg_uapi_response_length      (const char *data,
                                              gsize       len);

/* An answer to a set request: exactly `errno=N\n\n`. TRUE for N = 0;
 * NB_WG_ERROR_REFUSED with the errno for N != 0; NB_WG_ERROR_PROTOCOL for
 * anything else (truncated, garbage, lines before errno). */
gboolean     nb_wg_uapi_parse_set_response   (const char *data,
                                              gsize       len,
                                              GError    **error);

/* An answer to a get request. Unknown keys are skipped (newer devices add
 * some); malformed lines, values out of range, a peer key before any
 * public_key, a missing or misplaced errno line, NUL bytes or trailing
 * bytes after the empty line are NB_WG_ERROR_PROTOCOL. errno != 0 is
 * NB_WG_ERROR_REFUSED. */
NbWgStats   *nb_wg_uapi_parse_get_response   (const char *data,
                                              gsize       len,
                                              GError    **error);

G_END_DECLS
