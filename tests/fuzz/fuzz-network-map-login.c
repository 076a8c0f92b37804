/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_network_map_from_login_response() (network-map.h).
 *
 * Input: a serialised LoginResponse. A result has a valid own peer config
 * and no map, and is checked like a sync map (fuzz-netmap-check.h).
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-netmap-check.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbNetworkMap) map = nb_network_map_from_login_response (data, size, &error);

  if (map == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NB_NETWORK_MAP_ERROR);
      return 0;
    }
  g_assert_no_error (error);
  g_assert_false (map->has_map);
  g_assert_nonnull (map->own);
  fuzz_netmap_check (map, NULL);
  return 0;
}
