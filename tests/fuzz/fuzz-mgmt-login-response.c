/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * management.LoginResponse (management.proto).
 *
 * Input: a serialised LoginResponse. Unpacked, every field walked
 * (fuzz-pb.h), re-packed, freed; relay URLs and token through our parsers.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-mgmt.h"
#include "fuzz-pb.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Management__LoginResponse *resp = management__login_response__unpack (NULL, size, data);

  if (resp == NULL)
    return 0;

  fuzz_pb_walk (&resp->base);
  fuzz_pb_repack (&resp->base);
  fuzz_mgmt_netbird_config (resp->netbirdconfig);

  management__login_response__free_unpacked (resp, NULL);
  return 0;
}
