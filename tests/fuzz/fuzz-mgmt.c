/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fuzz-mgmt.h"

#include "fuzz-common.h"
#include "relay-client.h"
#include "relay-msg.h"

#include <string.h>

void
fuzz_mgmt_netbird_config (const Management__NetbirdConfig *config)
{
  if (config == NULL)
    return;

  if (config->relay)
    {
      const Management__RelayConfig *relay = config->relay;
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) auth = NULL;

      for (size_t i = 0; i < relay->n_urls; i++)
        {
          g_autofree char *ws = nb_relay_url_to_websocket (relay->urls[i], &error);

          if (ws == NULL)
            g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL);
          g_clear_error (&error);
        }
      auth = nb_relay_auth_payload_new (relay->tokenpayload, relay->tokensignature, &error);
      if (auth == NULL)
        g_assert_true (error->domain == NB_RELAY_MSG_ERROR);
    }
  for (size_t i = 0; i < config->n_stuns; i++)
    fuzz_touch (config->stuns[i]->uri, strlen (config->stuns[i]->uri));
  for (size_t i = 0; i < config->n_turns; i++)
    {
      const Management__ProtectedHostConfig *turn = config->turns[i];

      if (turn->hostconfig)
        fuzz_touch (turn->hostconfig->uri, strlen (turn->hostconfig->uri));
      fuzz_touch (turn->user, strlen (turn->user));
      fuzz_touch (turn->password, strlen (turn->password));
    }
  if (config->signal)
    fuzz_touch (config->signal->uri, strlen (config->signal->uri));
}

void
fuzz_mgmt_remote_peer (const Management__RemotePeerConfig *peer)
{
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  if (peer == NULL)
    return;
  if (!nb_wg_key_from_base64 (peer->wgpubkey, &key, &error))
    g_assert_true (error->domain == NB_WG_KEY_ERROR);
  /* Not g_inet_address_mask_new_from_string() on the allowed IPs: GLib 2.74
   * logs a GObject warning for a prefix length over 128 ("1.2.3.4/129"). */
  for (size_t i = 0; i < peer->n_allowedips; i++)
    fuzz_touch (peer->allowedips[i], strlen (peer->allowedips[i]));
}
