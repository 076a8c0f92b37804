/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by the libFuzzer targets in this directory (and gen-corpus.c).
 *
 * fuzz-common.c defines LLVMFuzzerInitialize(): GLib errors and criticals
 * (a g_return_if_fail() that fires, say) and warnings from GLib's own
 * domains abort, so libFuzzer reports them as crashes; warnings of the
 * project's "nb-*" domains (bad input dropped on purpose) and lower levels
 * are discarded. Targets only define LLVMFuzzerTestOneInput().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "wg-key.h"

G_BEGIN_DECLS

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Two fixed peers, A and B, for everything sealed. Their private keys are
 * 0x01..0x20 and 0x21..0x40, clamped like `wg genkey`; gen-corpus.c seals
 * seeds with the same keys, so seeds open in the targets. Signal and
 * management messages in the seeds go from A (sender, the "remote peer" or
 * the management server) to B (us). */
typedef struct {
  NbWgKey a_private;
  NbWgKey a_public;
  NbWgKey b_private;
  NbWgKey b_public;
  char a_public_b64[NB_WG_KEY_B64_SIZE];
  char b_public_b64[NB_WG_KEY_B64_SIZE];
} FuzzKeys;

const FuzzKeys *fuzz_keys (void);

/* Reads every byte of a buffer (so that ASan checks the whole range) and
 * keeps the compiler from dropping the read. */
void fuzz_touch (const void *data, size_t len);

/* A NUL-terminated copy of @data, cut at its first NUL byte. */
char *fuzz_strndup (const uint8_t *data, size_t size);

G_END_DECLS
