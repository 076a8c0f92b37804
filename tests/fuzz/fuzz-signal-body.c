/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * signalexchange.Body (signalexchange.proto): the plaintext of a sealed
 * signal message, as protobuf-c unpacks it.
 *
 * Input: a serialised Body. Unpacked, every field walked (fuzz-pb.h),
 * re-packed, freed; plus the typed reads the signal code does.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-pb.h"
#include "signalexchange.pb-c.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Signalexchange__Body *body = signalexchange__body__unpack (NULL, size, data);

  if (body == NULL)
    return 0;

  fuzz_pb_walk (&body->base);
  fuzz_pb_repack (&body->base);

  /* Typed access, as the signal code reads it. */
  fuzz_touch (body->payload, strlen (body->payload));
  fuzz_touch (body->netbirdversion, strlen (body->netbirdversion));
  if (body->mode && body->mode->_direct_case == SIGNALEXCHANGE__MODE___DIRECT_DIRECT)
    g_assert_true (body->mode->direct == 0 || body->mode->direct == 1);
  if (body->_relay_server_address_case == SIGNALEXCHANGE__BODY___RELAY_SERVER_ADDRESS_RELAY_SERVER_ADDRESS)
    fuzz_touch (body->relayserveraddress, strlen (body->relayserveraddress));
  if (body->_session_id_case == SIGNALEXCHANGE__BODY___SESSION_ID_SESSION_ID)
    fuzz_touch (body->sessionid.data, body->sessionid.len);
  if (body->_relay_server_ip_case == SIGNALEXCHANGE__BODY___RELAY_SERVER_IP_RELAY_SERVER_IP)
    fuzz_touch (body->relayserverip.data, body->relayserverip.len);
  if (body->rosenpassconfig)
    fuzz_touch (body->rosenpassconfig->rosenpasspubkey.data, body->rosenpassconfig->rosenpasspubkey.len);
  for (size_t i = 0; i < body->n_featuressupported; i++)
    fuzz_touch (&body->featuressupported[i], sizeof body->featuressupported[i]);

  signalexchange__body__free_unpacked (body, NULL);
  return 0;
}
