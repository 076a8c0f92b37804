/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_relay_url_to_websocket() (relay-client.h): the relay URLs management
 * hands out (RelayConfig.urls) and signal peers announce
 * (Body.relayServerAddress), turned into the WebSocket URL we dial.
 *
 * Input: the URL text (cut at a NUL). A result must be ws:// or wss://,
 * end in /relay, parse as a URI with a host, and map to itself again when
 * its scheme is put back to rel:// / rels://.
 */
#include "config.h"

#include "fuzz-common.h"
#include "relay-client.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *url = fuzz_strndup (data, size);
  g_autoptr(GError) error = NULL;
  g_autofree char *ws = nb_relay_url_to_websocket (url, &error);
  g_autoptr(GUri) uri = NULL;
  g_autofree char *back = NULL;
  g_autofree char *ws2 = NULL;
  gboolean secure;

  if (ws == NULL)
    {
      g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL);
      return 0;
    }
  g_assert_no_error (error);

  secure = g_str_has_prefix (ws, "wss://");
  g_assert_true (secure || g_str_has_prefix (ws, "ws://"));
  g_assert_true (g_str_has_suffix (ws, "/relay"));

  uri = g_uri_parse (ws, G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g_uri_get_host (uri));
  g_assert_cmpstr (g_uri_get_host (uri), !=, "");
  g_assert_cmpstr (g_uri_get_path (uri), ==, "/relay");
  g_assert_null (g_uri_get_query (uri));
  g_assert_null (g_uri_get_fragment (uri));
  g_assert_null (g_uri_get_userinfo (uri));

  back = g_strconcat (secure ? "rels" : "rel", strchr (ws, ':'), NULL);
  ws2 = nb_relay_url_to_websocket (back, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ws2, ==, ws);
  return 0;
}
