/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * management.SyncResponse (management.proto): the network map stream.
 *
 * Input: a serialised SyncResponse. Unpacked, every field walked
 * (fuzz-pb.h), re-packed, freed; the strings the client hands to our own
 * parsers (peer keys, relay URLs and token) go through them.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-mgmt.h"
#include "fuzz-pb.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Management__SyncResponse *resp = management__sync_response__unpack (NULL, size, data);

  if (resp == NULL)
    return 0;

  fuzz_pb_walk (&resp->base);
  fuzz_pb_repack (&resp->base);

  fuzz_mgmt_netbird_config (resp->netbirdconfig);
  for (size_t i = 0; i < resp->n_remotepeers; i++)
    fuzz_mgmt_remote_peer (resp->remotepeers[i]);
  if (resp->networkmap)
    {
      for (size_t i = 0; i < resp->networkmap->n_remotepeers; i++)
        fuzz_mgmt_remote_peer (resp->networkmap->remotepeers[i]);
      for (size_t i = 0; i < resp->networkmap->n_offlinepeers; i++)
        fuzz_mgmt_remote_peer (resp->networkmap->offlinepeers[i]);
    }

  management__sync_response__free_unpacked (resp, NULL);
  return 0;
}
