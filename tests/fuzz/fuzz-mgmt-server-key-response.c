/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * management.ServerKeyResponse (management.proto): GetServerKey's reply,
 * the only management message that is not sealed.
 *
 * Input: a serialised ServerKeyResponse. Unpacked, every field walked
 * (fuzz-pb.h), re-packed, freed; the key parsed as the client does.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-mgmt.h"
#include "fuzz-pb.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Management__ServerKeyResponse *resp = management__server_key_response__unpack (NULL, size, data);
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  if (resp == NULL)
    return 0;

  fuzz_pb_walk (&resp->base);
  fuzz_pb_repack (&resp->base);
  if (!nb_wg_key_from_base64 (resp->key, &key, &error))
    g_assert_true (error->domain == NB_WG_KEY_ERROR);

  management__server_key_response__free_unpacked (resp, NULL);
  return 0;
}
