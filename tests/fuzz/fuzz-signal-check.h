/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Checks shared by the signal-msg targets (signal-msg.h).
 */
#pragma once

#include "signal-msg.h"

G_BEGIN_DECLS

/* A message decoded from untrusted bytes: its fields are what signal-msg.h
 * promises, it encodes, the encoding decodes to a message that encodes to
 * the same bytes (and so does a copy). Aborts otherwise. */
void fuzz_signal_check_message (const NbSignalMessage *msg);

/* A candidate that parsed: it formats, and the text parses back to a
 * candidate that formats the same. */
void fuzz_signal_check_candidate (const NbSignalCandidate *candidate);

G_END_DECLS
