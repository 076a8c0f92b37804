/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_cidr_is_valid() (network-map.h): allowed IPs, routes and overlay
 * addresses from management.
 *
 * Input: the text (cut at a NUL). A valid CIDR is an address GLib parses,
 * a '/', and a prefix length no longer than the address.
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "fuzz-common.h"
#include "network-map.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  const char *slash;
  g_autofree char *addr_text = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  guint64 prefix = 0;

  if (!nb_cidr_is_valid (text))
    return 0;

  slash = strrchr (text, '/');
  g_assert_nonnull (slash);
  addr_text = g_strndup (text, slash - text);
  addr = g_inet_address_new_from_string (addr_text);
  g_assert_nonnull (addr);
  g_assert_true (g_ascii_string_to_unsigned (slash + 1, 10, 0, 128, &prefix, NULL));
  g_assert_cmpuint (prefix, <=, g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4 ? 32 : 128);
  return 0;
}
