/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Checks shared by the network-map targets (network-map.h).
 */
#pragma once

#include "network-map.h"

G_BEGIN_DECLS

/* A map converted from untrusted bytes: every entry is what network-map.h
 * promises (valid keys and CIDRs, known URI schemes, UTF-8 display text,
 * no NULL arrays, no own or repeated peer key), copies are equal, and
 * applying it twice changes nothing the second time. @own_key: the key the
 * conversion was given, or NULL. */
void fuzz_netmap_check (const NbNetworkMap *map, const char *own_key);

G_END_DECLS
