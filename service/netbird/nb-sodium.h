/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Initialises libsodium once per process; aborts if it cannot (no safe
 * randomness means no keys, nonces or jitter). Cheap after the first call. */
void nb_sodium_init (void);
