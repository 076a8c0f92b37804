/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_network_map_from_sync_response() (network-map.h): the opened body of a
 * management Sync stream message, with B as our own key.
 *
 * Input: a serialised SyncResponse. The map is checked
 * (fuzz-netmap-check.h), including applying it twice.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-netmap-check.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();
  g_autoptr(GError) error = NULL;
  g_autoptr(NbNetworkMap) map = nb_network_map_from_sync_response (data, size, k->b_public_b64, &error);

  if (map == NULL)
    {
      g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE);
      return 0;
    }
  g_assert_no_error (error);
  fuzz_netmap_check (map, k->b_public_b64);
  return 0;
}
